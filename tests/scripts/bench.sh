#!/usr/bin/env bash
# The benchmark: twgate against the stock pipeline on the same ~1 GB pg_dump, same run.
# Prints a table of MB/s (of original bytes) and peak RSS. BENCH_SCALE sets pgbench's scale
# (default 70, about 1 GB of dump).
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/scripts/pg.sh
TWGATE=${TWGATE:-$PWD/target/release/twgate}
scale=${BENCH_SCALE:-70}
work=$(mktemp -d /tmp/twgate-bench.XXXXXX)
chmod 755 "$work"
port=$((20000 + RANDOM % 20000))
trap 'pg_stop "$work/pg"; rm -rf "$work"' EXIT
export XDG_DATA_HOME=$work/data XDG_CONFIG_HOME=$work/config TWGATE_STORE=$work/store
export XDG_CACHE_HOME=${XDG_CACHE_HOME:-$PWD/target/twgate-cache}

echo "bench: generating input (pgbench scale $scale, pg_dump -Fc -Z0)..." >&2
pg_start "$work/pg" "$port"
createdb bench
pgbench -q -i -s "$scale" bench >/dev/null 2>&1
input=$work/input.dump
pg_dump -Fc -Z0 bench > "$input"
pg_stop "$work/pg"
size=$(stat -c %s "$input")
age-keygen -o "$work/key.txt" 2>/dev/null
recipient=$(age-keygen -y "$work/key.txt")
"$TWGATE" plugins >/dev/null  # compile once, so timings are warm

# measure NAME COMMAND: prints "NAME seconds peak_rss_kib"
measure() {
  local name=$1; shift
  sync
  /usr/bin/time -f "%e %M" -o "$work/time" bash -c "$*" >/dev/null
  read -r secs rss < "$work/time"
  echo "$name $secs $rss"
}

# run_set LABEL INPUT: every pipeline on one input, then its table.
run_set() {
  local label=$1 input=$2 size results=() stock_rate="" r name rest secs rss rate ratio
  size=$(stat -c %s "$input")
  rm -rf "$TWGATE_STORE"
  results+=("$(measure "stock: zstd -3 | age -r" "zstd -3 -q -c < '$input' | age -r $recipient > '$work/stock.age'")")
  results+=("$(measure "twgate push zstd:3+age" "'$TWGATE' -q push bench --encrypt age -r $recipient < '$input'")")
  results+=("$(measure "stock: age -d | zstd -d" "age -d -i '$work/key.txt' < '$work/stock.age' | zstd -d -q -c > /dev/null")")
  results+=("$(measure "twgate pull zstd:3+age" "'$TWGATE' -q pull bench -i '$work/key.txt' > /dev/null")")
  results+=("$(measure "stock: zstd -3" "zstd -3 -q -c < '$input' > /dev/null")")
  results+=("$(measure "twgate push zstd:3" "'$TWGATE' -q push bench-zstd < '$input'")")
  printf '\n%s: %s bytes in; stored: twgate %s, stock %s bytes\n\n' "$label" "$size" \
    "$(stat -c %s "$TWGATE_STORE"/bench/*.data)" "$(stat -c %s "$work/stock.age")"
  printf '| %-26s | %8s | %9s | %10s | %16s |\n' "pipeline" "seconds" "MB/s" "peak RSS" "vs stock"
  printf '|%s|%s|%s|%s|%s|\n' "----------------------------" "----------" "-----------" "------------" "------------------"
  for r in "${results[@]}"; do
    name=${r% * *}; rest=${r##"$name "}; secs=${rest% *}; rss=${rest#* }
    rate=$(awk -v b="$size" -v s="$secs" 'BEGIN { printf "%.0f", b / 1e6 / (s > 0 ? s : 0.001) }')
    case $name in
      stock:*) stock_rate=$rate; ratio="1.00x (baseline)" ;;
      *) ratio=$(awk -v a="$rate" -v b="$stock_rate" 'BEGIN { printf "%.2fx", a / b }') ;;
    esac
    printf '| %-26s | %8s | %9s | %7s MiB | %16s |\n' "$name" "$secs" "$rate" "$((rss / 1024))" "$ratio"
  done
}

run_set "pg_dump -Fc -Z0 of pgbench scale $scale (very compressible: mostly blank filler)" "$input"
# Dense text-like data, closer to real tables' entropy: base64 of random bytes.
head -c $((size * 3 / 4 / 2)) /dev/urandom | base64 -w 0 > "$work/dense.txt"
rm -f "$input"
run_set "dense text (base64 of random bytes, half the dump's size)" "$work/dense.txt"
