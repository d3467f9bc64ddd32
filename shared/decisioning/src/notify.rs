//! Notifications: `decisioning.propositionDisplay` / `propositionInteract` events carrying
//! propositions back (`adobe-edge-protocol.md` §5.3–5.4), and conversion events, turned into
//! profile changes (cap counters, the exposure's sticky assignment) and report counter
//! increments ([`crate::report_keys`]). Attribution reads the event token, since alloy echoes
//! only `{id, scope, scopeDetails}` and never the items.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;
use vantage_model::Profile;

use crate::catalog::Catalog;
use crate::changes::{CapHit, ProfileChanges, StickyWrite};
use crate::frequency;
use crate::model::{Activity, Offer};
use crate::report_keys::{self, CounterDelta, Metric};
use crate::token::EventToken;

/// `eventType` of an automatic display notification.
pub const DISPLAY_EVENT: &str = "decisioning.propositionDisplay";
/// `eventType` of a click notification.
pub const INTERACT_EVENT: &str = "decisioning.propositionInteract";

/// A proposition as a notification carries it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notified {
    /// Its id.
    pub id: String,
    /// Its scope.
    pub scope: String,
    /// `scopeDetails.characteristics.eventToken`.
    pub event_token: Option<String>,
}

/// What one event says about propositions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// The event's `eventType` (also matched against conversion event types).
    pub event_type: String,
    /// The propositions were displayed.
    pub display: bool,
    /// The propositions were clicked.
    pub interact: bool,
    /// The propositions carried.
    pub propositions: Vec<Notified>,
}

