#!/usr/bin/env bash
# Segments benchmark (issue 4): real-time evaluation of edge segments through the host, next to
# the native figures of `cargo bench -p vantage-segments --bench evaluate`.
#   1. natively, that bench's report: catalogs of 150 / 1,500 / 15,000 edge segments, a profile
#      with 500 recent events over 20 h across 50 event types, one new event, `evaluate()` in a
#      dry run over a MemoryKv. It runs as written (its policy keeps 500 events), then
#      NATIVE_RUNS times with the policy the components run with (`Policy::default()`: the
#      newest 64 events, 64 KiB), the profile the host can hold and so the ratio's baseline;
#   2. through the host, for each catalog size: a fresh `vantage up` serving projection +
#      segments on SQLite; the bench's profile attributes as a `profile` record and its 500
#      events (same types, pages and spacing, ending now) posted one by one to
#      /v1/segments/evaluate before any segment exists (so no membership is realized); the
#      bench's segment definitions published as `segment` records through /v1/projection
#      (timed: compile + catalog + index, per definition); then POST /v1/segments/evaluate with
#      the same new event and `dryRun: true` (nothing written, every request sees the same
#      store) over one keep-alive connection (latency) and CONNECTIONS connections (throughput);
#   3. the host/native ratio of the medians and p99s.
# The definitions and the profile are generated below as the bench generates them
# (`definition(i)` and `store(n)` in shared/segments/benches/evaluate.rs): keep them in step.
# Also measured: POST /v1/segments/validate over the definitions (compile per definition through
# the host, no store). Publishing goes through the production path, one catalog update per
# record, so at 15,000 definitions it takes minutes.
# Usage: tests/bench/segments.sh [seconds-per-run]    (CONNECTIONS, default 4; NATIVE_RUNS, 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$(pwd)"
secs="${1:-10}"
conns="${CONNECTIONS:-4}"
native_runs="${NATIVE_RUNS:-3}"

cargo build --release -p vantage >&2
cargo build --target wasm32-wasip2 --profile component -p segments -p projection >&2
target="${CARGO_TARGET_DIR:-target}"
target="$(cd "$target" && pwd)"
bin="$target/release/vantage"
wasm="$target/wasm32-wasip2/component"

tmp="$(mktemp -d)"
pid=""
stop() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; pid=""; }
cleanup() { stop || true; rm -rf "$tmp"; }
trap cleanup EXIT

# 1. Native. As written:
cargo bench -p vantage-segments --bench evaluate -- report-only 2>/dev/null | tee "$tmp/native-500.txt" >&2
# With the components' policy: the same bench source with the two fields of its policy() that
# widen Policy::default() removed, built as a throwaway package against the same crates.
nat="$tmp/native-deployed"
mkdir -p "$nat/benches"
sed -e '/^ *max_events: 500,$/d' -e '/^ *max_profile_bytes: 1 << 20,$/d' \
  shared/segments/benches/evaluate.rs >"$nat/benches/evaluate.rs"
removed=$(diff shared/segments/benches/evaluate.rs "$nat/benches/evaluate.rs" | grep -c '^<' || true)
[ "$removed" = 2 ] || { echo "policy() in shared/segments/benches/evaluate.rs changed: update $0" >&2; exit 1; }
cat >"$nat/Cargo.toml" <<TOML
[package]
name = "segments-bench-deployed-policy"
version = "0.0.0"
edition = "2024"
publish = false
[workspace]
[dependencies]
bincode = { version = "=2.0.1", default-features = false, features = ["std", "serde", "derive"] }
criterion = { version = "0.7", default-features = false, features = ["cargo_bench_support"] }
serde_json = "1"
vantage-kv = { path = "$root/shared/kv" }
vantage-model = { path = "$root/shared/model" }
vantage-pql = { path = "$root/shared/pql" }
vantage-segments = { path = "$root/shared/segments" }
[[bench]]
name = "evaluate"
harness = false
[profile.release]
debug = "line-tables-only"
TOML
cp Cargo.lock rust-toolchain.toml "$nat/"
# Other work on the machine moves a single run's median a lot: run it NATIVE_RUNS times and
# take the median of the medians.
for r in $(seq 1 "$native_runs"); do
  (cd "$nat" && CARGO_TARGET_DIR="$target" cargo bench --bench evaluate -- report-only 2>/dev/null) \
    | tee "$tmp/native-64.$r.txt" >&2
