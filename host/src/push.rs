//! `vantage push`: streams a projection NDJSON file to one or more PoPs (`POST /v1/projection`)
//! in batches, with bounded retries, progress and a per-PoP summary; and `vantage gen-profiles`
//! (also `push --generate N --out F`), which writes a synthetic projection for demos and
//! benchmarks.
//!
//! The file is read once, a batch at a time, and every batch goes to every PoP (fan-out): memory
//! stays bounded by `--batch-bytes × (--concurrency + 1) × PoPs` whatever the file size. Since
//! ingest is idempotent, a failed push can simply be run again.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use serde::Deserialize;
use tokio::io::AsyncBufReadExt;
use tokio::sync::{Mutex, mpsc};

/// `vantage push FILE --to URL [--to URL …] --token T`.
#[derive(clap::Args, Debug)]
pub struct PushArgs {
    /// The NDJSON file to push (one projection record a line).
    #[arg(required_unless_present = "generate")]
    pub file: Option<PathBuf>,
    /// A PoP's base URL (`http://host:port`); repeat for fan-out to several PoPs.
    #[arg(long = "to", value_name = "URL", required_unless_present = "generate")]
    pub to: Vec<String>,
    /// The PoPs' admin token.
    #[arg(long, env = "VANTAGE_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Most records in one request (the component accepts up to 10,000). About 2.4 MB of 1 KB
    /// profiles: big enough that the PoP batches its store reads, small enough that several
    /// requests are in flight.
    #[arg(long, default_value_t = 2500)]
    pub batch_records: usize,
    /// Most bytes in one request (the component accepts up to 8 MiB, `vantage up` bodies up to
    /// 16 MiB by default).
    #[arg(long, default_value_t = 4 << 20)]
    pub batch_bytes: usize,
    /// Requests in flight per PoP: while one request waits on a store write, another computes,
    /// and the PoP's SQLite writer commits the writes of all of them together.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Attempts per batch on 429, 5xx and connection errors before the PoP is given up.
    #[arg(long, default_value_t = 6)]
    pub max_attempts: u32,
    /// Instead of pushing, write N synthetic records (profiles of about 1 KB, identity links,
    /// memberships) to `--out`; the same as `vantage gen-profiles --count N --out FILE`.
    #[arg(long, value_name = "N", requires = "out")]
    pub generate: Option<u64>,
    /// Where `--generate` writes.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Seed of `--generate` (the same seed writes the same people).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// `vantage gen-profiles --count N [--out FILE] [--seed S]`.
#[derive(clap::Args, Debug)]
pub struct GenProfilesArgs {
    /// Records to write: per person a CRM profile of about 1 KB (name, contact, address,
    /// loyalty, transactions, model scores, preferences, consent), and for some an identity
    /// link (web ECID ↔ CRMID) and a batch segment membership.
    #[arg(long, value_name = "N")]
    pub count: u64,
    /// Where to write the NDJSON; standard output when absent.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Seed (the same seed writes the same people; timestamps follow the clock).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// Runs `vantage gen-profiles`: returns the bytes written. A reader that stops early (`| head`)
/// ends the output quietly.
pub fn gen_profiles(args: &GenProfilesArgs) -> anyhow::Result<u64> {
    let written = match &args.out {
        Some(path) => generate(path, args.count, args.seed)?,
        None => {
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
            match generate_into(&mut w, args.count, args.seed).and_then(|n| {
                w.flush().context("writing the generated records")?;
                Ok(n)
            }) {
                Ok(n) => n,
                Err(e) if broken_pipe(&e) => return Ok(0),
                Err(e) => return Err(e),
            }
        }
    };
    eprintln!("wrote {} records ({written} bytes)", args.count);
    Ok(written)
}

fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Runs `vantage push`. `Ok(false)` when any record was rejected or any batch failed.
pub async fn run(args: PushArgs) -> anyhow::Result<bool> {
    if let Some(count) = args.generate {
        let out = args.out.clone().context("--generate needs --out FILE")?;
        let written = tokio::task::spawn_blocking(move || generate(&out, count, args.seed))
            .await
            .context("joining the generator")??;
        eprintln!("wrote {count} records ({written} bytes)");
        return Ok(true);
    }
    let file = args.file.clone().context("a FILE to push is required")?;
    let token = args
        .token
        .clone()
        .filter(|t| !t.is_empty())
        .context("an admin token is required: --token T or VANTAGE_ADMIN_TOKEN")?;
    if args.to.is_empty() {
        bail!("at least one --to URL is required");
    }
    if args.batch_records == 0 || args.batch_bytes == 0 || args.concurrency == 0 {
        bail!("--batch-records, --batch-bytes and --concurrency must be at least 1");
    }
    let pops: Vec<Arc<Pop>> = args
        .to
        .iter()
        .map(|u| endpoint(u).map(|uri| Arc::new(Pop::new(u.clone(), uri))))
        .collect::<anyhow::Result<_>>()?;
    let source = tokio::fs::File::open(&file)
        .await
        .with_context(|| format!("opening {}", file.display()))?;

    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build_http();
    let settings = Arc::new(Settings {
        token: format!("Bearer {token}"),
        max_attempts: args.max_attempts.max(1),
    });
    let stats = Arc::new(ReadStats::default());
    let started = Instant::now();

    // One bounded queue per PoP: the slowest PoP paces the reader, so memory stays bounded.
    let mut senders = Vec::new();
    let mut workers = Vec::new();
    for pop in &pops {
        let (tx, rx) = mpsc::channel::<Arc<Batch>>(args.concurrency);
        senders.push(tx);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..args.concurrency {
            let (pop, rx, client, settings) =
                (pop.clone(), rx.clone(), client.clone(), settings.clone());
            workers.push(tokio::spawn(async move {
                loop {
                    let next = rx.lock().await.recv().await;
                    let Some(batch) = next else { break };
                    pop.deliver(&client, &settings, &batch).await;
                }
            }));
        }
    }

    let progress = tokio::spawn(progress(pops.clone(), stats.clone(), started));
    let reader = read_batches(
        tokio::io::BufReader::with_capacity(1 << 20, source),
        &args,
        &stats,
        &senders,
    )
    .await;
    drop(senders);
    for w in workers {
        w.await.context("joining a push worker")?;
    }
    progress.abort();
    let _ = progress.await;
    let local = reader.with_context(|| format!("reading {}", file.display()))?;

    let elapsed = started.elapsed();
    Ok(summary(&pops, &stats, &local, elapsed))
}

/// Settings every request shares.
struct Settings {
    token: String,
    max_attempts: u32,
}

/// One request's worth of consecutive file lines.
struct Batch {
    /// The file line the body starts at (1-based).
    first_line: u64,
    /// Records in it (non-blank lines).
    records: u64,
    body: Bytes,
}

/// What the reader counted.
#[derive(Default)]
struct ReadStats {
    records: AtomicU64,
    bytes: AtomicU64,
    done: AtomicBool,
}

/// A line refused before sending (it would break the whole batch).
struct LocalReject {
    line: u64,
    error: String,
}

/// One PoP's counters and findings.
struct Pop {
    url: String,
    uri: http::Uri,
    accepted: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
    retries: AtomicU64,
    /// Set once a batch failed for good: later batches are not sent (rerun the push).
    given_up: AtomicBool,
    /// Rejected lines (file numbering) and batch failures, for the summary.
    notes: std::sync::Mutex<Vec<(u64, String)>>,
}

/// How an answer to a projection request is read.
#[derive(Deserialize)]
struct Report {
    accepted: u64,
    #[serde(default)]
    rejected: Vec<Rejection>,
}

#[derive(Deserialize)]
struct Rejection {
    line: u64,
    error: String,
}

/// Why a batch could not be delivered.
struct Failure {
    message: String,
}

impl Pop {
    fn new(url: String, uri: http::Uri) -> Self {
        Self {
            url,
            uri,
            accepted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            given_up: AtomicBool::new(false),
            notes: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn note(&self, line: u64, message: String) {
        if let Ok(mut notes) = self.notes.lock() {
            notes.push((line, message));
        }
    }

    /// Sends `batch` and accounts for the answer.
    async fn deliver(
        &self,
        client: &Client<HttpConnector, Full<Bytes>>,
        settings: &Settings,
        batch: &Batch,
    ) {
        if self.given_up.load(Ordering::Relaxed) {
            self.failed.fetch_add(batch.records, Ordering::Relaxed);
            return;
        }
        match self.send(client, settings, batch).await {
            Ok(report) => {
                self.accepted.fetch_add(report.accepted, Ordering::Relaxed);
                self.rejected
                    .fetch_add(report.rejected.len() as u64, Ordering::Relaxed);
                for r in report.rejected {
                    // The body starts at the batch's first file line, blank lines included.
                    self.note(batch.first_line + r.line.saturating_sub(1), r.error);
                }
            }
            Err(f) => {
                self.failed.fetch_add(batch.records, Ordering::Relaxed);
                if !self.given_up.swap(true, Ordering::Relaxed) {
                    self.note(
                        batch.first_line,
                        format!(
                            "batch of {} records from here failed, later batches not sent: {}",
                            batch.records, f.message
                        ),
                    );
                }
            }
        }
    }

    /// POSTs one batch, retrying 429, 5xx and connection errors with exponential backoff and
    /// jitter (or the server's `Retry-After`), at most `max_attempts` times.
    async fn send(
        &self,
        client: &Client<HttpConnector, Full<Bytes>>,
        settings: &Settings,
        batch: &Batch,
    ) -> Result<Report, Failure> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (retry_after, message) = match self.attempt(client, settings, batch).await {
                Attempt::Done(report) => return Ok(report),
                Attempt::Fatal(message) => return Err(Failure { message }),
                Attempt::Retry { after, message } => (after, message),
            };
            if attempt >= settings.max_attempts {
                return Err(Failure {
                    message: format!("{message} (after {attempt} attempts)"),
                });
            }
            self.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(retry_after.unwrap_or_else(|| backoff(attempt))).await;
        }
    }

