# twgate's recipes. On a fresh machine use `./run RECIPE`, which installs what these need.

set shell := ["bash", "-euo", "pipefail", "-c"]

# The main job end to end on the embedded default store.
default: demo

# Build the release binary (the built-in plugins are compiled from plugins/ by
# host/builtins/build.rs).
build:
    cargo build --release --locked

# PostgreSQL → twgate push → verify → drop → twgate pull | pg_restore → same row counts.
demo: build
    bash tests/scripts/demo.sh

# The whole test suite: plugin unit tests (native), then the host's unit and integration
# tests against S3, GCS and Azure servers started on loopback (and stopped afterwards).
test:
    #!/usr/bin/env bash
    set -euo pipefail
    # Native plugin tests without the plugins' fat LTO and single codegen unit, which are
    # for the wasm builds' speed and only slow the compilation of tests down.
    CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
      cargo test --release --locked --manifest-path plugins/Cargo.toml --target-dir target/plugins-native
    cargo test --release --locked --no-run
    trap 'bash tests/scripts/servers.sh stop' EXIT
    bash tests/scripts/servers.sh start
    set -a; source target/test-servers/env; set +a
    cargo test --release --locked

# Start the test storage servers and print the file to `source` for their settings.
servers:
    bash tests/scripts/servers.sh start
    @bash tests/scripts/servers.sh env

# The benchmark table: twgate against the stock tools on the same input, same run.
bench: build
    bash tests/scripts/bench.sh

# A binary for air-gapped sites: the release build (every built-in plugin embedded),
# stripped, with its sha256 beside it, in target/dist/.
dist: build
    mkdir -p target/dist
    strip -o target/dist/twgate target/release/twgate
    cd target/dist && sha256sum twgate > twgate.sha256
    @echo "target/dist/twgate: $(stat -c %s target/dist/twgate) bytes; sha256 in target/dist/twgate.sha256"

# Formatting and lints.
lint:
    cargo fmt --all -- --check
    cd plugins && cargo fmt --all -- --check
    cargo clippy --release --locked -- -D warnings
