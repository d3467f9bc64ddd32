//! The key layout of report counters, in one place. The engine emits `(key, delta)` pairs
//! ([`CounterDelta`]) that the glue applies with the store's atomic increment; the reports
//! endpoint reads the same keys back.
//!
//! | key | counts |
//! |---|---|
//! | `report/{activity}/{experience}/exposures` | display notifications (one per event per activity+experience) |
//! | `report/{activity}/{experience}/clicks` | interact notifications (same rule) |
//! | `report/{activity}/{experience}/conversions` | events of the activity's `conversionEventType` from a visitor with a sticky assignment to the experience |
//!
//! `{experience}` is `holdout` for visitors held out. Ids are written with `%` and `/`
//! percent-encoded ([`escape`]), so keys of different pairs never collide and
//! `report/{activity}/` lists one activity exactly.

use serde::Serialize;

/// Prefix of every report counter.
pub const PREFIX: &str = "report/";

/// A counter increment for the store: `(key, delta)`.
pub type CounterDelta = (String, i64);

/// What a report counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Displays.
    Exposures,
    /// Clicks.
    Clicks,
    /// Conversions.
    Conversions,
}

impl Metric {
    /// Every metric.
    pub const ALL: [Metric; 3] = [Metric::Exposures, Metric::Clicks, Metric::Conversions];

    /// The last key segment.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Exposures => "exposures",
            Metric::Clicks => "clicks",
            Metric::Conversions => "conversions",
        }
    }
}

/// Percent-encodes `%` and `/` in a key segment.
pub fn escape(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for c in segment.chars() {
        match c {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2F"),
            c => out.push(c),
        }
    }
    out
}

/// `report/{activity}/`: the prefix of every counter of an activity.
pub fn activity_prefix(activity_id: &str) -> String {
    format!("{PREFIX}{}/", escape(activity_id))
}

/// The counter of one metric of one experience.
pub fn counter(activity_id: &str, experience_id: &str, metric: Metric) -> String {
    format!(
        "{}{}/{}",
        activity_prefix(activity_id),
        escape(experience_id),
        metric.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        assert_eq!(
            counter("hero-test", "1", Metric::Exposures),
            "report/hero-test/1/exposures"
        );
        assert_eq!(
            counter("a/b", "50%", Metric::Conversions),
            "report/a%2Fb/50%25/conversions"
        );
        assert_ne!(
            counter("a/b", "c", Metric::Clicks),
            counter("a", "b/c", Metric::Clicks)
        );
        assert!(counter("a", "x", Metric::Clicks).starts_with(&activity_prefix("a")));
        assert!(!counter("ab", "x", Metric::Clicks).starts_with(&activity_prefix("a")));
    }
}