    async fn attempt(
        &self,
        client: &Client<HttpConnector, Full<Bytes>>,
        settings: &Settings,
        batch: &Batch,
    ) -> Attempt {
        let request = http::Request::post(self.uri.clone())
            .header(http::header::AUTHORIZATION, &settings.token)
            .header(http::header::CONTENT_TYPE, "application/x-ndjson")
            .body(Full::new(batch.body.clone()));
        let request = match request {
            Ok(r) => r,
            Err(e) => return Attempt::Fatal(format!("building the request: {e}")),
        };
        let exchange = async {
            let response = client.request(request).await.map_err(|e| {
                let mut msg = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    msg = format!("{msg}: {s}");
                    source = s.source();
                }
                msg
            })?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .to_bytes();
            Ok::<_, String>((parts, body))
        };
        let (parts, body) = match tokio::time::timeout(Duration::from_secs(300), exchange).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(message)) => return Attempt::retry(None, message),
            Err(_) => return Attempt::retry(None, "no answer within 300 s".into()),
        };
        let status = parts.status.as_u16();
        if status == 200 {
            return match serde_json::from_slice::<Report>(&body) {
                Ok(report) => Attempt::Done(report),
                Err(e) => Attempt::Fatal(format!("unreadable answer ({e})")),
            };
        }
        let message = format!("HTTP {status}: {}", problem_detail(&body));
        if status == 429 || status >= 500 {
            let after = parts
                .headers
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| Duration::from_secs(s.min(60)));
            Attempt::retry(after, message)
        } else {
            Attempt::Fatal(message)
        }
    }
}

