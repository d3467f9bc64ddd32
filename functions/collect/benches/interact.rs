//! Native benchmark of the interact pipeline: the whole request as the component serves it
//! (`collect::api::handle` over a `MemoryKv`: parse, identity, one profile read-modify-write
//! with same-page segment evaluation among 1,500 edge segments and a decision among 100
//! activities × 5 experiences, the outbox), for returning visitors whose profiles were
//! projected through the real `projection` logic. Prints median and p99 µs per request, then
//! runs criterion.
//!
//! With `COLLECT_BENCH_DUMP=DIR` it also writes what it used, so that `tests/bench/collect.sh`
//! loads the same catalog, profiles and request bodies into `vantage up`:
//! `DIR/records.ndjson` (segments, activities, profiles, links) and `DIR/bodies.ndjson`.
//!
//! `cargo bench -p collect --bench interact`

use std::hint::black_box;
use std::time::Instant;

use collect::api::{Config, Env, Request, handle};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use vantage_edge_protocol::{Ecid, encode_identity};
use vantage_kv::MemoryKv;

const PERSONS: usize = 20_000;
const SEGMENTS: usize = 1_500;
const ACTIVITIES: usize = 100;
const EVENT_TYPES: usize = 50;
const BODIES: usize = 10_000;
const ORG: &str = "53A16ACB5CC1D3760A495C99@AdobeOrg";
const DOM: &str = "https://ns.adobe.com/personalization/dom-action";
const JSON_ITEM: &str = "https://ns.adobe.com/personalization/json-content-item";
const CATEGORIES: [&str; 8] = [
    "shoes", "bags", "hats", "coats", "watches", "toys", "books", "garden",
];

fn ecid(person: usize) -> String {
    format!("{:038}", 4_000_000_000_000u64 + person as u64)
}

/// The segment shapes of the segments benchmark: events within 24 h with and without profile
/// conditions, profile-only, and segments of segments.
fn segment(i: usize) -> Value {
    let t = (i / 10 + i) % EVENT_TYPES;
    let expression = match i % 10 {
        0..=3 => format!(
            "chain(xEvent, timestamp, [A: WHAT(eventType = \"type{t}\" and web.webPageDetails.name = \"page{}\") WHEN(< 24 hours before now)])",
            i % 7
        ),
        4 | 5 => format!(
            "homeAddress.countryCode = \"US\" and chain(xEvent, timestamp, [C0: WHAT(eventType.equals(\"type{t}\", false)) WHEN(today)])"
        ),
        6 => format!(
            "select X from xEvent where X.eventType = \"type{t}\" and X.timestamp occurs < {} hours before now",
            1 + i % 24
        ),
        7 => format!("loyalty.tier = \"gold\" and loyalty.points > {}", i % 9000),
        8 => format!(
            "person.name.firstName.startsWith(\"A\", false) and homeAddress.city in [\"Paris\", \"Berlin\", \"c{}\"]",
            i % 13
        ),
        _ if i >= 10 => format!(
            "inSegment(\"seg-{}\") and inSegment(\"seg-{}\")",
            i - 3,
            i - 9
        ),
        _ => "person.birthYear > 1980".to_string(),
    };
    json!({"type": "segment", "id": format!("seg-{i}"), "name": format!("Segment {i}"),
           "expression": expression, "timestamp": "2026-12-01T00:00:00Z"})
}

fn offer(activity: usize, experience: usize) -> Value {
    if activity.is_multiple_of(2) {
        json!({"id": format!("o-{activity}-{experience}"), "schema": DOM,
               "data": {"type": "setHtml", "selector": format!("#slot-{}", activity % 16),
                        "content": format!("<div class=\"promo\">Offer {activity}/{experience}</div>")}})
    } else {
        json!({"id": format!("o-{activity}-{experience}"), "schema": JSON_ITEM,
               "data": {"content": {"headline": format!("Offer {activity}/{experience}"), "discount": experience * 5}}})
    }
}

