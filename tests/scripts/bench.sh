#!/usr/bin/env bash
# The benchmark: twgate against the stock pipeline on the same ~1 GB pg_dump, same run.
# Prints a table of MB/s (of original bytes) and peak RSS. BENCH_SCALE sets pgbench's scale
# (default 70, about 1 GB of dump). Stock rows: zstd | age, age -d | zstd -d, zstd | gpg,
# restic backup --stdin (skipped if restic is missing), rclone rcat (local and S3), and
# pg_dump itself end to end against pg_dump | twgate push while the server runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/scripts/pg.sh
TWGATE=${TWGATE:-$PWD/target/release/twgate}
scale=${BENCH_SCALE:-70}
work=$(mktemp -d /tmp/twgate-bench.XXXXXX)
chmod 755 "$work"
port=$((20000 + RANDOM % 20000))
# gpg gets a throwaway home (its agent, if one starts, is stopped on exit); restic and rclone
# get no configuration and a cache under $work.
export GNUPGHOME=$work/gnupg RESTIC_CACHE_DIR=$work/restic-cache RCLONE_CONFIG=/dev/null
cleanup() {
  [ -d "$GNUPGHOME" ] && gpgconf --kill gpg-agent >/dev/null 2>&1
  pg_stop "$work/pg"; bash tests/scripts/servers.sh stop; rm -rf "$work"
}
trap cleanup EXIT
export XDG_DATA_HOME=$work/data XDG_CONFIG_HOME=$work/config TWGATE_STORE=$work/store
export XDG_CACHE_HOME=${XDG_CACHE_HOME:-$PWD/target/twgate-cache}
have_restic=yes
command -v restic >/dev/null 2>&1 || { have_restic=""; echo "bench: restic not installed: rows skipped" >&2; }

# measure NAME COMMAND: runs COMMAND $RUNS times (BENCH_RUNS, default 3; runs vary by
# ±20% on a shared 2-core machine) and prints "NAME median_seconds peak_rss_kib" (the
# largest peak of the runs). Rows whose runs are not alike (restic deduplicates a second
# backup of the same bytes) or take long set RUNS=1.
RUNS=${BENCH_RUNS:-3}
measure() {
  local name=$1 i secs rss peak=0 all=(); shift
  for ((i = 0; i < RUNS; i++)); do
    run_once "$*"
    all+=("$secs")
    if ((rss > peak)); then peak=$rss; fi
  done
  echo "$name $(median "${all[@]}") $peak"
}

# pair STOCK_NAME STOCK_COMMAND NAME COMMAND: measure for both rows, their runs taken in
# turn (stock, twgate, stock, ...), so that a slow spell of this shared machine falls on
# both rows of a ratio alike. Prints two lines, as measure does.
pair() {
  local i secs rss peak1=0 peak2=0 all1=() all2=()
  for ((i = 0; i < RUNS; i++)); do
    run_once "$2"
    all1+=("$secs")
    if ((rss > peak1)); then peak1=$rss; fi
    run_once "$4"
    all2+=("$secs")
    if ((rss > peak2)); then peak2=$rss; fi
  done
  echo "$1 $(median "${all1[@]}") $peak1"
  echo "$3 $(median "${all2[@]}") $peak2"
}

# run_once COMMAND: runs COMMAND once, after a sync; sets secs (wall) and rss (peak KiB).
run_once() {
  sync
  /usr/bin/time -f "%e %M" -o "$work/time" bash -c "$1" >/dev/null
  read -r secs rss < "$work/time"
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# add LINE...: appends each line of pair's output to results.
add() { local line; while IFS= read -r line; do results+=("$line"); done <<< "$1"; }

# stored DIR: the size of the newest data object under DIR (a row may push several times).
stored() { stat -c %s "$(ls -t "$1"/*.data | head -1)"; }

# The one table is printed at the end: its rows and the inputs they name are kept in files
# (the S3 set runs in a subshell), and each set says on stderr when it is done.
rows=$work/rows inputs=$work/inputs
: > "$rows"; : > "$inputs"

# table INPUT LABEL SIZE STORED RESULT...: the rows of one input, for the table; each twgate
# row is compared with the stock row before it ("-" when there is none).
table() {
  local input=$1 label=$2 size=$3 stored=$4 stock_rate="" r name rest secs rss rate ratio; shift 4
  [ -z "$label" ] || printf -- '- **%s**: %s: %s bytes in; %s\n' "$input" "$label" "$size" "$stored" >> "$inputs"
  for r in "$@"; do
    name=${r% * *}; rest=${r##"$name "}; secs=${rest% *}; rss=${rest#* }
    rate=$(awk -v b="$size" -v s="$secs" 'BEGIN { printf "%.0f", b / 1e6 / (s > 0 ? s : 0.001) }')
    case $name in
      stock:*) stock_rate=$rate; ratio="1.00x (baseline)" ;;
      *) if [ -n "$stock_rate" ] && [ "$stock_rate" != 0 ]; then
           ratio=$(awk -v a="$rate" -v b="$stock_rate" 'BEGIN { printf "%.2fx", a / b }')
         else ratio="-"; fi ;;
    esac
    printf '| %-9s | %-40s | %8s | %9s | %7s MiB | %16s |\n' "$input" "${name//|/\\|}" "$secs" "$rate" "$((rss / 1024))" "$ratio" >> "$rows"
  done
  echo "bench: $input: done" >&2
}

