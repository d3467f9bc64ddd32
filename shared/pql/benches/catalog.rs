//! Catalog benchmark: 150, 1,500 and 15,000 edge segments evaluated against a profile with 500
//! recent events and one new event. Prints median and p99 µs per evaluation (selected
//! segments only, and all segments for comparison), catalog decode time, and compile time per
//! definition; then runs the same evaluation under criterion.
//!
//! `CARGO_TARGET_DIR=/tmp/target-pql cargo bench -p vantage-pql --bench catalog`

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use std::hint::black_box;
use std::time::Instant;
use vantage_pql::{
    Catalog, CatalogEntry, CatalogIndex, Change, Compiled, EvalContext, Event, MembershipState,
    compile, evaluate_plans,
};

const EVENT_TYPES: usize = 50;
const NOW: i64 = 1_796_000_000_000;
const HOUR: i64 = 3_600_000;

/// A deterministic mix of edge-eligible shapes.
fn definition(i: usize) -> String {
    // Spread event types independently of the shape chosen by `i % 10`.
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

fn profile() -> serde_json::Value {
    json!({
        "person": {"name": {"firstName": "Ada"}, "birthYear": 1985},
        "homeAddress": {"countryCode": "US", "city": "Paris"},
        "loyalty": {"tier": "gold", "points": 5200},
    })
}

fn events() -> Vec<Event> {
    (0..500)
        .map(|i| Event {
            timestamp_ms: NOW - 20 * HOUR + (i as i64) * 144_000,
            event_type: format!("type{}", (i * 7) % EVENT_TYPES),
            xdm: json!({"web": {"webPageDetails": {"name": format!("page{}", i % 7)}},
                        "commerce": {"order": {"priceTotal": i}}}),
        })
        .collect()
}

fn new_event() -> Event {
    Event {
        timestamp_ms: NOW,
        event_type: "type7".into(),
        xdm: json!({"web": {"webPageDetails": {"name": "page0"}}}),
    }
}

fn build(n: usize) -> (Catalog, f64) {
    let sources: Vec<String> = (0..n).map(definition).collect();
    let start = Instant::now();
    let compiled: Vec<(String, Compiled)> = sources
        .iter()
        .enumerate()
        .map(|(i, s)| match compile(s) {
            Ok(c) => (format!("seg-{i}"), c),
            Err(e) => panic!("{s}: {e}"),
        })
        .collect();
    let per_def_us = start.elapsed().as_secs_f64() * 1e6 / n as f64;
    for (_, c) in &compiled {
        assert_eq!(
            c.eligibility(),
            vantage_pql::Eligibility::Edge,
            "{}",
            c.source
        );
    }
    match Catalog::build(compiled) {
        Ok(c) => (c, per_def_us),
        Err(e) => panic!("{e}"),
    }
}

fn percentiles(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

/// One request: build the context (sort + index events), select, evaluate.
fn evaluate(
    cat: &Catalog,
    profile: &serde_json::Value,
    recent: &[Event],
    ev: &Event,
    all: bool,
) -> usize {
    let hub = |id: &str| (id == "seg-1").then_some(MembershipState::Realized);
    let ctx = EvalContext::new(profile, recent, Some(ev), &hub, NOW);
    let change = if all {
        Change::everything()
    } else {
        Change::event(&ev.event_type)
    };
    let selected = if all {
        (0..cat.len() as u32).collect()
    } else {
        cat.select(&change)
    };
    let results = cat.evaluate(&ctx, &selected);
    results.iter().filter(|r| r.result == Ok(true)).count()
}

fn report() {
    let profile = profile();
    let recent = events();
    let ev = new_event();
    println!(
        "{:>7} {:>9} {:>10} {:>10} {:>11} {:>11} {:>10} {:>10} {:>13} {:>13} {:>9}",
        "catalog",
        "selected",
        "median µs",
        "p99 µs",
        "all med µs",
        "all p99 µs",
        "decode µs",
        "index µs",
        "split med µs",
        "split p99 µs",
        "compile µs"
    );
    for n in [150usize, 1_500, 15_000] {
        let (cat, compile_us) = build(n);
        let selected = cat.select(&Change::event(&ev.event_type)).len();
        let iters = if n >= 15_000 { 200 } else { 1_000 };
        let mut sel = Vec::with_capacity(iters);
        let mut all = Vec::with_capacity(iters / 10);
        for _ in 0..iters {
            let t = Instant::now();
            black_box(evaluate(&cat, &profile, &recent, &ev, false));
            sel.push(t.elapsed().as_secs_f64() * 1e6);
        }
        for _ in 0..(iters / 10).max(20) {
            let t = Instant::now();
            black_box(evaluate(&cat, &profile, &recent, &ev, true));
            all.push(t.elapsed().as_secs_f64() * 1e6);
        }
        let cfg = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(&cat, cfg).unwrap_or_default();
        let mut dec = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            let back: Option<(Catalog, usize)> =
                bincode::serde::decode_from_slice(&bytes, cfg).ok();
            black_box(back.map(|b| b.0.len()));
            dec.push(t.elapsed().as_secs_f64() * 1e6);
        }
        // Stored split: decode the small index, select, decode only the selected plans.
        let (index, entries) = cat.clone().into_parts();
        let index_bytes = bincode::serde::encode_to_vec(&index, cfg).unwrap_or_default();
        let plan_bytes: Vec<Vec<u8>> = entries
            .iter()
            .map(|e| bincode::serde::encode_to_vec(e, cfg).unwrap_or_default())
            .collect();
        let mut idx = Vec::new();
        let mut split = Vec::new();
        let hub = |id: &str| (id == "seg-1").then_some(MembershipState::Realized);
        for _ in 0..iters {
            let t = Instant::now();
            let index: Option<(CatalogIndex, usize)> =
                bincode::serde::decode_from_slice(&index_bytes, cfg).ok();
            let Some((index, _)) = index else {
                panic!("index decode")
            };
            idx.push(t.elapsed().as_secs_f64() * 1e6);
            let positions = index.select(&Change::event(&ev.event_type));
            let plans: Vec<CatalogEntry> = positions
                .iter()
                .filter_map(|&p| plan_bytes.get(p as usize))
                .filter_map(|b| bincode::serde::decode_from_slice(b, cfg).ok().map(|d| d.0))
                .collect();
            let refs: Vec<(&str, &Compiled)> =
                plans.iter().map(|e| (e.id.as_str(), &e.compiled)).collect();
            let ctx = EvalContext::new(&profile, &recent, Some(&ev), &hub, NOW);
            black_box(evaluate_plans(&ctx, &refs).len());
            split.push(t.elapsed().as_secs_f64() * 1e6);
        }
        let (m, p) = percentiles(sel);
        let (am, ap) = percentiles(all);
        let (dm, _) = percentiles(dec);
        let (im, _) = percentiles(idx);
        let (sm, sp) = percentiles(split);
        println!(
            "{n:>7} {selected:>9} {m:>10.1} {p:>10.1} {am:>11.1} {ap:>11.1} {dm:>10.0} {im:>10.0} {sm:>13.1} {sp:>13.1} {compile_us:>9.1}   (catalog {} KiB, index {} KiB)",
            bytes.len() / 1024,
            index_bytes.len() / 1024
        );
    }
}

fn bench(c: &mut Criterion) {
    report();
    let profile = profile();
    let recent = events();
    let ev = new_event();
    let mut g = c.benchmark_group("evaluate_selected");
    g.sample_size(30);
    g.measurement_time(std::time::Duration::from_secs(3));
    for n in [150usize, 1_500, 15_000] {
        let (cat, _) = build(n);
        g.bench_function(format!("{n}_segments"), |b| {
            b.iter(|| evaluate(&cat, &profile, &recent, &ev, false))
        });
    }
    g.finish();
    c.bench_function("compile_definition", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i += 1;
            compile(black_box(&definition(i % 1000)))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
