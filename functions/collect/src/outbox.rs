//! The outbox to the hub: every accepted event gets a sequence number and stays in the store
//! until the hub acknowledges it.
//!
//! Keys: `outbox/head` (counter: the last sequence number handed out), `outbox/acked` (the
//! highest acknowledged), `outbox/purged` (the highest whose entry was deleted),
//! `outbox/dropped` (counter: events refused because the outbox was full) and one entry per
//! event under `outbox/e/{seq:020}` (zero-padded, so keys sort in order).
//!
//! A writer reserves numbers with one atomic increment, then writes its entries. Readers stop
//! at a number whose entry is not written yet (its writer is still running), so an
//! acknowledgement can never pass over an event nobody has read. A writer that died between
//! reserving and writing leaves a hole for good: once an entry after the hole was queued more
//! than [`ABANDON_AFTER_MS`] ago (longer than any request may run), the hole is skipped.

use serde::Serialize;
use serde_json::value::RawValue;
use vantage_kv::{Kv, decode_counter};

/// Counter: the last sequence number handed out.
pub const HEAD: &str = "outbox/head";
/// The highest acknowledged sequence number.
pub const ACKED: &str = "outbox/acked";
/// The highest sequence number whose entry was deleted.
pub const PURGED: &str = "outbox/purged";
/// Counter: events not queued because the outbox was full.
pub const DROPPED: &str = "outbox/dropped";
/// How long a hole may wait for its writer, ms: longer than any request may run.
pub const ABANDON_AFTER_MS: i64 = 120_000;
/// Most entries deleted by one acknowledgement (the rest by the next ones).
pub const PURGE_BATCH: u64 = 5_000;
/// Most entries one read returns.
pub const MAX_READ: u64 = 10_000;

/// The key of entry `seq`.
pub fn entry_key(seq: u64) -> String {
    format!("outbox/e/{seq:020}")
}

/// What [`enqueue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Enqueued {
    /// Sequence number of the first queued record (0 when none).
    pub first: u64,
    /// How many were queued.
    pub queued: usize,
    /// How many did not fit (counted in [`DROPPED`]).
    pub dropped: usize,
}

/// A record as stored: `{"seq", "queuedAt", …the caller's fields}`. `record` must be a JSON
/// object (its fields are spliced in after the two stamps).
fn stored(seq: u64, queued_at: i64, record: &RawValue) -> Result<Vec<u8>, vantage_kv::Error> {
    let text = record.get().trim();
    let fields = text
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(|| vantage_kv::Error::Other("an outbox record must be a JSON object".into()))?
        .trim();
    let mut out = format!(r#"{{"seq":{seq},"queuedAt":{queued_at}"#);
    if !fields.is_empty() {
        out.push(',');
        out.push_str(fields);
    }
    out.push('}');
    Ok(out.into_bytes())
}

/// A stored counter or watermark (8-byte LE, as counters are); absent or negative is 0.
fn as_u64(value: Option<&[u8]>) -> u64 {
    value
        .and_then(decode_counter)
        .map_or(0, |n| u64::try_from(n).unwrap_or(0))
}

/// The encoding [`as_u64`] reads.
fn encode_u64(n: u64) -> Vec<u8> {
    i64::try_from(n).unwrap_or(i64::MAX).to_le_bytes().to_vec()
}

fn read_u64<K: Kv + ?Sized>(kv: &K, key: &str) -> Result<u64, vantage_kv::Error> {
    Ok(as_u64(kv.get(key)?.as_deref()))
}

/// The outbox's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Last sequence number handed out.
    pub head: u64,
    /// Highest acknowledged.
    pub acked: u64,
    /// Highest deleted.
    pub purged: u64,
    /// Queued and not acknowledged.
    pub pending: u64,
    /// Refused because the outbox was full, ever.
    pub dropped: u64,
    /// The bound on `pending`.
    pub max: u64,
}

