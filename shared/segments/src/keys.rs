//! The keys this crate owns in the shared bucket. The model's `keys` module lists the records
//! the model reads and writes (`catalog/segments` holds every definition with its plan); the
//! request-time layout below is derived from it by [`sync`](crate::sync) and read only here,
//! so it lives with the code that builds and reads it.
//!
//! | key | value |
//! |---|---|
//! | `segments/index` | the [`CatalogIndex`](vantage_pql::CatalogIndex) of the edge-eligible segments, the model catalog `etag` it was built from, and a fingerprint per plan |
//! | `segments/plan/{fingerprint:016x}/{segment id}` | one compiled plan ([`vantage_pql::Compiled`]) |
//!
//! A request decodes the index (~1 ms at 15,000 segments), selects the segments the change can
//! affect and fetches only their plans. Plan keys carry a fingerprint of their content, so a
//! rebuild writes only the plans that changed and a request holding an older index never reads
//! a newer plan under an old name. The fingerprint has a fixed width, so the id is everything
//! after the third `/`, whatever it contains.

/// The request-time index.
pub const INDEX: &str = "segments/index";
/// Prefix of the per-segment plans.
pub const PLAN_PREFIX: &str = "segments/plan/";

/// `segments/plan/{fingerprint:016x}/{id}`.
pub fn plan(fingerprint: u64, id: &str) -> String {
    format!("{PLAN_PREFIX}{fingerprint:016x}/{id}")
}

/// FNV-1a 64 of a plan's bytes: a content fingerprint, not a security boundary (definitions
/// come from the authenticated hub).
pub fn fingerprint(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        assert_eq!(plan(0xab, "a/b"), "segments/plan/00000000000000ab/a/b");
        assert_ne!(fingerprint(b"x = 1"), fingerprint(b"x = 2"));
        assert_eq!(fingerprint(b""), 0xcbf2_9ce4_8422_2325);
    }
}
