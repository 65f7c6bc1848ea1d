#!/usr/bin/env bash
# Adds one twgate build's backups to the compatibility corpus (see README.md here):
#
#   tests/compat/make-corpus.sh TWGATE LABEL 'WRITTEN BY'
#
# TWGATE is the binary, LABEL prefixes every backup name (v3-zstd, v3-wal, ...), and
# WRITTEN BY says which build it was ("twgate 0.1.0 at 1a2b3c4, manifest v3"). The backups
# land in store/ and one row each in corpus.tsv. Nothing is ever removed from either.
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 TWGATE LABEL 'WRITTEN BY'" >&2; exit 2; }
twgate=$(realpath "$1")
label=$2
written_by=$3
here=$(cd "$(dirname "$0")" && pwd)
if grep -q "^$label-" "$here/corpus.tsv" 2>/dev/null; then
  echo "corpus.tsv already has backups labelled $label: choose another label" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TWGATE_STORE=$here/store XDG_DATA_HOME=$work/data XDG_CONFIG_HOME=$work/config \
  XDG_CACHE_HOME=$work/cache HOME=$work
unset TWGATE_CONFIG
TWGATE_CORPUS_PASSPHRASE=$(cat "$here/keys/passphrase.txt")
export TWGATE_CORPUS_PASSPHRASE
dump=$here/inputs/corpus.pgc
segment=000000010000000000000002
zstd -d -q -c "$here/inputs/$segment.zst" >"$work/$segment"
recipient=$(cat "$here/keys/age-recipient.txt")

# One row of corpus.tsv: backup, how to restore it, keys, input, written by.
row() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$written_by" >>"$here/corpus.tsv"; }

# push SUFFIX KEYS ARGS...: one backup of the dump.
push() {
  local name=$label-$1 keys=$2
  shift 2
  local id
  id=$("$twgate" push "$name" "$@" <"$dump")
  row "$name@$id" pull "$keys" corpus.pgc
}

push zstd none --encrypt none
push zstd-age-recipient age-identity --encrypt age --recipient "$recipient"
push zstd-age-passphrase passphrase --encrypt age --passphrase-env TWGATE_CORPUS_PASSPHRASE
push zstd-openpgp-cert openpgp-secret --encrypt openpgp --recipient "$here/keys/openpgp-cert.asc"
push zstd-openpgp-passphrase passphrase --encrypt openpgp --passphrase-env TWGATE_CORPUS_PASSPHRASE

# A WAL segment as archive_command archives it, with the config's default encryption.
cat >"$work/config.toml" <<EOF
encrypt = "age"
recipients = ["$recipient"]
EOF
TWGATE_CONFIG=$work/config.toml "$twgate" wal push "$work/$segment" --archive "$label-wal"
row "$label-wal@$segment" wal age-identity "$segment.zst"

# The store's staging directory, empty once every push is done.
rmdir "$here/store/.twgate-tmp" 2>/dev/null || true
# The manifests name no local path (the corpus must not depend on where it was made).
if grep -rq "$work" "$here/store"; then
  echo "a manifest names the temporary directory $work" >&2
  exit 1
fi
echo "added $label backups: $(grep -c "^$label-" "$here/corpus.tsv") rows in corpus.tsv" >&2