# print_table: the inputs, then every row in one table.
print_table() {
  printf '\ninputs (MB/s is of input bytes; "vs stock" compares with the stock row above it):\n\n'
  cat "$inputs"
  printf '\n| %-9s | %-40s | %8s | %9s | %10s | %16s |\n' "input" "pipeline" "seconds" "MB/s" "peak RSS" "vs stock"
  printf '|%s|%s|%s|%s|%s|%s|\n' "-----------" "------------------------------------------" "----------" "-----------" "------------" "------------------"
  cat "$rows"
}

# Keys and a passphrase (generated, kept in a file, never printed). twgate reads the passphrase
# from $TWGATE_BENCH_PASSPHRASE, gpg and restic from the file.
age-keygen -o "$work/key.txt" 2>/dev/null
recipient=$(age-keygen -y "$work/key.txt")
passfile=$work/passphrase
(umask 077; head -c 32 /dev/urandom | base64 -w 0 > "$passfile")
TWGATE_BENCH_PASSPHRASE=$(cat "$passfile")
export TWGATE_BENCH_PASSPHRASE RESTIC_PASSWORD_FILE=$passfile
install -d -m 700 "$GNUPGHOME"
gpg_sym="gpg --batch --quiet --no-symkey-cache --pinentry-mode loopback --passphrase-file '$passfile' \
  --symmetric --cipher-algo AES256 --compress-algo none -o -"
bash -c "$gpg_sym" < /dev/null > /dev/null  # start gpg (and any agent) outside the timings
"$TWGATE" plugins >/dev/null  # compile once, so timings are warm

echo "bench: generating input (pgbench scale $scale, pg_dump -Fc -Z0)..." >&2
pg_start "$work/pg" "$port"
createdb bench
pgbench -q -i -s "$scale" bench >/dev/null 2>&1
input=$work/input.dump
pg_dump -Fc -Z0 bench > "$input"
size=$(stat -c %s "$input")
# End to end, while the server runs: the dump itself, then the dump through twgate. MB/s is of
# dump bytes (the size of the same dump, taken just above).
e2e=()
results=()
add "$(pair "stock: pg_dump -Fc -Z0 > /dev/null" "pg_dump -Fc -Z0 bench > /dev/null" \
  "pg_dump | twgate push zstd:3+age" "pg_dump -Fc -Z0 bench | '$TWGATE' -q push e2e --encrypt age -r $recipient")"
e2e=("${results[@]}")
table e2e "pg_dump -Fc -Z0 of pgbench scale $scale from a running PostgreSQL 15, end to end" "$size" \
  "stored: twgate $(stored "$TWGATE_STORE"/e2e) bytes" "${e2e[@]}"
# A dump shaped like real tables (text, JSON, md5s; about 160 MB at the default): the
# runbook's sample schema with BENCH_INCIDENTS rows.
createdb app
pg_load_sample app "${BENCH_INCIDENTS:-1000000}"
pg_dump -Fc -Z0 app > "$work/app.dump"
pg_stop "$work/pg"

