//! Static analysis of a definition: what it depends on (event types, profile attribute paths,
//! segment ids, the clock) and which evaluation method it is eligible for (edge, streaming or
//! batch), following the reference platform's rules (pql.md §6.5).

use crate::ast::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// What a definition reads, so a catalog can skip segments an event or attribute change cannot
/// affect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependencies {
    /// Event types pinned by event conditions (`eventType = "x"`), as written.
    pub event_types: BTreeSet<String>,
    /// Some event condition matches events of any type (no `eventType` pin).
    pub any_event: bool,
    /// Profile attribute paths read, dotted (`homeAddress.countryCode`). The empty string
    /// means "the whole profile".
    pub attributes: BTreeSet<String>,
    /// Segment ids referenced with `inSegment("…")`.
    pub segments: BTreeSet<String>,
    /// Some `inSegment(…)` argument is computed, so any membership change may matter.
    pub dynamic_segments: bool,
    /// The result can change with the passage of time alone (windows relative to now or today,
    /// `currentMonth()`, …), so memberships need periodic re-evaluation.
    pub time_sensitive: bool,
    /// Time alone can make the profile *enter* (date conditions on attributes, negated or
    /// counted event windows). When false, a time-sensitive segment can only be left as time
    /// passes (a "within the last N hours" window), so only current members need re-checking.
    pub time_can_qualify: bool,
}

/// Evaluation methods, best first. Edge-eligible definitions are also streaming-eligible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Eligibility {
    /// Real-time at the edge (and streaming).
    Edge,
    /// Streaming on the hub, not at the edge.
    Streaming,
    /// Scheduled batch only.
    Batch,
}

impl Eligibility {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Eligibility::Edge => "edge",
            Eligibility::Streaming => "streaming",
            Eligibility::Batch => "batch",
        }
    }
}

/// An eligibility with the reason a marketer reads in the validation answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    /// The best method the definition qualifies for.
    pub eligibility: Eligibility,
    /// Why.
    pub reason: String,
    /// The definition reads only profile attributes (no events, no segments). Segments that
    /// combine events with `inSegment` stay eligible when every referenced audience is
    /// profile-only.
    pub profile_only: bool,
}

/// How one event step is bounded in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WindowClass {
    None,
    Within24h,
    Other,
}

#[derive(Debug, Clone)]
struct StepInfo {
    window: WindowClass,
}

#[derive(Debug, Clone)]
struct EventQuery {
    steps: Vec<StepInfo>,
    negated: bool,
    aggregated: bool,
    frequency: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Profile,
    Event,
    Other,
}

/// The result of analysing one expression.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// Dependencies.
    pub deps: Dependencies,
    queries: Vec<EventQuery>,
}

/// Analyses an expression.
pub fn analyze(e: &Expr) -> Analysis {
    let mut w = Walker {
        deps: Dependencies::default(),
        queries: Vec::new(),
        implicit: vec![Kind::Profile],
        env: Vec::new(),
        negated: false,
        aggregate: false,
        in_aggregate: false,
        in_event_step: false,
    };
    w.walk(e);
    Analysis {
        deps: w.deps,
        queries: w.queries,
    }
}

impl Analysis {
    /// Classifies assuming nothing about referenced segments (an event combined with
    /// `inSegment` is then batch).
    pub fn classify(&self) -> Classification {
        self.classify_with(&|_| false)
    }