/// 100 activities × 5 experiences over `__view__` (10), the home surface (10) and sixteen
/// named slots (5 each), so a page load with two slots considers 30; every third is experience
/// targeting by segment, the others A/B tests, some behind an entry audience.
fn activity(i: usize) -> Value {
    let scope = match i % 10 {
        0 => "__view__".to_owned(),
        1 => "web://shop.example/".to_owned(),
        _ => format!("slot-{}", i % 16),
    };
    let xt = i.is_multiple_of(3);
    let experiences: Vec<Value> = (0..5)
        .map(|e| {
            let mut x = json!({"id": e.to_string(), "name": format!("E{e}"), "allocation": 20,
                               "offers": [offer(i, e)]});
            if xt {
                x["allocation"] = json!(100);
                x["audience"] = if e == 4 {
                    json!("true")
                } else {
                    json!(format!("seg-{}", (i * 17 + e * 101) % SEGMENTS))
                };
            }
            x
        })
        .collect();
    let audience = if i % 5 == 1 {
        json!("loyalty.tier = \"gold\" or loyalty.points > 1000")
    } else {
        Value::Null
    };
    json!({"type": "activity", "id": format!("act-{i}"), "name": format!("Activity {i}"),
           "timestamp": "2026-12-01T00:00:00Z", "activityType": if xt { "xt" } else { "ab" },
           "priority": (i * 7) % 100, "scopes": [scope], "audience": audience,
           "bucketing": {"scheme": "adobe-target", "client": "bench", "salt": "0", "version": 1},
           "experiences": experiences})
}

/// A CRM profile and its web ECID link.
fn person(p: usize) -> [Value; 2] {
    let tiers = ["bronze", "silver", "gold", "platinum"];
    let cities = ["Paris", "Berlin", "Austin", "Lyon", "Osaka"];
    let crm = format!("bench-{p:07}");
    [
        json!({"type": "profile", "identity": {"namespace": "CRMID", "id": crm},
               "timestamp": "2026-12-01T00:00:00Z",
               "attributes": {"person": {"name": {"firstName": if p.is_multiple_of(3) { "Ada" } else { "Grace" }},
                                         "birthYear": 1950 + p % 50},
                              "homeAddress": {"city": cities[p % 5], "countryCode": if p.is_multiple_of(2) { "US" } else { "FR" }},
                              "loyalty": {"tier": tiers[p % 4], "points": (p * 37) % 9000}}}),
        json!({"type": "identity-link", "timestamp": "2026-12-01T00:00:01Z",
               "identities": [{"namespace": "ECID", "id": ecid(p)}, {"namespace": "CRMID", "id": crm}]}),
    ]
}

