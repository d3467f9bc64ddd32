//! Evaluator target: whatever text is published, validating, compiling, storing (bincode, as
//! `vantage-segments` stores plans), indexing and evaluating it against a small fixed profile
//! never panics. Evaluation failures are values (`EvalError`), not crashes.
//!
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run evaluate seeds -- -dict=pql.dict` (from `shared/pql/fuzz`)

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use vantage_pql::{
    Catalog, Change, Compiled, EvalContext, Event, Membership, MembershipState, compile,
    evaluate_plans, realize_all, validate,
};

/// 2026-11-30T00:53:20Z, a few minutes after midnight so `today` and `yesterday` both hold
/// events.
const NOW: i64 = 1_796_000_000_000;
const HOUR: i64 = 3_600_000;

struct World {
    profile: Value,
    events: Vec<Event>,
    current: Event,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let profile = json!({
        "person": {"name": {"firstName": "Ada", "lastName": "Lovelace"}, "birthYear": 1985,
                   "birthDate": "1985-12-10"},
        "homeAddress": {"countryCode": "US", "city": "Paris", "stateProvince": "CA"},
        "workAddress": {"stateProvince": "CA"},
        "loyalty": {"tier": "gold", "points": 5200, "joined": "2020-02-29T12:00:00Z"},
        "emails": ["a@example.com", "b@example.org"],
        "scores": [1, 2.5, -3, null, "7"],
        "flags": {"vip": true, "optOut": false, "none": null},
        "segmentMembership": {"ups": {"seg-a": {"status": "realized"}}},
    });
    let types = [
        "web.webpagedetails.pageViews",
        "commerce.purchases",
        "commerce.productViews",
        "download",
    ];
    let events = (0..24i64)
        .map(|i| {
            let event_type = types[(i % 4) as usize].to_string();
            Event {
                timestamp_ms: NOW - 30 * HOUR + i * 90 * 60_000,
                xdm: json!({
                    "eventType": event_type,
                    "web": {"webPageDetails": {"name": format!("page{}", i % 5), "URL": "https://x.test/a?b=c"}},
                    "commerce": {"order": {"priceTotal": i * 10, "currencyCode": if i % 3 == 0 { "USD" } else { "EUR" }}},
                    "productListItems": [{"SKU": format!("SKU-{i}"), "quantity": i % 4, "priceTotal": 9.5}],
                    "placeContext": {"geo": {"countryCode": "FR"}},
                }),
                event_type,
            }
        })
        .collect();
    let current = Event {
        timestamp_ms: NOW,
        event_type: "commerce.checkouts".into(),
        xdm: json!({"eventType": "commerce.checkouts", "commerce": {"order": {"priceTotal": 120}},
                    "productListItems": [{"SKU": "PS", "quantity": 2}]}),
    };
    World {
        profile,
        events,
        current,
    }
});

fn membership(id: &str) -> Option<MembershipState> {
    match id {
        "seg-a" | "s" => Some(MembershipState::Realized),
        "seg-b" => Some(MembershipState::Existing),
        "seg-c" => Some(MembershipState::Exited),
        _ => None,
    }
}

fn evaluate_everywhere(c: &Compiled, w: &World) {
    let contexts = [
        EvalContext::new(&w.profile, &w.events, Some(&w.current), &membership, NOW),
        EvalContext::new(&w.profile, &w.events, None, &membership, NOW)
            .with_utc_offset_minutes(-420),
        EvalContext::new(&Value::Null, &[], Some(&w.current), &membership, NOW)
            .with_utc_offset_minutes(840),
    ];
    for ctx in &contexts {
        let _ = c.evaluate(ctx);
        let _ = c.evaluate_value(ctx);
    }
    // As a one-segment catalog: selection, evaluation in order, realization.
    if let Ok(catalog) = Catalog::build([("fuzzed".to_string(), c.clone())]) {
        let ctx = &contexts[0];
        for change in [
            Change::event(&w.current.event_type),
            Change::everything(),
            Change::default().with_attribute("person.name"),
        ] {
            let selected = catalog.select(&change);
            let results = catalog.evaluate(ctx, &selected);
            let previous = |_: &str| {
                Some(Membership {
                    status: MembershipState::Existing,
                    since_ms: NOW - HOUR,
                })
            };
            let _ = realize_all(
                results
                    .iter()
                    .filter_map(|r| r.result.as_ref().ok().map(|q| (r.id, *q))),
                &previous,
                NOW,
            );
        }
        let plans: Vec<(&str, &Compiled)> = catalog
            .entries()
            .iter()
            .map(|e| (e.id.as_str(), &e.compiled))
            .collect();
        let _ = evaluate_plans(ctx, &plans);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let validation = validate(src);
    assert!(serde_json::to_string(&validation).is_ok());
    let Ok(mut compiled) = compile(src) else {
        assert!(
            !validation.valid,
            "validate accepts what compile refuses: {src:?}"
        );
        return;
    };
    assert!(
        validation.valid,
        "validate refuses what compile accepts: {src:?}"
    );
    // What publish stores and every request decodes.
    let config = bincode::config::standard();
    let bytes = match bincode::serde::encode_to_vec(&compiled, config) {
        Ok(b) => b,
        Err(e) => panic!("encoding the plan of {src:?}: {e}"),
    };
    match bincode::serde::decode_from_slice::<Compiled, _>(&bytes, config) {
        Ok((back, _)) => assert!(
            back == compiled,
            "the plan of {src:?} changes through bincode"
        ),
        Err(e) => panic!("decoding the plan of {src:?}: {e}"),
    }
    let world = &*WORLD;
    evaluate_everywhere(&compiled, world);
    compiled.reclassify(&|id| id.len() % 2 == 0);
    let _ = compiled.canonical();
});