    /// Classifies; `is_profile_only(id)` says whether a referenced segment is profile-only,
    /// which keeps "event + inSegment" definitions eligible (the platform's exception).
    pub fn classify_with(&self, is_profile_only: &dyn Fn(&str) -> bool) -> Classification {
        let d = &self.deps;
        let has_events = !self.queries.is_empty();
        let has_segments = !d.segments.is_empty() || d.dynamic_segments;
        let with_profile = if d.attributes.is_empty() {
            ""
        } else {
            " with profile attributes"
        };
        let c = |eligibility, reason: String| Classification {
            eligibility,
            reason,
            profile_only: false,
        };
        if !has_events && !has_segments {
            return Classification {
                eligibility: Eligibility::Edge,
                reason: "profile only: reads profile attributes alone (evaluated on every request at the edge)".into(),
                profile_only: true,
            };
        }
        if !has_events {
            return c(
                Eligibility::Edge,
                format!("segment of segments{with_profile}: combines audience memberships"),
            );
        }
        if has_segments {
            let all_profile_only =
                !d.dynamic_segments && d.segments.iter().all(|s| is_profile_only(s));
            if !all_profile_only {
                return c(
                    Eligibility::Batch,
                    "an event condition combined with inSegment() is batch only (unless every referenced audience is profile-only); split it and combine audiences with inSegment()".into(),
                );
            }
        }
        if self.queries.iter().any(|q| q.aggregated) {
            return c(
                Eligibility::Batch,
                "aggregation over event history (count, sum, average, min, max or forall over xEvent) is batch only".into(),
            );
        }
        let steps: Vec<&StepInfo> = self.queries.iter().flat_map(|q| &q.steps).collect();
        if steps.iter().any(|s| s.window == WindowClass::None) {
            return c(
                Eligibility::Batch,
                "an event condition without a time window is batch only (since the 20 May 2025 rules); add WHEN(< 24 hours before now) or WHEN(today)".into(),
            );
        }
        if steps.iter().any(|s| s.window == WindowClass::Other) {
            return c(
                Eligibility::Batch,
                "an event time window longer than 24 hours, or a calendar/absolute window, is batch only; edge and streaming need WHEN(today) or WHEN(< N hours before now) with N <= 24".into(),
            );
        }
        if self.queries.iter().all(|q| q.negated) {
            return c(
                Eligibility::Batch,
                "a negated event condition needs at least one non-negated event to be evaluated in real time".into(),
            );
        }
        if self.queries.iter().any(|q| q.frequency) {
            return c(
                Eligibility::Streaming,
                "frequency condition (COUNT) within 24 hours: streaming; not an edge query type under the current rules".into(),
            );
        }
        if self.queries.iter().any(|q| q.negated) {
            return c(
                Eligibility::Streaming,
                "negated event within 24 hours: streaming; not an edge query type under the current rules".into(),
            );
        }
        if steps.len() > 1 {
            return c(
                Eligibility::Streaming,
                format!(
                    "multiple events within 24 hours{with_profile}: streaming; removed from the edge query types in 2025"
                ),
            );
        }
        c(
            Eligibility::Edge,
            format!("single event within 24 hours{with_profile}"),
        )
    }
}

struct Walker {
    deps: Dependencies,
    queries: Vec<EventQuery>,
    implicit: Vec<Kind>,
    env: Vec<(String, Kind)>,
    negated: bool,
    aggregate: bool,
    in_aggregate: bool,
    in_event_step: bool,
}

fn is_xevent(e: &Expr) -> bool {
    matches!(e, Expr::Path(Path { base: Base::XEvent, fields }) if fields.is_empty())
}

/// `xEvent` or `xEvent[cond]`: returns the filter condition, if any.
fn xevent_source(e: &Expr) -> Option<Option<&Expr>> {
    match e {
        _ if is_xevent(e) => Some(None),
        Expr::Index { target, index } if is_xevent(target) => Some(Some(index)),
        _ => None,
    }
}

fn conjuncts(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::And(items) => items.iter().flat_map(conjuncts).collect(),
        other => vec![other],
    }
}

fn class_of(o: &Occurs) -> WindowClass {
    match o {
        Occurs::On(Anchor::Today) => WindowClass::Within24h,
        Occurs::Relative {
            cmp: CmpOp::Lt | CmpOp::Le,
            n,
            unit,
            dir: Dir::Before,
            anchor: Anchor::Now,
        } => {
            let ms: u64 = match unit {
                Unit::Millisecond => 1,
                Unit::Second => 1000,
                Unit::Minute => 60_000,
                Unit::Hour => 3_600_000,
                Unit::Day => 86_400_000,
                _ => u64::MAX,
            };
            if u64::from(*n).saturating_mul(ms) <= 86_400_000 {
                WindowClass::Within24h
            } else {
                WindowClass::Other
            }
        }
        _ => WindowClass::Other,
    }
}

/// The tightest window among conjuncts `subject.timestamp occurs …` of `conds`.
fn window_of(conds: &[&Expr], is_subject: &dyn Fn(&Path) -> bool) -> WindowClass {
    let mut best = WindowClass::None;
    for c in conds.iter().flat_map(|c| conjuncts(c)) {
        if let Expr::Occurs { subject, when } = c
            && let Expr::Path(p) = &**subject
            && is_subject(p)
            && p.fields.last().is_some_and(|f| f == "timestamp")
        {
            match class_of(when) {
                WindowClass::Within24h => best = WindowClass::Within24h,
                WindowClass::Other if best == WindowClass::None => best = WindowClass::Other,
                _ => {}
            }
        }
    }
    best
}

fn uses_clock(a: &Anchor) -> bool {
    !matches!(a, Anchor::Expr(_))
}

