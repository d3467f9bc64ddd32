//! A small typed key-value API that pure crates program against, over `wasi:keyvalue` in a
//! component and over an in-memory map natively, so the logic above it unit-tests without
//! WebAssembly.
//!
//! The API is the [`Kv`] trait. [`update`] layers read-modify-write with bounded CAS retries on
//! top of it, which is how every shared record (profiles, catalogs) is written: two concurrent
//! requests never lose an update.

#![deny(unsafe_code)]

mod memory;
#[cfg(target_arch = "wasm32")]
pub mod wasi;

pub use memory::MemoryKv;

/// How many times [`update`] retries after losing a CAS race before it gives up.
pub const DEFAULT_CAS_RETRIES: u32 = 16;

/// What can go wrong talking to a store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The host has no store with that name.
    #[error("no such store")]
    NoSuchStore,
    /// The component's manifest does not list the store.
    #[error("access to the store was denied")]
    AccessDenied,
    /// A read-modify-write lost the CAS race more often than allowed.
    #[error("key {key:?} changed concurrently {attempts} times in a row; gave up")]
    Contended {
        /// The key being updated.
        key: String,
        /// How many attempts were made.
        attempts: u32,
    },
    /// Any other store failure, as the host describes it.
    #[error("store error: {0}")]
    Other(String),
}

/// Result alias for store operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One page of keys from [`Kv::list_keys`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPage {
    /// Keys in this page.
    pub keys: Vec<String>,
    /// Where the next page starts, or `None` when this was the last.
    pub cursor: Option<String>,
}

/// A key-value bucket: the operations of `wasi:keyvalue` draft2 (store, atomics, batch).
pub trait Kv {
    /// A read taken for a later compare-and-swap.
    type Cas;

    /// The value under `key`, if any.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Stores `value` under `key`.
    fn set(&self, key: &str, value: &[u8]) -> Result<()>;
    /// Removes `key`; removing a missing key is not an error.
    fn delete(&self, key: &str) -> Result<()>;
    /// Whether `key` holds a value.
    fn exists(&self, key: &str) -> Result<bool>;
    /// One page of keys, starting at `cursor`.
    fn list_keys(&self, cursor: Option<&str>) -> Result<KeyPage>;
    /// Adds `delta` to the counter under `key` (absent counts as 0) and returns the new value.
    fn increment(&self, key: &str, delta: i64) -> Result<i64>;
    /// Values for several keys at once, in the order asked.
    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>>;
    /// Stores several values at once.
    fn set_many(&self, entries: &[(&str, &[u8])]) -> Result<()>;
    /// Removes several keys at once.
    fn delete_many(&self, keys: &[&str]) -> Result<()>;
    /// Reads `key` for a compare-and-swap: the handle and the value it saw.
    fn cas_read(&self, key: &str) -> Result<(Self::Cas, Option<Vec<u8>>)>;
    /// Writes `value` if the key still holds what `cas` saw: `Ok(false)` when it changed.
    fn cas_write(&self, cas: Self::Cas, value: &[u8]) -> Result<bool>;

    /// Every key that starts with `prefix`, across all pages.
    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.list_keys(cursor.as_deref())?;
            out.extend(page.keys.into_iter().filter(|k| k.starts_with(prefix)));
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(out),
            }
        }
    }
}

/// Read-modify-write of one key with CAS and at most `retries` retries.
///
/// `f` sees the current value and returns the new one, or `None` to leave the key unchanged.
/// It may run several times (once per attempt), so it must not have side effects of its own.
/// Returns what the last successful attempt wrote (or `None` when it chose not to write).
pub fn update<K, F, E>(kv: &K, key: &str, retries: u32, mut f: F) -> Result<Option<Vec<u8>>, E>
where
    K: Kv + ?Sized,
    F: FnMut(Option<&[u8]>) -> Result<Option<Vec<u8>>, E>,
    E: From<Error>,
{
    for _ in 0..=retries {
        let (cas, current) = kv.cas_read(key)?;
        let Some(next) = f(current.as_deref())? else {
            return Ok(None);
        };
        if kv.cas_write(cas, &next)? {
            return Ok(Some(next));
        }
    }
    Err(Error::Contended {
        key: key.to_owned(),
        attempts: retries + 1,
    }
    .into())
}

