//! Key-value stores behind `wasi:keyvalue`: the backends (embedded SQLite in Spin's layout,
//! Redis) with one set of semantics, and the registry of store labels a host serves.

pub mod host;
pub mod redis;
pub mod sqlite;

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;

use crate::runtime_config::{RuntimeConfig, StoreConfig};

/// A store failure as the guest sees it (`wasi:keyvalue/store.error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    /// The label is not configured.
    #[error("no such store")]
    NoSuchStore,
    /// The component's manifest does not list the label.
    #[error("access denied")]
    AccessDenied,
    /// Anything else, described.
    #[error("{0}")]
    Other(String),
}

/// Result alias for backend calls.
pub type KvResult<T> = Result<T, KvError>;

/// How many keys one `list-keys` page holds.
pub const LIST_PAGE_SIZE: usize = 10_000;

/// One backend serving one store label. Every operation has the same meaning on each:
/// CAS compares the value seen at `cas::new` with the current one, counters are 8-byte
/// little-endian i64 (Spin's SQLite layout), a non-counter value makes `increment` fail.
#[derive(Clone)]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite(sqlite::SqliteStore),
    /// Redis.
    Redis(redis::RedisStore),
}

macro_rules! dispatch {
    ($self:ident, $b:ident => $e:expr) => {
        match $self {
            Backend::Sqlite($b) => $e,
            Backend::Redis($b) => $e,
        }
    };
}

impl Backend {
    /// The value under `key`.
    pub async fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        dispatch!(self, b => b.get(key).await)
    }
    /// Stores a value.
    pub async fn set(&self, key: &str, value: Vec<u8>) -> KvResult<()> {
        dispatch!(self, b => b.set(key, value).await)
    }
    /// Removes a key.
    pub async fn delete(&self, key: &str) -> KvResult<()> {
        dispatch!(self, b => b.delete(key).await)
    }
    /// Whether a key exists.
    pub async fn exists(&self, key: &str) -> KvResult<bool> {
        dispatch!(self, b => b.exists(key).await)
    }
    /// One page of keys after `cursor`.
    pub async fn list_keys(
        &self,
        cursor: Option<String>,
    ) -> KvResult<(Vec<String>, Option<String>)> {
        dispatch!(self, b => b.list_keys(cursor).await)
    }
    /// Atomically adds `delta` to a counter.
    pub async fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        dispatch!(self, b => b.increment(key, delta).await)
    }
    /// Writes `value` if the key still holds `expected` (`None`: still absent).
    pub async fn swap(&self, key: &str, expected: Option<&[u8]>, value: Vec<u8>) -> KvResult<bool> {
        dispatch!(self, b => b.swap(key, expected, value).await)
    }
    /// Values of several keys, in order.
    pub async fn get_many(&self, keys: Vec<String>) -> KvResult<Vec<Option<Vec<u8>>>> {
        dispatch!(self, b => b.get_many(keys).await)
    }
    /// Stores several values atomically.
    pub async fn set_many(&self, entries: Vec<(String, Vec<u8>)>) -> KvResult<()> {
        dispatch!(self, b => b.set_many(entries).await)
    }
    /// Removes several keys atomically.
    pub async fn delete_many(&self, keys: Vec<String>) -> KvResult<()> {
        dispatch!(self, b => b.delete_many(keys).await)
    }
    /// A short description for `/health`-style reports and logs.
    pub fn describe(&self) -> String {
        match self {
            Backend::Sqlite(s) => format!("sqlite:{}", s.path().display()),
            Backend::Redis(r) => format!("redis:{}", r.redacted_url()),
        }
    }
}

/// Adds `delta` to a stored counter value: absent is 0, anything but 8 bytes is an error.
pub fn add_to_counter(current: Option<&[u8]>, key: &str, delta: i64) -> KvResult<i64> {
    let now = match current {
        None => 0,
        Some(bytes) => i64::from_le_bytes(bytes.try_into().map_err(|_| {
            KvError::Other(format!(
                "value of {key:?} is not a counter (counters are 8-byte little-endian integers)"
            ))
        })?),
    };
    now.checked_add(delta)
        .ok_or_else(|| KvError::Other(format!("counter {key:?} would overflow")))
}

/// Every store label the host serves, opened once at startup and shared by all requests.
#[derive(Clone, Default)]
pub struct Stores {
    by_label: Arc<BTreeMap<String, Backend>>,
    sqlite: Vec<sqlite::SqliteDb>,
}

impl Stores {
    /// Opens the stores `labels` that the runtime config describes. SQLite stores sharing a file
    /// share one database (one writer thread, one reader pool).
    pub async fn open<'a>(
        config: &RuntimeConfig,
        labels: impl IntoIterator<Item = &'a str>,
    ) -> anyhow::Result<Self> {
        let mut by_label = BTreeMap::new();
        let mut dbs: BTreeMap<std::path::PathBuf, sqlite::SqliteDb> = BTreeMap::new();
        for label in labels {
            if by_label.contains_key(label) {
                continue;
            }
            let Some(cfg) = config.stores.get(label) else {
                anyhow::bail!(
                    "key_value_stores names {label:?}, which the runtime config does not define \
                     (add [key_value_store.{label}] to a --runtime-config-file)"
                );
            };
            let backend = match cfg {
                StoreConfig::Sqlite { path } => {
                    let db = match dbs.get(path) {
                        Some(db) => db.clone(),
                        None => {
                            let db = sqlite::SqliteDb::open(path)
                                .with_context(|| format!("opening store {label:?}"))?;
                            dbs.insert(path.clone(), db.clone());
                            db
                        }
                    };
                    Backend::Sqlite(db.store(label))
                }
                StoreConfig::Redis { url } => Backend::Redis(
                    redis::RedisStore::connect(url)
                        .await
                        .with_context(|| format!("connecting store {label:?}"))?,
                ),
            };
            by_label.insert(label.to_owned(), backend);
        }
        Ok(Self {
            by_label: Arc::new(by_label),
            sqlite: dbs.into_values().collect(),
        })
    }

    /// The backend serving `label`.
    pub fn get(&self, label: &str) -> Option<&Backend> {
        self.by_label.get(label)
    }

    /// Labels and backends, for logs.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Backend)> {
        self.by_label.iter()
    }

    /// Waits for queued writes to commit and checkpoints SQLite files (graceful shutdown).
    pub fn flush(&self) {
        for db in &self.sqlite {
            db.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_arithmetic() {
        assert_eq!(add_to_counter(None, "k", 3), Ok(3));
        assert_eq!(add_to_counter(Some(&5i64.to_le_bytes()), "k", -7), Ok(-2));
        assert!(matches!(
            add_to_counter(Some(b"abc"), "k", 1),
            Err(KvError::Other(_))
        ));
        assert!(matches!(
            add_to_counter(Some(&i64::MAX.to_le_bytes()), "k", 1),
            Err(KvError::Other(_))
        ));
    }
}
