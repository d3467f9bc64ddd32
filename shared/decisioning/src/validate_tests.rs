//! Tests of activity parsing and validation.

use super::*;
use crate::model::{Bucketing, CapPeriod, Status};
use serde_json::json;
use vantage_bucketing::Scheme;

/// The activity record from DESIGN.md, verbatim apart from the elided timestamp.
const DESIGN_EXAMPLE: &str = r##"{"type":"activity","id":"hero-test","name":"Homepage hero","timestamp":"2026-12-01T10:00:00Z","activityType":"ab",
 "priority":10,"scopes":["__view__"],"audience":null,
 "bucketing":{"scheme":"adobe-target","client":"acme","salt":"0","version":1},
 "experiences":[
   {"id":"0","name":"A","allocation":50,"offers":[{"id":"hero-a","schema":"https://ns.adobe.com/personalization/dom-action",
     "data":{"type":"setHtml","selector":"#hero","content":"<h1>Welcome</h1>"}}]},
   {"id":"1","name":"B","allocation":50,"offers":[{"id":"hero-b","schema":"https://ns.adobe.com/personalization/dom-action",
     "data":{"type":"setHtml","selector":"#hero","content":"<h1>Welcome back</h1>"}}]}]}"##;

fn design_value() -> Value {
    serde_json::from_str(DESIGN_EXAMPLE).unwrap()
}

/// The problems for the DESIGN example after `edit` changes it.
fn problems_after(edit: impl FnOnce(&mut Value)) -> Vec<Problem> {
    let mut v = design_value();
    edit(&mut v);
    match parse_activity_value(&v) {
        Ok(_) => Vec::new(),
        Err(InvalidActivity(problems)) => problems,
    }
}

fn paths(problems: &[Problem]) -> Vec<&str> {
    problems.iter().map(|p| p.path.as_str()).collect()
}

#[test]
fn design_example_is_valid() {
    let a = parse_activity(DESIGN_EXAMPLE).expect("valid");
    assert_eq!(a.id, "hero-test");
    assert_eq!(a.activity_type, ActivityType::Ab);
    assert_eq!(a.status, Status::Active);
    assert_eq!(a.priority, 10);
    assert_eq!(a.audience, None);
    assert_eq!(a.bucketing.scheme(), Ok(Scheme::AdobeTarget));
    assert_eq!(a.bucketing.effective_salt(Scheme::AdobeTarget), "0");
    assert_eq!(a.allocations(), vec![50.0, 50.0]);
    assert_eq!(a.experience("1").map(|e| e.name.as_str()), Some("B"));
}

#[test]
fn serialization_round_trips() {
    let a = parse_activity(DESIGN_EXAMPLE).unwrap();
    let again: Activity = serde_json::from_value(serde_json::to_value(&a).unwrap()).unwrap();
    assert_eq!(again, a);
}

#[test]
fn field_lists_match_the_structs() {
    // A fully populated activity must serialize only known fields (guards the lists used for
    // unknown-field detection against drifting from the structs).
    let full = json!({
        "id": "x", "name": "n", "timestamp": "2026-01-01T00:00:00Z", "activityType": "xt", "status": "paused",
        "startDate": "2026-01-01T00:00:00Z", "endDate": "2026-02-01T00:00:00Z", "priority": 1,
        "scopes": ["__view__"], "audience": {"pql": "a = 1"}, "exclusionGroup": "g", "holdout": 5.5,
        "bucketing": {"scheme": "unleash", "client": "c", "salt": "s", "version": 2},
        "experiences": [{"id": "0", "name": "A", "allocation": 10.5, "audience": "vip", "control": true, "offers": [
            {"id": "o", "name": "O", "schema": "https://ns.adobe.com/personalization/json-content-item",
             "data": {"content": {}}, "scope": "__view__", "caps": [{"count": 1, "per": "week"}],
             "eligibility": "b = 2", "categories": ["shoes"]}]}],
        "fallbacks": {"__view__": {"id": "f", "schema": "https://ns.adobe.com/personalization/default-content-item"}},
        "conversionEventType": "commerce.purchases"
    });
    let a = parse_activity_value(&full).expect("valid");
    let written = serde_json::to_value(&a).unwrap();
    assert_eq!(written, full);
    assert!(unknown_fields(&written).is_empty());
}

