//! The Adobe Target scheme: `client.activityId.visitorId.salt`, MurmurHash3 over UTF-16 code
//! units, `|h| mod 10000`, experiences in order by cumulative allocation.
//!
//! Parity is with Target's on-device decisioning (`@adobe/target-decisioning-engine`): its rules
//! read `allocation = bucket / 100` and select experience `i` when `cum(i-1) < allocation <=
//! cum(i)` (the first range also includes 0). The upper bound is inclusive, so with a 50/50
//! split bucket 5000 goes to the first experience, exactly as Target does.

use crate::murmur3::murmur3_utf16;

/// Buckets per visitor: allocation percentages have two decimals of resolution.
pub const BUCKETS: u32 = 10_000;

/// Target's salt for the campaign (experience) pass (`CAMPAIGN_BUCKET_SALT`).
pub const DEFAULT_SALT: &str = "0";

/// The signed hash Target computes for a device key (Java `int` semantics).
pub fn hash(key: &str) -> i32 {
    // Reinterpreting the bits is the point: Target reads the hash as a signed Java int.
    murmur3_utf16(key, 0).cast_signed()
}

/// The key Target hashes: `client.activityId.visitorId.salt`.
pub fn key(client: &str, activity_id: &str, visitor_id: &str, salt: &str) -> String {
    format!("{client}.{activity_id}.{visitor_id}.{salt}")
}

/// The bucket in `0..10000` for a key: `|h| mod 10000`.
///
/// `|i32::MIN|` is taken as 2^31 (what JavaScript's `Math.abs` gives on a double), so the result
/// is never negative.
pub fn bucket(key: &str) -> u32 {
    hash(key).unsigned_abs() % BUCKETS
}

/// Converts an allocation percentage to buckets (hundredths of a percent), treating anything
/// that is not a positive finite number as zero.
pub(crate) fn percent_to_buckets(percent: f64) -> u32 {
    if percent.is_finite() && percent > 0.0 {
        // Bounded to 0..=10000 before the cast, so it cannot truncate.
        (percent.min(100.0) * 100.0).round() as u32
    } else {
        0
    }
}

/// The experience for a bucket given allocation percentages, Target's inclusive-upper rule.
///
/// Experiences with no allocation never match; a bucket past the cumulative total is unallocated.
pub fn choose(bucket: u32, allocations: &[f64]) -> Option<usize> {
    let mut cumulative = 0u32;
    for (index, &percent) in allocations.iter().enumerate() {
        let width = percent_to_buckets(percent);
        if width == 0 {
            continue;
        }
        cumulative = cumulative.saturating_add(width);
        if bucket <= cumulative {
            return Some(index);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adobe_worked_example() {
        let k = key(
            "acmeclient",
            "1111",
            "702ff4d0-83b1-4e2e-a0a6-22cbe460eb15",
            "experience",
        );
        assert_eq!(hash(&k), -919_077_116);
        assert_eq!(bucket(&k), 7116);
        // Hashing UTF-8 bytes instead is the documented mistake.
        assert_eq!(
            crate::murmur3::murmur3_x86_32(k.bytes(), 0).cast_signed(),
            1_090_152_016
        );
    }

    #[test]
    fn inclusive_upper_bound_like_target() {
        assert_eq!(choose(0, &[50.0, 50.0]), Some(0));
        assert_eq!(choose(5000, &[50.0, 50.0]), Some(0));
        assert_eq!(choose(5001, &[50.0, 50.0]), Some(1));
        assert_eq!(choose(9999, &[50.0, 50.0]), Some(1));
        assert_eq!(choose(3400, &[34.0, 33.0, 33.0]), Some(0));
        assert_eq!(choose(6700, &[34.0, 33.0, 33.0]), Some(1));
        assert_eq!(choose(6701, &[34.0, 33.0, 33.0]), Some(2));
    }

    #[test]
    fn unallocated_and_degenerate_allocations() {
        assert_eq!(choose(2000, &[10.0, 10.0]), Some(1));
        assert_eq!(choose(2001, &[10.0, 10.0]), None);
        assert_eq!(choose(0, &[0.0, 50.0]), Some(1));
        assert_eq!(choose(10, &[f64::NAN, -5.0, 0.1]), Some(2));
        assert_eq!(choose(11, &[f64::NAN, -5.0, 0.1]), None);
        assert_eq!(choose(0, &[]), None);
        assert_eq!(choose(9999, &[f64::INFINITY]), None);
    }
}
