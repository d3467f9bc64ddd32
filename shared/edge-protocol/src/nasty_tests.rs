//! Hostile and malformed input: every parser and decoder answers with a typed error or `None`,
//! never a panic; errors name the JSON path and carry the reference's status.

use proptest::prelude::*;

use crate::*;

const ENDPOINTS: [Endpoint; 5] = [
    Endpoint::Interact,
    Endpoint::Collect,
    Endpoint::SetConsent,
    Endpoint::Acquire,
    Endpoint::InteractV2,
];

fn interact(body: &str) -> Result<InteractRequest, ProtocolError> {
    parse_interact(body.as_bytes(), &Limits::default())
}

#[test]
fn bad_bodies_map_to_statuses_and_paths() {
    // (body, status, path)
    let cases: &[(&str, u16, Option<&str>)] = &[
        ("", 400, Some(".")),
        ("{", 400, Some(".")),
        ("nul", 400, Some(".")),
        (r#"{"events":[{}]} {}"#, 400, Some(".")),
        ("[]", 422, Some(".")),
        ("null", 422, Some(".")),
        ("{}", 422, Some(".")),
        (r#"{"events":[]}"#, 422, Some("events")),
        (r#"{"events":{}}"#, 422, Some("events")),
        (r#"{"events":[1]}"#, 422, Some("events[0]")),
        (r#"{"events":[{"xdm":[]}]}"#, 422, Some("events[0].xdm")),
        (
            r#"{"events":[{"xdm":{"eventType":7}}]}"#,
            422,
            Some("events[0].xdm.eventType"),
        ),
        (
            r#"{"events":[{"xdm":{"identityMap":{"ECID":[{"id":1}]}}}]}"#,
            422,
            Some("events[0].xdm.identityMap.ECID[0].id"),
        ),
        (
            r#"{"events":[{"xdm":{"identityMap":{"X":[{"id":"a","authenticatedState":"yes"}]}}}]}"#,
            422,
            Some("events[0].xdm.identityMap.X[0].authenticatedState"),
        ),
        (
            r#"{"events":[{"query":{"personalization":{"decisionScopes":"__view__"}}}]}"#,
            422,
            Some("events[0].query.personalization.decisionScopes"),
        ),
        (
            r#"{"events":[{}],"meta":{"state":{"entries":[{"key":"k"}]}}}"#,
            422,
            Some("meta.state.entries[0]"),
        ),
        (
            r#"{"events":[{}],"meta":{"state":{"cookiesEnabled":"yes"}}}"#,
            422,
            Some("meta.state.cookiesEnabled"),
        ),
        (
            r#"{"events":[{}],"meta":{"queueTimeMillis":-1}}"#,
            422,
            Some("meta.queueTimeMillis"),
        ),
        (
            r#"{"events":[{}],"xdm":{"identityMap":[]}}"#,
            422,
            Some("xdm.identityMap"),
        ),
        (
            r#"{"events":[{"xdm":{"a":"\ud800"}}]}"#,
            400,
            Some("events[0].xdm.a"),
        ),
    ];
    let mut wrong = Vec::new();
    for &(body, status, path) in cases {
        let err = interact(body).unwrap_err();
        if (err.status(), err.path()) != (status, path) {
            wrong.push(format!("{body}: {err}"));
        }
        assert_eq!(err.to_problem("r").status, err.status());
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn lenient_where_alloy_is() {
    let req = interact(
        r#"{"events":[{"xdm":{"custom":{"deep":[1,2]}},"data":"anything","unknownEventKey":1,
            "meta":{"x":1},"query":{"other":true}}],"unknownTop":{"a":1},"meta":{"novel":[]}}"#,
    )
    .unwrap();
    assert_eq!(req.extra["unknownTop"]["a"], 1);
    assert_eq!(req.events[0].extra["unknownEventKey"], 1);
    assert_eq!(req.events[0].data, Some("anything".into()));
    assert_eq!(req.meta.extra["novel"], serde_json::json!([]));
    assert_eq!(req.events[0].query.as_ref().unwrap().extra["other"], true);
    // `enabled: false` (authoring mode) asks for nothing.
    let req = interact(r#"{"events":[{"query":{"personalization":{"enabled":false,"decisionScopes":["__view__"]}}}]}"#).unwrap();
    assert!(req.events[0].personalization().is_none());
}

#[test]
fn limits_are_enforced() {
    let limits = Limits::default();
    let big = vec![b' '; MAX_BODY_BYTES + 1];
    for endpoint in ENDPOINTS {
        let err = parse_request(endpoint, &big, &limits).unwrap_err();
        assert_eq!(err.status(), 413);
        assert_eq!(
            err,
            ProtocolError::BodyTooLarge {
                size: MAX_BODY_BYTES + 1,
                limit: MAX_BODY_BYTES
            }
        );
    }
    assert_eq!(check_size(MAX_BODY_BYTES, &limits), Ok(()));

    let deep = format!(
        r#"{{"events":[{{"xdm":{}{}}}]}}"#,
        r#"{"a":"#.repeat(40),
        "}".repeat(40)
    );
    let err = interact(&deep).unwrap_err();
    assert_eq!(err, ProtocolError::TooDeep { limit: MAX_DEPTH });
    assert_eq!(err.status(), 422);
    // The parser's own recursion limit is never reached, even with the scan switched off.
    let very_deep = "[".repeat(100_000);
    let lax = Limits {
        max_depth: usize::MAX,
        max_body_bytes: usize::MAX,
        ..limits
    };
    assert!(parse_interact(very_deep.as_bytes(), &lax).is_err());

    let events = format!(r#"{{"events":[{}]}}"#, vec!["{}"; MAX_EVENTS + 1].join(","));
    let err = interact(&events).unwrap_err();
    assert_eq!((err.status(), err.path()), (422, Some("events")));
    let events = format!(r#"{{"events":[{}]}}"#, vec!["{}"; MAX_EVENTS].join(","));
    assert_eq!(interact(&events).unwrap().events.len(), MAX_EVENTS);

    let ids: Vec<String> = (0..=MAX_IDENTITIES)
        .map(|i| format!(r#"{{"id":"{i}"}}"#))
        .collect();
    let body = format!(
        r#"{{"events":[{{"xdm":{{"identityMap":{{"X":[{}]}}}}}}]}}"#,
        ids.join(",")
    );
    let err = interact(&body).unwrap_err();
    assert_eq!(err.path(), Some("events[0].xdm.identityMap"));

    let scopes: Vec<String> = (0..=MAX_SCOPES).map(|i| format!(r#""s{i}""#)).collect();
    let body = format!(
        r#"{{"events":[{{"query":{{"personalization":{{"decisionScopes":[{}]}}}}}}]}}"#,
        scopes.join(",")
    );
    assert_eq!(
        interact(&body).unwrap_err().path(),
        Some("events[0].query.personalization")
    );

    let entries: Vec<String> = (0..=MAX_STATE_ENTRIES)
        .map(|i| format!(r#"{{"key":"k{i}","value":""}}"#))
        .collect();
    let body = format!(
        r#"{{"events":[{{}}],"meta":{{"state":{{"entries":[{}]}}}}}}"#,
        entries.join(",")
    );
    assert_eq!(
        interact(&body).unwrap_err().path(),
        Some("meta.state.entries")
    );

    let consents =
        vec![r#"{"standard":"Adobe","version":"1.0","value":{"general":"in"}}"#; MAX_CONSENTS + 1];
    let body = format!(r#"{{"consent":[{}]}}"#, consents.join(","));
    assert_eq!(
        parse_consent(body.as_bytes(), &limits).unwrap_err().path(),
        Some("consent")
    );
}

#[test]
fn nasty_strings_never_panic() {
    let nasty = [
        "",
        "\0",
        "%",
        "%%",
        "%e9",
        "%E2%82",
        "=",
        "==",
        "===",
        ";;;",
        "a=b=c",
        "\u{feff}",
        "\u{10ffff}",
        "💥💥💥",
        "/ee/",
        "/ee//",
        "/ee/\u{0}/v1/interact",
        "?",
        "??",
        "&&&=",
        "kndctr_=%",
        "\"",
        "\"\"",
        "web://",
        "https://",
        "http://:",
        "null",
        "CiY",
        "Cg==",
        "CgA=",
        "Cv////////////////8=",
        "/////////////////////w==",
    ];
    let names = CookieNames::new("ORG@AdobeOrg");
    for s in nasty {
        let _ = decode_identity(s);
        let _ = decode_consent(s);
        let _ = header_value(s, &names.identity());
        let _ = classify(s);
        let _ = classify_with_base(s, s);
        let _ = QueryParams::parse(s, Endpoint::Interact);
        let _ = Surface::parse(s);
        let _ = page_surface(s);
        let _ = grants_edge(s);
        let _ = decode_tc_string(s, 0);
        let _ = SameSite::for_origin(Some(s));
        let _ = cors_response_headers(Some(s), &AllowedOrigins::Any);
        let _ = preflight(Some(s), Some(s), &AllowedOrigins::Any);
        let _ = Ecid::parse(s);
        let _ = CookieNames::new(s).identity();
        let mut zero = |b: &mut [u8]| b.fill(0);
        let _ = response_request_id(Some(s), &mut zero);
        for endpoint in ENDPOINTS {
            let _ = parse_request(endpoint, s.as_bytes(), &Limits::default());
        }
    }
}

fn valid_bodies() -> Vec<&'static [u8]> {
    vec![
        include_bytes!("../fixtures/interact-page-load.json"),
        include_bytes!("../fixtures/display-notification.json"),
        include_bytes!("../fixtures/set-consent-adobe-2.json"),
        include_bytes!("../fixtures/server-interact.json"),
    ]
}

proptest! {
    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        for endpoint in ENDPOINTS {
            let _ = parse_request(endpoint, &body, &Limits::default());
        }
    }

    #[test]
    fn mutated_fixtures_never_panic(which in 0usize..4, at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>()) {
        let mut body = valid_bodies()[which].to_vec();
        let i = at.index(body.len());
        if cut { body.truncate(i) } else { body[i] = byte }
        for endpoint in ENDPOINTS {
            if let Ok(request) = parse_request(endpoint, &body, &Limits::default()) {
                // Whatever parsed also serializes.
                let _ = format!("{request:?}");
                if let Request::Interact(r) | Request::Collect(r) = &request {
                    for e in &r.events {
                        let _ = notification(e);
                        let _ = e.xdm.to_value();
                    }
                }
            }
        }
    }

    #[test]
    fn random_strings_never_panic(s in ".{0,128}") {
        let _ = decode_identity(&s);
        let _ = decode_consent(&s);
        let _ = classify(&s);
        let _ = QueryParams::parse(&s, Endpoint::InteractV2);
        let _ = Surface::parse(&s);
        let _ = page_surface(&s);
        let _ = grants_edge(&s);
        let _ = cors_response_headers(Some(&s), &AllowedOrigins::Any);
        let _ = SameSite::for_origin(Some(&s));
    }

    #[test]
    fn identity_cookies_round_trip(bytes in any::<[u8; 16]>()) {
        let ecid = Ecid::from_random(bytes);
        prop_assert!(is_valid_ecid(ecid.as_str()));
        prop_assert_eq!(decode_identity(&encode_identity(&ecid)), Some(ecid));
    }

    #[test]
    fn base64_garbage_in_cookies_is_none_or_an_ecid(raw in proptest::collection::vec(any::<u8>(), 0..64)) {
        let value = crate::base64::encode(&raw);
        if let Some(ecid) = decode_identity(&value) {
            prop_assert!(is_valid_ecid(ecid.as_str()));
        }
    }
}
