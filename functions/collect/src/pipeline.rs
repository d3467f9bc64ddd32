//! The interact pipeline on one profile, inside its single CAS update: append the events (XDM
//! as sent, plus what the edge knows: User-Agent, geography), update counters and category
//! affinity, evaluate edge segments with each event as the current one (same-page), apply
//! notifications and decide for the requested scopes. Pure over the profile: the caller reads
//! and writes it once, and may run this again on a fresher profile when the write loses a race.

use serde_json::Value;
use vantage_decisioning::Activities;
use vantage_decisioning::context::Environment;
use vantage_kv::Kv;
use vantage_model::profile::{Event, consent};
use vantage_model::{Policy, Profile};
use vantage_personalize::{Outcome, Visit};
use vantage_segments::{CurrentEvent, Evaluation, Input, Segments};

/// A session ends after this much inactivity (category affinity is halved at its end).
pub const SESSION_GAP_MS: i64 = 30 * 60 * 1000;
/// Event type whose product categories feed category affinity.
pub const PRODUCT_VIEWS: &str = "commerce.productViews";
/// Consent purpose of collection in the profile.
pub const COLLECT: &str = "collect";
/// Consent purpose of personalization in the profile.
pub const PERSONALIZE: &str = "personalize";

/// One event of the request, prepared.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// Its XDM, enriched.
    pub xdm: Value,
    /// The engine's view of it and its id; `None` for a notification (not kept as behaviour).
    pub current: Option<CurrentEvent>,
}

/// What the pipeline needs besides the profile.
pub struct Step<'a, 'k, K: Kv + ?Sized> {
    /// Edge segments of the store (plans decoded once, kept across CAS retries).
    pub segments: &'a mut Segments<'k, K>,
    /// Published activities (read from the store as the visit needs them).
    pub activities: &'a Activities,
    /// The store.
    pub kv: &'k K,
    /// The events.
    pub events: &'a [Incoming],
    /// Scopes to decide (none on `collect`).
    pub scopes: &'a [String],
    /// The environment of the request.
    pub environment: &'a Environment,
    /// The User-Agent.
    pub user_agent: &'a str,
    /// Offset from UTC, minutes east.
    pub offset_minutes: i32,
    /// The bucketing id.
    pub visitor_id: &'a str,
    /// Now, ms.
    pub now_ms: i64,
    /// Retention and size rules.
    pub policy: &'a Policy,
}

/// What the pipeline produced.
#[derive(Debug, Default)]
pub struct Produced {
    /// Segment evaluations, one per behavioural event.
    pub evaluations: Vec<Evaluation>,
    /// Notifications, conversions and the decision.
    pub outcome: Outcome,
    /// The profile refuses personalization (consent purpose `personalize` is `n`).
    pub personalization_refused: bool,
}

/// Runs the pipeline on `profile`. Segment failures are reported in the evaluations, never
/// fatal: a broken segment must not stop collection.
pub fn run<K: Kv + ?Sized>(
    profile: &mut Profile,
    step: &mut Step<'_, '_, K>,
) -> Result<Produced, vantage_segments::Error> {
    let mut produced = Produced::default();
    for incoming in step.events {
        let Some(current) = &incoming.current else {
            continue;
        };
        record(profile, current, &incoming.xdm, step.now_ms, step.policy);
        let evaluation = step.segments.evaluate(
            profile,
            &Input {
                event: Some(current),
                changed_attributes: &[],
                full: false,
                record_event: false,
                now_ms: step.now_ms,
            },
        )?;
        produced.evaluations.push(evaluation);
    }
    let personalize = consent::allows(&profile.consent, PERSONALIZE);
    produced.personalization_refused = !personalize;
    let xdms: Vec<&Value> = step.events.iter().map(|e| &e.xdm).collect();
    let scopes: &[String] = if personalize { step.scopes } else { &[] };
    produced.outcome = vantage_personalize::visit(
        step.kv,
        step.activities,
        profile,
        &Visit {
            visitor_id: step.visitor_id,
            scopes,
            environment: step.environment,
            user_agent: step.user_agent,
            offset_minutes: step.offset_minutes,
            events: &xdms,
            now_ms: step.now_ms,
        },
    )?;
    profile.touch(step.now_ms, step.policy);
    Ok(produced)
}

/// Appends one behavioural event: a new session halves category affinity; the event type's
/// counter; product categories of a product view feed affinity.
fn record(profile: &mut Profile, current: &CurrentEvent, xdm: &Value, now: i64, policy: &Policy) {
    let ts = current.event.timestamp_ms;
    let last = profile.events.iter().next_back().map(|e| e.ts);
    if last.is_some_and(|l| ts - l > SESSION_GAP_MS) {
        profile.affinity.end_session();
    }
    // A replayed event (same id) counts once.
    let replay = profile.events.iter().any(|e| e.id == current.id);
    profile.push_event(
        Event {
            ts,
            id: current.id.clone(),
            kind: current.event.event_type.clone(),
            xdm: xdm.to_string(),
        },
        now,
        policy,
    );
    if replay {
        return;
    }
    profile.add_counter(&current.event.event_type, 1);
    if current.event.event_type == PRODUCT_VIEWS {
        for category in product_categories(xdm) {
            profile.affinity.view(&category, ts);
        }
    }
}

/// The categories of the products in an XDM event: `productListItems[].productCategories[]`
/// (`categoryID`, else `categoryName`), or the older single `productCategory`; at most 8.
pub fn product_categories(xdm: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let items = xdm
        .get("productListItems")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for item in items {
        let listed = item
            .get("productCategories")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|c| {
                c.get("categoryID")
                    .or_else(|| c.get("categoryName"))
                    .and_then(Value::as_str)
            });
        let single = item.get("productCategory").and_then(Value::as_str);
        for c in listed.chain(single) {
            let c = c.trim();
            if !c.is_empty() && c.len() <= 128 && !out.iter().any(|o| o == c) && out.len() < 8 {
                out.push(c.to_owned());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn categories_from_both_shapes() {
        let xdm = json!({"productListItems": [
            {"SKU": "a", "productCategories": [{"categoryID": "shoes"}, {"categoryName": "Sale"}]},
            {"SKU": "b", "productCategory": "shoes"},
            {"SKU": "c", "productCategory": "hats"},
            {"SKU": "d", "productCategories": "not a list"}
        ]});
        assert_eq!(product_categories(&xdm), ["shoes", "Sale", "hats"]);
        assert!(product_categories(&json!({})).is_empty());
    }
}
