#!/usr/bin/env bash
# Installs what daihuo needs beyond Go, when it is missing: for `run`, the
# PostgreSQL 15 server binaries; for `test`, also gcc (the race detector) and
# chromium and playwright-core for the browser tests. Idempotent and quiet
# when all is there.
set -euo pipefail

what=${1:-test}

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

apt_install() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: missing $*; install with: sudo apt-get install -y $*" >&2
		exit 1
	fi
	if [ -z "${DEPS_APT_UPDATED:-}" ]; then
		apt-get update -qq
		DEPS_APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if [ ! -x "$PG_BIN/pg_ctl" ]; then
	echo "deps: installing postgresql-15" >&2
	apt_install postgresql-15
	# Debian's package starts its own cluster; daihuo runs private ones instead.
	if command -v pg_ctlcluster >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q '^15 main'; then
		pg_ctlcluster 15 main stop || true
	fi
fi

[ "$what" = test ] || exit 0

# The tests run under the race detector, which needs cgo and so a C compiler.
if ! command -v gcc >/dev/null; then
	echo "deps: installing gcc (for go test -race)" >&2
	apt_install gcc libc6-dev
fi

# The browser tests drive Debian's chromium with playwright-core from npm.
if [ ! -x /usr/bin/chromium ]; then
	echo "deps: installing chromium" >&2
	apt_install chromium
fi
if ! command -v node >/dev/null; then
	echo "deps: installing nodejs and npm" >&2
	apt_install nodejs npm
fi
e2e="$(dirname "$0")/../web/e2e"
if [ ! -d "$e2e/node_modules/playwright-core" ]; then
	echo "deps: installing playwright-core" >&2
	(cd "$e2e" && npm ci --no-audit --no-fund --loglevel=error)
fi