#[test]
fn every_problem_is_reported_at_once() {
    let problems = problems_after(|v| {
        v["priority"] = json!(-1);
        v["scopes"] = json!([]);
        v["startDate"] = json!("2026-12-02T00:00:00Z");
        v["endDate"] = json!("2026-12-01T00:00:00Z");
        v["bucketing"]["scheme"] = json!("optimizely");
        v["experiences"][1]["allocation"] = json!(60);
        v["experiences"][1]["id"] = json!("0");
        v["experiences"][0]["offers"][0]["schema"] = json!("https://example.com/unknown");
        v["experiences"][1]["offers"][0]["data"] = json!({"type": "setHtml", "content": "x"});
    });
    assert_eq!(
        paths(&problems),
        vec![
            "endDate",
            "priority",
            "scopes",
            "bucketing.scheme",
            "experiences[0].offers[0].schema",
            "experiences[1].id",
            "experiences[1].allocation",
            "experiences[1].offers[0].data.selector",
        ],
        "{problems:#?}"
    );
    let text = InvalidActivity(problems).to_string();
    assert!(
        text.contains(
            "experiences[1].allocation: allocations add up to more than 100 (110 so far)"
        ),
        "{text}"
    );
    assert!(
        text.contains("unknown bucketing scheme \"optimizely\""),
        "{text}"
    );
}

#[test]
fn shape_errors_carry_their_path() {
    let problems = problems_after(|v| v["experiences"][1]["allocation"] = json!("fifty"));
    assert_eq!(paths(&problems), vec!["experiences[1].allocation"]);
    assert!(problems[0].message.contains("invalid type"), "{problems:?}");
    let problems = problems_after(|v| {
        v["experiences"][0]["offers"][0]["caps"] = json!([{"count": 3, "per": "month"}])
    });
    assert_eq!(
        paths(&problems),
        vec!["experiences[0].offers[0].caps[0].per"]
    );
    let problems = problems_after(|v| v["activityType"] = json!("mvt"));
    assert_eq!(paths(&problems), vec!["activityType"]);
    let problems = problems_after(|v| {
        v.as_object_mut().unwrap().remove("activityType");
    });
    assert_eq!(paths(&problems), vec![""]);
    assert!(problems[0].message.contains("missing field `activityType`"));
    assert!(parse_activity("{not json").is_err());
    assert!(parse_activity("[]").is_err());
}

#[test]
fn unknown_fields_are_reported_with_a_hint() {
    let problems = problems_after(|v| {
        v["experiences"][0]["allocaton"] = json!(50);
        v["prority"] = json!(1);
        v["experiences"][1]["offers"][0]["caps"] = json!([{"count": 1, "per": "day", "window": 3}]);
        v["bucketing"]["seed"] = json!("x");
    });
    let got: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        vec![
            "prority: unknown field (did you mean \"priority\"?)",
            "bucketing.seed: unknown field",
            "experiences[0].allocaton: unknown field (did you mean \"allocation\"?)",
            "experiences[1].offers[0].caps[0].window: unknown field",
        ]
    );
    let problems = problems_after(|v| v["type"] = json!("segment"));
    assert_eq!(paths(&problems), vec!["type"]);
}

#[test]
fn audiences_read_as_documented() {
    let a = |v: Value| serde_json::from_value::<Audience>(v);
    assert_eq!(
        a(json!("cart-abandoner")).unwrap(),
        Audience::Segment("cart-abandoner".into())
    );
    assert_eq!(
        a(json!("acme:vip.gold_1")).unwrap(),
        Audience::Segment("acme:vip.gold_1".into())
    );
    assert_eq!(
        a(json!("person.loyalty.tier = \"gold\"")).unwrap(),
        Audience::Pql("person.loyalty.tier = \"gold\"".into())
    );
    assert_eq!(a(json!("true")).unwrap(), Audience::Pql("true".into()));
    assert_eq!(
        a(json!({"pql": "vip"})).unwrap(),
        Audience::Pql("vip".into())
    );
    assert_eq!(
        a(json!({"segment": "vip"})).unwrap(),
        Audience::Segment("vip".into())
    );
    assert!(a(json!({"segment": "a", "pql": "b"})).is_err());
    assert!(a(json!({"sql": "b"})).is_err());
    assert!(a(json!(42)).is_err());
    // Written back unambiguously.
    let out = |x: Audience| serde_json::to_value(x).unwrap();
    assert_eq!(out(Audience::Segment("vip".into())), json!("vip"));
    assert_eq!(out(Audience::Pql("vip".into())), json!({"pql": "vip"}));
    assert_eq!(
        out(Audience::Segment("has space".into())),
        json!({"segment": "has space"})
    );
    // And a segment id that cannot be one is a problem.
    let problems = problems_after(|v| v["audience"] = json!({"segment": "has space"}));
    assert_eq!(paths(&problems), vec!["audience"]);
    let problems = problems_after(|v| v["audience"] = json!({"pql": "  "}));
    assert_eq!(paths(&problems), vec!["audience"]);
}

