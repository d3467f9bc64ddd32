//! The retention and size knobs of edge data, with the defaults the design names.

use vantage_kv::DEFAULT_CAS_RETRIES;

/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// How long edge data lives and how big it may grow. One value is shared by every component,
/// so a profile written by one is read back the same way by the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Profile time to live, refreshed on every write (14 days, the reference edge profile TTL).
    pub ttl_ms: i64,
    /// Most recent events kept per profile; the oldest are dropped first.
    pub max_events: usize,
    /// Events older than this (relative to now) are dropped.
    pub event_window_ms: i64,
    /// Largest encoded profile; see [`crate::profile::Profile::encode_capped`] for what is
    /// dropped before a write is refused.
    pub max_profile_bytes: usize,
    /// Most identities one profile may hold: a link beyond it is refused, which also stops a
    /// runaway hub feed from collapsing everyone into one profile.
    pub max_identities: usize,
    /// How long a deletion tombstone keeps older records from resurrecting a profile.
    pub tombstone_ttl_ms: i64,
    /// CAS retries per read-modify-write.
    pub cas_retries: u32,
    /// Most merge forwards followed to reach a live profile.
    pub max_forward_hops: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            ttl_ms: 14 * DAY_MS,
            max_events: 64,
            event_window_ms: 14 * DAY_MS,
            max_profile_bytes: 64 * 1024,
            max_identities: 64,
            tombstone_ttl_ms: 30 * DAY_MS,
            cas_retries: DEFAULT_CAS_RETRIES,
            max_forward_hops: 16,
        }
    }
}
