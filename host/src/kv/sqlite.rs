//! Embedded SQLite store in Spin's own file and table layout, with group commit.
//!
//! Layout: one file (`.spin/sqlite_key_value.db` by default) holding
//! `spin_key_value(store, key, value)`, so a store moves between `spin up` and `vantage up`.
//!
//! Writes go to one writer thread that drains every queued write into a single transaction
//! (group commit): concurrent requests share one commit instead of queueing for one each.
//! WAL mode with `synchronous=NORMAL` keeps each commit off the fsync path (a checkpoint
//! syncs); a committed write survives a crash of the process. Reads run on pooled
//! connections in the caller's thread and see every write that has been acknowledged.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use super::{KvError, KvResult, LIST_PAGE_SIZE, add_to_counter};

/// Most writes committed in one transaction; more wait for the next commit.
const MAX_GROUP: usize = 512;
/// Idle reader connections kept open.
const MAX_IDLE_READERS: usize = 64;

/// An open database file: its writer thread and reader pool. Cheap to clone.
#[derive(Clone)]
pub struct SqliteDb {
    inner: Arc<DbInner>,
}

struct DbInner {
    path: PathBuf,
    writes: Mutex<Option<mpsc::Sender<WriteRequest>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
}

/// One store label inside a database file.
#[derive(Clone)]
pub struct SqliteStore {
    db: SqliteDb,
    label: Arc<str>,
}

enum WriteOp {
    Set(String, Vec<u8>),
    Delete(String),
    SetMany(Vec<(String, Vec<u8>)>),
    DeleteMany(Vec<String>),
    Increment(String, i64),
    Swap {
        key: String,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
    },
}

enum WriteOutcome {
    Done,
    Counter(i64),
    Swapped(bool),
}

struct WriteRequest {
    store: Arc<str>,
    op: WriteOp,
    reply: tokio::sync::oneshot::Sender<KvResult<WriteOutcome>>,
}

fn other(e: impl std::fmt::Display) -> KvError {
    KvError::Other(e.to_string())
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(())
}

impl SqliteDb {
    /// Opens (creating if needed) the database file and starts its writer thread.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating state directory {}", dir.display()))?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("opening SQLite file {}", path.display()))?;
        configure(&conn).context("configuring SQLite")?;
        conn.execute(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL,
                key   TEXT NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY (store, key)
            )",
            [],
        )
        .context("creating table spin_key_value")?;
        let (tx, rx) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("vantage-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx))
            .context("starting the SQLite writer thread")?;
        Ok(Self {
            inner: Arc::new(DbInner {
                path: path.to_path_buf(),
                writes: Mutex::new(Some(tx)),
                writer: Mutex::new(Some(writer)),
                readers: Mutex::new(Vec::new()),
            }),
        })
    }

    /// A handle on one store label in this file.
    pub fn store(&self, label: &str) -> SqliteStore {
        SqliteStore {
            db: self.clone(),
            label: label.into(),
        }
    }

    /// Stops taking writes, commits what is queued, checkpoints the WAL into the main file.
    pub fn flush(&self) {
        drop(lock(&self.inner.writes).take());
        if let Some(handle) = lock(&self.inner.writer).take() {
            let _ = handle.join();
        }
    }

    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> KvResult<T> {
        let conn = match lock(&self.inner.readers).pop() {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.inner.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(other)?;
                c.busy_timeout(Duration::from_secs(5)).map_err(other)?;
                c
            }
        };
        let out = f(&conn).map_err(other);
        let mut pool = lock(&self.inner.readers);
        if pool.len() < MAX_IDLE_READERS {
            pool.push(conn);
        }
        out
    }

    async fn write(&self, store: &Arc<str>, op: WriteOp) -> KvResult<WriteOutcome> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let sender = lock(&self.inner.writes).clone();
        let Some(sender) = sender else {
            return Err(KvError::Other("the store is shutting down".into()));
        };
        sender
            .send(WriteRequest {
                store: store.clone(),
                op,
                reply,
            })
            .map_err(|_| KvError::Other("the store writer has stopped".into()))?;
        rx.await
            .map_err(|_| KvError::Other("the store writer has stopped".into()))?
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn writer_loop(mut conn: Connection, rx: mpsc::Receiver<WriteRequest>) {
    let mut batch = Vec::with_capacity(MAX_GROUP);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let outcomes = commit_group(&mut conn, &batch);
        for (req, outcome) in batch.drain(..).zip(outcomes) {
            let _ = req.reply.send(outcome);
        }
    }
    // Every sender is gone: fold the WAL back into the main file so the store is one file again.
    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
        tracing::warn!(error = %e, "checkpointing the SQLite WAL at shutdown failed");
    }
}