impl Walker {
    fn clock(&mut self, can_qualify: bool) {
        self.deps.time_sensitive = true;
        self.deps.time_can_qualify |= can_qualify;
    }

    fn record(&mut self, steps: Vec<StepInfo>, aggregated: bool, frequency: bool) {
        self.queries.push(EventQuery {
            steps,
            negated: self.negated,
            aggregated: aggregated || self.aggregate,
            frequency,
        });
    }

    fn type_hint(&mut self, conds: &[&Expr], is_subject: &dyn Fn(&Path) -> bool) {
        let hint = conds
            .iter()
            .find_map(|c| crate::eval::event_type_hint(c, is_subject));
        match hint {
            Some((t, _)) => {
                self.deps.event_types.insert(t.to_string());
            }
            None => self.deps.any_event = true,
        }
    }

    fn with_implicit(&mut self, k: Kind, f: impl FnOnce(&mut Self)) {
        self.implicit.push(k);
        f(self);
        self.implicit.pop();
    }

    fn event_step(&mut self, conds: &[&Expr], aggregated: bool) {
        let elem = |p: &Path| matches!(p.base, Base::Implicit(0)) && p.fields.len() == 1;
        let window = window_of(conds, &elem);
        self.type_hint(conds, &elem);
        let in_agg = self.in_aggregate;
        self.in_aggregate |= aggregated || self.aggregate;
        self.record(vec![StepInfo { window }], aggregated, false);
        let agg = std::mem::replace(&mut self.aggregate, false);
        let in_step = std::mem::replace(&mut self.in_event_step, true);
        for c in conds {
            self.with_implicit(Kind::Event, |w| w.walk(c));
        }
        self.in_event_step = in_step;
        self.in_aggregate = in_agg;
        self.aggregate = agg;
    }

    fn walk(&mut self, e: &Expr) {
        match e {
            Expr::Null | Expr::Bool(_) | Expr::Num(_) | Expr::Str(_) => {}
            Expr::Now | Expr::Today | Expr::Yesterday | Expr::Tomorrow => self.clock(true),
            Expr::List(items) => items.iter().for_each(|i| self.walk(i)),
            Expr::Path(p) => self.path(p),
            Expr::Index { target, index } => {
                if let Some(cond) = xevent_source(e) {
                    let conds: Vec<&Expr> = cond.into_iter().collect();
                    self.event_step(&conds, false);
                } else {
                    self.walk(target);
                    if !matches!(**index, Expr::Num(_) | Expr::Str(_)) {
                        self.with_implicit(Kind::Other, |w| w.walk(index));
                    }
                }
            }
            Expr::Method {
                target,
                method,
                args,
            } => self.method(target, *method, args),
            Expr::Call { func, args } => {
                match func {
                    Func::InSegment => match args.first() {
                        Some(Expr::Str(id)) => {
                            self.deps.segments.insert(id.clone());
                        }
                        _ => self.deps.dynamic_segments = true,
                    },
                    Func::CurrentMonth
                    | Func::CurrentYear
                    | Func::CurrentDayOfMonth
                    | Func::CurrentDate => self.clock(true),
                    Func::Date | Func::If => {}
                }
                args.iter().for_each(|a| self.walk(a));
            }
            Expr::Not(inner) => {
                self.negated = !self.negated;
                self.walk(inner);
                self.negated = !self.negated;
            }
            Expr::Neg(inner) => self.walk(inner),
            Expr::And(items) | Expr::Or(items) => items.iter().for_each(|i| self.walk(i)),
            Expr::Binary { lhs, rhs, .. } => {
                self.walk(lhs);
                self.walk(rhs);
            }
            Expr::Occurs { subject, when } => {
                self.walk(subject);
                self.occurs(when);
            }
            Expr::Query(q) => self.query(q),
            Expr::Chain(steps) => {
                let mut infos = Vec::new();
                let elem = |p: &Path| matches!(p.base, Base::Implicit(0)) && p.fields.len() == 1;
                let mut frequency = false;
                for s in steps {
                    let window = s.when.as_ref().map_or(WindowClass::None, class_of);
                    frequency |= s.count.is_some_and(|n| n > 1);
                    self.type_hint(&[&s.what], &elem);
                    infos.push(StepInfo { window });
                }
                self.record(infos, false, frequency);
                let agg = std::mem::replace(&mut self.aggregate, false);
                for s in steps {
                    let in_step = std::mem::replace(&mut self.in_event_step, true);
                    self.with_implicit(Kind::Event, |w| w.walk(&s.what));
                    if let Some(o) = &s.when {
                        self.occurs(o);
                    }
                    self.in_event_step = in_step;
                    if let Some(c) = &s.where_ {
                        self.walk(c);
                    }
                }
                self.aggregate = agg;
            }
            Expr::Let { name, value, body } => {
                self.walk(value);
                self.env.push((name.clone(), Kind::Other));
                self.walk(body);
                self.env.pop();
            }
            Expr::Lambda { params, body } => {
                let base = self.env.len();
                for (i, p) in params.iter().enumerate() {
                    let k = if i == 0 { Kind::Profile } else { Kind::Other };
                    self.env.push((p.clone(), k));
                }
                self.walk(body);
                self.env.truncate(base);
            }
        }
    }

