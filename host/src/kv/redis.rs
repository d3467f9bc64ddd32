//! Redis store, for many PoP replicas sharing one store. Keys are stored as given, as Spin's
//! Redis store does; counters and CAS run as Lua scripts so each is one atomic step.

use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use super::{KvError, KvResult, LIST_PAGE_SIZE};

/// A connection (multiplexed, reconnecting) to one Redis database.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    url: String,
}

fn other(e: redis::RedisError) -> KvError {
    KvError::Other(format!("redis: {e}"))
}

/// Adds ARGV[1..2] (the delta's low and high 32 bits) to the 8-byte little-endian counter in
/// KEYS[1], in 32-bit halves because Lua numbers are doubles and would lose i64 precision.
const INCREMENT: &str = r#"
local v = redis.call('GET', KEYS[1])
local lo, hi = 0, 0
if v then
  if #v ~= 8 then
    return redis.error_reply('value of "' .. KEYS[1] .. '" is not a counter (counters are 8-byte little-endian integers)')
  end
  lo, hi = struct.unpack('<I4I4', v)
end
local dlo, dhi = tonumber(ARGV[1]), tonumber(ARGV[2])
local s = lo + dlo
local carry = 0
if s >= 4294967296 then s = s - 4294967296; carry = 1 end
local h = (hi + dhi + carry) % 4294967296
local neg = function(x) return x >= 2147483648 end
if neg(hi) == neg(dhi) and neg(h) ~= neg(hi) then
  return redis.error_reply('counter "' .. KEYS[1] .. '" would overflow')
end
redis.call('SET', KEYS[1], struct.pack('<I4I4', s, h))
return {s, h}
"#;

/// Sets KEYS[1] to ARGV[3] if its value still hashes to ARGV[2] (ARGV[1] = '1'), or if it is
/// still absent (ARGV[1] = '0'). Comparing SHA-1s keeps large values off the wire twice.
const SWAP: &str = r#"
local v = redis.call('GET', KEYS[1])
local ok
if ARGV[1] == '0' then ok = (v == false) else ok = (v ~= false and redis.sha1hex(v) == ARGV[2]) end
if ok then redis.call('SET', KEYS[1], ARGV[3]); return 1 end
return 0
"#;

/// SHA-1 only names a value for the CAS script (as `redis.sha1hex` prints it); not security.
fn sha1_hex(data: &[u8]) -> String {
    sha1_smol::Sha1::from(data).digest().to_string()
}

impl RedisStore {
    /// Connects and checks the server answers.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let mut conn = ConnectionManager::new(client).await?;
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(Self {
            conn,
            url: url.to_owned(),
        })
    }

    /// The URL without any password.
    pub fn redacted_url(&self) -> String {
        match (self.url.find("://"), self.url.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                format!("{}://***@{}", &self.url[..scheme], &self.url[at + 1..])
            }
            _ => self.url.clone(),
        }
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// The value under `key`.
    pub async fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        self.conn().get(key).await.map_err(other)
    }

    /// Stores a value.
    pub async fn set(&self, key: &str, value: Vec<u8>) -> KvResult<()> {
        self.conn().set(key, value).await.map_err(other)
    }

    /// Removes a key.
    pub async fn delete(&self, key: &str) -> KvResult<()> {
        self.conn().del(key).await.map_err(other)
    }

    /// Whether a key exists.
    pub async fn exists(&self, key: &str) -> KvResult<bool> {
        self.conn().exists(key).await.map_err(other)
    }

    /// One SCAN page; the cursor is Redis's. A key may appear twice across pages while keys
    /// are being added, as SCAN guarantees only that every key present throughout is seen.
    pub async fn list_keys(
        &self,
        cursor: Option<String>,
    ) -> KvResult<(Vec<String>, Option<String>)> {
        let start: u64 = match cursor.as_deref() {
            None => 0,
            Some(c) => c
                .parse()
                .map_err(|_| KvError::Other(format!("invalid list-keys cursor {c:?}")))?,
        };
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(start)
            .arg("COUNT")
            .arg(LIST_PAGE_SIZE)
            .query_async(&mut self.conn())
            .await
            .map_err(other)?;
        Ok((keys, (next != 0).then(|| next.to_string())))
    }

    /// Atomically adds `delta` to a counter.
    pub async fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        let bits = delta as u64;
        let (lo, hi): (u64, u64) = redis::Script::new(INCREMENT)
            .key(key)
            .arg(bits & 0xffff_ffff)
            .arg(bits >> 32)
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| match e.kind() {
                redis::ErrorKind::ExtensionError | redis::ErrorKind::ResponseError => {
                    KvError::Other(e.detail().unwrap_or("increment failed").to_owned())
                }
                _ => other(e),
            })?;
        Ok(((hi << 32) | lo) as i64)
    }

    /// Writes `value` if the key still holds `expected`.
    pub async fn swap(&self, key: &str, expected: Option<&[u8]>, value: Vec<u8>) -> KvResult<bool> {
        let (present, hash) = match expected {
            None => ("0", String::new()),
            Some(v) => ("1", sha1_hex(v)),
        };
        let swapped: i64 = redis::Script::new(SWAP)
            .key(key)
            .arg(present)
            .arg(hash)
            .arg(value)
            .invoke_async(&mut self.conn())
            .await
            .map_err(other)?;
        Ok(swapped == 1)
    }

    /// Values of several keys (MGET).
    pub async fn get_many(&self, keys: Vec<String>) -> KvResult<Vec<Option<Vec<u8>>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut self.conn())
            .await
            .map_err(other)
    }

    /// Stores several values atomically (MSET).
    pub async fn set_many(&self, entries: Vec<(String, Vec<u8>)>) -> KvResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.conn().mset(&entries).await.map_err(other)
    }

    /// Removes several keys atomically (DEL).
    pub async fn delete_many(&self, keys: Vec<String>) -> KvResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        self.conn().del(keys).await.map_err(other)
    }
}
