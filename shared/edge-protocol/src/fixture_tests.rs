//! Round trips of the protocol reference's own JSON examples (`fixtures/`): each parses, the
//! fields the edge acts on read as the reference says, and serializing gives back the same JSON.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::*;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../fixtures/", $name))
    };
}

const ORG: &str = "ABCDEF0123456789ABCDEF01@AdobeOrg";
const DOC_ECID: &str = "12345678901234567890123456789012345678";

fn limits() -> Limits {
    Limits::default()
}

/// Parses `text` as `T` and checks that it serializes back to the same JSON value.
fn round_trip<T: Serialize + DeserializeOwned>(text: &str) -> T {
    let parsed: T = parse_json(text.as_bytes(), &limits()).unwrap();
    let original: Value = serde_json::from_str(text).unwrap();
    assert_eq!(serde_json::to_value(&parsed).unwrap(), original);
    parsed
}

#[test]
fn page_load_interact() {
    let text = fixture!("interact-page-load.json");
    let req: InteractRequest = round_trip(text);
    let req2 = parse_interact(text.as_bytes(), &limits()).unwrap();
    assert_eq!(req, req2);
    assert_eq!(req.events.len(), 1);
    let event = &req.events[0];
    assert_eq!(
        event.xdm.event_type.as_deref(),
        Some("web.webpagedetails.pageViews")
    );
    assert_eq!(event.xdm.page_url(), Some("https://localhost/"));
    assert_eq!(event.xdm.referrer(), Some(""));
    assert_eq!(
        event.xdm.pointer("/placeContext/ianaTimezone"),
        Some(&json!("UTC"))
    );
    let p = event.personalization().unwrap();
    assert!(p.wants_view());
    assert_eq!(p.decision_scopes, ["offer-scope", "__view__"]);
    assert_eq!(p.surfaces, ["web://localhost/"]);
    assert!(Surface::parse(&p.surfaces[0]).unwrap().is_page());
    assert_eq!(
        page_surface(event.xdm.page_url().unwrap()).as_deref(),
        Some("web://localhost/")
    );
    assert!(!event.is_notification());
    assert_eq!(req.identity_fetch(), ["ECID"]);
    assert_eq!(req.meta.queue_time_millis, Some(44));
    let state = req.meta.state.as_ref().unwrap();
    assert_eq!(
        (state.domain.as_deref(), state.cookies_enabled),
        (Some(""), Some(true))
    );
    assert!(req.meta.entries().is_empty());
    // The XDM travels on as sent.
    let sent: Value = serde_json::from_str(text).unwrap();
    assert_eq!(event.xdm.to_value(), sent["events"][0]["xdm"]);
}

#[test]
fn personalization_query_lists_the_eight_schemas() {
    let event: Event = round_trip(fixture!("personalization-query.json"));
    let p = event.personalization().unwrap();
    assert_eq!(p.schemas.len(), 8);
    assert!(p.accepts_schema("https://ns.adobe.com/personalization/dom-action"));
    assert!(p.wants_view());
}

#[test]
fn display_notification() {
    let req: InteractRequest = round_trip(fixture!("display-notification.json"));
    let event = &req.events[0];
    assert!(event.is_notification());
    assert!(event.personalization().is_none());
    let n = notification(event).unwrap();
    assert_eq!(n.kinds, [NotificationKind::Display]);
    assert_eq!(n.propositions.len(), 1);
    let p = &n.propositions[0];
    assert_eq!((p.id, p.scope), ("prop-view-1", "__view__"));
    assert_eq!(p.event_token(), Some("tok-view-1"));
    assert_eq!(p.activity_id(), Some("1001"));
    assert_eq!(p.experience_id(), Some("0"));
    assert_eq!(req.meta.entries()[0].key, "kndctr_…_identity");
}

#[test]
fn click_notification() {
    let req: InteractRequest = round_trip(fixture!("click-notification.json"));
    let n = notification(&req.events[0]).unwrap();
    assert_eq!(n.kinds, [NotificationKind::Interact]);
    assert_eq!(n.label, Some("<data-aep-click-label / trackingLabel>"));
    assert_eq!(n.tokens, ["<data-aep-click-token>"]);
    // No query: the identity fetch defaults to what alloy always asks.
    assert_eq!(req.identity_fetch(), ["ECID"]);
}