# run_set NAME LABEL INPUT: every pipeline on one input, then its rows.
run_set() {
  local name=$1 label=$2 input=$3 size results=()
  size=$(stat -c %s "$input")
  rm -rf "$TWGATE_STORE"
  add "$(pair "stock: zstd -3 | age -r" "zstd -3 -q -c < '$input' | age -r $recipient > '$work/stock.age'" \
    "twgate push zstd:3+age" "'$TWGATE' -q push bench --encrypt age -r $recipient < '$input'")"
  add "$(pair "stock: age -d | zstd -d" "age -d -i '$work/key.txt' < '$work/stock.age' | zstd -d -q -c > /dev/null" \
    "twgate pull zstd:3+age" "'$TWGATE' -q pull bench -i '$work/key.txt' > /dev/null")"
  # The check's cost (issue 17): the same push unchecked and checked, runs taken in turn.
  add "$(pair "twgate push zstd:3+age --no-check" "'$TWGATE' -q push bench-nocheck --no-check --encrypt age -r $recipient < '$input'" \
    "twgate push zstd:3+age (checked, again)" "'$TWGATE' -q push bench-checked --encrypt age -r $recipient < '$input'")"
  add "$(pair "stock: zstd -3" "zstd -3 -q -c < '$input' > /dev/null" \
    "twgate push zstd:3" "'$TWGATE' -q push bench-zstd < '$input'")"
  # OpenPGP (passphrase, SEIPD): the openpgp stage alone against gpg, then after zstd.
  add "$(pair "stock: gpg --symmetric AES256" "$gpg_sym < '$input' > '$work/stock.gpg'" \
    "twgate push openpgp (no zstd)" "'$TWGATE' -q push bench-pgp --compress none --encrypt openpgp --passphrase-env TWGATE_BENCH_PASSPHRASE < '$input'")"
  add "$(pair "stock: zstd -3 | gpg --symmetric" "zstd -3 -q -c < '$input' | $gpg_sym > '$work/stock.zst.gpg'" \
    "twgate push zstd:3+openpgp" "'$TWGATE' -q push bench-zstd-pgp --encrypt openpgp --passphrase-env TWGATE_BENCH_PASSPHRASE < '$input'")"
  rm -f "$work/stock.gpg"
  # restic compresses (zstd, "auto") and encrypts (AES-256-CTR + Poly1305), so next to it:
  # twgate with zstd:3+age. A fresh repository per input; init is not timed.
  local restic_note=""
  if [ -n "$have_restic" ]; then
    rm -rf "$work/restic"
    restic -q -r "$work/restic" init --repository-version 2 >/dev/null
    results+=("$(RUNS=1 measure "stock: restic backup --stdin" "restic -q -r '$work/restic' backup --stdin --stdin-filename bench.dump < '$input'")")
    results+=("$(measure "twgate push zstd:3+age (vs restic)" "'$TWGATE' -q push bench-restic --encrypt age -r $recipient < '$input'")")
    restic_note="; restic repository $(du -sb "$work/restic" | cut -f1) bytes"
  fi
  # rclone rcat to a local file neither compresses nor encrypts: twgate with no stages.
  add "$(pair "stock: rclone rcat (local file)" "rclone rcat '$work/rclone/raw' < '$input'" \
    "twgate push (no stages)" "'$TWGATE' -q push bench-raw --compress none < '$input'")"
  rm -rf "$work/rclone"
  table "$name" "$label" "$size" "stored: twgate $(stored "$TWGATE_STORE"/bench), stock $(stat -c %s "$work/stock.age") bytes (zstd:3+age); twgate $(stored "$TWGATE_STORE"/bench-zstd-pgp), stock $(stat -c %s "$work/stock.zst.gpg") bytes (zstd:3+openpgp)$restic_note" "${results[@]}"
  [ -n "$have_restic" ] || echo "- restic not installed: its rows skipped" >> "$inputs"
  rm -f "$work/stock.zst.gpg"
}

