//! Tests of the engine through its public entry points.

use serde_json::{Value, json};
use vantage_model::Profile;
use vantage_model::profile::membership::{self, Source, Status as Membership};

use super::*;
use crate::changes::StickyWrite;
use crate::condition::NoConditions;
use crate::notify::{self, Notification};
use crate::token::EventToken;
use crate::trace::{OfferDecision, Outcome, SkipReason, StickyUse};

use crate::fixtures::{HOUR, NOW, activity, dom, echo, env, profile};

/// An ab activity with one dom-action offer per experience.
fn ab(id: &str, priority: i64, allocations: &[f64]) -> Value {
    let experiences: Vec<Value> = allocations
        .iter()
        .enumerate()
        .map(|(i, a)| json!({"id": i.to_string(), "allocation": a, "offers": [dom(&format!("{id}-{i}"))]}))
        .collect();
    json!({"id": id, "activityType": "ab", "priority": priority, "scopes": ["__view__"],
           "bucketing": {"client": "acme"}, "experiences": experiences})
}

fn scopes(list: &[&str]) -> Vec<String> {
    list.iter().map(|&s| s.to_owned()).collect()
}

fn run(
    catalog: &Catalog,
    profile: &Profile,
    visitor: &str,
    scopes: &[String],
    eval: &dyn ConditionEvaluator,
) -> (Decision, Vec<ActivityTrace>) {
    let env = env();
    let req = Request {
        visitor_id: visitor,
        scopes,
        profile,
        environment: &env,
        now_ms: NOW,
    };
    decide_traced(catalog, &req, eval)
}

fn view(catalog: &Catalog, profile: &Profile, visitor: &str) -> (Decision, Vec<ActivityTrace>) {
    run(
        catalog,
        profile,
        visitor,
        &scopes(&["__view__"]),
        &NoConditions,
    )
}

fn shown(d: &Decision) -> Vec<(String, String)> {
    d.propositions
        .iter()
        .map(|p| {
            (
                p.scope_details.activity.id.clone(),
                p.scope_details.experience.id.clone(),
            )
        })
        .collect()
}

fn reason(traces: &[ActivityTrace], id: &str) -> Option<SkipReason> {
    match &traces.iter().find(|t| t.activity_id == id)?.outcome {
        Outcome::Skipped { reason } => Some(reason.clone()),
        Outcome::Chosen { .. } => None,
    }
}

/// Accepts PQL `true`/`false`, errors on anything else.
fn literal_pql(pql: &str, _: &DecisionContext<'_>) -> Result<bool, String> {
    match pql {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!("cannot evaluate {other:?}")),
    }
}

#[test]
fn decide_without_trace_matches_traced() {
    let c = Catalog::new([activity(ab("a", 1, &[50.0, 50.0]))]);
    let p = profile();
    let env = env();
    let s = scopes(&["__view__"]);
    let req = Request {
        visitor_id: "v1",
        scopes: &s,
        profile: &p,
        environment: &env,
        now_ms: NOW,
    };
    assert_eq!(
        decide(&c, &req, &NoConditions),
        decide_traced(&c, &req, &NoConditions).0
    );
}

#[test]
fn priority_order_and_exclusion_groups() {
    let mut top = ab("top", 10, &[100.0]);
    top["exclusionGroup"] = json!("hero");
    top["audience"] = json!("vip");
    let mut b = ab("b", 5, &[100.0]);
    b["exclusionGroup"] = json!("hero");
    let mut c = ab("c", 5, &[100.0]);
    c["exclusionGroup"] = json!("hero");
    let free = ab("free", 1, &[100.0]);
    let catalog = Catalog::new([free, c, b, top].map(activity));

    let mut p = profile();
    let (d, traces) = view(&catalog, &p, "v1");
    // `top` misses its audience, so `b` (ties broken by id) takes the group and `c` is out.
    assert_eq!(
        shown(&d),
        [("b".into(), "0".into()), ("free".into(), "0".into())]
    );
    let order: Vec<_> = traces.iter().map(|t| t.activity_id.as_str()).collect();
    assert_eq!(order, ["top", "b", "c", "free"]);
    assert_eq!(reason(&traces, "top"), Some(SkipReason::AudienceNotMatched));
    assert_eq!(
        reason(&traces, "c"),
        Some(SkipReason::Excluded {
            group: "hero".into(),
            by_activity_id: "b".into()
        })
    );

    membership::transition(
        &mut p.memberships,
        "vip",
        Membership::Realized,
        1,
        Source::Batch,
    );
    let (d, traces) = view(&catalog, &p, "v1");
    assert_eq!(
        shown(&d),
        [("top".into(), "0".into()), ("free".into(), "0".into())]
    );
    assert!(matches!(
        reason(&traces, "b"),
        Some(SkipReason::Excluded { .. })
    ));
}