#[test]
fn acquire() {
    let text = fixture!("acquire.json");
    let req: AcquireRequest = round_trip(text);
    assert_eq!(req.identity_fetch(), ["ECID"]);
    assert!(req.identity_map().is_none());
    assert_eq!(
        parse_acquire(b"", &limits()).unwrap(),
        AcquireRequest::default()
    );
    assert_eq!(
        parse_request(Endpoint::Acquire, text.as_bytes(), &limits()).unwrap(),
        Request::Acquire(req)
    );
}

#[test]
fn set_consent_forms() {
    let req: ConsentRequest = round_trip(fixture!("set-consent-adobe-1.json"));
    req.validate(&limits()).unwrap();
    assert_eq!(req.general(), General::In);
    assert_eq!(
        req.forms(),
        [ConsentForm::Adobe1 {
            general: General::In
        }]
    );

    let req: ConsentRequest = round_trip(fixture!("set-consent-adobe-2.json"));
    req.validate(&limits()).unwrap();
    assert_eq!(
        req.forms(),
        [ConsentForm::Adobe2 {
            collect: ConsentVal::Y,
            personalize: Some(ConsentVal::Y)
        }]
    );
    assert_eq!(
        req.identity_map.as_ref().unwrap().ecid().unwrap().as_str(),
        DOC_ECID
    );

    // The doc's placeholder is not a decodable TC string: stored as given, read as "out".
    let req: ConsentRequest = round_trip(fixture!("set-consent-iab.json"));
    req.validate(&limits()).unwrap();
    assert_eq!(req.consent[0].value, "<tcString>");
    assert_eq!(req.general(), General::Out);
    let names = CookieNames::new(ORG);
    assert_eq!(
        names.consent_entry(req.general(), None).value,
        "general=out"
    );
}

#[test]
fn state_entries_carry_the_identity_cookie() {
    let req = parse_interact(fixture!("meta-state.json").as_bytes(), &limits()).unwrap();
    let names = CookieNames::new(ORG);
    let inputs = IdentityInputs {
        entries: req.meta.entries(),
        ..Default::default()
    };
    let (ecid, source) = find_ecid(&names, &inputs).unwrap();
    assert_eq!((ecid.as_str(), source), (DOC_ECID, EcidSource::StateEntry));
}

#[test]
fn migration_ecid_is_adopted_without_a_cookie() {
    let req: InteractRequest = round_trip(fixture!("migration.json"));
    let names = CookieNames::new(ORG);
    let inputs = IdentityInputs {
        entries: req.meta.entries(),
        cookie_header: None,
        request_map: req.identity_map(),
        event_map: req.events[0].xdm.identity_map.as_ref(),
    };
    let (ecid, source) = find_ecid(&names, &inputs).unwrap();
    assert_eq!(ecid.as_str(), "22222222222222222222222222222222222222");
    assert_eq!(source, EcidSource::Migration);
    let event_map = req.events[0].xdm.identity_map.as_ref().unwrap();
    assert_eq!(event_map.primary().unwrap().namespace, "Email_LC_SHA256");
    let overrides = req.meta.config_overrides.as_ref().unwrap();
    assert_eq!(overrides["com_adobe_analytics"]["reportSuites"][0], "rs1");
}

#[test]
fn server_interact_is_a_batch_of_one() {
    let text = fixture!("server-interact.json");
    let req: ServerInteractRequest = round_trip(text);
    let Request::ServerInteract(parsed) =
        parse_request(Endpoint::InteractV2, text.as_bytes(), &limits()).unwrap()
    else {
        panic!("wrong variant");
    };
    assert_eq!(*parsed, req);
    let batch = InteractRequest::from(req);
    assert_eq!(batch.events.len(), 1);
    assert!(batch.events[0].personalization().unwrap().wants_view());
    assert_eq!(
        batch.events[0]
            .xdm
            .identity_map
            .as_ref()
            .unwrap()
            .primary()
            .unwrap()
            .item
            .id,
        DOC_ECID
    );
    // v1 bodies are not v2 bodies and vice versa.
    let v1 = fixture!("interact-page-load.json");
    let err = parse_request(Endpoint::InteractV2, v1.as_bytes(), &limits()).unwrap_err();
    assert_eq!(err.status(), 422);
    let err = parse_request(Endpoint::Interact, text.as_bytes(), &limits()).unwrap_err();
    assert_eq!(err.status(), 422);
}