enum Attempt {
    Done(Report),
    Retry {
        after: Option<Duration>,
        message: String,
    },
    Fatal(String),
}

impl Attempt {
    fn retry(after: Option<Duration>, message: String) -> Self {
        Self::Retry { after, message }
    }
}

/// The `detail` of a problem+json answer, or the start of whatever the body is.
fn problem_detail(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("detail")
                .or_else(|| v.get("title"))
                .and_then(|d| d.as_str().map(str::to_owned))
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned())
}

/// Exponential backoff from 200 ms, capped at 10 s, with jitter over the upper half so that
/// many pushers retrying together spread out.
fn backoff(attempt: u32) -> Duration {
    let base = 200u64.saturating_mul(1 << attempt.min(6)).min(10_000);
    let jitter = Rng::from_clock().below(base / 2 + 1);
    Duration::from_millis(base / 2 + jitter)
}

/// `http://host:port[/prefix]` → the projection endpoint of that PoP.
fn endpoint(url: &str) -> anyhow::Result<http::Uri> {
    let uri: http::Uri = url
        .parse()
        .with_context(|| format!("--to {url:?} is not a URL"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => bail!("--to {url:?}: scheme {other} is not supported (use http)"),
        None => bail!("--to {url:?}: expected http://host:port"),
    }
    let authority = uri
        .authority()
        .with_context(|| format!("--to {url:?} has no host"))?;
    let base = uri.path().trim_end_matches('/');
    let path = if base.ends_with("/v1/projection") {
        base.to_owned()
    } else {
        format!("{base}/v1/projection")
    };
    format!("http://{authority}{path}")
        .parse()
        .with_context(|| format!("--to {url:?}"))
}

/// Reads the file line by line into batches and hands each batch to every PoP. Lines that
/// would break a whole batch (a line starting with `[` reads as a JSON array body; a line
/// larger than a batch) are refused here, their place kept as a blank line so numbering holds.
async fn read_batches<R: tokio::io::AsyncBufRead + Unpin>(
    mut input: R,
    args: &PushArgs,
    stats: &ReadStats,
    senders: &[mpsc::Sender<Arc<Batch>>],
) -> anyhow::Result<Vec<LocalReject>> {
    let mut local = Vec::new();
    let mut body = BytesMut::with_capacity(args.batch_bytes.min(16 << 20) + 1024);
    let mut first_line = 1u64;
    let mut records = 0u64;
    let mut line_no = 0u64;
    let mut line = Vec::with_capacity(4096);
    let flush = |body: &mut BytesMut, first_line: u64, records: u64| {
        let batch = Arc::new(Batch {
            first_line,
            records,
            body: body.split().freeze(),
        });
        async move {
            for tx in senders {
                // A closed queue means its workers are gone; the summary says why.
                let _ = tx.send(batch.clone()).await;
            }
        }
    };
    loop {
        line.clear();
        let n = input.read_until(b'\n', &mut line).await?;
        if n == 0 {
            break;
        }
        line_no += 1;
        stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
        if line.last() != Some(&b'\n') {
            line.push(b'\n');
        }
        let trimmed = line.trim_ascii();
        let blank = trimmed.is_empty();
        let refusal = if blank {
            None
        } else if trimmed.starts_with(b"[") {
            Some("record is not a JSON object".to_owned())
        } else if line.len() > args.batch_bytes {
            Some(format!(
                "record is {} bytes, over --batch-bytes {}",
                line.len(),
                args.batch_bytes
            ))
        } else {
            None
        };
        if !blank {
            stats.records.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(error) = refusal {
            local.push(LocalReject {
                line: line_no,
                error,
            });
            line.clear();
            line.push(b'\n');
        }
        let counts = !blank && local.last().is_none_or(|r| r.line != line_no);
        if records > 0
            && (body.len() + line.len() > args.batch_bytes
                || (counts && records as usize >= args.batch_records))
        {
            flush(&mut body, first_line, records).await;
            records = 0;
        }
        if body.is_empty() {
            first_line = line_no;
        }
        body.extend_from_slice(&line);
        if counts {
            records += 1;
        }
    }
    if records > 0 {
        flush(&mut body, first_line, records).await;
    }
    stats.done.store(true, Ordering::Relaxed);
    Ok(local)
}

/// Prints a progress line: in place on a terminal, every few seconds otherwise (logs, CI).
async fn progress(pops: Vec<Arc<Pop>>, stats: Arc<ReadStats>, started: Instant) {
    let tty = std::io::stderr().is_terminal();
    let every = if tty {
        Duration::from_millis(250)
    } else {
        Duration::from_secs(5)
    };
    let mut width: usize = 0;
    loop {
        tokio::time::sleep(every).await;
        let line = progress_line(&pops, &stats, started.elapsed());
        let mut err = std::io::stderr().lock();
        if tty {
            let pad = width.saturating_sub(line.len());
            let _ = write!(err, "\r{line}{}", " ".repeat(pad));
            width = line.len();
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }
}

fn progress_line(pops: &[Arc<Pop>], stats: &ReadStats, elapsed: Duration) -> String {
    let read = stats.records.load(Ordering::Relaxed);
    let bytes = stats.bytes.load(Ordering::Relaxed);
    let done: u64 = pops.iter().map(|p| p.done()).min().unwrap_or(0);
    let rejected: u64 = pops
        .iter()
        .map(|p| p.rejected.load(Ordering::Relaxed))
        .sum();
    let retries: u64 = pops.iter().map(|p| p.retries.load(Ordering::Relaxed)).sum();
    let secs = elapsed.as_secs_f64().max(1e-3);
    format!(
        "push: {done} records to {} PoP(s) ({read} read, {:.1} MB) in {secs:.0} s, {:.0} records/s, {rejected} rejected, {retries} retries",
        pops.len(),
        bytes as f64 / 1e6,
        done as f64 / secs,
    )
}

impl Pop {
    fn done(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
            + self.rejected.load(Ordering::Relaxed)
            + self.failed.load(Ordering::Relaxed)
    }
}

/// Prints the per-PoP summary on stdout; whether everything was accepted everywhere.
fn summary(pops: &[Arc<Pop>], stats: &ReadStats, local: &[LocalReject], elapsed: Duration) -> bool {
    const SHOWN: usize = 20;
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
    let records = stats.records.load(Ordering::Relaxed);
    let bytes = stats.bytes.load(Ordering::Relaxed);
    let secs = elapsed.as_secs_f64().max(1e-3);
    let mut ok = local.is_empty();
    let mut out = String::new();
    for r in local.iter().take(SHOWN) {
        out.push_str(&format!("line {}: {} (not sent)\n", r.line, r.error));
    }
    for pop in pops {
        let (accepted, rejected, failed) = (
            pop.accepted.load(Ordering::Relaxed),
            pop.rejected.load(Ordering::Relaxed) + local.len() as u64,
            pop.failed.load(Ordering::Relaxed),
        );
        ok &= rejected == 0 && failed == 0;
        out.push_str(&format!(
            "{}: {accepted} accepted, {rejected} rejected, {failed} failed, {} retries\n",
            pop.url,
            pop.retries.load(Ordering::Relaxed)
        ));
        let mut notes = pop.notes.lock().map(|n| n.clone()).unwrap_or_default();
        notes.sort();
        for (line, error) in notes.iter().take(SHOWN) {
            out.push_str(&format!("  line {line}: {error}\n"));
        }
        if notes.len() > SHOWN {
            out.push_str(&format!("  … and {} more\n", notes.len() - SHOWN));
        }
    }
    out.push_str(&format!(
        "total: {records} records ({:.1} MB) to {} PoP(s) in {secs:.2} s: {:.0} records/s, {:.1} MB/s end to end\n",
        bytes as f64 / 1e6,
        pops.len(),
        records as f64 / secs,
        bytes as f64 / 1e6 / secs,
    ));
    print!("{out}");
    let _ = std::io::stdout().flush();
    ok
}

// ---- the generator ------------------------------------------------------------------------------

/// A small xorshift generator: synthetic data needs speed and repeatability, not quality.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn from_clock() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        Self::new(u64::from(nanos) ^ COUNTER.fetch_add(0x5851_F42D, Ordering::Relaxed))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items
            .get(self.below(items.len() as u64) as usize)
            .copied()
            .unwrap_or_default()
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const FIRST: &[&str] = &[
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Linus", "Frances", "Ken",
    "Radia", "Dennis", "Karen", "Niklaus", "Hedy", "John",
];
const LAST: &[&str] = &[
    "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Torvalds", "Allen",
    "Thompson", "Perlman", "Ritchie", "Jones", "Wirth", "Lamarr", "McCarthy",
];
const CITIES: &[(&str, &str)] = &[
    ("Lyon", "FR"),
    ("Berlin", "DE"),
    ("Austin", "US"),
    ("Osaka", "JP"),
    ("Porto", "PT"),
    ("Leeds", "GB"),
    ("Turin", "IT"),
    ("Malmö", "SE"),
];
const TIERS: &[&str] = &["bronze", "silver", "gold", "platinum"];
const CATEGORIES: &[&str] = &[
    "shoes",
    "outdoor",
    "kids",
    "electronics",
    "home",
    "beauty",
    "sports",
    "books",
    "garden",
];
const SEGMENTS: &[&str] = &[
    "high-value",
    "cart-abandoner",
    "lapsed-90d",
    "newsletter",
    "loyalty-gold",
];

/// Writes `count` records to the file `out` (see [`generate_into`]). Returns the bytes written.
fn generate(out: &std::path::Path, count: u64, seed: u64) -> anyhow::Result<u64> {
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let bytes = generate_into(&mut w, count, seed)?;
    w.flush().context("writing the generated file")?;
    Ok(bytes)
}

/// Writes `count` records: per person a CRM profile of about 1 KB, and for some an identity
/// link (their web ECID ↔ CRMID) and a batch membership. Returns the bytes written.
fn generate_into(w: &mut impl Write, count: u64, seed: u64) -> anyhow::Result<u64> {
    let mut rng = Rng::new(seed);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    // Spread over the last day so everything is fresh (profiles live 14 days).
    let start = now - 86_400_000;
    let step = (86_400_000 / count.max(1) as i64).max(1);
    let mut written = 0u64;
    let mut bytes = 0u64;
    let mut person = 0u64;
    let mut line = String::with_capacity(2048);
    while written < count {
        let ts = start + written as i64 * step;
        line.clear();
        profile_record(&mut line, &mut rng, person, ts);
        emit(w, &line, &mut bytes)?;
        written += 1;
        if person % 10 == 3 && written < count {
            line.clear();
            let link = serde_json::json!({"type": "identity-link", "timestamp": rfc3339(ts + 1),
                "identities": [{"namespace": "ECID", "id": format!("{:038}", person * 7919 + 1)},
                               {"namespace": "CRMID", "id": format!("crm-{person:09}")}]});
            line.push_str(&link.to_string());
            emit(w, &line, &mut bytes)?;
            written += 1;
        }
        if person % 10 == 7 && written < count {
            line.clear();
            let m = serde_json::json!({"type": "membership",
                "identity": {"namespace": "CRMID", "id": format!("crm-{person:09}")},
                "segmentId": rng.pick(SEGMENTS), "status": "realized", "source": "batch",
                "timestamp": rfc3339(ts + 2)});
            line.push_str(&m.to_string());
            emit(w, &line, &mut bytes)?;
            written += 1;
        }
        person += 1;
    }
    Ok(bytes)
}

fn emit(w: &mut impl Write, line: &str, bytes: &mut u64) -> anyhow::Result<()> {
    w.write_all(line.as_bytes())
        .and_then(|()| w.write_all(b"\n"))
        .context("writing the generated records")?;
    *bytes += line.len() as u64 + 1;
    Ok(())
}

fn profile_record(out: &mut String, rng: &mut Rng, person: u64, ts: i64) {
    let first = rng.pick(FIRST);
    let last = rng.pick(LAST);
    let (city, country) = CITIES
        .get(rng.below(CITIES.len() as u64) as usize)
        .copied()
        .unwrap_or(("Lyon", "FR"));
    let orders = rng.below(120);
    let ltv = (rng.unit() * 5000.0 * 100.0).round() / 100.0;
    let favourites: Vec<&str> = (0..3).map(|_| rng.pick(CATEGORIES)).collect();
    let record = serde_json::json!({
        "type": "profile",
        "identity": {"namespace": "CRMID", "id": format!("crm-{person:09}")},
        "timestamp": rfc3339(ts),
        "attributes": {
            "person": {"name": {"firstName": first, "lastName": last},
                       "birthYear": 1940 + rng.below(66), "gender": if rng.below(2) == 0 { "female" } else { "male" }},
            "personalEmail": {"address": format!("{}.{}{}@example.com", first.to_lowercase(), last.to_lowercase(), person)},
            "mobilePhone": {"number": format!("+1555{:07}", rng.below(10_000_000))},
            "homeAddress": {"city": city, "countryCode": country, "postalCode": format!("{:05}", rng.below(100_000))},
            "loyalty": {"program": "acme-rewards", "tier": rng.pick(TIERS), "points": rng.below(50_000),
                        "memberSince": rfc3339(ts - rng.below(3650) as i64 * 86_400_000)},
            "transactions": {"orders": orders, "lifetimeValue": ltv, "currency": "EUR",
                             "averageOrderValue": if orders == 0 { 0.0 } else { (ltv / orders as f64 * 100.0).round() / 100.0 },
                             "lastOrderDate": rfc3339(ts - rng.below(365) as i64 * 86_400_000),
                             "lastCategory": rng.pick(CATEGORIES), "returns": rng.below(5)},
            "scores": {"model": "propensity-v7", "churn": (rng.unit() * 1000.0).round() / 1000.0,
                       "purchase30d": (rng.unit() * 1000.0).round() / 1000.0,
                       "clv90d": (rng.unit() * 900.0 * 100.0).round() / 100.0,
                       "nextBestCategory": rng.pick(CATEGORIES)},
            "preferences": {"language": "en-US", "channels": ["email", "push"], "favoriteCategories": favourites},
            "crm": {"accountId": format!("A-{:08}", person), "type": "B2C", "owner": format!("store-{}", rng.below(500)),
                    "marketingOptIn": rng.below(4) != 0, "source": "crm-nightly-export"}
        },
        "consent": {"collect": "y", "personalize": if rng.below(10) == 0 { "n" } else { "y" }}
    });
    out.push_str(&record.to_string());
}

/// UTC milliseconds → `YYYY-MM-DDTHH:MM:SS.mmmZ` (civil-from-days, no date library needed).
fn rfc3339(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_796_119_200_000), "2026-12-01T10:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            endpoint("http://127.0.0.1:3000").unwrap().to_string(),
            "http://127.0.0.1:3000/v1/projection"
        );
        assert_eq!(
            endpoint("http://pop:1/edge/").unwrap().to_string(),
            "http://pop:1/edge/v1/projection"
        );
        assert_eq!(
            endpoint("http://pop:1/v1/projection").unwrap().to_string(),
            "http://pop:1/v1/projection"
        );
        assert!(endpoint("https://pop").is_err());
        assert!(endpoint("pop:80").is_err());
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        for attempt in 1..20 {
            let d = backoff(attempt).as_millis() as u64;
            let base = 200u64.saturating_mul(1 << attempt.min(6)).min(10_000);
            assert!(d >= base / 2 && d <= base, "{attempt}: {d}");
        }
    }

    #[test]
    fn generated_records_are_about_1kb() {
        let dir = std::env::temp_dir().join(format!("vantage-gen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("p.ndjson");
        let bytes = generate(&path, 1000, 7).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1000);
        let profiles: Vec<&str> = text.lines().filter(|l| l.contains("\"profile\"")).collect();
        let avg = profiles.iter().map(|l| l.len()).sum::<usize>() / profiles.len();
        assert!((800..1300).contains(&avg), "{avg}");
        assert!(text.contains("identity-link") && text.contains("membership"));
        assert_eq!(bytes as usize, text.len());
        for l in text.lines() {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(v["type"].is_string());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn batches_keep_file_line_numbers() {
        let text = "{\"a\":1}\n\n{\"b\":2}\n[1,2]\n{\"c\":3}\n{\"d\":4}";
        let args = PushArgs {
            file: None,
            to: vec![],
            token: None,
            batch_records: 2,
            batch_bytes: 1 << 20,
            concurrency: 1,
            max_attempts: 1,
            generate: None,
            out: None,
            seed: 0,
        };
        let stats = ReadStats::default();
        let (tx, mut rx) = mpsc::channel(16);
        let local = read_batches(text.as_bytes(), &args, &stats, &[tx])
            .await
            .unwrap();
        assert_eq!(local.len(), 1);
        assert_eq!(local[0].line, 4);
        let mut batches = Vec::new();
        while let Ok(b) = rx.try_recv() {
            batches.push((
                b.first_line,
                b.records,
                String::from_utf8(b.body.to_vec()).unwrap(),
            ));
        }
        assert_eq!(
            batches,
            [
                // The refused line stays as a blank line, so numbering holds.
                (1, 2, "{\"a\":1}\n\n{\"b\":2}\n\n".to_owned()),
                (5, 2, "{\"c\":3}\n{\"d\":4}\n".to_owned()),
            ]
        );
        assert_eq!(stats.records.load(Ordering::Relaxed), 5);
    }
}