#[test]
fn numeric_ids_are_kept_as_text() {
    let problems = problems_after(|v| {
        v["id"] = json!(125873);
        v["experiences"][0]["id"] = json!(0);
    });
    assert!(problems.is_empty(), "{problems:?}");
    let problems = problems_after(|v| v["id"] = json!(1.5));
    assert_eq!(paths(&problems), vec!["id"]);
    let problems = problems_after(|v| v["id"] = json!(" "));
    assert_eq!(paths(&problems), vec!["id"]);
}

#[test]
fn allocation_rules() {
    // Missing in ab.
    let problems = problems_after(|v| {
        v["experiences"][0]
            .as_object_mut()
            .unwrap()
            .remove("allocation");
    });
    assert_eq!(paths(&problems), vec!["experiences[0].allocation"]);
    // Out of range.
    let problems = problems_after(|v| v["experiences"][0]["allocation"] = json!(-5));
    assert_eq!(paths(&problems), vec!["experiences[0].allocation"]);
    // Thirds that add up to 100 with rounding are fine, under 100 is fine (unallocated).
    assert!(
        problems_after(|v| {
            v["experiences"][0]["allocation"] = json!(66.67);
            v["experiences"][1]["allocation"] = json!(33.33);
        })
        .is_empty()
    );
    assert!(problems_after(|v| v["experiences"][0]["allocation"] = json!(10)).is_empty());
    // Over 100 is reported once, where it happens.
    let problems = problems_after(|v| {
        let e = v["experiences"][1].clone();
        v["experiences"].as_array_mut().unwrap().push(e);
        v["experiences"][2]["id"] = json!("2");
    });
    assert_eq!(paths(&problems), vec!["experiences[2].allocation"]);
}

#[test]
fn xt_rules() {
    let problems = problems_after(|v| {
        v["activityType"] = json!("xt");
        v["experiences"][0]
            .as_object_mut()
            .unwrap()
            .remove("allocation");
        v["experiences"][1]["allocation"] = json!(100);
        v["experiences"][1]["audience"] = json!("vip");
    });
    // experiences[0] has no audience, so it catches everyone and [1] can never be reached.
    assert_eq!(paths(&problems), vec!["experiences[1]"]);
    assert!(problems[0].message.contains("unreachable"));
    let problems = problems_after(|v| {
        v["activityType"] = json!("xt");
        v["experiences"][0]["audience"] = json!({"pql": "person.age > 30"});
    });
    assert!(problems.is_empty(), "{problems:?}");
    // Audiences on ab experiences would be silently ignored: refuse them.
    let problems = problems_after(|v| v["experiences"][0]["audience"] = json!("vip"));
    assert_eq!(paths(&problems), vec!["experiences[0].audience"]);
}

#[test]
fn scope_rules() {
    let problems = problems_after(|v| {
        v["scopes"] = json!([
            "__view__",
            "web://shop.example/home",
            "hero-banner",
            "web:///path",
            "has space",
            "__view__",
            ""
        ]);
    });
    assert_eq!(
        paths(&problems),
        vec!["scopes[3]", "scopes[4]", "scopes[5]", "scopes[6]"]
    );
    let problems =
        problems_after(|v| v["experiences"][0]["offers"][0]["scope"] = json!("hero-banner"));
    assert_eq!(paths(&problems), vec!["experiences[0].offers[0].scope"]);
}

#[test]
fn date_and_number_rules() {
    let problems = problems_after(|v| {
        v["startDate"] = json!("2026-12-01");
        v["timestamp"] = json!("yesterday");
        v["holdout"] = json!(100);
        v["exclusionGroup"] = json!("");
    });
    assert_eq!(
        paths(&problems),
        vec!["timestamp", "startDate", "exclusionGroup", "holdout"]
    );
    let problems = problems_after(|v| {
        v["startDate"] = json!("2026-12-01T00:00:00Z");
        v["endDate"] = json!("2026-12-01T00:00:00Z");
    });
    assert_eq!(paths(&problems), vec!["endDate"]);
}