    fn occurs(&mut self, o: &Occurs) {
        let anchors: Vec<&Anchor> = match o {
            Occurs::Relative { anchor, .. } => vec![anchor],
            Occurs::Before(a) | Occurs::After(a) | Occurs::On(a) => vec![a],
            Occurs::Between(a, b) => vec![a, b],
        };
        // "Within the last N" windows only close as time passes, unless negated or counted.
        let recent = matches!(
            o,
            Occurs::On(Anchor::Today)
                | Occurs::Relative {
                    cmp: CmpOp::Lt | CmpOp::Le,
                    dir: Dir::Before,
                    anchor: Anchor::Now,
                    ..
                }
        );
        // Event timestamps are in the past; attribute dates may lie in the future and enter.
        let exit_only = recent && self.in_event_step && !self.negated && !self.in_aggregate;
        let can_qualify = !exit_only;
        for a in anchors {
            if uses_clock(a) {
                self.clock(can_qualify);
            }
            if let Anchor::Expr(e) = a {
                self.walk(e);
            }
        }
    }

    fn path(&mut self, p: &Path) {
        let kind = match &p.base {
            Base::Implicit(n) => {
                let len = self.implicit.len();
                len.checked_sub(1 + *n as usize)
                    .map_or(Kind::Other, |i| self.implicit[i])
            }
            Base::Var(v) => self
                .env
                .iter()
                .rev()
                .find(|(k, _)| k == v)
                .map_or(Kind::Other, |(_, k)| *k),
            Base::Param(1) => Kind::Profile,
            Base::Param(_) => Kind::Other,
            Base::XEvent => {
                // A bare path over events (`xEvent.device.model`): one unbounded step.
                self.event_step(&[], false);
                return;
            }
            Base::Expr(e) => {
                self.walk(e);
                Kind::Other
            }
        };
        if kind == Kind::Profile {
            self.deps.attributes.insert(p.fields.join("."));
        }
    }

    fn method(&mut self, target: &Expr, method: Method, args: &[Expr]) {
        use Method::*;
        if let Some(cond) = xevent_source(target) {
            let mut conds: Vec<&Expr> = cond.into_iter().collect();
            let aggregated = match method {
                Exists | Any => {
                    if let Some(a) = args.first() {
                        conds.push(a);
                    }
                    false
                }
                _ => true,
            };
            self.event_step(&conds, aggregated);
            let rest = if matches!(method, Exists | Any) {
                args.get(1..).unwrap_or(&[])
            } else {
                args
            };
            for (i, a) in rest.iter().enumerate() {
                if i == 0 && method.element_wise() && !matches!(method, Exists | Any) {
                    self.with_implicit(Kind::Event, |w| w.walk(a));
                } else {
                    self.walk(a);
                }
            }
            return;
        }
        let counts = matches!(
            method,
            Count | Sum | Average | Min | Max | All | TopN | BottomN
        );
        let prev = self.aggregate;
        if counts && matches!(target, Expr::Query(_)) {
            self.aggregate = true;
        }
        self.walk(target);
        self.aggregate = prev;
        for (i, a) in args.iter().enumerate() {
            if i == 0 && method.element_wise() {
                self.with_implicit(Kind::Other, |w| w.walk(a));
            } else {
                self.walk(a);
            }
        }
    }

