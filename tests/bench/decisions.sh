#!/usr/bin/env bash
# Decisions benchmark (issue 5): decide for 10 scopes among 100 activities × 5 experiences.
#   1. natively: the whole POST /v1/decisions handler (`cargo bench -p decisions --bench request`:
#      JSON in, activity index + compiled activities + profile reads from an in-memory store,
#      geography from a CDN header, PQL, decide, JSON out); with BEFORE=1 also the same handler
#      reading the activities' JSON sources (what it did before activities were compiled);
#   2. through the host: `vantage up` serving projection + decisions on SQLite, the same records
#      published through /v1/projection (compiled there), the same request body and
#      `cf-ipcountry` header, one keep-alive connection (latency, no queueing) and then
#      CONNECTIONS connections (throughput);
#   3. the ratio host/native of the medians.
# The engine alone (prepared catalog, stand-in conditions) is
# `cargo bench -p vantage-decisioning --bench decide`.
# Usage: tests/bench/decisions.sh [seconds-per-run]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-10}"
conns="${CONNECTIONS:-4}"

cargo build --release -p vantage >&2
cargo build --target wasm32-wasip2 --profile component -p decisions -p projection >&2
target="${CARGO_TARGET_DIR:-target}"
bin="$target/release/vantage"
wasm="$(cd "$target/wasm32-wasip2/component" && pwd)"

tmp="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

DECISIONS_BENCH_OUT="$tmp" cargo bench -p decisions --bench request 2>/dev/null | tee "$tmp/native.txt"
if [ -n "${BEFORE:-}" ]; then
  DECISIONS_BENCH_SOURCE=1 cargo bench -p decisions --bench request 2>/dev/null | tee "$tmp/native-source.txt"
fi

cat > "$tmp/spin.toml" <<TOML
spin_manifest_version = 2
[application]
name = "decisions-bench"
[variables]
admin_token = { required = true, secret = true }
api_token = { required = true, secret = true }
[[trigger.http]]
route = "/v1/projection"
component = "projection"
[[trigger.http]]
route = "/v1/decisions/..."
component = "decisions"
[component.projection]
source = "$wasm/projection.wasm"
key_value_stores = ["default"]
[component.projection.variables]
admin_token = "{{ admin_token }}"
[component.decisions]
source = "$wasm/decisions.wasm"
key_value_stores = ["default"]
[component.decisions.variables]
api_token = "{{ api_token }}"
admin_token = "{{ admin_token }}"
TOML

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
admin="admin-$RANDOM$RANDOM"
api="api-$RANDOM$RANDOM"
SPIN_VARIABLE_ADMIN_TOKEN="$admin" SPIN_VARIABLE_API_TOKEN="$api" "$bin" up -f "$tmp/spin.toml" \
  --listen "127.0.0.1:$port" --state-dir "$tmp/state" >"$tmp/up.out" 2>"$tmp/up.log" &
pid=$!
code=""
for _ in $(seq 1 200); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/projection" || true)
  [ "$code" = "405" ] && break
  sleep 0.05
done
[ "$code" = "405" ] || { echo "vantage up did not start:" >&2; cat "$tmp/up.log" >&2; exit 1; }

curl -fsS -H "authorization: Bearer $admin" -H 'content-type: application/x-ndjson' \
  --data-binary "@$tmp/records.ndjson" "http://127.0.0.1:$port/v1/projection" >"$tmp/ingest.json"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert not r["rejected"], r; print("published", r["accepted"], "records", file=sys.stderr)' "$tmp/ingest.json"
# The first decision writes the sticky assignments; the measured ones only read.
curl -fsS -H "authorization: Bearer $api" -H 'content-type: application/json' -H 'cf-ipcountry: DE' \
  --data-binary "@$tmp/body.json" "http://127.0.0.1:$port/v1/decisions" >"$tmp/first.json"
props=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["propositions"]))' "$tmp/first.json")

load() {
  "$bin" bench load "http://127.0.0.1:$port/v1/decisions" --method POST --body-file "$tmp/body.json" \
    --header "authorization: Bearer $api" --header 'content-type: application/json' \
    --header 'cf-ipcountry: DE' --connections "$1" --duration-secs "$secs" --warmup-secs 2 --label "$2"
}
load 1 "vantage up: POST /v1/decisions, 1 connection" >>"$tmp/results.jsonl"
load "$conns" "vantage up: POST /v1/decisions, $conns connections" >>"$tmp/results.jsonl"

load_avg=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
python3 - "$tmp/results.jsonl" "$tmp/native.txt" "$props" "$secs" "$load_avg" "$tmp/native-source.txt" <<'PY'
import datetime, json, os, re, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def figures(path):
    if not os.path.exists(path):
        return None
    m = re.search(r"median ([0-9.]+) µs, p99 ([0-9.]+) µs", open(path).read())
    return (float(m.group(1)), float(m.group(2))) if m else (float("nan"), float("nan"))
n50, n99 = figures(sys.argv[2])
print(f"\nDecisions benchmark ({datetime.date.today()}, load average {sys.argv[5]}): 10 scopes, 100 activities x 5 experiences, {sys.argv[3]} propositions per answer, {sys.argv[4]} s per run\n")
print(f"| {'what':52} | {'req/s':>7} | {'p50 µs':>8} | {'p99 µs':>8} | errors |")
print(f"|{'-'*54}|{'-'*9}|{'-'*10}|{'-'*10}|--------|")
print(f"| {'native: whole handler, in-memory store, 1 thread':52} | {1e6/n50:7.0f} | {n50:8.0f} | {n99:8.0f} | {0:6} |")
before = figures(sys.argv[6])
if before:
    b50, b99 = before
    print(f"| {'native, JSON sources (before compiling at publish)':52} | {1e6/b50:7.0f} | {b50:8.0f} | {b99:8.0f} | {0:6} |")
for r in rows:
    print(f"| {r['label']:52} | {r['rps']:7.0f} | {r['p50_us']:8.0f} | {r['p99_us']:8.0f} | {r['errors']:6} |")
one = rows[0]
print(f"\nhost/native ratio: p50 {one['p50_us']/n50:.2f}, p99 {one['p99_us']/n99:.2f}")
PY
