//! Request benchmark of edge segmentation through the store layout: catalogs of 150, 1,500 and
//! 15,000 edge segments published into a `MemoryKv` (index + one key per plan, by `sync`),
//! evaluated for a profile with 500 recent events and one new event. Each evaluation is what a
//! request does natively: read and decode the profile, decode the index, select, fetch and
//! decode the selected plans, build the context, evaluate and realize (dry run, so every
//! iteration sees the same store). Prints median and p99 µs, then runs criterion.
//!
//! `CARGO_TARGET_DIR=/tmp/target-seg cargo bench -p vantage-segments --bench evaluate`

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use vantage_kv::{Kv, MemoryKv};
use vantage_model::catalog::{DefinitionStatus, SegmentCatalog, SegmentDefinition};
use vantage_model::profile::Event as StoredEvent;
use vantage_model::{Graph, Identity, Policy, codec, keys};
use vantage_segments::{CurrentEvent, Input, Segments, input, read_index, sync};

const EVENT_TYPES: usize = 50;
const NOW: i64 = 1_796_000_000_000;
const HOUR: i64 = 3_600_000;

/// A deterministic mix of edge-eligible shapes: single events within 24 h (with and without
/// profile conditions), profile-only, and segments of segments.
fn definition(i: usize) -> String {
    let t = (i / 10 + i) % EVENT_TYPES;
    match i % 10 {
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
    }
}

fn policy() -> Policy {
    Policy {
        max_events: 500,
        max_profile_bytes: 1 << 20,
        ..Policy::default()
    }
}

fn who() -> Identity {
    match Identity::new("CRMID", "bench") {
        Ok(i) => i,
        Err(e) => panic!("{e}"),
    }
}

/// A store with `n` published segments and the benchmark profile; returns compile+publish µs
/// per definition.
fn store(n: usize) -> (MemoryKv, f64) {
    let kv = MemoryKv::new();
    let start = Instant::now();
    let mut segments: Vec<SegmentDefinition> = (0..n)
        .map(|i| {
            let expression = definition(i);
            let plan = match vantage_segments::compile_hook(&expression) {
                Ok(p) => p,
                Err(e) => panic!("{expression}: {e}"),
            };
            SegmentDefinition {
                id: format!("seg-{i}"),
                name: format!("Segment {i}"),
                expression,
                timestamp: 1,
                status: DefinitionStatus::Active,
                plan: Some(plan),
            }
        })
        .collect();
    segments.sort_by(|a, b| a.id.cmp(&b.id));
    let catalog = SegmentCatalog { etag: 1, segments };
    let bytes = codec::encode(&catalog).unwrap_or_default();
    let policy = policy();
    let synced = kv
        .set(keys::SEGMENT_CATALOG, &bytes)
        .map_err(vantage_segments::Error::from)
        .and_then(|()| sync(&kv, &policy));
    let per_def = start.elapsed().as_secs_f64() * 1e6 / n as f64;
    match synced {
        Ok(r) => assert_eq!(r.indexed, n, "every definition is edge-eligible"),
        Err(e) => panic!("{e}"),
    }
    let written = Graph::new(&kv, &policy).update(&who(), NOW - 21 * HOUR, NOW, |p| {
        p.attributes.merge_json(
            &json!({
                "person": {"name": {"firstName": "Ada"}, "birthYear": 1985},
                "homeAddress": {"countryCode": "US", "city": "Paris"},
                "loyalty": {"tier": "gold", "points": 5200},
            }),
            NOW - 21 * HOUR,
        );
        for i in 0..500usize {
            let xdm = json!({"eventType": format!("type{}", (i * 7) % EVENT_TYPES),
                             "web": {"webPageDetails": {"name": format!("page{}", i % 7)}},
                             "commerce": {"order": {"priceTotal": i}}});
            p.push_event(
                StoredEvent {
                    ts: NOW - 20 * HOUR + (i as i64) * 144_000,
                    id: format!("e{i}"),
                    kind: format!("type{}", (i * 7) % EVENT_TYPES),
                    xdm: xdm.to_string(),
                },
                NOW,
                &policy,
            );
        }
        Ok(true)
    });
    assert!(written.is_ok(), "{written:?}");
    (kv, per_def)
}

fn new_event() -> CurrentEvent {
    let e = json!({"eventType": "type7", "_id": "new",
                   "web": {"webPageDetails": {"name": "page0"}}});
    match input::event(&e, NOW) {
        Ok(e) => e,
        Err(e) => panic!("{e}"),
    }
}

