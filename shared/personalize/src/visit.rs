//! One visit's decisioning over a profile the caller holds: the notifications and conversions
//! its events carry, then the decision for its scopes. Every profile change is applied to the
//! profile in memory (the caller writes it once, by CAS); report counter increments are
//! returned for the caller to add after the write.

use std::collections::BTreeMap;

use serde_json::Value;
use vantage_decisioning::context::Environment;
use vantage_decisioning::notify::Ignored;
use vantage_decisioning::{
    Activities, EventToken, Notification, ProfileChanges, Proposition, Request, decide, effects,
};
use vantage_kv::Kv;
use vantage_model::Profile;

use crate::conditions::{Conditions, Inputs};

/// What one visit asks.
#[derive(Debug, Clone, Copy)]
pub struct Visit<'a> {
    /// The id visitors are bucketed by (the ECID, else the primary identity).
    pub visitor_id: &'a str,
    /// The scopes to decide (`__view__`, page surfaces, named scopes); none: no decision.
    pub scopes: &'a [String],
    /// Page, referrer, device, geography, local time.
    pub environment: &'a Environment,
    /// The visitor's User-Agent (conditions read it through the context event).
    pub user_agent: &'a str,
    /// The visitor's offset from UTC, minutes east.
    pub offset_minutes: i32,
    /// The XDM of each event of the visit: notifications count exposures and clicks, any
    /// event type can be an activity's conversion.
    pub events: &'a [&'a Value],
    /// Now, ms.
    pub now_ms: i64,
}

/// What a visit produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Propositions in decision order.
    pub propositions: Vec<Proposition>,
    /// Report counter increments (key → delta), to add once the profile is written.
    pub counters: BTreeMap<String, i64>,
    /// Notified propositions that were not counted, and why.
    pub ignored: Vec<Ignored>,
    /// The profile changes made (caps, sticky assignments), already applied to the profile;
    /// a caller that writes another copy of the profile applies them there.
    pub changes: ProfileChanges,
}

/// Runs the visit against the published activities (`store`, read from `kv`: only those the
/// visit concerns) and applies its profile changes to `profile`. Events first, so a display
/// just reported counts against its caps in the decision that follows.
pub fn visit<K: Kv + ?Sized>(
    kv: &K,
    store: &Activities,
    profile: &mut Profile,
    visit: &Visit<'_>,
) -> vantage_model::Result<Outcome> {
    let mut outcome = Outcome::default();
    if !visit.events.is_empty() {
        let notifications: Vec<Notification> = visit
            .events
            .iter()
            .map(|x| Notification::from_xdm(x))
            .collect();
        let named: Vec<String> = notifications
            .iter()
            .flat_map(|n| &n.propositions)
            .filter_map(|p| p.event_token.as_deref())
            .filter_map(|t| EventToken::decode(t).ok())
            .map(|t| t.activity_id)
            .collect();
        // Only activities a notification names or the profile is assigned to can count.
        let ids = named
            .iter()
            .map(String::as_str)
            .chain(profile.sticky.keys().map(String::as_str));
        let catalog = store.for_ids(kv, ids)?;
        for n in &notifications {
            let e = effects(&catalog, n, profile, visit.now_ms);
            // Applied at once, so the next event and the decision see it.
            e.changes.apply(profile);
            outcome.changes.sticky.extend(e.changes.sticky);
            outcome.changes.caps.extend(e.changes.caps);
            for (key, delta) in e.counters {
                *outcome.counters.entry(key).or_default() += delta;
            }
            outcome.ignored.extend(e.ignored);
        }
    }
    if !visit.scopes.is_empty() {
        let catalog = store.for_scopes(kv, visit.scopes)?;
        if !catalog.is_empty() {
            let decision = {
                let inputs = Inputs::new(
                    profile,
                    visit.environment,
                    visit.user_agent,
                    visit.offset_minutes,
                    visit.now_ms,
                );
                let conditions = Conditions::new(&inputs);
                let request = Request {
                    visitor_id: visit.visitor_id,
                    scopes: visit.scopes,
                    profile,
                    environment: visit.environment,
                    now_ms: visit.now_ms,
                };
                decide(&catalog, &request, &conditions)
            };
            decision.changes.apply(profile);
            outcome.changes.sticky.extend(decision.changes.sticky);
            outcome.changes.caps.extend(decision.changes.caps);
            outcome.propositions = decision.propositions;
        }
    }
    Ok(outcome)
}