done

# 2. Through the host.
cat >"$tmp/spin.toml" <<TOML
spin_manifest_version = 2
[application]
name = "segments-bench"
[variables]
admin_token = { required = true, secret = true }
api_token = { required = true, secret = true }
[[trigger.http]]
route = "/v1/projection"
component = "projection"
[[trigger.http]]
route = "/v1/profiles/..."
component = "projection"
[[trigger.http]]
route = "/v1/segments/..."
component = "segments"
[component.projection]
source = "$wasm/projection.wasm"
key_value_stores = ["default"]
[component.projection.variables]
admin_token = "{{ admin_token }}"
[component.segments]
source = "$wasm/segments.wasm"
key_value_stores = ["default"]
[component.segments.variables]
api_token = "{{ api_token }}"
TOML

# The bench's definitions, profile and events, with times relative to now.
cat >"$tmp/gen.py" <<'PY'
import json, sys, time
EVENT_TYPES = 50
HOUR = 3600

def definition(i):
    t = (i // 10 + i) % EVENT_TYPES
    k = i % 10
    if k <= 3:
        return (f'chain(xEvent, timestamp, [A: WHAT(eventType = "type{t}" and '
                f'web.webPageDetails.name = "page{i % 7}") WHEN(< 24 hours before now)])')
    if k in (4, 5):
        return (f'homeAddress.countryCode = "US" and chain(xEvent, timestamp, '
                f'[C0: WHAT(eventType.equals("type{t}", false)) WHEN(today)])')
    if k == 6:
        return (f'select X from xEvent where X.eventType = "type{t}" and '
                f'X.timestamp occurs < {1 + i % 24} hours before now')
    if k == 7:
        return f'loyalty.tier = "gold" and loyalty.points > {i % 9000}'
    if k == 8:
        return (f'person.name.firstName.startsWith("A", false) and homeAddress.city in '
                f'["Paris", "Berlin", "c{i % 13}"]')
    if i >= 10:
        return f'inSegment("seg-{i - 3}") and inSegment("seg-{i - 9}")'
    return 'person.birthYear > 1980'

def rfc3339(s):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(s))

what, out = sys.argv[1], sys.argv[2]
now = int(time.time())
with open(out, 'w') as f:
    if what == 'catalog':
        for i in range(int(sys.argv[3])):
            f.write(json.dumps({'type': 'segment', 'id': f'seg-{i}', 'name': f'Segment {i}',
                                'expression': definition(i), 'timestamp': rfc3339(now)}) + '\n')
    elif what == 'profile':
        f.write(json.dumps({'type': 'profile', 'identity': {'namespace': 'CRMID', 'id': 'bench'},
                            'timestamp': rfc3339(now - 21 * HOUR),
                            'attributes': {'person': {'name': {'firstName': 'Ada'}, 'birthYear': 1985},
                                           'homeAddress': {'countryCode': 'US', 'city': 'Paris'},
                                           'loyalty': {'tier': 'gold', 'points': 5200}}}) + '\n')
    elif what == 'events':
        for i in range(500):
            kind = f'type{(i * 7) % EVENT_TYPES}'
            f.write(json.dumps({'identityMap': {'CRMID': [{'id': 'bench'}]}, 'event': {
                'eventType': kind, '_id': f'e{i}', 'timestamp': rfc3339(now - 20 * HOUR + i * 144),
                'web': {'webPageDetails': {'name': f'page{i % 7}'}},
                'commerce': {'order': {'priceTotal': i}}}}) + '\n')
    elif what == 'validate':
        for i in range(int(sys.argv[3])):
            f.write(json.dumps({'expression': definition(i)}) + '\n')
    elif what == 'request':
        f.write(json.dumps({'identityMap': {'CRMID': [{'id': 'bench'}]}, 'dryRun': True,
                            'event': {'eventType': 'type7', '_id': 'new',
                                      'web': {'webPageDetails': {'name': 'page0'}}}}))