#[test]
fn response_example_round_trips() {
    let text = fixture!("response.json");
    let resp: Response = serde_json::from_str(text).unwrap();
    let original: Value = serde_json::from_str(text).unwrap();
    assert_eq!(serde_json::to_value(&resp).unwrap(), original);
    assert_eq!(resp.status(), 207);
    let stored: Vec<StoreEntry> = resp.items(STATE_STORE).unwrap();
    assert_eq!(stored[0].max_age, IDENTITY_MAX_AGE);
    assert_eq!(stored[0].attrs.unwrap().same_site, SameSite::None);
    assert_eq!(stored[1].attrs, None);
    let ids: Vec<IdentityResult> = resp.items(IDENTITY_RESULT).unwrap();
    assert_eq!(ids[0].namespace.code, "ECID");
    let hints: Vec<LocationHint> = resp.items(LOCATION_HINT_RESULT).unwrap();
    assert_eq!(hints[0], LocationHint::edge("or2"));
    let props: Vec<Value> = resp.items(PERSONALIZATION_DECISIONS).unwrap();
    assert_eq!(props[0]["scopeDetails"]["decisionProvider"], "TGT");
    assert_eq!(resp.handle[0].event_index, Some(0));
    assert_eq!(resp.errors[0].report["eventIndex"], 0);
    assert_eq!(resp.warnings[0].report["cause"]["code"], 202);
}

#[test]
fn a_first_visit_answer_built_from_parts() {
    let names = CookieNames::new(ORG);
    let mut zero = |buf: &mut [u8]| buf.fill(0x42);
    let req = parse_interact(fixture!("interact-page-load.json").as_bytes(), &limits()).unwrap();
    let inputs = IdentityInputs {
        entries: req.meta.entries(),
        request_map: req.identity_map(),
        ..Default::default()
    };
    let (ecid, source) = resolve_ecid(&names, &inputs, &mut zero);
    assert_eq!(source, EcidSource::Issued);
    let proposition: Value = serde_json::from_str(
        &serde_json::from_str::<Value>(fixture!("response.json")).unwrap()["handle"][0]["payload"]
            [0]
        .to_string(),
    )
    .unwrap();
    let same_site = SameSite::for_origin(Some("https://localhost"));
    let mut resp = Response::new(response_request_id(Some("33f0be0b"), &mut zero));
    resp.push(Handle::identity_result(&[IdentityResult::ecid(&ecid)]).unwrap())
        .push(Handle::state_store(&[names.identity_entry(&ecid, Some(same_site))]).unwrap())
        .push(Handle::decisions(&[proposition], 0).unwrap());
    assert_eq!(resp.status(), 200);
    let body: Value = serde_json::from_str(&resp.to_json().unwrap()).unwrap();
    assert_eq!(body["requestId"], "33f0be0b-4242424242424242");
    assert_eq!(
        body["handle"][0],
        json!({"type": "identity:result",
        "payload": [{"id": ecid.as_str(), "namespace": {"code": "ECID"}}]})
    );
    let cookie = &body["handle"][1]["payload"][0];
    assert_eq!(
        cookie["key"],
        "kndctr_ABCDEF0123456789ABCDEF01_AdobeOrg_identity"
    );
    assert_eq!(
        decode_identity(cookie["value"].as_str().unwrap()),
        Some(ecid)
    );
    assert_eq!(cookie["attrs"]["SameSite"], "None");
    assert_eq!(body["handle"][2]["eventIndex"], 0);
    assert!(body.get("errors").is_none() && body.get("warnings").is_none());
}

#[test]
fn same_site_by_page_origin() {
    assert_eq!(
        SameSite::for_origin(Some("https://shop.example")),
        SameSite::None
    );
    assert_eq!(
        SameSite::for_origin(Some("http://localhost:8080")),
        SameSite::None
    );
    assert_eq!(
        SameSite::for_origin(Some("http://shop.example")),
        SameSite::Lax
    );
    assert_eq!(
        SameSite::for_origin(Some("http://shop.example:80")),
        SameSite::Lax
    );
    assert_eq!(SameSite::for_origin(None), SameSite::None);
}
