#!/usr/bin/env bash
# The project's one test command (README "Two commands"). Installs nothing globally:
# everything a test needs comes from this repository's own files.
set -euo pipefail
cd "$(dirname "$0")/.."

# A real Synapse on loopback for the homeserver tests: installed from PyPI into
# .synapse/venv on first use, started here, stopped when this script exits.
bash scripts/synapse.sh start
trap 'bash scripts/synapse.sh stop' EXIT

# Element's own code for the interop tests (crates/megolm-backup/tests/element_client.rs):
# matrix-js-sdk with its Rust crypto (npm ci, pinned by tools/element/package-lock.json)
# and matrix-react-sdk's export code, from the npm registry. Needs Node.js and npm.
bash tools/element/setup.sh
# matrix-nio (the Python bots' library, with its vodozemac bindings) from PyPI into
# .venv-nio/, for the importer checks of the export files we write.
bash tools/nio/setup.sh >/dev/null
# The library's two examples (Element's "Set up recovery"; a restore with the Security Key)
# on a fresh user, checked by Element's own library.
bash scripts/examples.sh

# Unit, integration, doc tests and the vector suite of every crate. The CLI enables the
# fast X25519 backend (aws-lc) and the eight-lane AVX-512 IFMA path (used where the CPU
# has it), the benches also the four-lane AVX2 path, so this run covers all of them.
MKB_EXPECT_X25519=aws-lc-rs cargo test --workspace
# The developer features of the tool (`bench`, `vectors`: not in the installed binary).
cargo test -p megolm-backup --features bench,vectors --test cli_restore --test cli_recovery_key \
  --test cli_help
# The crypto crates, the vector suite and the vodozemac interop again on the portable
# default backend (x25519-dalek): built without the CLI, no feature enables aws-lc,
# ifma or avx2, so bulk restore computes one X25519 at a time (and the grouped-restore
# test runs both ladders in portable lanes).
MKB_EXPECT_X25519=x25519-dalek cargo test -p backup-cipher -p vector-runner
# The crypto crates and the flows without rayon (feature `parallel` off): everything on
# the calling thread.
cargo test -p backup-cipher -p megolm-backup-flows --no-default-features
# Restoring from async code (tokio), on the shipped demo backup.
cargo run -q -p backup-cipher --example async_restore
# Every criterion bench once, as a smoke test (timings are not asserted).
cargo test --workspace --benches
# Which X25519 paths this run exercised.
paths="aws-lc-rs, x25519-dalek, the IFMA and AVX2 ladders in portable lanes"
for f in avx512ifma avx2; do
  if grep -qw "$f" /proc/cpuinfo 2>/dev/null; then
    paths="$paths, the $f lanes"
  else
    paths="$paths ($f lanes ignored: this CPU lacks $f)"
  fi
done
echo "test.sh: X25519 tested through $paths" >&2
bash scripts/python.sh  # the Python package: built into .venv-py, pytest (vectors, bad input, Synapse), mypy --strict
# Fuzz corpora replayed without a fuzzer.
cargo test --manifest-path fuzz/Cargo.toml --no-default-features