/// Applies a group of writes in one transaction; each write in its own savepoint so one
/// failing write (a non-counter increment, say) leaves the others intact.
fn commit_group(conn: &mut Connection, batch: &[WriteRequest]) -> Vec<KvResult<WriteOutcome>> {
    let result = (|| -> rusqlite::Result<Vec<KvResult<WriteOutcome>>> {
        let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut outcomes = Vec::with_capacity(batch.len());
        for req in batch {
            let mut sp = tx.savepoint()?;
            let outcome = apply(&sp, &req.store, &req.op);
            match outcome {
                Ok(Ok(o)) => {
                    sp.commit()?;
                    outcomes.push(Ok(o));
                }
                Ok(Err(e)) => {
                    sp.rollback()?;
                    outcomes.push(Err(e));
                }
                Err(e) => {
                    sp.rollback()?;
                    outcomes.push(Err(other(e)));
                }
            }
        }
        tx.commit()?;
        Ok(outcomes)
    })();
    match result {
        Ok(outcomes) => outcomes,
        Err(e) => {
            tracing::error!(error = %e, writes = batch.len(), "SQLite commit failed");
            batch.iter().map(|_| Err(other(&e))).collect()
        }
    }
}

const UPSERT: &str = "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
     ON CONFLICT (store, key) DO UPDATE SET value = excluded.value";
const SELECT: &str = "SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2";
const DELETE: &str = "DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2";

fn apply(conn: &Connection, store: &str, op: &WriteOp) -> rusqlite::Result<KvResult<WriteOutcome>> {
    let read = |key: &str| -> rusqlite::Result<Option<Vec<u8>>> {
        conn.prepare_cached(SELECT)?
            .query_row(params![store, key], |r| r.get(0))
            .optional()
    };
    let put = |key: &str, value: &[u8]| -> rusqlite::Result<()> {
        conn.prepare_cached(UPSERT)?
            .execute(params![store, key, value])?;
        Ok(())
    };
    let del = |key: &str| -> rusqlite::Result<()> {
        conn.prepare_cached(DELETE)?.execute(params![store, key])?;
        Ok(())
    };
    Ok(Ok(match op {
        WriteOp::Set(k, v) => {
            put(k, v)?;
            WriteOutcome::Done
        }
        WriteOp::Delete(k) => {
            del(k)?;
            WriteOutcome::Done
        }
        WriteOp::SetMany(entries) => {
            for (k, v) in entries {
                put(k, v)?;
            }
            WriteOutcome::Done
        }
        WriteOp::DeleteMany(keys) => {
            for k in keys {
                del(k)?;
            }
            WriteOutcome::Done
        }
        WriteOp::Increment(k, delta) => {
            let current = read(k)?;
            match add_to_counter(current.as_deref(), k, *delta) {
                Ok(n) => {
                    put(k, &n.to_le_bytes())?;
                    WriteOutcome::Counter(n)
                }
                Err(e) => return Ok(Err(e)),
            }
        }
        WriteOp::Swap {
            key,
            expected,
            value,
        } => {
            if read(key)? == *expected {
                put(key, value)?;
                WriteOutcome::Swapped(true)
            } else {
                WriteOutcome::Swapped(false)
            }
        }
    }))
}

impl SqliteStore {
    /// The database file.
    pub fn path(&self) -> &Path {
        &self.db.inner.path
    }

