#!/usr/bin/env bash
# Installs what daihuo needs beyond Go, when it is missing: for `run`, the
# PostgreSQL server binaries (15, or the distribution's own when it has no
# 15, as long as it is 15 or newer); for `test`, also gcc (the race
# detector), chromium, Node.js and playwright-core for the browser tests,
# and stripe-mock (a go.mod tool) built ahead. Idempotent and quiet when all
# is there.
set -euo pipefail

what=${1:-test}

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

# The server binaries storage/pgcluster looks for: DAIHUO_PG_BIN, else
# PostgreSQL 15's, else the newest of 15 or later.
have_postgres() {
	if [ -n "${DAIHUO_PG_BIN:-}" ]; then
		[ -x "$DAIHUO_PG_BIN/pg_ctl" ]
		return
	fi
	for bin in /usr/lib/postgresql/*/bin; do
		v=$(basename "$(dirname "$bin")")
		if [ "$v" -ge 15 ] 2>/dev/null && [ -x "$bin/pg_ctl" ]; then
			return 0
		fi
	done
	return 1
}

if ! have_postgres; then
	pkg=postgresql-15
	if [ "$(id -u)" -eq 0 ]; then
		apt-get update -qq
		DEPS_APT_UPDATED=1
		# A release without 15 (Debian 13 ships 17) gets its own server.
		if ! apt-cache show postgresql-15 >/dev/null 2>&1; then
			pkg=postgresql
		fi
	fi
	echo "deps: installing $pkg" >&2
	apt_install "$pkg"
	# Debian's package starts its own cluster; daihuo runs private ones instead.
	if command -v pg_lsclusters >/dev/null; then
		pg_lsclusters -h 2>/dev/null | awk '$2 == "main" {print $1}' | while read -r v; do
			pg_ctlcluster "$v" main stop || true
		done
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
# Debian packages node and npm apart; playwright-core (web/e2e/package.json)
# runs on Node 18, which Debian 12 ships, or newer.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	echo "deps: installing nodejs and npm" >&2
	apt_install nodejs npm
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 18 ]; then
	echo "deps: Node.js $(node --version) is too old for the browser tests; they need 18 or newer" >&2
	exit 1
fi
e2e="$(dirname "$0")/../web/e2e"
# npm ci again when the lock file changed since node_modules was made.
if [ ! -f "$e2e/node_modules/.package-lock.json" ] || [ "$e2e/package-lock.json" -nt "$e2e/node_modules/.package-lock.json" ]; then
	echo "deps: installing playwright-core" >&2
	(cd "$e2e" && npm ci --no-audit --no-fund --loglevel=error)
fi

# stripe-mock, a tool line of go.mod: built now, not inside a test's time.
(cd "$(dirname "$0")/.." && go tool -n stripe-mock >/dev/null)