# run_s3_set NAME LABEL INPUT: the same pipelines into and out of S3 (SeaweedFS on
# loopback), next to rclone (Debian) on the same bytes.
run_s3_set() {
  local name=$1 label=$2 input=$3 size results=()
  size=$(stat -c %s "$input")
  bash tests/scripts/servers.sh start
  set -a; source target/test-servers/env; set +a
  local prefix="bench-$RANDOM"
  (
    export TWGATE_STORE="s3://$TWGATE_TEST_S3_BUCKET/$prefix/twgate" AWS_REGION=us-east-1 \
      AWS_ENDPOINT_URL=$TWGATE_TEST_S3_ENDPOINT AWS_ACCESS_KEY_ID=$TWGATE_TEST_S3_ACCESS_KEY \
      AWS_SECRET_ACCESS_KEY=$TWGATE_TEST_S3_SECRET_KEY
    export RCLONE_CONFIG=/dev/null RCLONE_CONFIG_S3_TYPE=s3 RCLONE_CONFIG_S3_PROVIDER=Other \
      RCLONE_CONFIG_S3_ENDPOINT=$TWGATE_TEST_S3_ENDPOINT RCLONE_CONFIG_S3_REGION=us-east-1 \
      RCLONE_CONFIG_S3_ACCESS_KEY_ID=$TWGATE_TEST_S3_ACCESS_KEY \
      RCLONE_CONFIG_S3_SECRET_ACCESS_KEY=$TWGATE_TEST_S3_SECRET_KEY
    unset AWS_CA_BUNDLE
    local dest="s3:$TWGATE_TEST_S3_BUCKET/$prefix/rclone"
    add "$(pair "stock: rclone rcat" "rclone rcat '$dest/raw' < '$input'" \
      "twgate push to S3 (no stages)" "'$TWGATE' -q push raw --compress none < '$input'")"
    add "$(pair "stock: rclone cat" "rclone cat '$dest/raw' > /dev/null" \
      "twgate pull from S3 (no stages)" "'$TWGATE' -q pull raw > /dev/null")"
    add "$(pair "stock: zstd -3 | age -r | rclone rcat" "zstd -3 -q -c < '$input' | age -r $recipient | rclone rcat '$dest/enc'" \
      "twgate push to S3 zstd:3+age" "'$TWGATE' -q push enc --encrypt age -r $recipient < '$input'")"
    add "$(pair "stock: rclone cat | age -d | zstd -d" "rclone cat '$dest/enc' | age -d -i '$work/key.txt' | zstd -d -q -c > /dev/null" \
      "twgate pull from S3 zstd:3+age" "'$TWGATE' -q pull enc -i '$work/key.txt' > /dev/null")"
    table "$name" "$label" "$size" "S3 (SeaweedFS on 127.0.0.1), twgate defaults: 8 MiB parts, 4 in flight" "${results[@]}"
  )
}

run_set pgbench "pg_dump -Fc -Z0 of pgbench scale $scale (very compressible: mostly blank filler)" "$input"
run_set realistic "pg_dump -Fc -Z0 of the runbook's sample schema (text, JSON, md5s: like real tables)" "$work/app.dump"
rm -f "$work/app.dump"
# Dense text-like data, closer to real tables' entropy: base64 of random bytes.
head -c $((size * 3 / 4 / 2)) /dev/urandom | base64 -w 0 > "$work/dense.txt"
rm -f "$input"
run_set dense "dense text (base64 of random bytes, half the dump's size)" "$work/dense.txt"
run_s3_set "dense, S3" "dense text into and out of S3" "$work/dense.txt"

# Memory at length and start-up time: a long stream (BENCH_LONG_GB, default 10 GB, of the
# dense text repeated) through push and pull with default settings, and `echo x | push`
# with the compile cache warm (the cost paid once per WAL segment by `wal push`).
long_gb=${BENCH_LONG_GB:-10}
long_bytes=$((long_gb * 1000 * 1000 * 1000))
repeat_dense() { while cat "$work/dense.txt"; do :; done | head -c "$long_bytes"; }
export -f repeat_dense
export work long_bytes
rm -rf "$TWGATE_STORE"
results=()
results+=("$(RUNS=1 measure "stock: zstd -3 | age -r" "repeat_dense | zstd -3 -q -c | age -r $recipient > /dev/null")")
results+=("$(RUNS=1 measure "twgate push zstd:3+age" "repeat_dense | '$TWGATE' -q push long --encrypt age -r $recipient")")
table "${long_gb} GB" "a ${long_gb} GB stream (dense text repeated), default settings, one run each" \
  "$long_bytes" "for memory at length (pull has no stock row)" "${results[@]}"
table "${long_gb} GB" "" "$long_bytes" "" \
  "$(RUNS=1 measure "twgate pull zstd:3+age" "'$TWGATE' -q pull long -i '$work/key.txt' > /dev/null")"

print_table
printf '\nwarm start: echo x | twgate push (compile cache populated), wall seconds of 10 runs:'
for _ in 1 2 3 4 5 6 7 8 9 10; do
  /usr/bin/time -f "%e" -o "$work/time" bash -c "echo x | '$TWGATE' -q push tiny --encrypt age -r $recipient >/dev/null"
  printf ' %s' "$(cat "$work/time")"
done
printf '\n'
