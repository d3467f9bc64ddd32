//! Frequency-cap counters: how often something (an offer, an activity) was shown, with recent
//! impression times so any cap window (`3 per day`, `10 per week`) can be counted.

use std::collections::BTreeMap;

use bincode::{Decode, Encode};

/// Impression times kept per counter; enough for any practical cap.
pub const MAX_RECENT: usize = 64;

/// One counter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Encode, Decode)]
pub struct CapCounter {
    /// Impressions ever recorded.
    pub total: u64,
    /// The most recent impression times, ms, ascending.
    pub recent: Vec<i64>,
}

/// Counters by key (e.g. `offer:hero-a`).
pub type Caps = BTreeMap<String, CapCounter>;

/// Records one impression of `key` at `ts`.
pub fn record(caps: &mut Caps, key: &str, ts: i64) {
    let c = caps.entry(key.to_owned()).or_default();
    c.total = c.total.saturating_add(1);
    let at = c.recent.partition_point(|&t| t <= ts);
    c.recent.insert(at, ts);
    if c.recent.len() > MAX_RECENT {
        c.recent.remove(0);
    }
}

/// Impressions of `key` at or after `since` (from the recent times; exact up to [`MAX_RECENT`]).
pub fn count_since(caps: &Caps, key: &str, since: i64) -> u64 {
    caps.get(key).map_or(0, |c| {
        (c.recent.len() - c.recent.partition_point(|&t| t < since)) as u64
    })
}

/// Sums `other` into `caps`: totals add, recent times are concatenated.
pub fn merge(caps: &mut Caps, other: &Caps) {
    for (key, o) in other {
        let c = caps.entry(key.clone()).or_default();
        c.total = c.total.saturating_add(o.total);
        c.recent.extend_from_slice(&o.recent);
        c.recent.sort_unstable();
        let excess = c.recent.len().saturating_sub(MAX_RECENT);
        c.recent.drain(..excess);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_windows_and_sums_on_merge() {
        let mut a = Caps::new();
        record(&mut a, "offer:x", 10);
        record(&mut a, "offer:x", 30);
        let mut b = Caps::new();
        record(&mut b, "offer:x", 20);
        merge(&mut a, &b);
        assert_eq!(a["offer:x"].total, 3);
        assert_eq!(count_since(&a, "offer:x", 15), 2);
        assert_eq!(count_since(&a, "offer:y", 0), 0);
        for t in 0..100 {
            record(&mut a, "offer:x", t);
        }
        assert_eq!(a["offer:x"].recent.len(), MAX_RECENT);
        assert_eq!(a["offer:x"].total, 103);
    }
}