#[test]
fn holdout_gets_default_content_and_sticks() {
    let mut a = ab("h", 1, &[50.0, 50.0]);
    a["holdout"] = json!(30);
    let catalog = Catalog::new([activity(a)]);
    let p = profile();
    let mut held = 0;
    for i in 0..2000 {
        let visitor = format!("visitor-{i}");
        let (d, _) = view(&catalog, &p, &visitor);
        let prepared = catalog.get("h").unwrap();
        let expected = vantage_bucketing::in_holdout(
            prepared.scheme,
            &crate::engine::inputs(prepared, &visitor),
            30.0,
        );
        let experience = &d.propositions[0].scope_details.experience.id;
        assert_eq!(experience == "holdout", expected, "{visitor}");
        assert_eq!(d.changes.sticky[0].experience_id, *experience);
        if expected {
            held += 1;
            let item = serde_json::to_value(&d.propositions[0].items).unwrap();
            assert_eq!(
                item,
                json!([{"id": "holdout", "schema": "https://ns.adobe.com/personalization/default-content-item", "meta": {}}])
            );
        }
    }
    assert!((500..700).contains(&held), "{held} of 2000 held out at 30%");

    // A held-out visitor stays held out when the holdout shrinks to almost nothing.
    let visitor = (0..)
        .map(|i| format!("visitor-{i}"))
        .find(|v| {
            view(&catalog, &p, v).0.propositions[0]
                .scope_details
                .experience
                .id
                == "holdout"
        })
        .unwrap();
    let mut p2 = profile();
    view(&catalog, &p2, &visitor).0.changes.apply(&mut p2);
    let mut smaller = ab("h", 1, &[50.0, 50.0]);
    smaller["holdout"] = json!(0.01);
    let catalog = Catalog::new([activity(smaller)]);
    let (d, _) = view(&catalog, &p2, &visitor);
    assert_eq!(d.propositions[0].scope_details.experience.id, "holdout");
    assert!(d.changes.is_empty());
    // Removing the holdout releases them into an experience.
    let catalog = Catalog::new([activity(ab("h", 1, &[50.0, 50.0]))]);
    let (d, _) = view(&catalog, &p2, &visitor);
    assert_ne!(d.propositions[0].scope_details.experience.id, "holdout");
    assert!(d.changes.sticky[0].replace);
}

#[test]
fn audiences_segments_and_inline_pql_fail_closed() {
    let mut seg = ab("seg", 3, &[100.0]);
    seg["audience"] = json!("vip");
    let mut yes = ab("yes", 2, &[100.0]);
    yes["audience"] = json!({"pql": "true"});
    let mut no = ab("no", 1, &[100.0]);
    no["audience"] = json!({"pql": "false"});
    let mut broken = ab("broken", 0, &[100.0]);
    broken["audience"] = json!({"pql": "profile.x >"});
    let catalog = Catalog::new([seg, yes, no, broken].map(activity));
    let s = scopes(&["__view__"]);

    let mut p = profile();
    membership::transition(
        &mut p.memberships,
        "vip",
        Membership::Realized,
        1,
        Source::Edge,
    );
    let (d, traces) = run(&catalog, &p, "v", &s, &literal_pql);
    assert_eq!(
        shown(&d),
        [("seg".into(), "0".into()), ("yes".into(), "0".into())]
    );
    assert_eq!(reason(&traces, "no"), Some(SkipReason::AudienceNotMatched));
    let broken = traces.iter().find(|t| t.activity_id == "broken").unwrap();
    assert_eq!(
        broken.conditions[0].verdict,
        Verdict::Error {
            message: "cannot evaluate \"profile.x >\"".into()
        }
    );

    // An exited membership no longer matches; without an evaluator every PQL fails closed.
    membership::transition(
        &mut p.memberships,
        "vip",
        Membership::Exited,
        2,
        Source::Edge,
    );
    let (d, traces) = run(&catalog, &p, "v", &s, &NoConditions);
    assert!(d.propositions.is_empty());
    assert!(matches!(
        traces[1].conditions[0].verdict,
        Verdict::Error { .. }
    ));
}

