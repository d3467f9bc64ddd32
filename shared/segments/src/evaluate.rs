//! Request time: evaluating the edge segments a change can affect for one profile, realizing
//! the results into memberships (source `edge`) and, unless it is a dry run, writing them back
//! in one CAS update of the profile.
//!
//! [`Segments`] holds what one request decoded (the index, then each plan it needed), so a CAS
//! retry re-evaluates without decoding again. [`evaluate`] is the whole request for a caller
//! holding an identity map; [`Segments::evaluate`] works on a profile the caller already holds
//! (the collect component's single read-modify-write).

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use serde_json::Value;
use vantage_kv::Kv;
use vantage_model::profile::membership::{self, Source, Status};
use vantage_model::time::format_rfc3339;
use vantage_model::{Graph, Identity, Outcome, Policy, Profile, ProfileId};
use vantage_pql::{
    Change, Compiled, EvalContext, Event, Membership, MembershipState, evaluate_plans, realize_all,
};

use crate::Error;
use crate::input::CurrentEvent;
use crate::publish::{StoredIndex, decode_plan, read_index};

/// What to evaluate.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The event being collected; it counts as one of the profile's events (same-page).
    pub event: Option<&'a CurrentEvent>,
    /// Profile attribute paths that changed with this request (dotted).
    pub changed_attributes: &'a [String],
    /// Evaluate every edge segment instead of those the change can affect.
    pub full: bool,
    /// [`evaluate`] only: record the current event in the profile's recent events (in the same
    /// write as the memberships), so later evaluations still see it. [`Segments::evaluate`]
    /// never records: its caller owns the profile.
    pub record_event: bool,
    /// The execution instant, ms.
    pub now_ms: i64,
}

/// One membership in an answer: `{"id", "status": "realized|existing|exited", "since",
/// "source"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SegmentStatus {
    /// The segment id.
    pub id: String,
    /// `realized` (entered in this evaluation), `existing` (a member before) or `exited` (left
    /// in this evaluation).
    pub status: MembershipState,
    /// When the profile took this status, RFC 3339.
    pub since: String,
    /// When, ms.
    #[serde(skip)]
    pub since_ms: i64,
    /// Who decided it: `edge`, `streaming`, `batch` or `external`.
    pub source: &'static str,
}

/// The result of one evaluation.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Evaluation {
    /// Current memberships (edge and projected) plus the segments left in this evaluation,
    /// sorted by id.
    pub segments: Vec<SegmentStatus>,
    /// Number of segments evaluated.
    #[serde(skip)]
    pub evaluated: usize,
    /// Whether a membership changed (entered or left).
    #[serde(skip)]
    pub changed: bool,
    /// Whether the memberships were written to the store.
    #[serde(skip)]
    pub written: bool,
    /// Segments whose evaluation failed (they keep their previous membership): id and reason.
    #[serde(skip)]
    pub failed: Vec<(String, String)>,
}

/// The edge segments of the store as one request sees them.
pub struct Segments<'k, K: Kv + ?Sized> {
    kv: &'k K,
    index: Option<StoredIndex>,
    /// Plans decoded so far by position; `None` for a plan that is missing or does not decode
    /// (a concurrent rebuild removed it): that segment is skipped and reported as failed.
    plans: HashMap<u32, Option<Compiled>>,
}

impl<'k, K: Kv + ?Sized> Segments<'k, K> {
    /// Reads the index (no plan yet). A store without one has no edge segments.
    pub fn load(kv: &'k K) -> Result<Self, Error> {
        Ok(Self {
            kv,
            index: read_index(kv)?,
            plans: HashMap::new(),
        })
    }

