#!/usr/bin/env bash
# Every figure of docs/performance.md, in one run on one machine. Results go
# to target/bench-readme/*.txt. Takes about 20 minutes on 2 cores (the 100,000-session
# criterion runs dominate). Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/bench-readme
mkdir -p "$out"

# `bench` and `--lanes` exist only in a build with the `bench` feature.
cargo build -q --release -p megolm-backup --features bench
# The machine: CPU model, cores, and the features the fast paths use.
{
  grep -m1 'model name' /proc/cpuinfo || true
  echo "cores: $(nproc)"
  echo "features: $(grep -m1 -ow -E 'avx512ifma|avx512f|avx2|adx|bmi2|sha_ni|vaes' /proc/cpuinfo | sort -u | tr '\n' ' ')"
  rustc --version
  date -u +%F
} > "$out/machine.txt"
# Large backups for the memory figures (made once; the key is random each time).
for n in 100000 300000; do
  [ -f "$out/backup-$n/backup.json" ] ||
    cargo run -q --release -p backup-cipher --example make_demo_backup -- "$out/backup-$n" "$n"
done

cargo bench -p benches --bench pbkdf2 2>&1 | grep -E "^pbkdf2|time:" > "$out/pbkdf2.txt"
cargo bench -p benches --bench x25519 2>&1 | grep -E "^x25519|time:|thrpt:" > "$out/x25519.txt"
MKB_BENCH_LARGE=1 cargo bench -p benches --bench backup 2>&1 |
  grep -E "^decrypt|^restore|time:|thrpt:" > "$out/backup.txt"
./target/release/megolm-backup bench --sessions 100000 --runs 2 > "$out/cli.txt" 2>&1
# The same as a CPU without AVX-512 runs it (the CLI ships no AVX2 lanes: one X25519 at a
# time through aws-lc-rs).
./target/release/megolm-backup bench --sessions 100000 --runs 2 --lanes avx2 > "$out/cli-no-avx512.txt" 2>&1
# The CLI's own restore from a file (parse, decrypt, sort, write), with every path this
# CPU has and as a CPU without AVX-512 runs it; two runs each.
d="$out/backup-100000"
for lanes in any avx2; do
  for run in 1 2; do
    ./target/release/megolm-backup restore --lanes "$lanes" --key-file "$d/recovery-key.txt" \
      --out "$d/restored.json" "$d/backup.json" 2>&1 | grep -E "restored"
  done > "$out/cli-restore-$lanes.txt"
done
rm -f "$d/restored.json"
for n in 100000 300000; do
  d="$out/backup-$n"
  for budget in 33554432 default; do
    args=()
    [ "$budget" = default ] || args=(--sort-memory "$budget")
    /usr/bin/time -v ./target/release/megolm-backup restore "${args[@]}" \
      --key-file "$d/recovery-key.txt" --out "$d/restored.json" "$d/backup.json" 2>&1 |
      grep -E "restored|Maximum resident|Elapsed" > "$out/rss-$n-$budget.txt"
  done
  rm -f "$d/restored.json"
done
echo "results in $out/"
