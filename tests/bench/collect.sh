#!/usr/bin/env bash
# Interact benchmark (issue 6): Web SDK `interact` requests of returning visitors against
# `vantage up` (SQLite store) holding PROFILES generated projected profiles (default 1,000,000)
# plus the benchmark's own 20,000 visitors, 1,500 edge segments and 100 activities × 5
# experiences; then the same pipeline natively in one process (the criterion bench of the
# collect crate, which also writes the catalog, visitors and request bodies used here).
# Prints requests/s, p50/p99 latency through the host (as the load generator sees it, over
# loopback), the native median/p99, and the ratio.
#
# Builds what it needs (release): the vantage binary, the components (wasm-tests layout of the
# test crate), the native bench.
# Usage: tests/bench/collect.sh [profiles] [seconds]    (CONNECTIONS to tune, default 16;
# SKIP_BUILD=1 uses what is built; DATA=dir keeps and reuses the native run and its data)
set -euo pipefail
cd "$(dirname "$0")/../.."
profiles="${1:-1000000}"
seconds="${2:-20}"
connections="${CONNECTIONS:-16}"
target="${CARGO_TARGET_DIR:-target}"

tmp="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

if [ -z "${SKIP_BUILD:-}" ]; then
  echo "building…" >&2
  cargo build --release -p vantage >&2
  for c in projection collect; do
    cargo build --target wasm32-wasip2 --profile component -p "$c" >&2
  done
fi
bin="$target/release/vantage"
wasm_dir="$(cd "$target/wasm32-wasip2/component" && pwd)"

# DATA=dir keeps the native run's output and data there and reuses them when present.
data="${DATA:-$tmp/data}"
if [ ! -f "$data/native.out" ]; then
  echo "native pipeline (cargo bench -p collect --bench interact)…" >&2
  mkdir -p "$data"
  COLLECT_BENCH_DUMP="$data" cargo bench -p collect --bench interact -- \
    --warm-up-time 1 --measurement-time 5 2>/dev/null | tee "$data/native.out.tmp" >&2
  mv "$data/native.out.tmp" "$data/native.out"
fi
native_line=$(grep '^interact native:' "$data/native.out")

cat > "$tmp/spin.toml" <<TOML
spin_manifest_version = 2
[application]
name = "collect-bench"
[variables]
admin_token = { required = true, secret = true }
org_id = { default = "53A16ACB5CC1D3760A495C99@AdobeOrg" }
[[trigger.http]]
route = "/v1/projection"
component = "projection"
[[trigger.http]]
route = "/ee/..."
component = "collect"
[[trigger.http]]
route = "/v1/outbox/..."
component = "collect"
[component.projection]
source = "$wasm_dir/projection.wasm"
key_value_stores = ["default"]
[component.projection.variables]
admin_token = "{{ admin_token }}"
[component.collect]
source = "$wasm_dir/collect.wasm"
key_value_stores = ["default"]
[component.collect.variables]
admin_token = "{{ admin_token }}"
org_id = "{{ org_id }}"
TOML

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
token="bench-$RANDOM$RANDOM"
SPIN_VARIABLE_ADMIN_TOKEN="$token" "$bin" up -f "$tmp/spin.toml" --listen "127.0.0.1:$port" \
  --state-dir "$tmp/state" >"$tmp/up.out" 2>"$tmp/up.log" &
pid=$!
for _ in $(seq 1 400); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/projection" || true)
  [ "$code" = "405" ] && break
  sleep 0.05
done
[ "$code" = "405" ] || { echo "vantage up did not start:" >&2; cat "$tmp/up.log" >&2; exit 1; }

echo "projecting $profiles generated records, then the benchmark's catalog and visitors…" >&2
"$bin" push --generate "$profiles" --out "$tmp/profiles.ndjson" >&2
"$bin" push "$tmp/profiles.ndjson" --to "http://127.0.0.1:$port" --token "$token" >&2
"$bin" push "$data/records.ndjson" --to "http://127.0.0.1:$port" --token "$token" >&2

load() {
  "$bin" bench load "http://127.0.0.1:$port/ee/v1/interact?configId=bench" \
    --method POST --bodies "$data/bodies.ndjson" \
    --header 'content-type: text/plain; charset=UTF-8' --header 'origin: https://shop.example' \
    --header 'user-agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36' \
    --threads 1 "$@"
}
echo "warming every visitor once…" >&2
load --connections "$connections" --warmup-secs 0 --duration-secs 10 --label warm >/dev/null
# Server latency from the host's access log (duration_us of each collect request), one
# connection (the pipeline's own latency) and then $connections (throughput).
server_us() {
  tail -n +"$(( $1 + 1 ))" "$tmp/up.log" | grep 'component=collect' | grep -o 'duration_us=[0-9]*' | cut -d= -f2 | tr '\n' ' '
}
echo "measuring ${seconds}s with 1 connection…" >&2
mark=$(wc -l < "$tmp/up.log")
one_json=$(load --connections 1 --warmup-secs 1 --duration-secs "$seconds" --label one)
one_server=$(server_us "$mark")
echo "measuring ${seconds}s with $connections connections…" >&2
mark=$(wc -l < "$tmp/up.log")
host_json=$(load --connections "$connections" --warmup-secs 2 --duration-secs "$seconds" --label interact)
many_server=$(server_us "$mark")
outbox=$(curl -s "http://127.0.0.1:$port/v1/outbox/stats" -H "authorization: Bearer $token")

python3 - "$host_json" "$native_line" "$profiles" "$outbox" "$(cut -d' ' -f1-3 /proc/loadavg)" \
  "$one_json" "$one_server" "$many_server" "$connections" <<'PY'
import json, re, sys
host, native, profiles, outbox, load, one, one_server, many_server, conns = sys.argv[1:]
h = json.loads(host)
o = json.loads(one)
def pct(text, q):
    v = sorted(int(x) for x in text.split())
    return v[min(len(v) - 1, round((len(v) - 1) * q))] if v else float("nan")
print(f"interact, 1 connection: {o['rps']:.0f} req/s; server (access log) p50 {pct(one_server, .5)} µs, "
      f"p99 {pct(one_server, .99)} µs; client p50 {o['p50_us']:.0f} µs, p99 {o['p99_us']:.0f} µs")
print(f"interact, {conns} connections: server (access log) p50 {pct(many_server, .5)} µs, p99 {pct(many_server, .99)} µs")
m = re.search(r"median (\d+) µs, p99 (\d+) µs", native)
nat_med, nat_p99 = float(m.group(1)), float(m.group(2))
print(f"interact through vantage up: {h['rps']:.0f} req/s, p50 {h['p50_us']:.0f} µs, p99 {h['p99_us']:.0f} µs, "
      f"{h['requests']} requests, {h['errors']} errors ({profiles} generated profiles + 20,000 visitors, "
      f"1,500 edge segments, 100 activities)")
print(f"interact natively (one process, MemoryKv): median {nat_med:.0f} µs, p99 {nat_p99:.0f} µs")
print(f"ratio host/native (server latency at 1 connection): p50 {pct(one_server, .5)/nat_med:.2f}x, "
      f"p99 {pct(one_server, .99)/nat_p99:.2f}x; one core natively would serve ~{1e6/nat_med:.0f} req/s")
print(f"outbox after the run: {outbox}")
print(f"load average: {load}")
PY