/// Reads the counters.
pub fn stats<K: Kv + ?Sized>(kv: &K, max: u64) -> Result<Stats, vantage_kv::Error> {
    let values = kv.get_many(&[HEAD, ACKED, PURGED, DROPPED])?;
    let n = |i: usize| as_u64(values.get(i).and_then(|v| v.as_deref()));
    let (head, acked) = (n(0), n(1));
    Ok(Stats {
        head,
        acked,
        purged: n(2),
        pending: head.saturating_sub(acked),
        dropped: n(3),
        max,
    })
}

/// Queues `records` (each a JSON object) in order, as many as the bound `max` on pending
/// entries leaves room for; the rest are counted in [`DROPPED`]. `clock` stamps `queuedAt`
/// after the numbers are reserved (what makes abandoned holes recognisable). Concurrent
/// writers can overshoot the bound by what they queue at the same instant.
pub fn enqueue<K: Kv + ?Sized>(
    kv: &K,
    records: &[Box<RawValue>],
    max: u64,
    clock: &dyn Fn() -> i64,
) -> Result<Enqueued, vantage_kv::Error> {
    if records.is_empty() {
        return Ok(Enqueued::default());
    }
    let s = stats(kv, max)?;
    let room = usize::try_from(max.saturating_sub(s.pending)).unwrap_or(usize::MAX);
    let fit = records.len().min(room);
    let dropped = records.len() - fit;
    if dropped > 0 {
        kv.increment(DROPPED, dropped as i64)?;
    }
    if fit == 0 {
        return Ok(Enqueued {
            first: 0,
            queued: 0,
            dropped,
        });
    }
    let last = u64::try_from(kv.increment(HEAD, fit as i64)?).unwrap_or(0);
    let first = last + 1 - fit as u64;
    let queued_at = clock();
    let mut encoded: Vec<(String, Vec<u8>)> = Vec::with_capacity(fit);
    for (i, record) in records[..fit].iter().enumerate() {
        let seq = first + i as u64;
        let bytes = stored(seq, queued_at, record)?;
        encoded.push((entry_key(seq), bytes));
    }
    let entries: Vec<(&str, &[u8])> = encoded
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_slice()))
        .collect();
    kv.set_many(&entries)?;
    Ok(Enqueued {
        first,
        queued: fit,
        dropped,
    })
}

/// What [`read`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The entries, in sequence order, as stored JSON.
    pub entries: Vec<Vec<u8>>,
    /// The sequence number to read after next time (the last returned or skipped).
    pub next_after: u64,
    /// The counters when reading.
    pub stats: Stats,
    /// Whether the read stopped at an entry still being written.
    pub waiting: bool,
}

/// Up to `limit` entries after `after` (and after the acknowledged ones), in order; stops at
/// the first entry still being written. `now_ms` decides which holes are abandoned.
pub fn read<K: Kv + ?Sized>(
    kv: &K,
    after: u64,
    limit: u64,
    max: u64,
    now_ms: i64,
) -> Result<Batch, vantage_kv::Error> {
    let stats = stats(kv, max)?;
    let from = after.max(stats.acked);
    let mut batch = Batch {
        entries: Vec::new(),
        next_after: from,
        stats,
        waiting: false,
    };
    if from >= stats.head || limit == 0 {
        return Ok(batch);
    }
    let start = from + 1;
    let end = stats.head.min(start + limit.min(MAX_READ) - 1);
    let keys: Vec<String> = (start..=end).map(entry_key).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let values = kv.get_many(&refs)?;
    let mut hole: Option<u64> = None;
    for (seq, value) in (start..=end).zip(values) {
        match value {
            Some(bytes) => {
                if hole.is_some() {
                    // Entries after a hole count only if it is abandoned.
                    if !abandoned(&bytes, now_ms) {
                        batch.waiting = true;
                        return Ok(batch);
                    }
                    hole = None;
                }
                batch.entries.push(bytes);
                batch.next_after = seq;
            }
            None => {
                if hole.is_none() {
                    hole = Some(seq);
                }
            }
        }
    }
    // Holes at the end wait: nothing queued after them proves their writer gone.
    batch.waiting = hole.is_some();
    Ok(batch)
}

