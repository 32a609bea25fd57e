#!/usr/bin/env bash
# Regenerates the example recordings in recordings/ for the three versions of
# prompts/rag_system, answering from scripts/example-answers.yaml through the
# fake OpenAI-compatible server (no network, no API key). The result is
# example data, not model output; see recordings/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --bins --features fake-provider
out=$(mktemp)
target/debug/promptgate-fake-provider --port 0 --script scripts/example-answers.yaml >"$out" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 50); do grep -q listening "$out" && break; sleep 0.1; done
base=$(sed -n 's/^listening on //p' "$out")
rm -f recordings/*.yaml
for version in prompts/rag_system.txt prompts/rag_system.v2.txt prompts/rag_system.v3.txt; do
  OPENAI_BASE_URL="$base" OPENAI_API_KEY= target/debug/promptgate test suites/ \
    --record recordings --prompt "rag_system=$version" --junit "$(mktemp -d)/junit.xml" >/dev/null || true
done
echo "recordings written:"; ls -l recordings/*.yaml
