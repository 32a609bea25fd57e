#!/usr/bin/env bash
# Benchmark: N cases (3 deterministic assertions each) against the fake
# OpenAI-compatible server with a fixed latency, at -j JOBS. Prints wall time,
# CPU time and peak RSS of `promptgate test`, and the ratio to the ideal bound
# N × latency / jobs, for:
#   clean    the plain workload (--no-cache: every case calls the server)
#   cached   a rerun answered by the response cache (no request)
#   faults   the server answers 10% 429 (retry-after-ms 50), 5% 500, 1% non-JSON
#            200; every case must reach the same verdict as in the clean run
#   faults-default  the same with the default backoff (retry_delay_ms 500)
#   list     load + plan only (--list)
# and, with BIG > 0, load + plan and the whole run for BIG cases (memory).
# Usage: bench/run.sh [N=1000] [LATENCY_MS=20] [JOBS=32] [RUNS=3] [BIG=0]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}; latency=${2:-20}; jobs=${3:-32}; runs=${4:-3}; big=${5:-0}
cargo build --quiet --release --bins --features fake-provider
bin="$PWD/target/release/promptgate"
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"' EXIT

# start_server NAME [ARGS...]: a fake server; its base URL in $work/NAME.url
start_server() {
  local name=$1; shift
  "$PWD/target/release/promptgate-fake-provider" --port 0 --latency-ms "$latency" "$@" >"$work/$name.log" &
  pids+=($!)
  for _ in $(seq 50); do grep -q listening "$work/$name.log" && break; sleep 0.1; done
  sed -n 's/^listening on //p' "$work/$name.log" >"$work/$name.url"
}
start_server clean
start_server faults --faults

# suite FILE N BASE [DELAY_MS]: N cases, 3 deterministic assertions each. The
# retry delay is 20 ms unless DELAY_MS says otherwise ("default": not set, i.e.
# 500 ms, meant for real APIs; see bench/README.md).
suite() {
  python3 - "$1" "$2" "$3" "${4:-20}" <<'PY'
import sys
path, n, base, delay = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
retry = "" if delay == "default" else f", retry_delay_ms: {delay}"
with open(path, "w") as f:
    f.write("description: bench\nprompts: [echo_n]\nproviders:\n  - id: openai:chat:fake\n")
    f.write(f"    config: {{apiBaseUrl: '{base}', temperature: 0{retry}}}\ntests:\n")
    for i in range(n):
        f.write(f"  - vars: {{n: {i}}}\n    assert:\n      - type: contains\n        value: 'Echo {{{{ n }}}}'\n"
                f"      - type: regex\n        value: '^Echo \\d+$'\n      - type: not-icontains\n        value: error\n")
PY
}
mkdir -p "$work/prompts"
printf 'Echo {{ n }}' >"$work/prompts/echo_n.txt"
suite "$work/clean.yaml" "$n" "$(cat "$work/clean.url")"
suite "$work/faults.yaml" "$n" "$(cat "$work/faults.url")"
suite "$work/faults-default.yaml" "$n" "$(cat "$work/faults.url")" default
cd "$work"
ideal=$(python3 -c "print($n*$latency/1000/$jobs)")
echo "cases=$n latency_ms=$latency jobs=$jobs ideal_s=$ideal"

# measure LABEL ARGS...: one timed run of promptgate
measure() {
  local label=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o time.txt "$bin" "$@" >out.txt 2>err.txt || true
  read -r wall user sys rss < <(tail -n 1 time.txt)
  python3 -c "print(f'$label: wall={$wall:.2f}s cpu={$user+$sys:.2f}s peak_rss={$rss/1024:.0f}MB ratio={$wall/$ideal:.2f}')"
  grep -m1 '^test result' out.txt || true
}

for run in $(seq "$runs"); do
  measure "clean  $run" test clean.yaml -j "$jobs" --junit junit.xml --json clean.json --no-cache
done
"$bin" test clean.yaml -j "$jobs" --junit junit.xml >/dev/null || true   # fill the cache
for run in $(seq "$runs"); do
  measure "cached $run" test clean.yaml -j "$jobs" --junit junit.xml
done
for kind in faults faults-default; do
for run in $(seq "$runs"); do
  measure "$kind $run" test "$kind.yaml" -j "$jobs" --junit junit.xml --json faults.json --no-cache
  python3 - <<'PY'
import json
def verdicts(p):
    return {c["vars"]["n"]: c["verdict"] for c in json.load(open(p))["cases"]}
clean, faults = verdicts("clean.json"), verdicts("faults.json")
errors = sum(v == "error" for v in faults.values())
same = clean == faults
retried = json.load(open("faults.json"))["summary"]["retried"]
print(f"  fault mix: {len(faults)} verdicts, {errors} errors, {retried} cases retried, identical to the clean run: {same}")
PY
done
done
measure "list" test clean.yaml --list

if [ "$big" -gt 0 ]; then
  suite "$work/big.yaml" "$big" "$(cat "$work/clean.url")"
  ideal=$(python3 -c "print($big*$latency/1000/$jobs)")
  echo "cases=$big (ideal_s=$ideal)"
  measure "big list" test big.yaml --list
  measure "big run" test big.yaml -j "$jobs" --junit junit.xml --json big.json --no-cache
fi
