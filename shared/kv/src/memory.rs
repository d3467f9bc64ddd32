//! The in-memory backend: the same semantics as the hosts' stores, for native tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::{Error, KeyPage, Kv, Result, decode_counter};

/// A bucket held in memory. Every write bumps a version so CAS detects any intervening write,
/// even one that stores the same bytes back.
#[derive(Debug)]
pub struct MemoryKv {
    inner: Mutex<Inner>,
    page_size: usize,
}

#[derive(Debug, Default)]
struct Inner {
    entries: BTreeMap<String, (u64, Vec<u8>)>,
    /// Versions of deleted keys are kept implicitly by never reusing a version number.
    next_version: u64,
}

/// A CAS read of [`MemoryKv`]: the key and the version it had (0 when absent).
#[derive(Debug)]
pub struct MemoryCas {
    key: String,
    version: u64,
}

impl Default for MemoryKv {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryKv {
    /// An empty bucket that lists keys 1000 at a time.
    pub fn new() -> Self {
        Self::with_page_size(1000)
    }

    /// An empty bucket with a given listing page size (tests use small pages).
    pub fn with_page_size(page_size: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            page_size: page_size.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the map half-written: every operation
        // below is a single insert or remove.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    fn put(&mut self, key: &str, value: Vec<u8>) {
        self.next_version += 1;
        self.entries
            .insert(key.to_owned(), (self.next_version, value));
    }
}

impl Kv for MemoryKv {
    type Cas = MemoryCas;

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.lock().entries.get(key).map(|(_, v)| v.clone()))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.lock().put(key, value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.lock().entries.remove(key);
        Ok(())
    }

    fn exists(&self, key: &str) -> Result<bool> {
        Ok(self.lock().entries.contains_key(key))
    }

    fn list_keys(&self, cursor: Option<&str>) -> Result<KeyPage> {
        let inner = self.lock();
        let range: Box<dyn Iterator<Item = &String>> = match cursor {
            Some(c) => Box::new(
                inner
                    .entries
                    .range::<str, _>((std::ops::Bound::Excluded(c), std::ops::Bound::Unbounded))
                    .map(|(k, _)| k),
            ),
            None => Box::new(inner.entries.keys()),
        };
        let mut keys: Vec<String> = range.take(self.page_size + 1).cloned().collect();
        let cursor = if keys.len() > self.page_size {
            keys.pop();
            keys.last().cloned()
        } else {
            None
        };
        Ok(KeyPage { keys, cursor })
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64> {
        let mut inner = self.lock();
        let current = match inner.entries.get(key) {
            None => 0,
            Some((_, v)) => decode_counter(v)
                .ok_or_else(|| Error::Other(format!("value of {key:?} is not a counter")))?,
        };
        let next = current
            .checked_add(delta)
            .ok_or_else(|| Error::Other(format!("counter {key:?} would overflow")))?;
        inner.put(key, next.to_le_bytes().to_vec());
        Ok(next)
    }

    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        let inner = self.lock();
        Ok(keys
            .iter()
            .map(|k| inner.entries.get(*k).map(|(_, v)| v.clone()))
            .collect())
    }

    fn set_many(&self, entries: &[(&str, &[u8])]) -> Result<()> {
        let mut inner = self.lock();
        for (k, v) in entries {
            inner.put(k, v.to_vec());
        }
        Ok(())
    }

    fn delete_many(&self, keys: &[&str]) -> Result<()> {
        let mut inner = self.lock();
        for k in keys {
            inner.entries.remove(*k);
        }
        Ok(())
    }

    fn cas_read(&self, key: &str) -> Result<(Self::Cas, Option<Vec<u8>>)> {
        let inner = self.lock();
        let (version, value) = match inner.entries.get(key) {
            Some((ver, v)) => (*ver, Some(v.clone())),
            None => (0, None),
        };
        Ok((
            MemoryCas {
                key: key.to_owned(),
                version,
            },
            value,
        ))
    }

    fn cas_write(&self, cas: Self::Cas, value: &[u8]) -> Result<bool> {
        let mut inner = self.lock();
        let now = inner.entries.get(&cas.key).map_or(0, |(ver, _)| *ver);
        if now != cas.version {
            return Ok(false);
        }
        inner.put(&cas.key, value.to_vec());
        Ok(true)
    }
}