impl Notification {
    /// Reads an event's XDM. A display is `propositionEventType.display` (also when alloy
    /// folds it into another event) or a `decisioning.propositionDisplay` event; likewise for
    /// interact. Suppressed displays count as neither.
    pub fn from_xdm(xdm: &Value) -> Notification {
        let event_type = xdm
            .get("eventType")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let decisioning = xdm.pointer("/_experience/decisioning");
        let flag = |name: &str| {
            decisioning
                .and_then(|d| d.pointer(&format!("/propositionEventType/{name}")))
                .is_some_and(|v| v.as_i64() == Some(1) || v.as_bool() == Some(true))
        };
        let propositions = decisioning
            .and_then(|d| d.get("propositions"))
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .map(|p| Notified {
                        id: text(p.get("id")),
                        scope: text(p.get("scope")),
                        event_token: p
                            .pointer("/scopeDetails/characteristics/eventToken")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Notification {
            display: flag("display") || event_type == DISPLAY_EVENT,
            interact: flag("interact") || event_type == INTERACT_EVENT,
            event_type,
            propositions,
        }
    }
}

fn text(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// A proposition that was not counted, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ignored {
    /// The proposition id.
    pub proposition_id: String,
    /// Why.
    pub reason: String,
}

/// What an event changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Effects {
    /// Profile changes: cap counters of displayed offers, and the sticky assignment of a first
    /// exposure (so `xt` conversions can be attributed).
    pub changes: ProfileChanges,
    /// Report counter increments, one per key.
    pub counters: Vec<CounterDelta>,
    /// Propositions not counted.
    pub ignored: Vec<Ignored>,
}

/// What an event does. `catalog` must hold the activities the event names and those the
/// profile has sticky assignments for ([`Catalog::for_ids`]); an activity missing from it
/// still gets its exposures and clicks counted, but no caps.
///
/// Each activity+experience is counted once per event, however many scopes it displayed;
/// each offer's cap once per event.
pub fn effects(
    catalog: &Catalog,
    notification: &Notification,
    profile: &Profile,
    now_ms: i64,
) -> Effects {
    let mut effects = Effects::default();
    let mut counters: BTreeMap<String, i64> = BTreeMap::new();
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    let mut capped: BTreeSet<String> = BTreeSet::new();
    if notification.display || notification.interact {
        for n in &notification.propositions {
            let token = match n.event_token.as_deref().map(EventToken::decode) {
                Some(Ok(token)) if token.preview => {
                    effects.ignored.push(ignored(n, "preview"));
                    continue;
                }
                Some(Ok(token)) => token,
                Some(Err(e)) => {
                    effects.ignored.push(ignored(n, &e.to_string()));
                    continue;
                }
                None => {
                    effects.ignored.push(ignored(n, "no event token"));
                    continue;
                }
            };
            let first = seen.insert((token.activity_id.clone(), token.experience_id.clone()));
            let activity = catalog.get(&token.activity_id).map(|p| &p.activity);
            if first {
                let metrics = [
                    (notification.display, Metric::Exposures),
                    (notification.interact, Metric::Clicks),
                ];
                for (_, metric) in metrics.into_iter().filter(|(on, _)| *on) {
                    let key =
                        report_keys::counter(&token.activity_id, &token.experience_id, metric);
                    *counters.entry(key).or_default() += 1;
                }
            }
            if !notification.display {
                continue;
            }
            if let Some(a) = activity {
                if first && !profile.sticky.contains_key(&a.id) {
                    effects.changes.sticky.push(StickyWrite {
                        activity_id: a.id.clone(),
                        experience_id: token.experience_id.clone(),
                        bucket_version: a.bucketing.version,
                        at: now_ms,
                        replace: false,
                    });
                }
                for offer_id in &token.offer_ids {
                    let Some(offer) = find_offer(a, &token.experience_id, offer_id) else {
                        continue;
                    };
                    let key = frequency::offer_key(&a.id, offer_id);
                    if !offer.caps.is_empty() && capped.insert(key.clone()) {
                        effects.changes.caps.push(CapHit { key, at: now_ms });
                    }
                }
            }
        }
    }
    for p in catalog.iter() {
        let a = &p.activity;
        if a.conversion_event_type.as_deref() != Some(notification.event_type.as_str()) {
            continue;
        }
        if let Some(assignment) = profile.sticky.get(&a.id) {
            let key = report_keys::counter(&a.id, &assignment.experience, Metric::Conversions);
            *counters.entry(key).or_default() += 1;
        }
    }
    effects.counters = counters.into_iter().collect();
    effects
}

fn ignored(n: &Notified, reason: &str) -> Ignored {
    Ignored {
        proposition_id: n.id.clone(),
        reason: reason.to_owned(),
    }
}

/// An offer of the experience, or a fallback, by id.
fn find_offer<'a>(a: &'a Activity, experience_id: &str, offer_id: &str) -> Option<&'a Offer> {
    a.experience(experience_id)
        .and_then(|e| e.offers.iter().find(|o| o.id == offer_id))
        .or_else(|| a.fallbacks.values().find(|o| o.id == offer_id))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::condition::NoConditions;
    use crate::engine::{Decision, Request, decide};
    use crate::fixtures::{NOW, activity, dom, echo, env, profile};
    use crate::preview::{Forced, preview};
    use crate::proposition::Proposition;

    fn catalog() -> Catalog {
        let mut capped = dom("hero-b");
        capped["caps"] = json!([{"count": 3, "per": "week"}]);
        Catalog::new([
            activity(
                json!({"id": "ab", "activityType": "ab", "scopes": ["__view__", "side"],
                "conversionEventType": "commerce.purchases",
                "experiences": [{"id": "b", "allocation": 100, "offers": [capped, dom("plain")]}]}),
            ),
            activity(
                json!({"id": "xt", "activityType": "xt", "scopes": ["__view__"],
                "conversionEventType": "commerce.purchases",
                "experiences": [{"id": "all", "offers": [dom("x")]}]}),
            ),
        ])
    }

    fn decide_view(c: &Catalog, p: &Profile) -> Decision {
        let env = env();
        let scopes = vec!["__view__".to_owned(), "side".to_owned()];
        decide(
            c,
            &Request {
                visitor_id: "v",
                scopes: &scopes,
                profile: p,
                environment: &env,
                now_ms: NOW,
            },
            &NoConditions,
        )
    }

    #[test]
    fn parses_alloy_notifications() {
        let xdm = json!({"eventType": "decisioning.propositionDisplay", "_experience": {"decisioning": {
            "propositions": [{"id": "prop-view-1", "scope": "__view__", "scopeDetails": {
                "decisionProvider": "TGT", "activity": {"id": "1001"}, "experience": {"id": "0"},
                "characteristics": {"eventToken": "tok-view-1"}, "correlationID": "1001:0:0"}}],
            "propositionEventType": {"display": 1}}}});
        let n = Notification::from_xdm(&xdm);
        assert!(n.display && !n.interact);
        assert_eq!(
            n.propositions,
            [Notified {
                id: "prop-view-1".into(),
                scope: "__view__".into(),
                event_token: Some("tok-view-1".into())
            }]
        );
        // Folded into a page view with includeRenderedPropositions.
        let mut folded = xdm.clone();
        folded["eventType"] = json!("web.webpagedetails.pageViews");
        assert!(Notification::from_xdm(&folded).display);
        let click = json!({"eventType": "decisioning.propositionInteract"});
        assert!(Notification::from_xdm(&click).interact);
        let junk = Notification::from_xdm(&json!([1, 2]));
        assert!(!junk.display && !junk.interact && junk.propositions.is_empty());
    }

    #[test]
    fn display_click_and_conversion_counters() {
        let c = catalog();
        let mut p = profile();
        let d = decide_view(&c, &p);
        assert_eq!(d.propositions.len(), 3);
        d.changes.apply(&mut p);
        assert!(!p.sticky.contains_key("xt"));

        let display = Notification::from_xdm(&echo(&d.propositions, DISPLAY_EVENT, "display"));
        let fx = effects(&c, &display, &p, NOW);
        assert_eq!(
            fx.counters,
            [
                ("report/ab/b/exposures".to_owned(), 1),
                ("report/xt/all/exposures".to_owned(), 1)
            ]
        );
        // Only the offer with a cap is counted, once although two scopes showed it.
        assert_eq!(
            fx.changes.caps,
            [CapHit {
                key: "offer/ab/hero-b".into(),
                at: NOW
            }]
        );
        // The xt exposure is remembered so conversions can be attributed to it.
        assert_eq!(fx.changes.sticky.len(), 1);
        assert_eq!(fx.changes.sticky[0].activity_id, "xt");
        assert!(fx.ignored.is_empty());
        fx.changes.apply(&mut p);

        let click = Notification::from_xdm(&echo(&d.propositions[..1], INTERACT_EVENT, "interact"));
        let fx = effects(&c, &click, &p, NOW);
        assert_eq!(fx.counters, [("report/ab/b/clicks".to_owned(), 1)]);
        assert!(fx.changes.is_empty());

        let purchase = Notification::from_xdm(&json!({"eventType": "commerce.purchases"}));
        let fx = effects(&c, &purchase, &p, NOW);
        assert_eq!(
            fx.counters,
            [
                ("report/ab/b/conversions".to_owned(), 1),
                ("report/xt/all/conversions".to_owned(), 1)
            ]
        );
        // A visitor never assigned converts for nobody.
        assert!(effects(&c, &purchase, &profile(), NOW).counters.is_empty());
    }

    #[test]
    fn previews_and_foreign_tokens_are_never_counted() {
        let c = catalog();
        let p = profile();
        let env = env();
        let scopes = vec!["__view__".to_owned()];
        let req = Request {
            visitor_id: "v",
            scopes: &scopes,
            profile: &p,
            environment: &env,
            now_ms: NOW,
        };
        let forced = Forced {
            activity_id: "ab",
            experience_id: "b",
        };
        let mut props: Vec<Proposition> = preview(&c, &req, forced).unwrap();
        let mut foreign = props[0].clone();
        foreign.id = "foreign".into();
        foreign.scope_details.characteristics.event_token = "tok-view-1".into();
        props.push(foreign);
        let n = Notification::from_xdm(&echo(&props, DISPLAY_EVENT, "display"));
        let fx = effects(&c, &n, &p, NOW);
        assert!(fx.counters.is_empty() && fx.changes.is_empty());
        let reasons: Vec<&str> = fx.ignored.iter().map(|i| i.reason.as_str()).collect();
        assert_eq!(reasons, ["preview", "not a Vantage event token"]);
    }
}
