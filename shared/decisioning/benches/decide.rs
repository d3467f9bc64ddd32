//! Decide for 10 scopes among 100 activities × 5 experiences (the benchmark): the
//! engine alone on a prepared catalog; reading the compiled activities (index + batch get +
//! bincode) plus deciding, what a request pays; and decoding the JSON sources plus deciding,
//! what it paid before activities were compiled at publish. Prints median and p99 in µs from
//! a timed loop, then runs criterion.

use std::hint::black_box;
use std::time::Instant;

use criterion::Criterion;
use serde_json::{Value, json};
use vantage_decisioning::catalog::Catalog;
use vantage_decisioning::context::Environment;
use vantage_decisioning::{Activities, Activity, DecisionContext, Request, decide};
use vantage_kv::MemoryKv;
use vantage_model::catalog::{ActivityCatalog, ActivityDefinition, DefinitionStatus};
use vantage_model::profile::{Event, caps, membership, sticky};
use vantage_model::{Identity, Policy, Profile, ProfileId};

const NOW: i64 = 1_796_119_200_000;
const SCOPES: usize = 10;

fn offer(id: String, i: usize) -> Value {
    let mut o = json!({"id": id, "schema": "https://ns.adobe.com/personalization/dom-action",
        "data": {"type": "setHtml", "selector": format!("#slot-{i}"), "content": "<div>Personalized content</div>"},
        "categories": [format!("cat-{}", i % 7)]});
    if i.is_multiple_of(3) {
        o["caps"] = json!([{"count": 5, "per": "day"}]);
    }
    if i.is_multiple_of(4) {
        o["eligibility"] = json!("profile.loyalty.tier = \"gold\"");
    }
    o
}

/// 100 activities: 70 ab, 20 xt, 10 recommendation; each answers 2 of the 10 scopes (20 per
/// scope), 5 experiences of 1 offer each (recommendations: 1 experience pool of 6 offers, so
/// the catalog holds ~100 offers per experience slot … 30 offers per scope at most).
fn activities() -> Vec<Activity> {
    (0..100)
        .map(|a| {
            let kind = match a % 10 {
                0 => "recommendation",
                1 | 2 => "xt",
                _ => "ab",
            };
            let scopes = [format!("scope-{}", a % SCOPES), format!("scope-{}", (a + 3) % SCOPES)];
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
            let mut v = json!({"id": format!("activity-{a:03}"), "name": format!("Activity {a}"),
                "activityType": kind, "priority": a % 17, "scopes": scopes,
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
            vantage_decisioning::parse_activity_value(&v).expect("valid benchmark activity")
        })
        .collect()
}

fn profile() -> Profile {
    let who = Identity::new("ECID", "12345678901234567890123456789012345678").unwrap();
    let policy = Policy::default();
    let mut p = Profile::new(ProfileId::primary(&who), who, 0, 0, &policy);
    for s in 0..6 {
        membership::transition(
            &mut p.memberships,
            &format!("seg-{}", s * 2),
            membership::Status::Realized,
            1,
            membership::Source::Batch,
        );
    }
    for a in (0..100).step_by(3) {
        sticky::assign(
            &mut p.sticky,
            &format!("activity-{a:03}"),
            sticky::Assignment {
                assigned_at: 1,
                experience: (a % 5).to_string(),
                bucket_version: 1,
            },
        );
    }
    for i in 0..20 {
        caps::record(
            &mut p.caps,
            &format!("offer/activity-{:03}/a{i}-e0", i * 5),
            NOW - 1000,
        );
        p.affinity.view(&format!("cat-{}", i % 7), i);
    }
    for i in 0..30 {
        p.push_event(
            Event {
                ts: NOW - i * 1000,
                id: format!("ev-{i}"),
                kind: "commerce.productViews".into(),
                xdm: json!({"productListItems": [{"SKU": format!("a{i}-e0-o1"),
                    "productCategories": [{"categoryID": format!("cat-{}", i % 7)}]}]})
                .to_string(),
            },
            NOW,
            &policy,
        );
    }
    p
}

/// The activities published as projection does (compiled at ingest, index synced); returns the
/// store and its catalog of JSON sources.
fn stored(activities: &[Activity]) -> (MemoryKv, ActivityCatalog) {
    let kv = MemoryKv::new();
    let policy = Policy::default();
    for (i, a) in activities.iter().enumerate() {
        let value = serde_json::to_value(a).unwrap();
        let def = ActivityDefinition {
            id: a.id.clone(),
            timestamp: i as i64,
            status: DefinitionStatus::Active,
            json: value.to_string(),
            scopes: a.scopes.clone(),
        };
        let compiled = vantage_decisioning::compile_hook(&value).unwrap();
        vantage_model::catalog::publish_activity_compiled(&kv, &def, Some(compiled), &policy)
            .unwrap();
    }
    vantage_decisioning::sync(&kv, &policy).unwrap();
    let catalog = vantage_model::catalog::activities(&kv).unwrap();
    (kv, catalog)
}

/// A stand-in for the PQL engine: cheap, mostly true.
fn evaluator(pql: &str, _: &DecisionContext<'_>) -> Result<bool, String> {
    Ok(pql.len().is_multiple_of(2) || pql.contains("shop"))
}

/// This thread's time on a CPU in ns (Linux `schedstat`), which other processes competing
/// for the cores do not inflate; `None` elsewhere.
fn on_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn percentiles(name: &str, iterations: usize, mut f: impl FnMut() -> usize) {
    for _ in 0..iterations / 10 {
        black_box(f());
    }
    let cpu_start = on_cpu_ns();
    let mut samples: Vec<f64> = (0..iterations)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    let on_cpu = match (cpu_start, on_cpu_ns()) {
        (Some(a), Some(b)) => format!(
            ", mean on-CPU {:.1} µs",
            b.saturating_sub(a) as f64 / 1e3 / iterations as f64
        ),
        _ => String::new(),
    };
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name}: median {:.1} µs, p99 {:.1} µs{on_cpu} ({iterations} runs, {} propositions)",
        at(0.5),
        at(0.99),
        f()
    );
}

