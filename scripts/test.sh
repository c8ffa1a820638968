#!/usr/bin/env bash
# The project's one test command (README "Run the tests"). Installs nothing globally:
# everything a test needs comes from this repository's own files.
set -euo pipefail
cd "$(dirname "$0")/.."

# Unit, integration, doc tests and the vector suite of every crate.
cargo test --workspace
# Every criterion bench once, as a smoke test (timings are not asserted).
cargo test --workspace --benches
# Fuzz corpora replayed without a fuzzer.
cargo test --manifest-path fuzz/Cargo.toml --no-default-features
