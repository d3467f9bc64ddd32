//! An index over many compiled segments: which ones can change when an event of type T
//! arrives, an attribute path changes, a referenced membership changes or time passes, so an
//! evaluation costs in proportion to the relevant segments, not the catalog size. Segments are
//! kept in dependency order so segment-of-segments sees fresh results of the same pass.

use crate::compile::Compiled;
use crate::context::{EvalContext, MembershipState};
use crate::error::EvalError;
use crate::graph::{CycleError, dependency_order};
use crate::realize::{Membership, Transition, realize_all};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::OnceLock;

/// One segment in a catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogEntry {
    /// The segment id.
    pub id: String,
    /// Its compiled definition.
    pub compiled: Compiled,
}

/// What changed for a profile, to select the segments worth evaluating.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    /// Types of events that arrived.
    pub event_types: Vec<String>,
    /// Attribute paths that changed (dotted; `""` means the whole profile).
    pub attributes: Vec<String>,
    /// Segment ids whose membership changed outside this catalog (projected from the hub).
    pub segments: Vec<String>,
    /// Time passed since the last evaluation (re-check windows relative to now/today).
    /// Segments that time can only make a profile leave are re-checked only for current
    /// members (see [`CatalogIndex::select_with`]).
    pub clock: bool,
}

impl Change {
    /// A change caused by one event.
    pub fn event(event_type: &str) -> Self {
        Change {
            event_types: vec![event_type.to_string()],
            ..Change::default()
        }
    }

    /// Adds a changed attribute path.
    pub fn with_attribute(mut self, path: &str) -> Self {
        self.attributes.push(path.to_string());
        self
    }

    /// Everything may have changed (full re-evaluation).
    pub fn everything() -> Self {
        Change {
            attributes: vec![String::new()],
            clock: true,
            ..Change::default()
        }
    }
}

/// The result of evaluating one selected segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentResult<'c> {
    /// The segment id.
    pub id: &'c str,
    /// Whether the profile qualifies, or why evaluation failed.
    pub result: Result<bool, EvalError>,
}

/// The dependency index of a catalog, without the plans: small enough to decode on every
/// request, so a component can select the relevant segments first and then fetch only their
/// plans (stored one per key) instead of decoding the whole catalog.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CatalogIndex {
    ids: Vec<String>,
    /// Id → position; not stored (rebuilt from `ids` on first use) to keep the encoded
    /// index small.
    #[serde(skip)]
    positions: OnceLock<HashMap<String, u32>>,
    by_event_type: HashMap<String, Vec<u32>>,
    any_event: Vec<u32>,
    by_attribute_root: HashMap<String, Vec<(String, u32)>>,
    whole_profile: Vec<u32>,
    dependents: HashMap<String, Vec<u32>>,
    dynamic_segments: Vec<u32>,
    time_sensitive: Vec<u32>,
    /// Subset of `time_sensitive` whose members can only leave as time passes.
    time_exit_only: Vec<u32>,
}

/// Compiled segments in dependency order, with their [`CatalogIndex`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    index: CatalogIndex,
    entries: Vec<CatalogEntry>,
}

fn root_of(path: &str) -> &str {
    path.split('.').next().unwrap_or("")
}

/// Whether a change at `changed` can affect a read of `read` (one is a prefix of the other at
/// a field boundary).
fn related(changed: &str, read: &str) -> bool {
    let (short, long) = if changed.len() <= read.len() {
        (changed, read)
    } else {
        (read, changed)
    };
    long.starts_with(short) && (long.len() == short.len() || long.as_bytes()[short.len()] == b'.')
}

