//! The whole `POST /v1/decisions` request natively (JSON in, activity index, compiled
//! activities and profile reads from an in-memory store, geography from a CDN header, PQL
//! conditions, decide, JSON out): 10 scopes among 100 activities × 5 experiences, the issue's
//! benchmark, for comparison with the same request through the host
//! (`tests/bench/decisions.sh`). Prints median and p99 in µs. The activities are published as
//! projection publishes them (compiled at ingest, index synced); `DECISIONS_BENCH_SOURCE=1`
//! measures the JSON-source path instead (a store without compiled activities).
//!
//! `cargo bench -p decisions --bench request` (set `DECISIONS_BENCH_OUT=<dir>` to also write
//! the records and the request body the host run uses: `records.ndjson`, `body.json`).

use std::hint::black_box;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use decisions::api::{DECISIONS_PATH, Request, Variables, handle};
use serde_json::{Value, json};
use vantage_kv::MemoryKv;
use vantage_model::time::format_rfc3339;

const SCOPES: usize = 10;
const TOKEN: &str = "bench-api-token";
const ECID: &str = "12345678901234567890123456789012345678";

fn offer(id: String, i: usize) -> Value {
    let mut o = json!({"id": id, "schema": "https://ns.adobe.com/personalization/dom-action",
        "data": {"type": "setHtml", "selector": format!("#slot-{i}"), "content": "<div>Personalized content</div>"},
        "categories": [format!("cat-{}", i % 7)]});
    if i.is_multiple_of(3) {
        o["caps"] = json!([{"count": 5, "per": "day"}]);
    }
    if i.is_multiple_of(4) {
        o["eligibility"] = json!("loyalty.tier = \"gold\"");
    }
    o
}

/// 100 activities (70 `ab`, 20 `xt` by segment, 10 `recommendation`), each answering 2 of the
/// 10 scopes, 5 experiences each; some with exclusion groups, holdouts and PQL entry audiences.
fn records(ts: &str) -> Vec<Value> {
    let mut out: Vec<Value> = (0..100)
        .map(|a| {
            let kind = match a % 10 {
                0 => "recommendation",
                1 | 2 => "xt",
                _ => "ab",
            };
            let experiences: Vec<Value> = (0..5)
                .map(|e| {
                    let offers: Vec<Value> = if kind == "recommendation" {
                        (0..6).map(|o| offer(format!("a{a}-e{e}-o{o}"), o + e)).collect()
                    } else {
                        vec![offer(format!("a{a}-e{e}"), a + e)]
                    };
                    let mut x = json!({"id": e.to_string(), "name": format!("Experience {e}"), "offers": offers});
                    match kind {
                        "xt" if e < 4 => x["audience"] = json!(format!("seg-{}", (a + e) % 12)),
                        "xt" => {}
                        _ => x["allocation"] = json!(20),
                    }
                    x
                })
                .collect();
            let mut v = json!({"type": "activity", "timestamp": ts,
                "id": format!("activity-{a:03}"), "name": format!("Activity {a}"),
                "activityType": kind, "priority": a % 17,
                "scopes": [format!("scope-{}", a % SCOPES), format!("scope-{}", (a + 3) % SCOPES)],
                "bucketing": {"client": "acme"}, "experiences": experiences,
                "conversionEventType": "commerce.purchases"});
            if a.is_multiple_of(5) {
                v["exclusionGroup"] = json!(format!("group-{}", a % 3));
            }
            if a.is_multiple_of(7) {
                v["holdout"] = json!(10);
            }
            if a.is_multiple_of(6) {
                v["audience"] = json!({"pql": "web.webPageDetails.URL.contains(\"shop\")"});
            }
            v
        })
        .collect();
    let who = json!({"namespace": "ECID", "id": ECID});
    out.push(json!({"type": "profile", "identity": who, "timestamp": ts,
        "attributes": {"loyalty": {"tier": "gold", "points": 5200}}}));
    for s in 0..6 {
        out.push(
            json!({"type": "membership", "identity": who, "segmentId": format!("seg-{}", s * 2),
            "status": "realized", "timestamp": ts, "source": "batch"}),
        );
    }
    out
}

fn body() -> Value {
    let scopes: Vec<String> = (0..SCOPES).map(|s| format!("scope-{s}")).collect();
    json!({"identityMap": {"ECID": [{"id": ECID, "primary": true}]}, "scopes": scopes,
        "context": {"page": "https://shop.example/products?id=1", "referrer": "https://www.google.com/",
            "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            "timezoneOffset": 60}})
}

fn main() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let ts = format_rfc3339(now - 60_000);
    let ndjson: String = records(&ts).iter().map(|r| format!("{r}\n")).collect();
    let body = body().to_string();
    if let Ok(dir) = std::env::var("DECISIONS_BENCH_OUT") {
        std::fs::write(format!("{dir}/records.ndjson"), &ndjson).expect("writing records");
        std::fs::write(format!("{dir}/body.json"), &body).expect("writing the body");
    }
    let kv = MemoryKv::new();
    let source_only = std::env::var_os("DECISIONS_BENCH_SOURCE").is_some();
    let options = vantage_ingest::Options {
        compile_activity: (!source_only).then_some(&vantage_decisioning::compile_hook as _),
        ..vantage_ingest::Options::default()
    };
    let report =
        vantage_ingest::ingest_with(&kv, ndjson.as_bytes(), &options, now).expect("ingest");
    assert!(report.rejected.is_empty(), "{report:?}");
    if !source_only {
        vantage_decisioning::sync(&kv, &options.policy).expect("sync");
    }
    let auth = format!("Bearer {TOKEN}");
    let headers = [("cf-ipcountry", "DE"), ("user-agent", "bench")];
    let req = Request {
        method: "POST",
        path: DECISIONS_PATH,
        authorization: Some(&auth),
        headers: &headers,
        body: body.as_bytes(),
    };
    let tokens = Variables {
        api: Some(TOKEN),
        admin: None,
        geo_headers: None,
    };
    let one = || {
        let reply = handle(&req, tokens, || Ok::<_, vantage_kv::Error>(&kv), now);
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        reply.body.len()
    };
    // The first request writes the sticky assignments; later ones only read.
    let first: Value = {
        let reply = handle(&req, tokens, || Ok::<_, vantage_kv::Error>(&kv), now);
        serde_json::from_slice(&reply.body).expect("JSON")
    };
    let props = first["propositions"].as_array().map_or(0, Vec::len);
    let iterations = 3_000;
    for _ in 0..iterations / 10 {
        black_box(one());
    }
    let mut samples: Vec<f64> = (0..iterations)
        .map(|_| {
            let start = Instant::now();
            black_box(one());
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "native POST /v1/decisions (10 scopes, 100 activities x 5 experiences{}): median {:.1} µs, p99 {:.1} µs ({iterations} runs, {props} propositions)",
        if source_only {
            ", from JSON sources"
        } else {
            ""
        },
        at(0.5),
        at(0.99),
    );
}