    /// Number of edge segments.
    pub fn len(&self) -> usize {
        self.index.as_ref().map_or(0, |i| i.index.len())
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Positions the input selects for `profile`.
    fn select(&self, profile: &Profile, input: &Input<'_>) -> Vec<u32> {
        let Some(stored) = &self.index else {
            return Vec::new();
        };
        if input.full {
            return (0..stored.index.len() as u32).collect();
        }
        let change = Change {
            event_types: input
                .event
                .map(|e| vec![e.event.event_type.clone()])
                .unwrap_or_default(),
            attributes: input.changed_attributes.to_vec(),
            segments: Vec::new(),
            // Time passed since the last evaluation: windows relative to now/today may have
            // moved (re-checked for members only where time can only make them leave).
            clock: input.event.is_some() || !input.changed_attributes.is_empty(),
        };
        let is_member = |id: &str| membership::is_member(&profile.memberships, id);
        stored.index.select_with(&change, &is_member)
    }

    /// Fetches and decodes the plans at `positions` not decoded yet, in one batch read.
    fn fetch(&mut self, positions: &[u32]) -> Result<(), Error> {
        let Some(stored) = &self.index else {
            return Ok(());
        };
        let missing: Vec<(u32, String)> = positions
            .iter()
            .filter(|p| !self.plans.contains_key(p))
            .filter_map(|&p| stored.plan_key(p).map(|k| (p, k)))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let keys: Vec<&str> = missing.iter().map(|(_, k)| k.as_str()).collect();
        let values = self.kv.get_many(&keys)?;
        for ((p, _), value) in missing.iter().zip(values) {
            let plan = value.and_then(|b| decode_plan(&b).ok());
            self.plans.insert(*p, plan);
        }
        Ok(())
    }

    /// Evaluates the segments `input` can affect against `profile` and applies the resulting
    /// transitions to its memberships (source `edge`). Nothing is written to the store.
    pub fn evaluate(
        &mut self,
        profile: &mut Profile,
        input: &Input<'_>,
    ) -> Result<Evaluation, Error> {
        let positions = self.select(profile, input);
        self.fetch(&positions)?;
        let mut failed = Vec::new();
        let mut plans: Vec<(&str, &Compiled)> = Vec::with_capacity(positions.len());
        if let Some(stored) = &self.index {
            for &p in &positions {
                let Some(id) = stored.index.id(p) else {
                    continue;
                };
                match self.plans.get(&p) {
                    Some(Some(plan)) => plans.push((id, plan)),
                    _ => failed.push((id.to_owned(), "plan missing from the store".to_owned())),
                }
            }
        }
        let transitions = {
            let events = context_events(profile, input.event, &plans);
            let attributes = profile_json(profile);
            let memberships = &profile.memberships;
            let lookup = |id: &str| {
                memberships.get(id).map(|m| match m.status {
                    Status::Realized => MembershipState::Realized,
                    Status::Exited => MembershipState::Exited,
                })
            };
            let ctx = EvalContext::new(
                &attributes,
                &events,
                input.event.map(|e| &e.event),
                &lookup,
                input.now_ms,
            );
            let mut ok = Vec::with_capacity(plans.len());
            for r in evaluate_plans(&ctx, &plans) {
                match r.result {
                    Ok(q) => ok.push((r.id, q)),
                    Err(e) => failed.push((r.id.to_owned(), e.to_string())),
                }
            }
            let previous = |id: &str| {
                memberships.get(id).map(|m| Membership {
                    status: match m.status {
                        Status::Realized => MembershipState::Realized,
                        Status::Exited => MembershipState::Exited,
                    },
                    since_ms: m.since,
                })
            };
            realize_all(ok, &previous, input.now_ms)
        };
        let mut moved: BTreeSet<String> = BTreeSet::new();
        for t in transitions.iter().filter(|t| t.changed) {
            let status = if t.membership.status.is_member() {
                Status::Realized
            } else {
                Status::Exited
            };
            if membership::transition(
                &mut profile.memberships,
                &t.segment_id,
                status,
                input.now_ms,
                Source::Edge,
            ) {
                moved.insert(t.segment_id.clone());
            }
        }
        Ok(Evaluation {
            segments: answer(profile, &moved),
            evaluated: plans.len(),
            changed: !moved.is_empty(),
            written: false,
            failed,
        })
    }
}

/// The answer's memberships: every current member (`realized` if it entered now, else
/// `existing`) and every segment left now (`exited`).
fn answer(profile: &Profile, moved: &BTreeSet<String>) -> Vec<SegmentStatus> {
    profile
        .memberships
        .iter()
        .filter_map(|(id, m)| {
            let now = moved.contains(id);
            let status = match (m.status, now) {
                (Status::Realized, true) => MembershipState::Realized,
                (Status::Realized, false) => MembershipState::Existing,
                (Status::Exited, true) => MembershipState::Exited,
                (Status::Exited, false) => return None,
            };
            Some(SegmentStatus {
                id: id.clone(),
                status,
                since: format_rfc3339(m.since),
                since_ms: m.since,
                source: m.source.as_str(),
            })
        })
        .collect()
}

/// The profile's attributes as the XDM object PQL paths read, with its `identityMap`.
fn profile_json(profile: &Profile) -> Value {
    let mut json = profile.attributes.to_json();
    if let Value::Object(obj) = &mut json
        && !obj.contains_key("identityMap")
    {
        let mut map = serde_json::Map::new();
        for l in &profile.identities {
            if let Value::Array(items) = map
                .entry(l.identity.namespace().to_owned())
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                items.push(serde_json::json!({"id": l.identity.id()}));
            }
        }
        obj.insert("identityMap".into(), Value::Object(map));
    }
    json
}