#[test]
fn xt_first_matching_experience_wins() {
    let xt = activity(json!({
        "id": "xt", "activityType": "xt", "scopes": ["__view__"],
        "experiences": [
            {"id": "vip", "audience": "vip", "offers": [dom("o-vip")]},
            {"id": "pql", "audience": {"pql": "true"}, "offers": [dom("o-pql")]},
            {"id": "rest", "offers": [dom("o-rest")]}]
    }));
    let catalog = Catalog::new([xt]);
    let s = scopes(&["__view__"]);
    let mut p = profile();
    let pick = |p: &Profile, eval: &dyn ConditionEvaluator| {
        run(&catalog, p, "", &s, eval).0.propositions[0]
            .scope_details
            .experience
            .id
            .clone()
    };
    assert_eq!(pick(&p, &NoConditions), "rest");
    assert_eq!(pick(&p, &literal_pql), "pql");
    membership::transition(
        &mut p.memberships,
        "vip",
        Membership::Realized,
        1,
        Source::Edge,
    );
    assert_eq!(pick(&p, &literal_pql), "vip");
    // xt is not sticky: no assignment is written at decision time.
    assert!(
        run(&catalog, &p, "v", &s, &literal_pql)
            .0
            .changes
            .is_empty()
    );
}

#[test]
fn sticky_across_weight_edits_until_the_version_is_bumped() {
    let catalog = Catalog::new([activity(ab("s", 1, &[50.0, 50.0]))]);
    // Visitors that the even split puts in experience 0.
    let in_zero: Vec<String> = (0..200)
        .map(|i| format!("v{i}"))
        .filter(|v| {
            view(&catalog, &profile(), v).0.propositions[0]
                .scope_details
                .experience
                .id
                == "0"
        })
        .take(20)
        .collect();
    assert_eq!(in_zero.len(), 20);

    let edited = Catalog::new([activity(ab("s", 1, &[0.0, 100.0]))]);
    let mut bumped = ab("s", 1, &[0.0, 100.0]);
    bumped["bucketing"]["version"] = json!(2);
    let bumped = Catalog::new([activity(bumped)]);
    for v in &in_zero {
        let mut p = profile();
        let first = view(&catalog, &p, v).0;
        assert_eq!(
            first.changes.sticky,
            [StickyWrite {
                activity_id: "s".into(),
                experience_id: "0".into(),
                bucket_version: 1,
                at: NOW,
                replace: false
            }]
        );
        first.changes.apply(&mut p);
        // The weight edit moves nobody already assigned.
        let (d, traces) = view(&edited, &p, v);
        assert_eq!(shown(&d), [("s".into(), "0".into())]);
        assert!(d.changes.is_empty());
        assert_eq!(
            traces[0].allocation.as_ref().unwrap().sticky,
            StickyUse::Kept
        );
        // Without the assignment the edit would have moved them.
        assert_eq!(
            view(&edited, &profile(), v).0.propositions[0]
                .scope_details
                .experience
                .id,
            "1"
        );
        // The version bump re-buckets and replaces the stored assignment.
        let (d, traces) = view(&bumped, &p, v);
        assert_eq!(shown(&d), [("s".into(), "1".into())]);
        assert_eq!(
            traces[0].allocation.as_ref().unwrap().sticky,
            StickyUse::VersionChanged { stored_version: 1 }
        );
        assert!(d.changes.sticky[0].replace);
        d.changes.apply(&mut p);
        assert_eq!(p.sticky["s"].experience, "1");
        assert_eq!(p.sticky["s"].bucket_version, 2);
    }
}

