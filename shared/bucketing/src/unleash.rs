//! The Unleash scheme: `murmur3(groupId + ":" + id, seed) mod modulus + 1`, as in Yggdrasil
//! (the engine behind Unleash Edge and the newer SDKs).
//!
//! Yggdrasil hashes UTF-8 bytes. The Node SDK hashes the low byte of each UTF-16 unit instead,
//! so the two disagree for non-ASCII ids; we follow Yggdrasil.

use crate::murmur3::murmur3_x86_32;

/// Seed for gradual-rollout checks.
pub const ROLLOUT_SEED: u32 = 0;

/// Unleash's `VARIANT_NORMALIZATION_SEED`, used when picking a variant.
pub const VARIANT_SEED: u32 = 86_028_157;

/// Total variant weight in the Unleash UI (weights are per mille).
pub const VARIANT_WEIGHT_TOTAL: u32 = 1_000;

/// `normalized_hash(group, id, modulus, seed)`: a position in `1..=modulus` (0 if `modulus` is 0).
pub fn normalized_hash(group: &str, id: &str, modulus: u32, seed: u32) -> u32 {
    if modulus == 0 {
        return 0;
    }
    let bytes = group.bytes().chain(std::iter::once(b':')).chain(id.bytes());
    murmur3_x86_32(bytes, seed) % modulus + 1
}

/// A gradual rollout: enabled iff `normalized_hash(group, id, 100, 0) <= percent`.
pub fn in_rollout(group: &str, id: &str, percent: f64) -> bool {
    f64::from(normalized_hash(group, id, 100, ROLLOUT_SEED)) <= percent
}

/// Picks a variant by weight: the target is `normalized_hash(group, id, sum(weights), 86028157)`
/// and the first variant whose cumulative weight reaches it wins.
pub fn choose_variant(group: &str, id: &str, weights: &[u32]) -> Option<usize> {
    let total = weights.iter().fold(0u32, |a, &w| a.saturating_add(w));
    if total == 0 {
        return None;
    }
    let target = normalized_hash(group, id, total, VARIANT_SEED);
    let mut cumulative = 0u32;
    weights.iter().position(|&w| {
        cumulative = cumulative.saturating_add(w);
        w > 0 && cumulative >= target
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Node SDK's encoding: the low byte of each UTF-16 unit (kept here only to prove that
    /// the documented divergence is what we think it is).
    fn node_normalized_hash(group: &str, id: &str, modulus: u32, seed: u32) -> u32 {
        let s = format!("{group}:{id}");
        // Truncation to the low byte is exactly what `charCodeAt(i) & 0xff` does.
        let bytes = s.encode_utf16().map(|u| (u & 0xff) as u8);
        murmur3_x86_32(bytes, seed) % modulus + 1
    }

    #[test]
    fn official_vectors() {
        assert_eq!(normalized_hash("gr1", "123", 100, 0), 73);
        assert_eq!(normalized_hash("groupX", "999", 100, 0), 25);
        assert_eq!(
            normalized_hash("Test.variants", "123", 1000, VARIANT_SEED),
            256
        );
    }

    #[test]
    fn non_ascii_follows_yggdrasil_not_node() {
        for (id, utf8, node) in [
            ("ü", 82, 22),
            ("Zoë", 72, 13),
            ("日本", 8, 5),
            ("😀", 100, 42),
        ] {
            assert_eq!(normalized_hash("gr1", id, 100, 0), utf8, "{id}");
            assert_eq!(node_normalized_hash("gr1", id, 100, 0), node, "{id}");
        }
    }

    #[test]
    fn variant_walk() {
        // target 256 of 1000: [200, 800] → second variant; [300, 700] → first.
        assert_eq!(choose_variant("Test.variants", "123", &[200, 800]), Some(1));
        assert_eq!(choose_variant("Test.variants", "123", &[300, 700]), Some(0));
        assert_eq!(choose_variant("Test.variants", "123", &[0, 0]), None);
        assert_eq!(choose_variant("Test.variants", "123", &[]), None);
    }

    #[test]
    fn rollout_is_inclusive() {
        assert!(in_rollout("gr1", "123", 73.0));
        assert!(!in_rollout("gr1", "123", 72.0));
        assert!(!in_rollout("gr1", "123", 0.0));
        assert!(in_rollout("gr1", "123", 100.0));
    }
}