/// The stored events the selected plans can read (all of them when one reads events of any
/// type), without the current event's stored twin. Parsing XDM is the main per-event cost, so
/// events no plan can match are skipped.
fn context_events(
    profile: &Profile,
    current: Option<&CurrentEvent>,
    plans: &[(&str, &Compiled)],
) -> Vec<Event> {
    let any = plans.iter().any(|(_, p)| p.deps.any_event);
    let types: BTreeSet<String> = plans
        .iter()
        .flat_map(|(_, p)| p.deps.event_types.iter().map(|t| t.to_lowercase()))
        .collect();
    if !any && types.is_empty() {
        return Vec::new();
    }
    let current_id = current.map(|c| c.id.as_str());
    profile
        .events
        .iter()
        .filter(|e| Some(e.id.as_str()) != current_id)
        .filter(|e| any || types.contains(&e.kind.to_lowercase()))
        .map(|e| Event {
            timestamp_ms: e.ts,
            event_type: e.kind.clone(),
            xdm: serde_json::from_str(&e.xdm).unwrap_or(Value::Null),
        })
        .collect()
}

/// Evaluates for the first of `identities` (primary first) that has a profile, or for an empty
/// anonymous profile of the first one. Unless `dry_run`, changed memberships (and the current
/// event, with [`Input::record_event`]) are written in one CAS update of the profile
/// (re-evaluated on the fresh profile if it moved meanwhile), so concurrent evaluations never
/// lose each other's memberships. A request that changes nothing writes nothing (and creates
/// no profile).
pub fn evaluate<K: Kv + ?Sized>(
    kv: &K,
    identities: &[Identity],
    input: &Input<'_>,
    dry_run: bool,
    policy: &Policy,
) -> Result<Evaluation, Error> {
    let graph = Graph::new(kv, policy);
    let mut found = None;
    for identity in identities {
        if let Some(p) = graph.lookup(identity, input.now_ms)? {
            found = Some((identity, p));
            break;
        }
    }
    let (target, snapshot) = match found {
        Some(f) => f,
        None => {
            let first = identities.first().ok_or(Error::NoIdentity)?;
            let empty = Profile::new(
                ProfileId::primary(first),
                first.clone(),
                input.now_ms,
                input.now_ms,
                policy,
            );
            (first, empty)
        }
    };
    let mut engine = Segments::load(kv)?;
    let mut working = snapshot.clone();
    let first = engine.evaluate(&mut working, input)?;
    let record = |p: &mut Profile| match input.event {
        Some(e) if input.record_event => p.push_event(stored_event(e), input.now_ms, policy),
        _ => false,
    };
    let recorded = record(&mut working);
    if dry_run || !(first.changed || recorded) {
        return Ok(first);
    }
    let mut last: Option<Evaluation> = None;
    let mut failure: Option<Error> = None;
    let outcome = graph.update(target, input.now_ms, input.now_ms, |p| {
        if *p == snapshot {
            p.memberships.clone_from(&working.memberships);
            p.events.clone_from(&working.events);
            last = Some(first.clone());
            return Ok(true);
        }
        // The profile moved since it was read: evaluate again on what is stored now.
        match engine.evaluate(p, input) {
            Ok(e) => {
                let changed = e.changed | record(p);
                last = Some(e);
                Ok(changed)
            }
            Err(e) => {
                failure = Some(e);
                Ok(false)
            }
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    let mut result = last.unwrap_or(first);
    result.written = outcome == Outcome::Changed;
    Ok(result)
}

/// The current event as the profile keeps it.
fn stored_event(e: &CurrentEvent) -> vantage_model::profile::Event {
    vantage_model::profile::Event {
        ts: e.event.timestamp_ms,
        id: e.id.clone(),
        kind: e.event.event_type.clone(),
        xdm: e.event.xdm.to_string(),
    }
}

/// A stored membership, as the memberships route shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredMembership {
    /// The segment id.
    pub id: String,
    /// `realized` or `exited`.
    pub status: &'static str,
    /// When it took that status, RFC 3339.
    pub since: String,
    /// `edge`, `streaming`, `batch` or `external`.
    pub source: &'static str,
}

/// The current memberships of `identity`'s profile (edge and projected, including exits), or
/// `None` when it has no live profile. Read-only.
pub fn memberships<K: Kv + ?Sized>(
    kv: &K,
    identity: &Identity,
    now_ms: i64,
    policy: &Policy,
) -> Result<Option<Vec<StoredMembership>>, Error> {
    let Some(profile) = Graph::new(kv, policy).lookup(identity, now_ms)? else {
        return Ok(None);
    };
    Ok(Some(
        profile
            .memberships
            .iter()
            .map(|(id, m)| StoredMembership {
                id: id.clone(),
                status: m.status.as_str(),
                since: format_rfc3339(m.since),
                source: m.source.as_str(),
            })
            .collect(),
    ))
}