#[test]
fn removed_experience_rebuckets_and_no_id_is_never_allocated() {
    let catalog = Catalog::new([activity(ab("s", 1, &[100.0]))]);
    let mut p = profile();
    vantage_model::profile::sticky::assign(
        &mut p.sticky,
        "s",
        vantage_model::profile::sticky::Assignment {
            assigned_at: 1,
            experience: "gone".into(),
            bucket_version: 1,
        },
    );
    let (d, traces) = view(&catalog, &p, "v");
    assert_eq!(shown(&d), [("s".into(), "0".into())]);
    assert!(matches!(
        traces[0].allocation.as_ref().unwrap().sticky,
        StickyUse::ExperienceGone { .. }
    ));
    d.changes.apply(&mut p);
    assert_eq!(p.sticky["s"].experience, "0");

    let (d, traces) = view(&catalog, &profile(), "");
    assert!(d.propositions.is_empty() && d.changes.is_empty());
    assert_eq!(reason(&traces, "s"), Some(SkipReason::NoVisitorId));
}

#[test]
fn date_windows_and_status() {
    let window = |start: Option<&str>, end: Option<&str>, status: &str| {
        let mut a = ab("w", 1, &[100.0]);
        a["status"] = json!(status);
        if let Some(s) = start {
            a["startDate"] = json!(s);
        }
        if let Some(e) = end {
            a["endDate"] = json!(e);
        }
        let catalog = Catalog::new([activity(a)]);
        reason(&view(&catalog, &profile(), "v").1, "w")
    };
    // Start inclusive, end exclusive.
    assert_eq!(
        window(
            Some("2026-12-01T10:00:00Z"),
            Some("2026-12-01T10:00:00.001Z"),
            "active"
        ),
        None
    );
    assert_eq!(
        window(Some("2026-12-01T10:00:00.001Z"), None, "active"),
        Some(SkipReason::NotStarted { start_ms: NOW + 1 })
    );
    assert_eq!(
        window(None, Some("2026-12-01T10:00:00Z"), "active"),
        Some(SkipReason::Ended { end_ms: NOW })
    );
    assert_eq!(
        window(None, None, "paused"),
        Some(SkipReason::NotActive {
            status: Status::Paused
        })
    );
    assert_eq!(
        window(None, None, "draft"),
        Some(SkipReason::NotActive {
            status: Status::Draft
        })
    );
}

#[test]
fn caps_eligibility_and_fallbacks() {
    let a = activity(json!({
        "id": "c", "activityType": "ab", "scopes": ["hero", "side"],
        "experiences": [{"id": "0", "allocation": 100, "offers": [
            {"id": "capped", "scope": "hero", "caps": [{"count": 2, "per": "day"}],
             "schema": "https://ns.adobe.com/personalization/json-content-item", "data": {"content": {"a": 1}}},
            {"id": "gated", "scope": "side", "eligibility": "false",
             "schema": "https://ns.adobe.com/personalization/json-content-item", "data": {"content": {"b": 2}}}]}],
        "fallbacks": {"hero": {"id": "hero-fallback",
            "schema": "https://ns.adobe.com/personalization/json-content-item", "data": {"content": {"f": 0}}}}
    }));
    let catalog = Catalog::new([a]);
    let s = scopes(&["hero", "side"]);
    let items = |d: &Decision| -> Vec<(String, String)> {
        d.propositions
            .iter()
            .flat_map(|p| p.items.iter().map(|i| (p.scope.clone(), i.id.clone())))
            .collect()
    };
    let mut p = profile();
    let (d, traces) = run(&catalog, &p, "v", &s, &literal_pql);
    assert_eq!(items(&d), [("hero".into(), "capped".into())]);
    assert!(
        traces[0]
            .offers
            .iter()
            .any(|o| o.scope == "side" && o.decision == OfferDecision::NothingToShow)
    );
    assert!(
        traces[0]
            .offers
            .iter()
            .any(|o| o.offer_id.as_deref() == Some("gated")
                && o.decision == OfferDecision::Ineligible)
    );

    // Two displays within the day use the cap up; the fallback takes over; a day later the
    // first display has left the window.
    let key = crate::frequency::offer_key("c", "capped");
    vantage_model::profile::caps::record(&mut p.caps, &key, NOW - 23 * HOUR);
    vantage_model::profile::caps::record(&mut p.caps, &key, NOW - HOUR);
    let (d, traces) = run(&catalog, &p, "v", &s, &literal_pql);
    assert_eq!(items(&d), [("hero".into(), "hero-fallback".into())]);
    assert!(traces[0].offers.iter().any(|o| matches!(
        o.decision,
        OfferDecision::Capped { cap } if cap.seen == 2
    )));
    let mut later = p.clone();
    later.caps.get_mut(&key).unwrap().recent[0] = NOW - 25 * HOUR;
    assert_eq!(
        items(&run(&catalog, &later, "v", &s, &literal_pql).0),
        [("hero".into(), "capped".into())]
    );
}