PY

# Posts each line of a file to the segments route over one keep-alive connection.
cat >"$tmp/post_lines.py" <<'PY'
import http.client, sys
port, token = int(sys.argv[1]), sys.argv[2]
c = http.client.HTTPConnection('127.0.0.1', port)
for n, line in enumerate(open(sys.argv[3]), 1):
    c.request('POST', '/v1/segments/evaluate', body=line.encode(),
              headers={'authorization': f'Bearer {token}', 'content-type': 'application/json'})
    r = c.getresponse()
    body = r.read()
    if r.status != 200:
        sys.exit(f'line {n}: {r.status} {body[:300]!r}')
PY

# call METHOD PATH TOKEN [CONTENT-TYPE BODY-FILE]: the answer goes to $tmp/answer.json and the
# seconds it took to stdout; any status but 200 stops the run, showing the answer.
call() {
  local args=(-sS -X "$1" -H "authorization: Bearer $3" -o "$tmp/answer.json" -w '%{http_code} %{time_total}')
  [ $# -gt 3 ] && args+=(-H "content-type: $4" --data-binary "@$5")
  local out
  out=$(curl "${args[@]}" "http://127.0.0.1:$port$2")
  [ "${out%% *}" = 200 ] || { echo "$1 $2: HTTP ${out%% *}: $(head -c 2000 "$tmp/answer.json")" >&2; exit 1; }
  echo "${out#* }"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
admin="admin-$RANDOM$RANDOM"
api="api-$RANDOM$RANDOM"
python3 "$tmp/gen.py" request "$tmp/request.json"

for n in 150 1500 15000; do
  port=$(free_port)
  rm -rf "$tmp/state"
  # Publishing thousands of definitions takes long requests: give them time and memory.
  SPIN_VARIABLE_ADMIN_TOKEN="$admin" SPIN_VARIABLE_API_TOKEN="$api" "$bin" up -f "$tmp/spin.toml" \
    --listen "127.0.0.1:$port" --state-dir "$tmp/state" --request-timeout-ms 600000 \
    --max-memory-mb 1024 >"$tmp/up.out" 2>"$tmp/up.log" &
  pid=$!
  code=""
  for _ in $(seq 1 200); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/projection" || true)
    [ "$code" = "405" ] && break
    sleep 0.05
  done
  [ "$code" = "405" ] || { echo "vantage up did not start:" >&2; cat "$tmp/up.log" >&2; exit 1; }
  python3 "$tmp/gen.py" profile "$tmp/profile.ndjson"
  call POST /v1/projection "$admin" application/x-ndjson "$tmp/profile.ndjson" >/dev/null
  python3 "$tmp/gen.py" events "$tmp/events.ndjson"
  python3 "$tmp/post_lines.py" "$port" "$api" "$tmp/events.ndjson"
  call GET /v1/profiles/CRMID/bench "$admin" >/dev/null
  kept=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1])).get("events", [])))' "$tmp/answer.json")
  # Projection takes at most 10,000 records a request: publish in batches of 5,000.
  python3 "$tmp/gen.py" catalog "$tmp/catalog.ndjson" "$n"
  rm -f "$tmp"/batch.*
  split -l 5000 "$tmp/catalog.ndjson" "$tmp/batch."
  publish_s=0
  for b in "$tmp"/batch.*; do
    s=$(call POST /v1/projection "$admin" application/x-ndjson "$b")
    publish_s=$(python3 -c "print($publish_s + $s)")
    python3 - "$tmp/answer.json" "$(wc -l <"$b")" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["accepted"] == int(sys.argv[2]) and not r["rejected"], r