/// Whether an entry queued after a hole is old enough that the hole's writer must be gone.
fn abandoned(entry: &[u8], now_ms: i64) -> bool {
    #[derive(serde::Deserialize)]
    struct Stamp {
        #[serde(rename = "queuedAt")]
        queued_at: i64,
    }
    serde_json::from_slice::<Stamp>(entry)
        .is_ok_and(|s| now_ms.saturating_sub(s.queued_at) > ABANDON_AFTER_MS)
}

/// What [`ack`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Acked {
    /// The acknowledged watermark now.
    pub acked: u64,
    /// Entries deleted by this call.
    pub deleted: u64,
    /// Acknowledged entries still to delete (the next acknowledgements continue).
    pub backlog: u64,
}

/// Why an acknowledgement was refused.
#[derive(Debug, thiserror::Error)]
pub enum AckError {
    /// `upTo` is past the last sequence number handed out.
    #[error("upTo {up_to} is past the last sequence number handed out ({head})")]
    Beyond {
        /// Asked.
        up_to: u64,
        /// The head.
        head: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] vantage_kv::Error),
}

/// Acknowledges everything up to `up_to` (idempotent; an older watermark changes nothing)
/// and deletes up to [`PURGE_BATCH`] acknowledged entries.
pub fn ack<K: Kv + ?Sized>(kv: &K, up_to: u64, retries: u32) -> Result<Acked, AckError> {
    let head = read_u64(kv, HEAD)?;
    if up_to > head {
        return Err(AckError::Beyond { up_to, head });
    }
    let mut acked = up_to;
    vantage_kv::update(kv, ACKED, retries, |cur| {
        let cur = as_u64(cur);
        acked = cur.max(up_to);
        Ok::<_, vantage_kv::Error>((up_to > cur).then(|| encode_u64(up_to)))
    })?;
    // Purging: claim a range by moving the `purged` watermark, then delete it, so two
    // acknowledgements never delete the same range twice (deleting twice would be harmless).
    let mut claimed = (0, 0);
    vantage_kv::update(kv, PURGED, retries, |cur| {
        let from = as_u64(cur);
        let to = acked.min(from + PURGE_BATCH);
        claimed = (from, to);
        Ok::<_, vantage_kv::Error>((to > from).then(|| encode_u64(to)))
    })?;
    let (from, to) = claimed;
    let keys: Vec<String> = (from + 1..=to).map(entry_key).collect();
    for chunk in keys.chunks(500) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        kv.delete_many(&refs)?;
    }
    Ok(Acked {
        acked,
        deleted: to.saturating_sub(from),
        backlog: acked.saturating_sub(to.max(from)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vantage_kv::MemoryKv;

    fn records(n: usize, tag: &str) -> Vec<Box<RawValue>> {
        (0..n)
            .map(|i| {
                RawValue::from_string(format!(r#"{{"type":"event","n":"{tag}{i}"}}"#)).unwrap()
            })
            .collect()
    }

    fn ns(batch: &Batch) -> Vec<String> {
        batch
            .entries
            .iter()
            .map(|e| {
                let v: serde_json::Value = serde_json::from_slice(e).unwrap();
                format!("{}:{}", v["seq"], v["n"].as_str().unwrap())
            })
            .collect()
    }

    #[test]
    fn queues_reads_in_order_and_acks() {
        let kv = MemoryKv::new();
        let clock = || 1_000;
        let e = enqueue(&kv, &records(3, "a"), 100, &clock).unwrap();
        assert_eq!((e.first, e.queued, e.dropped), (1, 3, 0));
        enqueue(&kv, &records(2, "b"), 100, &clock).unwrap();
        let b = read(&kv, 0, 10, 100, 2_000).unwrap();
        assert_eq!(ns(&b), ["1:a0", "2:a1", "3:a2", "4:b0", "5:b1"]);
        assert_eq!(b.next_after, 5);
        let b = read(&kv, 2, 2, 100, 2_000).unwrap();
        assert_eq!(ns(&b), ["3:a2", "4:b0"]);
        let a = ack(&kv, 3, 8).unwrap();
        assert_eq!((a.acked, a.deleted, a.backlog), (3, 3, 0));
        assert!(kv.get(&entry_key(3)).unwrap().is_none());
        // Reads skip what was acknowledged; acking an older watermark changes nothing.
        assert_eq!(ns(&read(&kv, 0, 10, 100, 2_000).unwrap()), ["4:b0", "5:b1"]);
        assert_eq!(ack(&kv, 1, 8).unwrap().acked, 3);
        assert!(matches!(
            ack(&kv, 6, 8),
            Err(AckError::Beyond { head: 5, .. })
        ));
        let s = stats(&kv, 100).unwrap();
        assert_eq!((s.head, s.acked, s.pending), (5, 3, 2));
    }

    #[test]
    fn a_full_outbox_counts_what_it_refuses() {
        let kv = MemoryKv::new();
        let clock = || 0;
        let e = enqueue(&kv, &records(3, "a"), 4, &clock).unwrap();
        assert_eq!((e.queued, e.dropped), (3, 0));
        let e = enqueue(&kv, &records(3, "b"), 4, &clock).unwrap();
        assert_eq!((e.queued, e.dropped), (1, 2));
        let e = enqueue(&kv, &records(1, "c"), 4, &clock).unwrap();
        assert_eq!((e.queued, e.dropped), (0, 1));
        assert_eq!(stats(&kv, 4).unwrap().dropped, 3);
        ack(&kv, 4, 8).unwrap();
        let e = enqueue(&kv, &records(1, "d"), 4, &clock).unwrap();
        assert_eq!((e.first, e.queued), (5, 1));
    }

    #[test]
    fn a_read_waits_at_an_entry_being_written_and_skips_an_abandoned_one() {
        let kv = MemoryKv::new();
        enqueue(&kv, &records(1, "a"), 100, &|| 0).unwrap();
        // A writer reserved 2 and has not written it yet.
        kv.increment(HEAD, 1).unwrap();
        enqueue(&kv, &records(1, "c"), 100, &|| 10_000).unwrap();
        let b = read(&kv, 0, 10, 100, 20_000).unwrap();
        assert_eq!(ns(&b), ["1:a0"]);
        assert!(b.waiting);
        assert_eq!(b.next_after, 1);
        // Long after entry 3 was queued, the writer of 2 cannot be running any more.
        let b = read(&kv, 1, 10, 100, 10_000 + ABANDON_AFTER_MS + 1).unwrap();
        assert_eq!(ns(&b), ["3:c0"]);
        assert!(!b.waiting);
        // Past the head: nothing, whatever the number.
        let b = read(&kv, u64::MAX, 10, 100, 0).unwrap();
        assert!(b.entries.is_empty() && !b.waiting);
        assert_eq!(b.next_after, u64::MAX);
        // A hole at the end always waits.
        kv.increment(HEAD, 1).unwrap();
        let b = read(&kv, 3, 10, 100, i64::MAX).unwrap();
        assert!(b.entries.is_empty() && b.waiting);
    }

    #[test]
    fn acks_purge_in_bounded_batches() {
        let kv = MemoryKv::new();
        let n = PURGE_BATCH as usize + 10;
        enqueue(&kv, &records(n, "x"), u64::MAX, &|| 0).unwrap();
        let a = ack(&kv, n as u64, 8).unwrap();
        assert_eq!((a.deleted, a.backlog), (PURGE_BATCH, 10));
        let a = ack(&kv, n as u64, 8).unwrap();
        assert_eq!((a.deleted, a.backlog), (10, 0));
        assert!(kv.keys_with_prefix("outbox/e/").unwrap().is_empty());
    }
}
