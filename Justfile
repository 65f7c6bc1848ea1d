# twgate's recipes. On a fresh machine use `./run RECIPE`, which installs what these need.

set shell := ["bash", "-euo", "pipefail", "-c"]

# The main job end to end on the embedded default store.
default: demo

# Build the release binary (the built-in plugins are compiled from plugins/ by host/build.rs).
build:
    cargo build --release --locked

# PostgreSQL → twgate push → verify → drop → twgate pull | pg_restore → same row counts.
demo: build
    bash tests/scripts/demo.sh

# The whole test suite: plugin unit tests (native) and the host's unit and integration tests.
test:
    cargo test --release --locked --manifest-path plugins/Cargo.toml --target-dir target/plugins-native
    cargo test --release --locked

# The benchmark table: twgate against the stock tools on the same input, same run.
bench: build
    bash tests/scripts/bench.sh

# Formatting and lints.
lint:
    cargo fmt --all -- --check
    cd plugins && cargo fmt --all -- --check
    cargo clippy --release --locked -- -D warnings