impl Catalog {
    /// Builds the index, rejecting reference cycles. Later duplicates of an id replace earlier
    /// ones.
    pub fn build(
        defs: impl IntoIterator<Item = (String, Compiled)>,
    ) -> Result<Catalog, CycleError> {
        let mut uniq: Vec<(String, Compiled)> = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (id, c) in defs {
            match seen.get(&id) {
                Some(&i) => uniq[i] = (id, c),
                None => {
                    seen.insert(id.clone(), uniq.len());
                    uniq.push((id, c));
                }
            }
        }
        let graph: Vec<(&str, Vec<&str>)> = uniq
            .iter()
            .map(|(id, c)| {
                (
                    id.as_str(),
                    c.deps.segments.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        let order = dependency_order(&graph)?;
        let mut slots: Vec<Option<(String, Compiled)>> = uniq.into_iter().map(Some).collect();
        let mut cat = Catalog::default();
        for i in order {
            let Some((id, compiled)) = slots.get_mut(i).and_then(Option::take) else {
                continue;
            };
            let pos = cat.entries.len() as u32;
            let d = &compiled.deps;
            for t in &d.event_types {
                cat.index
                    .by_event_type
                    .entry(t.to_lowercase())
                    .or_default()
                    .push(pos);
            }
            if d.any_event {
                cat.index.any_event.push(pos);
            }
            for a in &d.attributes {
                if a.is_empty() {
                    cat.index.whole_profile.push(pos);
                } else {
                    cat.index
                        .by_attribute_root
                        .entry(root_of(a).to_string())
                        .or_default()
                        .push((a.clone(), pos));
                }
            }
            for s in &d.segments {
                cat.index.dependents.entry(s.clone()).or_default().push(pos);
            }
            if d.dynamic_segments {
                cat.index.dynamic_segments.push(pos);
            }
            if d.time_sensitive && d.time_can_qualify {
                cat.index.time_sensitive.push(pos);
            } else if d.time_sensitive {
                cat.index.time_exit_only.push(pos);
            }
            cat.index.ids.push(id.clone());
            cat.entries.push(CatalogEntry { id, compiled });
        }
        Ok(cat)
    }

    /// Number of segments.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the catalog is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Segments in dependency order (referenced segments first).
    pub fn entries(&self) -> &[CatalogEntry] {
        &self.entries
    }

    /// One segment by id.
    pub fn get(&self, id: &str) -> Option<&Compiled> {
        self.index
            .position(id)
            .and_then(|p| self.entries.get(p as usize))
            .map(|e| &e.compiled)
    }

    /// The dependency index.
    pub fn index(&self) -> &CatalogIndex {
        &self.index
    }

    /// Splits into the index and the entries, to store them separately.
    pub fn into_parts(self) -> (CatalogIndex, Vec<CatalogEntry>) {
        (self.index, self.entries)
    }

    /// See [`CatalogIndex::select`].
    pub fn select(&self, change: &Change) -> Vec<u32> {
        self.index.select(change)
    }

    /// See [`CatalogIndex::select_with`].
    pub fn select_with(&self, change: &Change, is_member: &dyn Fn(&str) -> bool) -> Vec<u32> {
        self.index.select_with(change, is_member)
    }

    /// See [`CatalogIndex::depending_on_event_type`].
    pub fn depending_on_event_type(&self, event_type: &str) -> Vec<&str> {
        self.index.depending_on_event_type(event_type)
    }

    /// See [`CatalogIndex::depending_on_attribute`].
    pub fn depending_on_attribute(&self, path: &str) -> Vec<&str> {
        self.index.depending_on_attribute(path)
    }

    /// Evaluates the segments at `positions` (from [`Catalog::select`]) in order. A segment
    /// that references another segment evaluated earlier in the same pass sees the fresh
    /// result; other references go to the context's membership callback (stored edge and
    /// projected memberships).
    pub fn evaluate<'c>(
        &'c self,
        ctx: &EvalContext<'_>,
        positions: &[u32],
    ) -> Vec<SegmentResult<'c>> {
        let plans: Vec<(&str, &Compiled)> = positions
            .iter()
            .filter_map(|&p| self.entries.get(p as usize))
            .map(|e| (e.id.as_str(), &e.compiled))
            .collect();
        evaluate_plans(ctx, &plans)
    }
}

impl Catalog {
    /// Evaluates the segments at `positions` and realizes the results against the previous
    /// memberships (`previous(id)`), at the context's `now`. Segments whose evaluation fails
    /// keep their previous membership and are returned with the error instead.
    pub fn realize_selected(
        &self,
        ctx: &EvalContext<'_>,
        positions: &[u32],
        previous: &dyn Fn(&str) -> Option<Membership>,
    ) -> (Vec<Transition>, Vec<(String, EvalError)>) {
        let mut ok = Vec::new();
        let mut failed = Vec::new();
        for r in self.evaluate(ctx, positions) {
            match r.result {
                Ok(q) => ok.push((r.id, q)),
                Err(e) => failed.push((r.id.to_string(), e)),
            }
        }
        (realize_all(ok, previous, ctx.now_ms()), failed)
    }
}

impl CatalogIndex {
    /// Number of segments indexed.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The id at a position.
    pub fn id(&self, position: u32) -> Option<&str> {
        self.ids.get(position as usize).map(String::as_str)
    }

    /// The position of an id.
    pub fn position(&self, id: &str) -> Option<u32> {
        self.positions
            .get_or_init(|| {
                self.ids
                    .iter()
                    .enumerate()
                    .map(|(i, id)| (id.clone(), i as u32))
                    .collect()
            })
            .get(id)
            .copied()
    }