#[test]
fn caps_are_enforced_through_notifications() {
    let a = activity(json!({
        "id": "n", "activityType": "ab", "scopes": ["__view__", "web://shop.example/"],
        "experiences": [{"id": "0", "allocation": 100, "offers": [
            {"id": "once", "caps": [{"count": 1, "per": "lifetime"}], "schema": "https://ns.adobe.com/personalization/dom-action",
             "data": {"type": "setText", "selector": "h1", "content": "hi"}}]}]
    }));
    let catalog = Catalog::new([a]);
    let s = scopes(&["__view__", "web://shop.example/"]);
    let mut p = profile();
    let d = run(&catalog, &p, "v", &s, &NoConditions).0;
    assert_eq!(d.propositions.len(), 2);
    d.changes.apply(&mut p);
    let n = Notification::from_xdm(&echo(&d.propositions, notify::DISPLAY_EVENT, "display"));
    let fx = notify::effects(&catalog, &n, &p, NOW);
    // Both scopes displayed in one event: one exposure, one cap hit.
    assert_eq!(fx.counters, [("report/n/0/exposures".to_owned(), 1)]);
    assert_eq!(fx.changes.caps.len(), 1);
    fx.changes.apply(&mut p);
    assert!(
        run(&catalog, &p, "v", &s, &NoConditions)
            .0
            .propositions
            .is_empty()
    );
}

#[test]
fn uniform_allocation_over_100k_visitors() {
    // Chi-square critical values at p = 0.001: df 3 → 16.266, df 2 → 13.816.
    for (allocations, critical) in [
        (vec![25.0, 25.0, 25.0, 25.0], 16.266),
        (vec![50.0, 30.0, 20.0], 13.816),
    ] {
        let catalog = Catalog::new([activity(ab("u", 1, &allocations))]);
        let p = profile();
        let env = env();
        let s = scopes(&["__view__"]);
        let mut counts = vec![0u32; allocations.len()];
        let n = 100_000;
        for i in 0..n {
            let visitor = format!("{:038}", 7_919u64 * i as u64 + 12_345);
            let req = Request {
                visitor_id: &visitor,
                scopes: &s,
                profile: &p,
                environment: &env,
                now_ms: NOW,
            };
            let d = decide(&catalog, &req, &NoConditions);
            let e: usize = d.propositions[0]
                .scope_details
                .experience
                .id
                .parse()
                .unwrap();
            counts[e] += 1;
        }
        let chi2: f64 = counts
            .iter()
            .zip(&allocations)
            .map(|(&c, a)| {
                let expected = f64::from(n) * a / 100.0;
                (f64::from(c) - expected).powi(2) / expected
            })
            .sum();
        assert!(chi2 < critical, "{allocations:?}: {counts:?}, chi2 {chi2}");
    }
}

#[test]
fn recommendation_ranks_by_affinity_top_n() {
    let offer = |id: &str, cat: &str| {
        json!({"id": id, "categories": [cat], "schema": "https://ns.adobe.com/personalization/json-content-item",
               "data": {"content": {"sku": id}}})
    };
    let rec = activity(json!({
        "id": "recs", "activityType": "recommendation", "scopes": ["recs"], "maxItems": 2,
        "experiences": [{"id": "0", "offers": [offer("a", "hats"), offer("b", "shoes"), offer("c", "bags"), offer("d", "shoes")]}]
    }));
    let catalog = Catalog::new([rec]);
    let s = scopes(&["recs"]);
    let ids = |p: &Profile| -> Vec<String> {
        run(&catalog, p, "v", &s, &NoConditions).0.propositions[0]
            .items
            .iter()
            .map(|i| i.id.clone())
            .collect()
    };
    let mut p = profile();
    assert_eq!(ids(&p), ["a", "b"]);
    p.affinity.view("shoes", 1);
    p.affinity.view("bags", 2);
    assert_eq!(ids(&p), ["b", "d"]);
    let (_, traces) = run(&catalog, &p, "v", &s, &NoConditions);
    assert!(
        traces[0]
            .offers
            .iter()
            .any(|o| o.offer_id.as_deref() == Some("c")
                && matches!(o.decision, OfferDecision::NotInTop { max_items: 2, .. }))
    );
    // The equal split of a single pool needs a visitor id and writes a sticky assignment.
    assert_eq!(
        run(&catalog, &p, "v", &s, &NoConditions)
            .0
            .changes
            .sticky
            .len(),
        1
    );
}

