//! Offer frequency caps: which profile cap counter an offer uses and whether a cap still
//! allows one more display. Displays are recorded from notifications ([`crate::notify`]).

use serde::Serialize;
use vantage_model::profile::caps::{Caps, count_since};

use crate::model::{Cap, CapPeriod};

/// Prefix of offer cap counters in the profile.
pub const OFFER_PREFIX: &str = "offer/";

/// The profile cap counter of an offer: `offer/{activity id}/{offer id}`, each id with `%` and
/// `/` percent-encoded so two different pairs never share a key. Offer ids are only unique
/// within their activity, hence the activity in the key.
pub fn offer_key(activity_id: &str, offer_id: &str) -> String {
    format!(
        "{OFFER_PREFIX}{}/{}",
        crate::report_keys::escape(activity_id),
        crate::report_keys::escape(offer_id)
    )
}

/// A cap that is used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Capped {
    /// Displays allowed.
    pub count: u32,
    /// Over which window.
    pub per: CapPeriod,
    /// Displays already counted in the window.
    pub seen: u64,
}

/// The first cap of `caps` that forbids another display at `now_ms`, if any.
pub fn exhausted(counters: &Caps, key: &str, caps: &[Cap], now_ms: i64) -> Option<Capped> {
    caps.iter().find_map(|cap| {
        let seen = match cap.per.window_ms() {
            // The window is `(now - length, now]`: a display exactly one window ago has expired.
            Some(length) => count_since(counters, key, now_ms.saturating_sub(length) + 1),
            None => counters.get(key).map_or(0, |c| c.total),
        };
        (seen >= u64::from(cap.count)).then_some(Capped {
            count: cap.count,
            per: cap.per,
            seen,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vantage_model::profile::caps::record;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn windows_and_lifetime() {
        let key = offer_key("a", "o");
        let mut counters = Caps::new();
        let per = |count, per| Cap { count, per };
        assert_eq!(
            exhausted(&counters, &key, &[per(1, CapPeriod::Hour)], 0),
            None
        );
        record(&mut counters, &key, 0);
        record(&mut counters, &key, HOUR / 2);
        let hour = [per(2, CapPeriod::Hour)];
        assert_eq!(
            exhausted(&counters, &key, &hour, HOUR / 2 + 1),
            Some(Capped {
                count: 2,
                per: CapPeriod::Hour,
                seen: 2
            })
        );
        // The first display leaves the window one hour after it happened.
        assert_eq!(exhausted(&counters, &key, &hour, HOUR), None);
        let day_and_life = [per(5, CapPeriod::Day), per(2, CapPeriod::Lifetime)];
        assert_eq!(
            exhausted(&counters, &key, &day_and_life, 400 * 24 * HOUR).map(|c| c.per),
            Some(CapPeriod::Lifetime)
        );
        assert_eq!(exhausted(&counters, &offer_key("a", "p"), &hour, 0), None);
    }

    #[test]
    fn keys_do_not_collide() {
        assert_eq!(offer_key("hero", "a"), "offer/hero/a");
        assert_ne!(offer_key("a/b", "c"), offer_key("a", "b/c"));
        assert_eq!(offer_key("a/b", "100%"), "offer/a%2Fb/100%25");
    }
}
