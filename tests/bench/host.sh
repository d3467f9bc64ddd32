#!/usr/bin/env bash
# Host load benchmark (issue 2). In one run, on this machine:
#   1. `vantage up` serving a component that does one store get + a small JSON answer,
#   2. the same handler native (hyper + the same SQLite read), and the ratio,
#   3. a component without store access under `vantage up` and under `wasmtime serve`
#      (wasmtime-cli of the same version, when installed), and
#   4. the host's own per-request overhead in-process (no sockets), and
#   5. the SQLite write path: a component incrementing one counter under concurrent requests.
# Usage: tests/bench/host.sh [seconds-per-run]   (WASMTIME=/path/to/wasmtime to pick the CLI)
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-10}"
conns="${CONNECTIONS:-32}"

cargo build --release -p vantage >&2
cargo build --target wasm32-wasip2 --profile component -p test-bench-get -p test-bench-empty >&2
target="${CARGO_TARGET_DIR:-target}"
bin="$target/release/vantage"
wasm="$(cd "$target/wasm32-wasip2/component" && pwd)"

tmp="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

cat > "$tmp/spin.toml" <<TOML
spin_manifest_version = 2
[application]
name = "bench"
[[trigger.http]]
route = "/get"
component = "get"
[[trigger.http]]
route = "/..."
component = "empty"
[component.get]
source = "$wasm/test_bench_get.wasm"
key_value_stores = ["default"]
[component.empty]
source = "$wasm/test_bench_empty.wasm"
TOML

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 1 200); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.05; done; echo "not up: $1" >&2; return 1; }

vport=$(free_port)
"$bin" up -f "$tmp/spin.toml" --listen "127.0.0.1:$vport" --state-dir "$tmp/state" >"$tmp/vantage.out" 2>"$tmp/vantage.log" &
pids+=($!)
wait_up "http://127.0.0.1:$vport/get"   # also seeds the key the native server reads

nport=$(free_port)
"$bin" bench native --listen "127.0.0.1:$nport" --db "$tmp/state/sqlite_key_value.db" >/dev/null 2>&1 &
pids+=($!)
wait_up "http://127.0.0.1:$nport/"

wasmtime_cli="${WASMTIME:-$(command -v wasmtime || echo "$HOME/.cache/vantage/wasmtime-cli/bin/wasmtime")}"
wport=""
if [ -x "$wasmtime_cli" ]; then
  wport=$(free_port)
  "$wasmtime_cli" serve --addr "127.0.0.1:$wport" -S cli=y "$wasm/test_bench_empty.wasm" >/dev/null 2>&1 &
  pids+=($!)
  wait_up "http://127.0.0.1:$wport/"
else
  echo "wasmtime CLI not found (install: cargo install wasmtime-cli --version 48.0.8 --locked); skipping that row" >&2
fi

load() { "$bin" bench load "$1" --label "$2" --connections "$conns" --duration-secs "$secs" --warmup-secs 2 ${3:+--method "$3"}; }
results="$tmp/results.jsonl"
load "http://127.0.0.1:$vport/get" "vantage up: store get + JSON" >>"$results"
load "http://127.0.0.1:$vport/get" "vantage up: store increment (SQLite)" POST >>"$results"
load "http://127.0.0.1:$nport/" "native: hyper + SQLite get + JSON" >>"$results"
load "http://127.0.0.1:$vport/empty" "vantage up: empty handler" >>"$results"
if [ -n "$wport" ]; then
  load "http://127.0.0.1:$wport/" "wasmtime serve 48: empty handler" >>"$results"
fi
# Stop the servers before the in-process measurement so it has the machine to itself.
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=()
"$bin" bench overhead -f "$tmp/spin.toml" --path /empty --iterations 20000 >"$tmp/overhead.json"

python3 - "$results" "$tmp/overhead.json" "$conns" "$secs" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
over = json.load(open(sys.argv[2]))
print(f"\nHost benchmark: {sys.argv[3]} keep-alive connections, {sys.argv[4]} s per run, one machine (2 cores) shared by load generator and server\n")
print(f"| {'what':42} | {'req/s':>9} | {'p50 µs':>8} | {'p99 µs':>8} | errors |")
print(f"|{'-'*44}|{'-'*11}|{'-'*10}|{'-'*10}|--------|")
for r in rows:
    print(f"| {r['label']:42} | {r['rps']:9.0f} | {r['p50_us']:8.0f} | {r['p99_us']:8.0f} | {r['errors']:6} |")
by = {r['label']: r for r in rows}
v = by.get("vantage up: store get + JSON"); n = by.get("native: hyper + SQLite get + JSON")
if v and n:
    print(f"\nhost/native throughput ratio (store get): {v['rps']/n['rps']:.2f}")
e = by.get("vantage up: empty handler"); w = by.get("wasmtime serve 48: empty handler")
if e and w:
    print(f"vantage/wasmtime-serve throughput ratio (empty): {e['rps']/w['rps']:.2f}")
print(f"host per-request overhead in-process: p50 {over['p50_us']:.1f} µs, p99 {over['p99_us']:.1f} µs ({over['iterations']} requests)")
PY