/// The little-endian i64 encoding of a counter, the layout Spin's SQLite store uses.
pub fn decode_counter(bytes: &[u8]) -> Option<i64> {
    <[u8; 8]>::try_from(bytes).ok().map(i64::from_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_creates_and_modifies() {
        let kv = MemoryKv::new();
        let wrote = update::<_, _, Error>(&kv, "k", 3, |cur| {
            assert!(cur.is_none());
            Ok(Some(b"1".to_vec()))
        })
        .unwrap();
        assert_eq!(wrote.as_deref(), Some(&b"1"[..]));
        update::<_, _, Error>(&kv, "k", 3, |cur| {
            let mut v = cur.unwrap().to_vec();
            v.push(b'2');
            Ok(Some(v))
        })
        .unwrap();
        assert_eq!(kv.get("k").unwrap().as_deref(), Some(&b"12"[..]));
    }

    #[test]
    fn update_retries_when_another_writer_wins() {
        let kv = MemoryKv::new();
        kv.set("k", b"a").unwrap();
        let mut attempts = 0;
        update::<_, _, Error>(&kv, "k", 3, |cur| {
            attempts += 1;
            if attempts == 1 {
                // Another writer slips in between our read and our write.
                kv.set("k", b"b").unwrap();
            }
            Ok(Some([cur.unwrap(), b"!"].concat()))
        })
        .unwrap();
        assert_eq!(attempts, 2);
        assert_eq!(kv.get("k").unwrap().as_deref(), Some(&b"b!"[..]));
    }

    #[test]
    fn update_gives_up_after_bounded_retries() {
        let kv = MemoryKv::new();
        let err = update::<_, _, Error>(&kv, "k", 2, |_| {
            kv.set("k", b"interference").unwrap();
            Ok(Some(b"mine".to_vec()))
        })
        .unwrap_err();
        assert_eq!(
            err,
            Error::Contended {
                key: "k".into(),
                attempts: 3
            }
        );
    }

    #[test]
    fn update_can_decline_to_write() {
        let kv = MemoryKv::new();
        let wrote = update::<_, _, Error>(&kv, "k", 0, |_| Ok(None)).unwrap();
        assert!(wrote.is_none());
        assert!(!kv.exists("k").unwrap());
    }

    #[test]
    fn counters_and_batches() {
        let kv = MemoryKv::new();
        assert_eq!(kv.increment("c", 5).unwrap(), 5);
        assert_eq!(kv.increment("c", -2).unwrap(), 3);
        assert_eq!(decode_counter(&kv.get("c").unwrap().unwrap()), Some(3));
        kv.set("s", b"text").unwrap();
        assert!(matches!(kv.increment("s", 1), Err(Error::Other(_))));
        kv.set_many(&[("a", b"1"), ("b", b"2")]).unwrap();
        assert_eq!(
            kv.get_many(&["a", "zz", "b"]).unwrap(),
            vec![Some(b"1".to_vec()), None, Some(b"2".to_vec())]
        );
        kv.delete_many(&["a", "b"]).unwrap();
        assert_eq!(kv.get_many(&["a", "b"]).unwrap(), vec![None, None]);
    }

    #[test]
    fn listing_pages_through_everything() {
        let kv = MemoryKv::with_page_size(3);
        for i in 0..10 {
            kv.set(&format!("p:{i}"), b"x").unwrap();
            kv.set(&format!("q:{i}"), b"x").unwrap();
        }
        let mut keys = kv.keys_with_prefix("p:").unwrap();
        keys.sort();
        assert_eq!(keys.len(), 10);
        assert_eq!(keys[0], "p:0");
    }
}