fn request(kv: &MemoryKv, event: &CurrentEvent, policy: &Policy) -> usize {
    let input = Input {
        event: Some(event),
        changed_attributes: &[],
        full: false,
        record_event: true,
        now_ms: NOW,
    };
    match vantage_segments::evaluate(kv, &[who()], &input, true, policy) {
        Ok(e) => e.evaluated,
        Err(e) => panic!("{e}"),
    }
}

fn percentiles(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

fn time(iters: usize, f: impl FnMut()) -> (f64, f64) {
    let (med, p99, _) = time_min(iters, f);
    (med, p99)
}

/// Median, p99 and minimum µs (on a loaded machine the minimum is the best guess of the
/// unloaded cost).
fn time_min(iters: usize, mut f: impl FnMut()) -> (f64, f64, f64) {
    let mut samples = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        f();
        samples.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
    let (med, p99) = percentiles(samples);
    (med, p99, min)
}

fn report() {
    let policy = policy();
    let event = new_event();
    println!(
        "{:>7} {:>9} {:>10} {:>10} {:>8} {:>13} {:>13} {:>10} {:>10} {:>11} {:>12} {:>10}",
        "catalog",
        "selected",
        "median µs",
        "p99 µs",
        "min µs",
        "held med µs",
        "held p99 µs",
        "index µs",
        "bare µs",
        "index KiB",
        "publish µs",
        "sync= µs"
    );
    for n in [150usize, 1_500, 15_000] {
        let (kv, publish_us) = store(n);
        let selected = request(&kv, &event, &policy);
        let iters = if n >= 15_000 { 300 } else { 1_000 };
        let (med, p99, min) = time_min(iters, || {
            black_box(request(&kv, &event, &policy));
        });
        // What projection pays after every ingest when no definition changed.
        let (sync_med, _) = time(50, || {
            black_box(sync(&kv, &policy).ok().map(|r| r.rebuilt));
        });
        // Collect's path: the profile is already decoded (index + plans + evaluation only).
        let profile = Graph::new(&kv, &policy).lookup(&who(), NOW).ok().flatten();
        let Some(profile) = profile else {
            panic!("no profile")
        };
        let input = Input {
            event: Some(&event),
            changed_attributes: &[],
            full: false,
            record_event: false,
            now_ms: NOW,
        };
        let (held_med, held_p99) = time(iters, || {
            let mut p = profile.clone();
            let r = Segments::load(&kv).and_then(|mut s| s.evaluate(&mut p, &input));
            black_box(r.map(|r| r.evaluated).ok());
        });
        let (index_med, _) = time(50, || {
            black_box(read_index(&kv).ok().flatten().map(|i| i.index.len()));
        });
        // The bare CatalogIndex decode, as vantage-pql's README measures it: a yardstick for
        // how loaded the machine is during this run.
        let bare = read_index(&kv)
            .ok()
            .flatten()
            .map(|i| bincode::serde::encode_to_vec(&i.index, bincode::config::standard()))
            .and_then(Result::ok)
            .unwrap_or_default();
        let (bare_med, _) = time(50, || {
            let d: Option<(vantage_pql::CatalogIndex, usize)> =
                bincode::serde::decode_from_slice(&bare, bincode::config::standard()).ok();
            black_box(d.map(|d| d.0.len()));
        });
        let index_kib = kv
            .get(vantage_segments::keys::INDEX)
            .ok()
            .flatten()
            .map_or(0, |b| b.len())
            / 1024;
        println!(
            "{n:>7} {selected:>9} {med:>10.1} {p99:>10.1} {min:>8.1} {held_med:>13.1} {held_p99:>13.1} {index_med:>10.1} {bare_med:>10.1} {index_kib:>11} {publish_us:>12.1} {sync_med:>10.1}"
        );
    }
    println!(
        "(median/p99: one evaluate() request, dry run, profile read included; held: Segments::evaluate on a decoded profile; index: our stored index; bare: the CatalogIndex alone; publish: compile + catalog encode + sync, per definition; sync=: sync when nothing changed)"
    );
}

fn bench(c: &mut Criterion) {
    report();
    let policy = policy();
    let event = new_event();
    let mut group = c.benchmark_group("evaluate");
    group.sample_size(20);
    for n in [150usize, 1_500, 15_000] {
        let (kv, _) = store(n);
        group.bench_function(format!("{n}"), |b| {
            b.iter(|| black_box(request(&kv, &event, &policy)));
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