    fn query(&mut self, q: &Query) {
        let aggregated = !matches!(q.kind, QueryKind::Select | QueryKind::Exists);
        let mut steps = Vec::new();
        for b in &q.bindings {
            if is_xevent(&b.source) {
                let var = b.var.clone();
                let subj = move |p: &Path| {
                    matches!(&p.base, Base::Var(v) if *v == var) && p.fields.len() == 1
                };
                let conds: Vec<&Expr> = b.cond.iter().collect();
                let window = window_of(&conds, &subj);
                self.type_hint(&conds, &subj);
                steps.push(StepInfo { window });
            }
        }
        if !steps.is_empty() {
            self.record(steps, aggregated, false);
        }
        let in_agg = self.in_aggregate;
        self.in_aggregate |= aggregated || self.aggregate;
        let agg = std::mem::replace(&mut self.aggregate, false);
        let base = self.env.len();
        for b in &q.bindings {
            let kind = if is_xevent(&b.source) {
                Kind::Event
            } else {
                self.walk(&b.source);
                Kind::Other
            };
            self.env.push((b.var.clone(), kind));
            if let Some(c) = &b.cond {
                let in_step = self.in_event_step;
                self.in_event_step |= kind == Kind::Event;
                self.walk(c);
                self.in_event_step = in_step;
            }
        }
        match &q.kind {
            QueryKind::Sum(v) | QueryKind::Average(v) | QueryKind::Min(v) | QueryKind::Max(v) => {
                self.walk(v)
            }
            _ => {}
        }
        self.env.truncate(base);
        self.aggregate = agg;
        self.in_aggregate = in_agg;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;

    fn class(s: &str) -> Eligibility {
        match parse(s) {
            Ok(e) => analyze(&e).classify().eligibility,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn eligibility_rules() {
        use Eligibility::*;
        assert_eq!(class("homeAddress.countryCode = \"US\""), Edge);
        assert_eq!(class("inSegment(\"a\") and inSegment(\"b\")"), Edge);
        assert_eq!(
            class("chain(xEvent, timestamp, [C0: WHAT(eventType = \"x\") WHEN(today)])"),
            Edge
        );
        assert_eq!(
            class(
                "chain(xEvent, timestamp, [C0: WHAT(eventType = \"x\") WHEN(< 25 hours before now)])"
            ),
            Batch
        );
        assert_eq!(
            class("chain(xEvent, timestamp, [C0: WHAT(eventType = \"x\")])"),
            Batch
        );
        assert_eq!(
            class(
                "inSegment(\"a\") and chain(xEvent, timestamp, [C0: WHAT(eventType = \"x\") WHEN(today)])"
            ),
            Batch
        );
        assert_eq!(
            class(
                "chain(xEvent, timestamp, [A: WHAT(eventType = \"x\") WHEN(today), B: WHAT(eventType = \"y\") WHEN(today)])"
            ),
            Streaming
        );
        assert_eq!(
            class(
                "select X from xEvent where X.eventType = \"a\" and X.timestamp occurs < 2 hours before now"
            ),
            Edge
        );
        assert_eq!(
            class(
                "(select X from xEvent where X.timestamp occurs < 2 hours before now).count() > 3"
            ),
            Batch
        );
        assert_eq!(
            class("xEvent[eventType = \"a\" and timestamp occurs today].count() > 1"),
            Batch
        );
        assert_eq!(
            class("xEvent.any(eventType = \"a\" and timestamp occurs today)"),
            Edge
        );
    }

    #[test]
    fn dependencies() {
        let Ok(e) = parse(
            "homeAddress.city = \"x\" and inSegment(\"s1\") or chain(xEvent, timestamp, [A: WHAT(eventType = \"buy\") WHEN(today)])",
        ) else {
            panic!()
        };
        let d = analyze(&e).deps;
        assert!(d.attributes.contains("homeAddress.city"));
        assert!(d.segments.contains("s1"));
        assert!(d.event_types.contains("buy"));
        assert!(!d.any_event);
        assert!(d.time_sensitive);
        assert!(!d.time_can_qualify);
        let qualifies_by_time = |s: &str| parse(s).map(|e| analyze(&e).deps.time_can_qualify);
        assert_eq!(qualifies_by_time("birthDate occurs today"), Ok(true));
        assert_eq!(qualifies_by_time("birthDate occurs tomorrow"), Ok(true));
        assert_eq!(qualifies_by_time("birthMonth = currentMonth()"), Ok(true));
        assert_eq!(
            qualifies_by_time(
                "not(chain(xEvent, timestamp, [A: WHAT(eventType = \"x\") WHEN(today)]))"
            ),
            Ok(true)
        );
        assert_eq!(
            qualifies_by_time("xEvent[timestamp occurs < 2 hours before now].count() < 3"),
            Ok(true)
        );
        assert_eq!(
            qualifies_by_time("select X from xEvent where X.timestamp occurs < 2 hours before now"),
            Ok(false)
        );
    }
}