    /// The value under `key`.
    pub async fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        self.db.with_reader(|c| {
            c.prepare_cached(SELECT)?
                .query_row(params![&*self.label, key], |r| r.get(0))
                .optional()
        })
    }

    /// Stores a value.
    pub async fn set(&self, key: &str, value: Vec<u8>) -> KvResult<()> {
        self.db
            .write(&self.label, WriteOp::Set(key.to_owned(), value))
            .await
            .map(|_| ())
    }

    /// Removes a key.
    pub async fn delete(&self, key: &str) -> KvResult<()> {
        self.db
            .write(&self.label, WriteOp::Delete(key.to_owned()))
            .await
            .map(|_| ())
    }

    /// Whether a key exists.
    pub async fn exists(&self, key: &str) -> KvResult<bool> {
        self.db.with_reader(|c| {
            c.prepare_cached("SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .exists(params![&*self.label, key])
        })
    }

    /// One page of keys in key order, after `cursor` (the last key of the previous page).
    pub async fn list_keys(
        &self,
        cursor: Option<String>,
    ) -> KvResult<(Vec<String>, Option<String>)> {
        let limit = LIST_PAGE_SIZE as i64 + 1;
        let mut keys = self.db.with_reader(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT key FROM spin_key_value WHERE store = ?1 AND key > ?2 ORDER BY key LIMIT ?3",
            )?;
            let rows = stmt.query_map(
                params![&*self.label, cursor.as_deref().unwrap_or(""), limit],
                |r| r.get::<_, String>(0),
            )?;
            rows.collect::<rusqlite::Result<Vec<String>>>()
        })?;
        // The empty key sorts first and `key > ''` skips it: add it back on the first page.
        if cursor.is_none() && self.exists("").await? {
            keys.insert(0, String::new());
        }
        let next = if keys.len() > LIST_PAGE_SIZE {
            keys.truncate(LIST_PAGE_SIZE);
            keys.last().cloned()
        } else {
            None
        };
        Ok((keys, next))
    }

    /// Atomically adds `delta` to a counter.
    pub async fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        match self
            .db
            .write(&self.label, WriteOp::Increment(key.to_owned(), delta))
            .await?
        {
            WriteOutcome::Counter(n) => Ok(n),
            _ => Err(KvError::Other("unexpected writer reply".into())),
        }
    }

    /// Writes `value` if the key still holds `expected`.
    pub async fn swap(&self, key: &str, expected: Option<&[u8]>, value: Vec<u8>) -> KvResult<bool> {
        let op = WriteOp::Swap {
            key: key.to_owned(),
            expected: expected.map(<[u8]>::to_vec),
            value,
        };
        match self.db.write(&self.label, op).await? {
            WriteOutcome::Swapped(ok) => Ok(ok),
            _ => Err(KvError::Other("unexpected writer reply".into())),
        }
    }

    /// Values of several keys, read in one transaction.
    pub async fn get_many(&self, keys: Vec<String>) -> KvResult<Vec<Option<Vec<u8>>>> {
        self.db.with_reader(|c| {
            let tx = c.unchecked_transaction()?;
            let mut stmt = tx.prepare_cached(SELECT)?;
            let out = keys
                .iter()
                .map(|k| {
                    stmt.query_row(params![&*self.label, k], |r| r.get(0))
                        .optional()
                })
                .collect::<rusqlite::Result<Vec<_>>>()?;
            drop(stmt);
            tx.finish()?;
            Ok(out)
        })
    }

    /// Stores several values in one transaction.
    pub async fn set_many(&self, entries: Vec<(String, Vec<u8>)>) -> KvResult<()> {
        self.db
            .write(&self.label, WriteOp::SetMany(entries))
            .await
            .map(|_| ())
    }

    /// Removes several keys in one transaction.
    pub async fn delete_many(&self, keys: Vec<String>) -> KvResult<()> {
        self.db
            .write(&self.label, WriteOp::DeleteMany(keys))
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_db() -> (tempdir::Dir, SqliteDb) {
        let dir = tempdir::Dir::new();
        let db = SqliteDb::open(&dir.0.join("kv.db")).unwrap();
        (dir, db)
    }

    mod tempdir {
        /// A directory removed on drop (no extra dependency for one test helper).
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let p = std::env::temp_dir()
                    .join(format!("vantage-sqlite-test-{}-{n}", std::process::id()));
                std::fs::create_dir_all(&p).unwrap();
                Self(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn operations_and_spin_layout() {
        let (dir, db) = temp_db();
        let s = db.store("default");
        let other = db.store("other");
        s.set("a", b"1".to_vec()).await.unwrap();
        other.set("a", b"2".to_vec()).await.unwrap();
        assert_eq!(s.get("a").await.unwrap(), Some(b"1".to_vec()));
        assert_eq!(other.get("a").await.unwrap(), Some(b"2".to_vec()));
        assert_eq!(s.increment("n", 2).await.unwrap(), 2);
        assert_eq!(s.get("n").await.unwrap(), Some(2i64.to_le_bytes().to_vec()));
        assert!(s.increment("a", 1).await.is_err());
        assert!(!s.swap("a", Some(b"x"), b"y".to_vec()).await.unwrap());
        assert!(s.swap("a", Some(b"1"), b"y".to_vec()).await.unwrap());
        assert!(s.swap("new", None, b"z".to_vec()).await.unwrap());
        assert!(!s.swap("new", None, b"w".to_vec()).await.unwrap());
        s.delete("a").await.unwrap();
        assert!(!s.exists("a").await.unwrap());
        db.flush();
        // The file is Spin's: a plain connection sees the table and rows.
        let c = Connection::open(dir.0.join("kv.db")).unwrap();
        let n: i64 = c
            .query_row(
                "SELECT COUNT(*) FROM spin_key_value WHERE store = 'default'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_increments_are_not_lost() {
        let (_dir, db) = temp_db();
        let s = db.store("default");
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move {
                    for _ in 0..250 {
                        s.increment("c", 1).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(s.increment("c", 0).await.unwrap(), 2000);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn listing_pages() {
        let (_dir, db) = temp_db();
        let s = db.store("default");
        let entries: Vec<_> = (0..(LIST_PAGE_SIZE + 5))
            .map(|i| (format!("k{i:06}"), vec![1u8]))
            .collect();
        s.set_many(entries).await.unwrap();
        s.set("", b"empty".to_vec()).await.unwrap();
        let (first, cursor) = s.list_keys(None).await.unwrap();
        assert_eq!(first.len(), LIST_PAGE_SIZE);
        assert_eq!(first[0], "");
        let (second, end) = s.list_keys(cursor).await.unwrap();
        assert_eq!(second.len(), 6);
        assert!(end.is_none());
    }
}