    /// Positions (into [`Catalog::entries`] and [`CatalogIndex::id`], ascending = dependency order) of the segments
    /// whose result can differ after `change`, including segments that reference them.
    pub fn select(&self, change: &Change) -> Vec<u32> {
        self.select_with(change, &|_| true)
    }

    /// Like [`CatalogIndex::select`]; `is_member(id)` tells whether the profile is currently a
    /// member, so that on a clock change "within the last N hours" segments are re-checked
    /// only where they can expire.
    pub fn select_with(&self, change: &Change, is_member: &dyn Fn(&str) -> bool) -> Vec<u32> {
        let n = self.ids.len();
        let mut hit = vec![false; n];
        let mut mark = |list: &[u32]| {
            for &p in list {
                if let Some(h) = hit.get_mut(p as usize) {
                    *h = true;
                }
            }
        };
        if !change.event_types.is_empty() {
            mark(&self.any_event);
        }
        for t in &change.event_types {
            if let Some(v) = self.by_event_type.get(&t.to_lowercase()) {
                mark(v);
            }
        }
        for a in &change.attributes {
            if a.is_empty() {
                mark(&self.whole_profile);
                for v in self.by_attribute_root.values() {
                    for (_, p) in v {
                        mark(std::slice::from_ref(p));
                    }
                }
                continue;
            }
            mark(&self.whole_profile);
            if let Some(v) = self.by_attribute_root.get(root_of(a)) {
                for (read, p) in v {
                    if related(a, read) {
                        mark(std::slice::from_ref(p));
                    }
                }
            }
        }
        for s in &change.segments {
            if let Some(v) = self.dependents.get(s) {
                mark(v);
            }
        }
        if !change.segments.is_empty() {
            mark(&self.dynamic_segments);
        }
        if change.clock {
            mark(&self.time_sensitive);
            for &p in &self.time_exit_only {
                if self.ids.get(p as usize).is_some_and(|id| is_member(id)) {
                    mark(std::slice::from_ref(&p));
                }
            }
        }
        // Propagate to segments of segments. Dependents always sit later in the order, so
        // one forward pass reaches the transitive closure.
        let mut any = false;
        for i in 0..n {
            if !hit[i] {
                continue;
            }
            any = true;
            if let Some(v) = self.dependents.get(&self.ids[i]) {
                for &p in v {
                    if let Some(h) = hit.get_mut(p as usize) {
                        *h = true;
                    }
                }
            }
        }
        if any {
            for &p in &self.dynamic_segments {
                if let Some(h) = hit.get_mut(p as usize) {
                    *h = true;
                }
            }
        }
        (0..n as u32).filter(|&i| hit[i as usize]).collect()
    }

    /// Ids of segments that pin an event type (case-insensitively), plus those matching any
    /// event.
    pub fn depending_on_event_type(&self, event_type: &str) -> Vec<&str> {
        self.ids(&self.select(&Change::event(event_type)))
    }

    /// Ids of segments reading an attribute path related to `path`.
    pub fn depending_on_attribute(&self, path: &str) -> Vec<&str> {
        self.ids(&self.select(&Change::default().with_attribute(path)))
    }