#[test]
fn offer_data_rules_per_schema() {
    let check = |offer: Value| {
        let mut p = Vec::new();
        let offer: Offer = serde_json::from_value(offer).unwrap();
        check_offer(&mut p, "o", &offer, &["__view__".to_owned()]);
        p.into_iter().map(|p| p.to_string()).collect::<Vec<_>>()
    };
    let dom = "https://ns.adobe.com/personalization/dom-action";
    assert_eq!(
        check(
            json!({"id": "a", "schema": dom, "data": {"type": "setHtml", "selector": "#x", "content": "<b>"}})
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        check(json!({"id": "a", "schema": dom, "data": {"type": "remove", "selector": "#x"}})),
        Vec::<String>::new()
    );
    assert_eq!(
        check(
            json!({"id": "a", "schema": dom, "data": {"type": "setHtml", "selector": "", "content": 3}})
        ),
        vec![
            "o.data.selector: must not be empty",
            "o.data.content: must be a string for setHtml"
        ]
    );
    assert_eq!(
        check(
            json!({"id": "a", "schema": dom, "data": {"type": "setAttribute", "selector": "#x", "content": "src"}})
        ),
        vec!["o.data.content: must be an object for setAttribute"]
    );
    assert!(
        check(json!({"id": "a", "schema": dom, "data": {"type": "explode", "selector": "#x"}}))[0]
            .starts_with("o.data.type: unknown dom action \"explode\"")
    );
    assert_eq!(
        check(json!({"id": "a", "schema": dom})),
        vec!["o.data: must be an object for dom-action"]
    );
    assert!(
        check(json!({"id": "a", "schema": "dom-action", "data": {}}))[0]
            .contains("(did you mean \"https://ns.adobe.com/personalization/dom-action\"?)")
    );

    let html = "https://ns.adobe.com/personalization/html-content-item";
    assert_eq!(
        check(json!({"id": "a", "schema": html, "data": {"content": "<p>"}})),
        Vec::<String>::new()
    );
    assert_eq!(
        check(json!({"id": "a", "schema": html, "data": {"content": "<p>", "selector": "#x"}})),
        vec![
            "o.data: selector and type go together (alloy renders the item only when both are set)"
        ]
    );
    assert_eq!(
        check(json!({"id": "a", "schema": html, "data": {"content": "<p>", "selector": "#x", "type": "remove"}})).len(),
        1
    );

    let json_item = "https://ns.adobe.com/personalization/json-content-item";
    assert_eq!(
        check(json!({"id": "a", "schema": json_item, "data": {"content": [1, 2]}})),
        Vec::<String>::new()
    );
    assert_eq!(
        check(json!({"id": "a", "schema": json_item, "data": {}})),
        vec!["o.data.content: is required"]
    );

    let redirect = "https://ns.adobe.com/personalization/redirect-item";
    assert_eq!(
        check(
            json!({"id": "a", "schema": redirect, "data": {"content": "https://shop.example/x"}})
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        check(
            json!({"id": "a", "schema": redirect, "data": {"content": "/relative", "type": "setHtml"}})
        ),
        vec![
            "o.data.content: must be an absolute http(s) URL",
            "o.data.type: must be \"redirect\" (or omitted)"
        ]
    );

    let control = "https://ns.adobe.com/personalization/default-content-item";
    assert_eq!(
        check(json!({"id": "a", "schema": control})),
        Vec::<String>::new()
    );
    assert_eq!(
        check(json!({"id": "a", "schema": control, "data": {}})),
        Vec::<String>::new()
    );
    assert_eq!(
        check(json!({"id": "a", "schema": control, "data": {"content": "x"}})),
        vec!["o.data: a default-content-item carries no data"]
    );
}

#[test]
fn caps_eligibility_and_duplicates() {
    let problems = problems_after(|v| {
        let offer = &mut v["experiences"][0]["offers"][0];
        offer["caps"] = json!([{"count": 0, "per": "hour"}, {"count": 3, "per": "lifetime"}]);
        offer["eligibility"] = json!("");
        let copy = v["experiences"][0]["offers"][0].clone();
        v["experiences"][0]["offers"]
            .as_array_mut()
            .unwrap()
            .push(copy);
    });
    assert_eq!(
        paths(&problems),
        vec![
            "experiences[0].offers[0].caps[0].count",
            "experiences[0].offers[0].eligibility",
            "experiences[0].offers[1].id",
            "experiences[0].offers[1].caps[0].count",
            "experiences[0].offers[1].eligibility",
        ]
    );
    let problems = problems_after(|v| v["experiences"][1]["offers"] = json!([]));
    assert_eq!(paths(&problems), vec!["experiences[1].offers"]);
    assert_eq!(CapPeriod::Day.window_ms(), Some(86_400_000));
    assert_eq!(CapPeriod::Lifetime.window_ms(), None);
}

#[test]
fn fallbacks_must_match_scopes() {
    let problems = problems_after(|v| {
        v["fallbacks"] = json!({
            "__view__": {"id": "f", "schema": "https://ns.adobe.com/personalization/default-content-item"},
            "hero-banner": {"id": "g", "schema": "https://ns.adobe.com/personalization/json-content-item", "data": {}}
        });
    });
    assert_eq!(
        paths(&problems),
        vec![
            "fallbacks[\"hero-banner\"]",
            "fallbacks[\"hero-banner\"].data.content"
        ]
    );
}

#[test]
fn empty_experiences_and_default_bucketing() {
    let problems = problems_after(|v| v["experiences"] = json!([]));
    assert_eq!(paths(&problems), vec!["experiences"]);
    let b = Bucketing::default();
    assert_eq!(b.scheme(), Ok(Scheme::AdobeTarget));
    assert_eq!(b.version, 1);
    assert_eq!(b.effective_salt(Scheme::AdobeTarget), "0");
    assert_eq!(b.effective_salt(Scheme::GrowthBookV2), "");
    let a = parse_activity_value(&{
        let mut v = design_value();
        v.as_object_mut().unwrap().remove("bucketing");
        v
    })
    .unwrap();
    assert_eq!(a.bucketing, b);
}

#[test]
fn live_window() {
    let mut a = parse_activity(DESIGN_EXAMPLE).unwrap();
    a.start_date = Some("2026-12-01T00:00:00Z".into());
    a.end_date = Some("2026-12-02T00:00:00Z".into());
    let start = 1_796_083_200_000;
    assert!(!a.is_live_at(start - 1));
    assert!(a.is_live_at(start));
    assert!(a.is_live_at(start + 86_400_000 - 1));
    assert!(!a.is_live_at(start + 86_400_000));
    a.status = Status::Paused;
    assert!(!a.is_live_at(start));
    a.status = Status::Active;
    a.end_date = Some("soon".into());
    assert!(!a.is_live_at(start));
}

#[test]
fn retirement_records_need_only_an_id() {
    let retire = json!({"type": "activity", "id": "hero-test", "status": "retired", "timestamp": "2026-12-02T00:00:00Z"});
    assert_eq!(
        parse_activity_record(&retire),
        Ok(ActivityRecord::Retire {
            id: "hero-test".into(),
            timestamp: Some("2026-12-02T00:00:00Z".into())
        })
    );
    assert_eq!(
        parse_activity_record(&json!({"id": 7, "status": "retired"})),
        Ok(ActivityRecord::Retire {
            id: "7".into(),
            timestamp: None
        })
    );
    let bad =
        parse_activity_record(&json!({"status": "retired", "timestamp": "later"})).unwrap_err();
    assert_eq!(paths(&bad.0), vec!["id", "timestamp"]);
    let bad = parse_activity_record(&json!({"id": "", "status": "retired"})).unwrap_err();
    assert_eq!(paths(&bad.0), vec!["id"]);
    match parse_activity_record(&design_value()) {
        Ok(ActivityRecord::Define(a)) => assert_eq!(a.id, "hero-test"),
        other => panic!("expected a definition, got {other:?}"),
    }
    // A full definition with status retired is a retirement too.
    let mut v = design_value();
    v["status"] = json!("retired");
    assert!(matches!(
        parse_activity_record(&v),
        Ok(ActivityRecord::Retire { .. })
    ));
}

#[test]
fn control_holdout_and_max_items_rules() {
    let p = problems_after(|v| {
        v["experiences"][0]["control"] = json!(true);
        v["experiences"][1]["control"] = json!(true);
        v["experiences"][1]["id"] = json!("holdout");
        v["maxItems"] = json!(3);
    });
    assert_eq!(
        paths(&p),
        ["maxItems", "experiences[1].id", "experiences[1].control"]
    );

    let rec = json!({"id": "recs", "activityType": "recommendation", "scopes": ["recs"], "maxItems": 3,
        "experiences": [{"id": "0", "offers": [{"id": "o", "schema": "https://ns.adobe.com/personalization/json-content-item",
                                               "data": {"content": {}}, "categories": ["shoes"]}]}]});
    let a = parse_activity_value(&rec).expect("valid");
    assert_eq!(a.max_items, Some(3));
    assert_eq!(serde_json::to_value(&a).unwrap()["maxItems"], 3);
    let mut zero = rec.clone();
    zero["maxItems"] = json!(0);
    let Err(InvalidActivity(p)) = parse_activity_value(&zero) else {
        panic!("maxItems 0 is invalid")
    };
    assert_eq!(paths(&p), ["maxItems"]);
}
