#!/usr/bin/env bash
# Projection ingest benchmark (issue 3): `vantage push` of N generated records (profiles of about
# 1 KB, plus identity links and memberships) into a local `vantage up` on the SQLite store.
# Prints records/s end to end (file read → HTTP → component → SQLite) and the store size.
#
# Builds nothing: it uses what `cargo test --release -p vantage-tests --test projection` built
# (target/release/vantage and target/wasm-tests/.../projection.wasm).
# Usage: tests/bench/projection.sh [records]    (default 1000000; CONCURRENCY, BATCH to tune)
set -euo pipefail
cd "$(dirname "$0")/../.."
records="${1:-1000000}"
concurrency="${CONCURRENCY:-4}"
batch="${BATCH:-2500}"

target="${CARGO_TARGET_DIR:-target}"
bin="$target/release/vantage"
wasm="$target/wasm-tests/wasm32-wasip2/component/projection.wasm"
[ -f "$wasm" ] || wasm="$target/wasm32-wasip2/component/projection.wasm"
for f in "$bin" "$wasm"; do
  [ -f "$f" ] || { echo "missing $f: run cargo test --release -p vantage-tests --test projection first" >&2; exit 1; }
done
wasm="$(cd "$(dirname "$wasm")" && pwd)/$(basename "$wasm")"

tmp="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

cat > "$tmp/spin.toml" <<TOML
spin_manifest_version = 2
[application]
name = "projection-bench"
[variables]
admin_token = { required = true, secret = true }
[[trigger.http]]
route = "/v1/projection"
component = "projection"
[[trigger.http]]
route = "/v1/profiles/..."
component = "projection"
[component.projection]
source = "$wasm"
key_value_stores = ["default"]
[component.projection.variables]
admin_token = "{{ admin_token }}"
TOML

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
token="bench-$RANDOM$RANDOM"
SPIN_VARIABLE_ADMIN_TOKEN="$token" "$bin" up -f "$tmp/spin.toml" --listen "127.0.0.1:$port" \
  --state-dir "$tmp/state" >"$tmp/up.out" 2>"$tmp/up.log" &
pid=$!
for _ in $(seq 1 200); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/projection" || true)
  [ "$code" = "405" ] && break
  sleep 0.05
done
[ "$code" = "405" ] || { echo "vantage up did not start:" >&2; cat "$tmp/up.log" >&2; exit 1; }

echo "generating $records records…" >&2
"$bin" push --generate "$records" --out "$tmp/projection.ndjson" >&2
file_bytes=$(stat -c %s "$tmp/projection.ndjson")

start=$(date +%s.%N)
status=0
"$bin" push "$tmp/projection.ndjson" --to "http://127.0.0.1:$port" --token "$token" \
  --batch-records "$batch" --concurrency "$concurrency" | tee "$tmp/push.out" || status=$?
end=$(date +%s.%N)

# Stop the host gracefully so SQLite checkpoints its WAL into the database file.
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=""
db="$tmp/state/sqlite_key_value.db"
store_bytes=$(du -cb "$db"* | tail -1 | cut -f1)
keys=$(python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute('select count(*) from spin_key_value').fetchone()[0])" "$db" 2>/dev/null || echo "?")

python3 - "$records" "$file_bytes" "$start" "$end" "$store_bytes" "$keys" "$concurrency" "$batch" <<'PY'
import sys
records, file_bytes, start, end, store, keys, conc, batch = sys.argv[1:]
records, file_bytes, secs, store = int(records), int(file_bytes), float(end) - float(start), int(store)
print(f"projection bench: {records} records, {file_bytes/1e6:.1f} MB ({file_bytes/records:.0f} B/record avg), "
      f"batches of {batch}, {conc} in flight")
print(f"  end to end: {secs:.1f} s, {records/secs:,.0f} records/s, {file_bytes/1e6/secs:.1f} MB/s")
print(f"  store: {store/1e6:.1f} MB on disk (SQLite incl. WAL), {keys} keys, {store/records:.0f} B/record")
PY
exit "$status"
