#!/usr/bin/env bash
# Installs what daihuo's run and tests need beyond Go, when it is missing:
# the PostgreSQL 15 server binaries. Idempotent and quiet when all is there.
set -euo pipefail

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
