//! Native ingest throughput over [`MemoryKv`], with a count of store calls (each one a host call
//! in the component, and each write a round trip to the host's SQLite writer).
//!
//! `cargo bench -p vantage-ingest --bench ingest [-- RECORDS [BATCH]]`; `INGEST_FILE=path` pushes
//! an NDJSON file (e.g. from `vantage push --generate N --out path`) instead of generated records.

use std::cell::Cell;
use std::time::Instant;

use serde_json::json;
use vantage_ingest::{Limits, ingest};
use vantage_kv::{KeyPage, Kv, MemoryKv, Result};

/// Counts calls by kind.
#[derive(Default)]
struct Counts {
    reads: Cell<u64>,
    batch_reads: Cell<u64>,
    writes: Cell<u64>,
}

struct Counting<'a> {
    kv: &'a MemoryKv,
    n: &'a Counts,
}

fn bump(c: &Cell<u64>) {
    c.set(c.get() + 1);
}

impl Kv for Counting<'_> {
    type Cas = <MemoryKv as Kv>::Cas;
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        bump(&self.n.reads);
        self.kv.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        bump(&self.n.writes);
        self.kv.set(key, value)
    }
    fn delete(&self, key: &str) -> Result<()> {
        bump(&self.n.writes);
        self.kv.delete(key)
    }
    fn exists(&self, key: &str) -> Result<bool> {
        bump(&self.n.reads);
        self.kv.exists(key)
    }
    fn list_keys(&self, cursor: Option<&str>) -> Result<KeyPage> {
        bump(&self.n.reads);
        self.kv.list_keys(cursor)
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64> {
        bump(&self.n.writes);
        self.kv.increment(key, delta)
    }
    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        bump(&self.n.batch_reads);
        self.kv.get_many(keys)
    }
    fn set_many(&self, entries: &[(&str, &[u8])]) -> Result<()> {
        bump(&self.n.writes);
        self.kv.set_many(entries)
    }
    fn delete_many(&self, keys: &[&str]) -> Result<()> {
        bump(&self.n.writes);
        self.kv.delete_many(keys)
    }
    fn cas_read(&self, key: &str) -> Result<(Self::Cas, Option<Vec<u8>>)> {
        bump(&self.n.reads);
        self.kv.cas_read(key)
    }
    fn cas_write(&self, cas: Self::Cas, value: &[u8]) -> Result<bool> {
        bump(&self.n.writes);
        self.kv.cas_write(cas, value)
    }
}

/// Records shaped like `vantage push --generate`'s: a ~1 KB CRM profile per person, a link for
/// one person in ten, a membership for another one in ten.
fn generate(count: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(count);
    let base = 1_796_000_000_000i64;
    let mut person = 0usize;
    while out.len() < count {
        let ts = vantage_model::time::format_rfc3339(base + out.len() as i64 * 50);
        out.push(json!({"type":"profile","identity":{"namespace":"CRMID","id":format!("crm-{person:09}")},
            "timestamp":ts,"attributes":{
              "person":{"name":{"firstName":"Ada","lastName":"Lovelace"},"birthYear":1970 + person % 40,"gender":"female"},
              "personalEmail":{"address":format!("ada.lovelace{person}@example.com")},
              "mobilePhone":{"number":format!("+1555{:07}", person * 7 % 10_000_000)},
              "homeAddress":{"city":"Lyon","countryCode":"FR","postalCode":format!("{:05}", person % 100_000)},
              "loyalty":{"program":"acme-rewards","tier":"gold","points":person * 13 % 50_000,"memberSince":"2019-04-02T21:59:20.629Z"},
              "transactions":{"orders":person % 120,"lifetimeValue":2426.99,"currency":"EUR","averageOrderValue":45.79,
                "lastOrderDate":"2026-05-25T21:59:20.629Z","lastCategory":"electronics","returns":person % 5},
              "scores":{"model":"propensity-v7","churn":0.012,"purchase30d":0.84,"clv90d":625.98,"nextBestCategory":"kids"},
              "preferences":{"language":"en-US","channels":["email","push"],"favoriteCategories":["electronics","home","outdoor"]},
              "crm":{"accountId":format!("A-{person:08}"),"type":"B2C","owner":format!("store-{}", person % 500),
                "marketingOptIn":true,"source":"crm-nightly-export"}},
            "consent":{"collect":"y","personalize":"y"}}).to_string());
        if person % 10 == 3 && out.len() < count {
            out.push(json!({"type":"identity-link","timestamp":vantage_model::time::format_rfc3339(base + out.len() as i64 * 50 + 1),
                "identities":[{"namespace":"ECID","id":format!("{:038}", person * 7919 + 1)},
                              {"namespace":"CRMID","id":format!("crm-{person:09}")}]}).to_string());
        }
        if person % 10 == 7 && out.len() < count {
            out.push(json!({"type":"membership","identity":{"namespace":"CRMID","id":format!("crm-{person:09}")},
                "segmentId":"high-value","status":"realized","source":"batch",
                "timestamp":vantage_model::time::format_rfc3339(base + out.len() as i64 * 50 + 2)}).to_string());
        }
        person += 1;
    }
    out
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let records = args.first().copied().unwrap_or(50_000);
    let batch = args.get(1).copied().unwrap_or(5000);
    let lines: Vec<String> = match std::env::var("INGEST_FILE") {
        Ok(path) => std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {path}: {e}"))
            .lines()
            .take(records)
            .map(str::to_owned)
            .collect(),
        Err(_) => generate(records),
    };
    let bodies: Vec<String> = lines.chunks(batch).map(|c| c.join("\n")).collect();
    let bytes: usize = bodies.iter().map(String::len).sum();
    let now = 1_796_100_000_000;
    for pass in ["first (new profiles)", "replay (unchanged)"] {
        let kv = MemoryKv::new();
        let counts = Counts::default();
        let counting = Counting {
            kv: &kv,
            n: &counts,
        };
        if pass.starts_with("replay") {
            for body in &bodies {
                ingest(kv_ref(&kv), body.as_bytes(), &Limits::default(), now).unwrap();
            }
        }
        let start = Instant::now();
        let mut accepted = 0;
        for body in &bodies {
            let report = ingest(&counting, body.as_bytes(), &Limits::default(), now).unwrap();
            assert!(report.rejected.is_empty(), "{:?}", report.rejected.first());
            accepted += report.accepted;
        }
        let secs = start.elapsed().as_secs_f64();
        let n = lines.len() as f64;
        println!(
            "{pass}: {accepted} records in {secs:.2} s: {:.0} records/s, {:.1} MB/s; per record: {:.2} reads, {:.3} get_many, {:.2} writes",
            n / secs,
            bytes as f64 / 1e6 / secs,
            counts.reads.get() as f64 / n,
            counts.batch_reads.get() as f64 / n,
            counts.writes.get() as f64 / n,
        );
    }
}

fn kv_ref(kv: &MemoryKv) -> &MemoryKv {
    kv
}