#[test]
fn proposition_format_for_every_offer_schema() {
    let offers = [
        json!({"id": "dom", "schema": "https://ns.adobe.com/personalization/dom-action",
               "data": {"type": "setHtml", "selector": "#hero", "content": "<h1>Hi</h1>"}}),
        json!({"id": "html", "schema": "https://ns.adobe.com/personalization/html-content-item",
               "data": {"content": "<p>Hi</p>"}}),
        json!({"id": "json", "schema": "https://ns.adobe.com/personalization/json-content-item",
               "data": {"content": {"k": 1}}}),
        json!({"id": "redirect", "schema": "https://ns.adobe.com/personalization/redirect-item",
               "data": {"content": "https://shop.example/new"}}),
        json!({"id": "control", "schema": "https://ns.adobe.com/personalization/default-content-item"}),
    ];
    for offer in offers {
        let id = offer["id"].as_str().unwrap().to_owned();
        let a = activity(
            json!({"id": "100001", "name": "Hero", "activityType": "ab", "scopes": ["__view__"],
            "experiences": [{"id": "0", "name": "A", "allocation": 100, "offers": [offer]}]}),
        );
        let catalog = Catalog::new([a.clone()]);
        let d = view(&catalog, &profile(), "v").0;
        let e = &a.experiences[0];
        let item = serde_json::to_value(e.offers[0].to_item_with_meta(&a, e)).unwrap();
        let token = EventToken {
            activity_id: "100001".into(),
            experience_id: "0".into(),
            offer_ids: vec![id.clone()],
            preview: false,
        };
        let want = json!({
            "id": crate::proposition::proposition_id("100001", "0", "__view__"),
            "scope": "__view__",
            "scopeDetails": {
                "decisionProvider": "TGT",
                "activity": {"id": "100001"}, "experience": {"id": "0"},
                "strategies": [{"step": "entry", "trafficType": "0"}, {"step": "display", "trafficType": "0"}],
                "characteristics": {"eventToken": token.encode()},
                "correlationID": "100001:0:0"},
            "items": [item]
        });
        let got = serde_json::to_value(&d.propositions).unwrap();
        assert_eq!(got, json!([want]), "{id}");
        // The JSON reads back into the same proposition.
        let back: Vec<Proposition> = serde_json::from_value(got).unwrap();
        assert_eq!(back, d.propositions);
        assert_eq!(d.propositions[0].items[0].id, id);
        assert!(d.propositions[0].id.starts_with("AT:"));
    }
}

#[test]
fn unvalidated_definitions_never_panic() {
    // What a corrupt store could hold: no experiences, NaN holdout, nonsense allocations.
    let raw = [
        json!({"id": "empty-ab", "activityType": "ab", "scopes": ["__view__"], "holdout": 5}),
        json!({"id": "empty-xt", "activityType": "xt", "scopes": ["__view__"]}),
        json!({"id": "empty-rec", "activityType": "recommendation", "scopes": ["__view__"]}),
        json!({"id": "odd", "activityType": "ab", "scopes": ["__view__"], "holdout": -3,
               "experiences": [{"id": "0", "allocation": -1, "offers": []}, {"id": "1", "allocation": 1e300, "offers": []}]}),
    ];
    let mut activities: Vec<Activity> = raw
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect();
    activities[0].holdout = f64::NAN;
    let catalog = Catalog::new(activities);
    for visitor in ["", "v", "ü 😀"] {
        let (d, traces) = view(&catalog, &profile(), visitor);
        assert_eq!(traces.len(), 4);
        assert!(d.propositions.is_empty(), "{visitor}: {:?}", d.propositions);
        let x = crate::explain::explain(
            &catalog,
            &Request {
                visitor_id: visitor,
                scopes: &[],
                profile: &profile(),
                environment: &env(),
                now_ms: NOW,
            },
            &NoConditions,
            "odd",
        );
        assert!(x.found);
    }
}