/// An alloy page-load request of a returning visitor: the identity cookie in
/// `meta.state.entries`, one event (mostly page views, some product views with categories,
/// some of the segments' event types), `__view__`, the page surface and two named scopes.
fn body(n: usize, timestamp: &str) -> Value {
    let p = (n * 7919) % PERSONS;
    let cookie = Ecid::parse(&ecid(p))
        .map(|e| encode_identity(&e))
        .unwrap_or_default();
    let mut xdm = json!({"eventType": "web.webpagedetails.pageViews", "timestamp": timestamp,
        "web": {"webPageDetails": {"URL": "https://shop.example/", "name": format!("page{}", n % 7)},
                "webReferrer": {"URL": ""}},
        "placeContext": {"localTimezoneOffset": -60},
        "implementationDetails": {"name": "https://ns.adobe.com/experience/alloy", "version": "2.33.1", "environment": "browser"}});
    match n % 10 {
        0 | 1 => {
            xdm["eventType"] = json!("commerce.productViews");
            xdm["productListItems"] = json!([{"SKU": format!("sku-{}", n % 500),
                "productCategories": [{"categoryID": CATEGORIES[n % 8]}]}]);
        }
        2 => xdm["eventType"] = json!(format!("type{}", n % EVENT_TYPES)),
        _ => {}
    }
    json!({"events": [{"xdm": xdm, "query": {"personalization": {
              "schemas": [DOM, JSON_ITEM, "https://ns.adobe.com/personalization/html-content-item"],
              "decisionScopes": ["__view__", format!("slot-{}", n % 16), format!("slot-{}", (n + 5) % 16)],
              "surfaces": ["web://shop.example/"]}}}],
           "query": {"identity": {"fetch": ["ECID"]}},
           "meta": {"state": {"domain": "shop.example", "cookiesEnabled": true,
                              "entries": [{"key": "kndctr_53A16ACB5CC1D3760A495C99_AdobeOrg_identity", "value": cookie}]}}})
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn records() -> Vec<Value> {
    let mut out: Vec<Value> = (0..SEGMENTS).map(segment).collect();
    out.extend((0..ACTIVITIES).map(activity));
    out.extend((0..PERSONS).flat_map(person));
    out
}

fn config() -> Config {
    let var = |name: &str| match name {
        "org_id" => Some(ORG.to_owned()),
        "admin_token" => Some("bench-admin".to_owned()),
        "outbox_max_events" => Some(u64::MAX.to_string()),
        _ => None,
    };
    match Config::from_variables(var) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

/// Publishes `records` through the projection component's own logic.
fn project(kv: &MemoryKv, records: &[Value]) {
    for chunk in records.chunks(2_000) {
        let body: String = chunk.iter().map(|r| format!("{r}\n")).collect();
        let req = projection::api::Request {
            method: "POST",
            path: "/v1/projection",
            authorization: Some("Bearer bench-admin"),
            content_type: Some("application/x-ndjson"),
            body: body.as_bytes(),
        };
        let reply = projection::api::handle(&req, Some("bench-admin"), || Ok(kv), now_ms());
        let text = String::from_utf8_lossy(&reply.body);
        assert_eq!(reply.status, 200, "{text}");
        assert!(text.contains("\"rejected\":[]"), "{text}");
    }
}

fn serve(kv: &MemoryKv, config: &Config, body: &[u8], headers: &[(String, String)]) -> u16 {
    let req = Request {
        method: "POST",
        path: "/ee/v1/interact",
        query: "configId=bench",
        headers,
        body,
    };
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut rng = |buf: &mut [u8]| {
        for b in buf {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *b = state as u8;
        }
    };
    let env = Env {
        open_store: || Ok(kv),
        rng: &mut rng,
        clock: &now_ms,
    };
    handle(&req, config, env).status
}

fn bench(c: &mut Criterion) {
    let records = records();
    let timestamp = vantage_model::time::format_rfc3339(now_ms());
    let bodies: Vec<String> = (0..BODIES)
        .map(|n| body(n, &timestamp).to_string())
        .collect();
    if let Some(dir) = std::env::var_os("COLLECT_BENCH_DUMP") {
        let dir = std::path::PathBuf::from(dir);
        let lines = |v: &mut dyn Iterator<Item = String>| v.map(|l| l + "\n").collect::<String>();
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| {
                std::fs::write(
                    dir.join("records.ndjson"),
                    lines(&mut records.iter().map(Value::to_string)),
                )
            })
            .and_then(|()| {
                std::fs::write(
                    dir.join("bodies.ndjson"),
                    lines(&mut bodies.iter().cloned()),
                )
            });
        if let Err(e) = written {
            panic!("writing to {}: {e}", dir.display());
        }
    }
    let kv = MemoryKv::new();
    let start = Instant::now();
    project(&kv, &records);
    println!(
        "projected {} records ({SEGMENTS} segments, {ACTIVITIES} activities, {PERSONS} profiles) in {:.1} s",
        records.len(),
        start.elapsed().as_secs_f64()
    );
    let config = config();
    let headers = vec![
        ("origin".to_owned(), "https://shop.example".to_owned()),
        ("content-type".to_owned(), "text/plain; charset=UTF-8".to_owned()),
        ("user-agent".to_owned(), "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36".to_owned()),
    ];
    // Warm every visitor once (their first visit stitches and creates state), then measure.
    for b in &bodies {
        assert_eq!(serve(&kv, &config, b.as_bytes(), &headers), 200);
    }
    let mut lat: Vec<f64> = Vec::with_capacity(BODIES);
    for b in &bodies {
        let t = Instant::now();
        let status = serve(&kv, &config, black_box(b.as_bytes()), &headers);
        lat.push(t.elapsed().as_secs_f64() * 1e6);
        assert_eq!(status, 200);
    }
    lat.sort_by(f64::total_cmp);
    let at = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize];
    println!(
        "interact native: {} requests, median {:.0} µs, p99 {:.0} µs ({SEGMENTS} edge segments, {ACTIVITIES} activities x 5 experiences, 4 scopes)",
        lat.len(),
        at(0.5),
        at(0.99)
    );
    let mut n = 0usize;
    c.bench_function("interact_returning_visitor", |b| {
        b.iter(|| {
            n = (n + 1) % bodies.len();
            serve(&kv, &config, black_box(bodies[n].as_bytes()), &headers)
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench
}
criterion_main!(benches);