    fn ids(&self, positions: &[u32]) -> Vec<&str> {
        positions
            .iter()
            .filter_map(|&p| self.ids.get(p as usize).map(String::as_str))
            .collect()
    }
}

/// Evaluates plans in the given order (dependency order, as selected from a
/// [`CatalogIndex`]); a plan referencing an earlier one with `inSegment` sees its fresh result,
/// other references go to the context's membership callback.
pub fn evaluate_plans<'c>(
    ctx: &EvalContext<'_>,
    plans: &[(&'c str, &'c Compiled)],
) -> Vec<SegmentResult<'c>> {
    let mut fresh: HashMap<&'c str, bool> = HashMap::new();
    let mut out = Vec::with_capacity(plans.len());
    for &(id, compiled) in plans {
        let overlay = |sid: &str| match fresh.get(sid) {
            Some(true) => Some(MembershipState::Realized),
            Some(false) => Some(MembershipState::Exited),
            None => ctx.membership_of(sid),
        };
        let result = compiled.evaluate_with_membership(ctx, &overlay);
        if let Ok(q) = result {
            fresh.insert(id, q);
        }
        out.push(SegmentResult { id, result });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::compile;
    use crate::context::Event;

    fn cat(defs: &[(&str, &str)]) -> Catalog {
        let compiled = defs.iter().map(|(id, src)| match compile(src) {
            Ok(c) => (id.to_string(), c),
            Err(e) => panic!("{src}: {e}"),
        });
        match Catalog::build(compiled) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn selects_by_event_attribute_and_reference() {
        let c = cat(&[
            (
                "buyer",
                "chain(xEvent, timestamp, [A: WHAT(eventType = \"commerce.purchases\") WHEN(today)])",
            ),
            (
                "viewer",
                "chain(xEvent, timestamp, [A: WHAT(eventType.equals(\"Web.PageView\", false)) WHEN(today)])",
            ),
            ("us", "homeAddress.countryCode = \"US\""),
            ("us-buyer", "inSegment(\"us\") and inSegment(\"buyer\")"),
            ("any", "xEvent.any(timestamp occurs < 1 hours before now)"),
        ]);
        fn sorted(mut v: Vec<&str>) -> Vec<&str> {
            v.sort_unstable();
            v
        }
        assert_eq!(
            sorted(c.depending_on_event_type("commerce.purchases")),
            vec!["any", "buyer", "us-buyer"]
        );
        assert_eq!(
            sorted(c.depending_on_event_type("web.pageview")),
            vec!["any", "viewer"]
        );
        assert_eq!(
            sorted(c.depending_on_attribute("homeAddress")),
            vec!["us", "us-buyer"]
        );
        assert_eq!(
            sorted(c.depending_on_attribute("homeAddress.countryCode.x")),
            vec!["us", "us-buyer"]
        );
        assert!(c.depending_on_attribute("homeAddressX").is_empty());
        assert!(
            c.entries().iter().position(|e| e.id == "us")
                < c.entries().iter().position(|e| e.id == "us-buyer")
        );
    }

    #[test]
    fn clock_changes_recheck_expiring_members_only() {
        let c = cat(&[
            (
                "recent",
                "chain(xEvent, timestamp, [A: WHAT(eventType = \"x\") WHEN(< 2 hours before now)])",
            ),
            ("birthday", "birthDate occurs today"),
            ("static", "tier = \"gold\""),
        ]);
        let clock = Change {
            clock: true,
            ..Change::default()
        };
        let ids = |p: Vec<u32>| -> Vec<String> {
            p.iter()
                .filter_map(|&i| c.index().id(i).map(String::from))
                .collect()
        };
        assert_eq!(ids(c.select_with(&clock, &|_| false)), vec!["birthday"]);
        assert_eq!(
            ids(c.select_with(&clock, &|id| id == "recent")),
            vec!["recent", "birthday"]
        );
    }

    #[test]
    fn rejects_cycles() {
        let a = compile("inSegment(\"b\")");
        let b = compile("inSegment(\"a\")");
        let (Ok(a), Ok(b)) = (a, b) else { panic!() };
        let e = Catalog::build([("a".to_string(), a), ("b".to_string(), b)]).err();
        assert!(e.is_some_and(|e| e.path.len() == 3));
    }

    #[test]
    fn segment_of_segments_sees_fresh_results() {
        let c = cat(&[
            ("us-buyer", "inSegment(\"us\") and inSegment(\"buyer\")"),
            (
                "buyer",
                "chain(xEvent, timestamp, [A: WHAT(eventType = \"buy\") WHEN(today)])",
            ),
        ]);
        let profile = serde_json::json!({});
        let ev = Event {
            timestamp_ms: 1_000_000,
            event_type: "buy".into(),
            xdm: serde_json::json!({}),
        };
        let hub = |id: &str| (id == "us").then_some(MembershipState::Realized);
        let ctx = EvalContext::new(&profile, &[], Some(&ev), &hub, 1_000_500);
        let sel = c.select(&Change::event("buy"));
        let r = c.evaluate(&ctx, &sel);
        assert_eq!(
            r.iter()
                .map(|r| (r.id, r.result.clone()))
                .collect::<Vec<_>>(),
            vec![("buyer", Ok(true)), ("us-buyer", Ok(true))]
        );
        let before = |id: &str| {
            (id == "us-buyer").then_some(Membership {
                status: MembershipState::Realized,
                since_ms: 5,
            })
        };
        let (t, failed) = c.realize_selected(&ctx, &sel, &before);
        assert!(failed.is_empty());
        let summary: Vec<(&str, MembershipState, i64)> = t
            .iter()
            .map(|t| {
                (
                    t.segment_id.as_str(),
                    t.membership.status,
                    t.membership.since_ms,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("buyer", MembershipState::Realized, 1_000_500),
                ("us-buyer", MembershipState::Existing, 5)
            ]
        );
    }
}