PY
  done
  call POST /v1/segments/evaluate "$api" application/json "$tmp/request.json" >/dev/null
  members=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["segments"]))' "$tmp/answer.json")
  load() {
    "$bin" bench load "http://127.0.0.1:$port/v1/segments/evaluate" --method POST \
      --body-file "$tmp/request.json" --header "authorization: Bearer $api" \
      --header 'content-type: application/json' --connections "$1" --duration-secs "$secs" \
      --warmup-secs 2 --label "$n/$1"
  }
  printf '%s\n' "{\"n\": $n, \"kept\": $kept, \"publish_s\": $publish_s, \"members\": $members, \"c1\": $(load 1), \"cn\": $(load "$conns")}" >>"$tmp/host.jsonl"
  if [ "$n" = 1500 ]; then
    # Compile alone through the host: validate each of the 1,500 definitions in turn.
    python3 "$tmp/gen.py" validate "$tmp/validate.ndjson" "$n"
    "$bin" bench load "http://127.0.0.1:$port/v1/segments/validate" --method POST \
      --bodies "$tmp/validate.ndjson" --header 'content-type: application/json' --connections 1 \
      --duration-secs "$secs" --warmup-secs 2 --label validate >"$tmp/validate.json"
  fi
  stop
done

# 3. The table.
python3 - "$tmp" "$secs" "$conns" "$native_runs" <<'PY'
import glob, json, statistics, sys
tmp, secs, conns, runs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
def native(path):
    rows = {}
    for line in open(path):
        f = line.split()
        if len(f) >= 12 and f[0].isdigit():
            rows[int(f[0])] = {"selected": int(f[1]), "p50": float(f[2]), "p99": float(f[3]),
                               "min": float(f[4]), "publish": float(f[10])}
    return rows
host = [json.loads(l) for l in open(f"{tmp}/host.jsonl")]
as_written = native(f"{tmp}/native-500.txt")
deployed = {}
for path in sorted(glob.glob(f"{tmp}/native-64.*.txt")):
    for n, row in native(path).items():
        deployed.setdefault(n, []).append(row)
def med(rows, k):
    return statistics.median(r[k] for r in rows)
validate = json.load(open(f"{tmp}/validate.json"))
nan = float("nan")
print(f"\nSegments: POST /v1/segments/evaluate with one new event, dry run, 1 connection, {secs} s a run;"
      f" native: evaluate() over MemoryKv, median of {runs} runs of the bench with the components' policy\n")
print("| catalog | evaluated | host p50 µs | host p99 µs | native p50 µs | native p99 µs | native min µs"
      " | host/native p50 | host/native p99 | host req/s, 1 / " + conns + " conns"
      " | native p50 µs, bench as written (500 events) | publish µs per definition: host | native |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for h in host:
    n, c1, cn = h["n"], h["c1"], h["cn"]
    d = deployed.get(n, [])
    p50, p99 = (med(d, "p50"), med(d, "p99")) if d else (nan, nan)
    mn = min((r["min"] for r in d), default=nan)
    pub = med(d, "publish") if d else nan
    sel = d[0]["selected"] if d else "?"
    w = as_written.get(n, {}).get("p50", nan)
    print(f"| {n:,} | {sel} | {c1['p50_us']:,.0f} | {c1['p99_us']:,.0f} | {p50:,.0f} | {p99:,.0f} | {mn:,.0f}"
          f" | {c1['p50_us'] / p50:.2f} | {c1['p99_us'] / p99:.2f} | {c1['rps']:,.0f} / {cn['rps']:,.0f}"
          f" | {w:,.0f} | {h['publish_s'] * 1e6 / n:,.0f} | {pub:,.1f} |")
    if c1["errors"] or cn["errors"]:
        print(f"  ({c1['errors'] + cn['errors']} failed requests at {n:,})")
print(f"\nCompile through the host (POST /v1/segments/validate over the 1,500 definitions, 1 connection):"
      f" p50 {validate['p50_us']:,.0f} µs, p99 {validate['p99_us']:,.0f} µs, {validate['rps']:,.0f} req/s")
print("Events kept by the host's profile: " + ", ".join(str(h["kept"]) for h in host) +
      "; memberships in the answer: " + ", ".join(str(h["members"]) for h in host) +
      f"; {conns}-connection p50/p99 µs: " +
      ", ".join(f"{h['cn']['p50_us']:,.0f}/{h['cn']['p99_us']:,.0f}" for h in host))
PY
