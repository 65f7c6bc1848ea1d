#!/usr/bin/env bash
# The runbook's manual backup, verify and restore, done with twgate on the embedded default
# (local store, zstd) against a throwaway PostgreSQL. Leaves nothing running.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/scripts/pg.sh
TWGATE=${TWGATE:-$PWD/target/release/twgate}
work=$(mktemp -d /tmp/twgate-demo.XXXXXX)
chmod 755 "$work"
port=$((20000 + RANDOM % 20000))
trap 'pg_stop "$work/pg"; rm -rf "$work"' EXIT
# A private store, config and cache for the demo; drop these three lines to use your own.
export XDG_DATA_HOME=$work/data XDG_CONFIG_HOME=$work/config
export XDG_CACHE_HOME=${XDG_CACHE_HOME:-$PWD/target/twgate-cache}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "start a throwaway PostgreSQL on 127.0.0.1:$port and load sample data"
pg_start "$work/pg" "$port"
createdb triage_warden
pg_load_sample triage_warden 200000
pg_fingerprint triage_warden | tee "$work/before"

# --compress=0: zstd in twgate compresses better and far faster than pg_dump's gzip.
step "backup: twgate push triage-warden -- pg_dump --format=custom --compress=0 triage_warden"
"$TWGATE" push triage-warden -- pg_dump --format=custom --compress=0 triage_warden

step "list"
"$TWGATE" list

step "verify: read it back through the plugins and let pg_restore --list check it"
"$TWGATE" verify triage-warden@latest --exec 'pg_restore --list >/dev/null'

step "disaster: drop the database"
dropdb triage_warden && createdb triage_warden

step "restore: twgate pull triage-warden@latest | pg_restore --clean --if-exists --no-owner -d triage_warden"
"$TWGATE" pull triage-warden@latest | pg_restore --clean --if-exists --no-owner -d triage_warden

step "row counts and per-table checksums after restore"
pg_fingerprint triage_warden | tee "$work/after"
if diff -u "$work/before" "$work/after"; then
  echo; echo "demo: OK: every table restored with the same rows"
else
  echo "demo: FAILED: restored data differs" >&2; exit 1
fi
