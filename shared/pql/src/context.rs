//! What an evaluation reads: the profile's attributes (XDM-shaped JSON), its recent events plus
//! the event being collected, segment memberships through a callback, and the clock. Building
//! the context sorts and indexes the events once, so each of many segments evaluated against
//! it pays only for the events it can match.

use crate::time::Calendar;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

/// One experience event as the engine sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When it happened, milliseconds since the Unix epoch (UTC). `X.timestamp` reads this.
    pub timestamp_ms: i64,
    /// The XDM `eventType` (`commerce.checkouts`, `web.webpagedetails.pageViews`, …).
    /// `X.eventType` reads this.
    pub event_type: String,
    /// The XDM event body; every other path reads from here (`web.webPageDetails.name`).
    pub xdm: serde_json::Value,
}

/// A profile's membership status in one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MembershipState {
    /// Entered in the latest evaluation.
    Realized,
    /// Was a member and still is.
    Existing,
    /// Left.
    Exited,
}

impl MembershipState {
    /// `realized` and `existing` are members; `exited` is not (as `inSegment` reads it).
    pub fn is_member(self) -> bool {
        !matches!(self, MembershipState::Exited)
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MembershipState::Realized => "realized",
            MembershipState::Existing => "existing",
            MembershipState::Exited => "exited",
        }
    }
}

/// Default per-evaluation work budget (elements visited by filters, selects and chains).
pub const DEFAULT_BUDGET: u64 = 2_000_000;

/// Everything one evaluation reads. Build one per request and evaluate every selected
/// segment against it.
pub struct EvalContext<'a> {
    pub(crate) profile: &'a serde_json::Value,
    /// Recent events plus the current one, sorted by timestamp (stable).
    pub(crate) events: Vec<&'a Event>,
    pub(crate) by_type: HashMap<&'a str, Vec<u32>>,
    by_type_lower: OnceCell<HashMap<String, Vec<u32>>>,
    pub(crate) current: Option<&'a Event>,
    pub(crate) membership: &'a dyn Fn(&str) -> Option<MembershipState>,
    pub(crate) now_ms: i64,
    pub(crate) calendar: Calendar,
    pub(crate) budget: u64,
    regexes: RefCell<HashMap<String, Option<Rc<Regex>>>>,
}

impl<'a> EvalContext<'a> {
    /// A context in UTC. `events` are the stored recent events, *not* including `current`
    /// (the event being collected, if any), which is added here.
    pub fn new(
        profile: &'a serde_json::Value,
        events: &'a [Event],
        current: Option<&'a Event>,
        membership: &'a dyn Fn(&str) -> Option<MembershipState>,
        now_ms: i64,
    ) -> Self {
        let mut all: Vec<&'a Event> = events.iter().chain(current).collect();
        all.sort_by_key(|e| e.timestamp_ms);
        let mut by_type: HashMap<&'a str, Vec<u32>> = HashMap::new();
        for (i, e) in all.iter().enumerate() {
            by_type
                .entry(e.event_type.as_str())
                .or_default()
                .push(i as u32);
        }
        EvalContext {
            profile,
            events: all,
            by_type,
            by_type_lower: OnceCell::new(),
            current,
            membership,
            now_ms,
            calendar: Calendar::new(0),
            budget: DEFAULT_BUDGET,
            regexes: RefCell::new(HashMap::new()),
        }
    }

    /// Evaluates calendar words (`today`, `last month`, `date(…)`, `getMonth()`) at a fixed
    /// offset from UTC instead of UTC (the reference platform's behaviour).
    pub fn with_utc_offset_minutes(mut self, minutes: i32) -> Self {
        self.calendar = Calendar::new(minutes);
        self
    }

    /// Replaces the per-evaluation work budget.
    pub fn with_budget(mut self, steps: u64) -> Self {
        self.budget = steps;
        self
    }

    /// The execution instant.
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// The event being collected, if any.
    pub fn current_event(&self) -> Option<&'a Event> {
        self.current
    }

    /// Number of events visible to `xEvent` (recent plus current).
    pub fn event_count(&self) -> usize {
        self.events.len()
    }

    pub(crate) fn membership_of(&self, id: &str) -> Option<MembershipState> {
        (self.membership)(id)
    }

    /// Positions (in timestamp order) of the events of one type, compared case-insensitively
    /// when `fold_case`.
    pub(crate) fn events_of_type(&self, t: &str, fold_case: bool) -> &[u32] {
        if !fold_case {
            return self.by_type.get(t).map(Vec::as_slice).unwrap_or(&[]);
        }
        let lower = self.by_type_lower.get_or_init(|| {
            let mut m: HashMap<String, Vec<u32>> = HashMap::new();
            for (i, e) in self.events.iter().enumerate() {
                m.entry(e.event_type.to_lowercase())
                    .or_default()
                    .push(i as u32);
            }
            m
        });
        lower
            .get(&t.to_lowercase())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// A compiled regex, cached for the life of the context (one request). Patterns are
    /// size-limited so a hostile pattern cannot blow up memory.
    pub(crate) fn regex(&self, pattern: &str) -> Option<Rc<Regex>> {
        if let Some(r) = self.regexes.borrow().get(pattern) {
            return r.clone();
        }
        let compiled = build_regex(pattern).ok().map(Rc::new);
        self.regexes
            .borrow_mut()
            .insert(pattern.to_string(), compiled.clone());
        compiled
    }
}

/// Builds a size-limited regex (the limit keeps compile time and memory bounded).
pub(crate) fn build_regex(pattern: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .dfa_size_limit(1 << 20)
        .nest_limit(64)
        .build()
}