fn main() {
    let activities = activities();
    let (kv, store) = stored(&activities);
    let catalog = Catalog::new(activities);
    let profile = profile();
    let env = Environment::new(
        Some("https://shop.example/products?id=1"),
        Some("https://www.google.com/"),
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        NOW,
        60,
    );
    let scopes: Vec<String> = (0..SCOPES).map(|s| format!("scope-{s}")).collect();
    let visitors: Vec<String> = (0..1024)
        .map(|i| format!("{:038}", 982_451_653u64 * i + 7))
        .collect();
    let mut n = 0usize;
    let mut one = |catalog: &Catalog| {
        n = (n + 1) % visitors.len();
        let req = Request {
            visitor_id: &visitors[n],
            scopes: &scopes,
            profile: &profile,
            environment: &env,
            now_ms: NOW,
        };
        decide(catalog, &req, &evaluator).propositions.len()
    };

    let compiled = || {
        Activities::open(&kv)
            .and_then(|a| a.for_scopes(&kv, &scopes))
            .unwrap()
    };
    percentiles("decide (prepared catalog)", 20_000, || one(&catalog));
    percentiles("read compiled activities", 5_000, || compiled().len());
    percentiles("read compiled activities + decide", 5_000, || {
        one(&compiled())
    });
    percentiles("decode JSON sources (before)", 5_000, || {
        Catalog::for_scopes(&vantage_model::catalog::activities(&kv).unwrap(), &scopes).len()
    });
    percentiles("decode JSON sources + decide (before)", 5_000, || {
        one(&Catalog::for_scopes(&store, &scopes))
    });

    let mut c = Criterion::default().configure_from_args();
    c.bench_function("decide/10 scopes, 100 activities x 5 experiences", |b| {
        b.iter(|| one(black_box(&catalog)))
    });
    c.bench_function(
        "compiled+decide/10 scopes, 100 activities x 5 experiences",
        |b| b.iter(|| one(&compiled())),
    );
    c.bench_function(
        "json+decide/10 scopes, 100 activities x 5 experiences",
        |b| b.iter(|| one(&Catalog::for_scopes(black_box(&store), &scopes))),
    );
    c.final_summary();
}
