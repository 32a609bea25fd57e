#!/usr/bin/env bash
# Benchmark: N cases (3 deterministic assertions each) against the fake
# OpenAI-compatible server with a fixed latency, at -j JOBS. Prints wall time,
# CPU time and peak RSS of `promptgate test`, and the ratio to the ideal bound
# N × latency / jobs. Usage: bench/run.sh [N=1000] [LATENCY_MS=20] [JOBS=32]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}; latency=${2:-20}; jobs=${3:-32}
cargo build --quiet --release --bins --features fake-provider
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
target/release/promptgate-fake-provider --port 0 --latency-ms "$latency" >"$work/server.log" &
pid=$!
for _ in $(seq 50); do grep -q listening "$work/server.log" && break; sleep 0.1; done
base=$(sed -n 's/^listening on //p' "$work/server.log")
mkdir -p "$work/prompts"
printf 'Echo {{ n }}' >"$work/prompts/echo_n.txt"
python3 - "$work/bench.yaml" "$n" "$base" <<'PY'
import sys
path, n, base = sys.argv[1], int(sys.argv[2]), sys.argv[3]
out = ["description: bench", "prompts: [echo_n]", "providers:", "  - id: openai:chat:fake",
       f"    config: {{apiBaseUrl: '{base}', temperature: 0}}", "tests:"]
for i in range(n):
    out.append(f"  - vars: {{n: {i}}}\n    assert:\n      - type: contains\n        value: 'Echo {{{{ n }}}}'\n"
               f"      - type: regex\n        value: '^Echo \\d+$'\n      - type: not-icontains\n        value: error")
open(path, "w").write("\n".join(out) + "\n")
PY
cd "$work"
ideal=$(python3 -c "print($n*$latency/1000/$jobs)")
echo "cases=$n latency_ms=$latency jobs=$jobs ideal_s=$ideal"
for run in 1 2 3; do
  /usr/bin/time -f "%e %U %S %M" -o time.txt "$OLDPWD/target/release/promptgate" test bench.yaml -j "$jobs" --junit junit.xml >out.txt || true
  read -r wall user sys rss < <(tail -n 1 time.txt)
  python3 -c "print(f'run $run: wall={$wall:.2f}s cpu={$user+$sys:.2f}s peak_rss={$rss/1024:.0f}MB ratio={$wall/$ideal:.2f}')"
  tail -n +1 out.txt | grep -m1 '^test result' || true
done
/usr/bin/time -f "%e %U %S %M" -o time.txt "$OLDPWD/target/release/promptgate" test bench.yaml --list >/dev/null
read -r wall user sys rss < <(tail -n 1 time.txt)
python3 -c "print(f'load+plan only (--list): wall={$wall:.2f}s cpu={$user+$sys:.2f}s peak_rss={$rss/1024:.0f}MB')"
