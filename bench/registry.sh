#!/usr/bin/env bash
# Benchmark: the registry's cost on the example project (offline, replayed).
# Prints, over 5 runs each: `test suites/` vs `test suites/ --record-run`
# (the overhead of recording a run), `registry activate` (open, check the
# runs, move the label), `registry history`, a `gate` that activates v3
# (candidate run + baseline run + comparison), and 8 concurrent activations.
# Usage: bench/registry.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --release --bin promptgate
pg="$PWD/target/release/promptgate"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r prompts suites recordings promptgate.toml "$work"
cd "$work"
t() {  # t LABEL CMD...: wall seconds of 5 runs, min-max
  local label=$1; shift
  local times=()
  for _ in 1 2 3 4 5; do
    local s e
    s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N)
    times+=("$(python3 -c "print(f'{$e-$s:.3f}')")")
  done
  python3 -c "import sys; v=sorted(map(float,sys.argv[2:])); print(f'{sys.argv[1]:<44} {v[0]:.3f}-{v[-1]:.3f} s (median {v[2]:.3f})')" "$label" "${times[@]}"
}
export CI=true
"$pg" registry add rag_system --file prompts/rag_system.txt --author bench >/dev/null
t "test suites/" "$pg" test suites/
t "test suites/ --record-run" "$pg" test suites/ --record-run
t "registry activate rag_system@1 (--force)" "$pg" registry activate rag_system@1 --force --reason bench
t "registry history rag_system" "$pg" registry history rag_system
t "registry status" "$pg" registry status
cp prompts/rag_system.v3.txt prompts/rag_system.txt
t "gate (v3: candidate + baseline + compare)" bash -c "\"$pg\" registry rollback rag_system --to 1 >/dev/null 2>&1; \"$pg\" gate suites/"
for i in 1 2 3 4 5 6 7 8; do printf 'v%s {{ query }}' "$i" >"p$i.txt"; "$pg" registry add p --file "p$i.txt" >/dev/null; done
t "8 concurrent activate --force (one prompt)" bash -c "for i in 1 2 3 4 5 6 7 8; do \"$pg\" registry activate p@\$i --force --reason bench & done; wait"
echo "registry size: $(du -k .promptgate/registry.db | cut -f1) KiB, rag_system versions: $("$pg" registry history rag_system --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
