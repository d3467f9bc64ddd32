//! `vantage bench`: the figures the host is judged by. A keep-alive HTTP load generator, the
//! native baseline (hyper + the same SQLite read a component does), and the host's own
//! per-request overhead measured in-process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};

use crate::server::{App, AppOptions};

/// Benchmark tools.
#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Load a URL over keep-alive connections; print requests/s and latency percentiles.
    Load {
        /// The URL to GET.
        url: String,
        /// Concurrent keep-alive connections.
        #[arg(long, default_value_t = 32)]
        connections: usize,
        /// Measured seconds.
        #[arg(long, default_value_t = 10)]
        duration_secs: u64,
        /// Unmeasured seconds first.
        #[arg(long, default_value_t = 2)]
        warmup_secs: u64,
        /// A label for the output line.
        #[arg(long, default_value = "load")]
        label: String,
        /// Worker threads of the load generator.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// HTTP method.
        #[arg(long, default_value = "GET")]
        method: String,
        /// Send this file as every request's body (empty otherwise).
        #[arg(long, conflicts_with = "bodies")]
        body_file: Option<PathBuf>,
        /// One body per line of this file; requests take the lines in turn (many visitors).
        #[arg(long)]
        bodies: Option<PathBuf>,
        /// A request header, `name: value` (repeatable).
        #[arg(long = "header")]
        headers: Vec<String>,
    },
    /// Serve the native baseline: one SQLite read (Spin's layout) and the same JSON answer.
    Native {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:3100")]
        listen: SocketAddr,
        /// The SQLite file (Spin layout).
        #[arg(long)]
        db: PathBuf,
        /// Worker threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// The host's per-request cost in-process (no sockets): route, instantiate, call, answer.
    Overhead {
        /// A manifest whose `/...` route serves an empty handler.
        #[arg(short = 'f', long = "from")]
        from: PathBuf,
        /// Path to request.
        #[arg(long, default_value = "/")]
        path: String,
        /// Measured requests.
        #[arg(long, default_value_t = 20_000)]
        iterations: usize,
    },
}

/// Latency summary of a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// What was measured.
    pub label: String,
    /// Completed requests per second.
    pub rps: f64,
    /// Median latency, µs.
    pub p50_us: f64,
    /// 99th percentile latency, µs.
    pub p99_us: f64,
    /// Requests counted.
    pub requests: usize,
    /// Failed requests (transport errors or non-2xx).
    pub errors: usize,
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)] as f64
}

/// Runs a bench command.
pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Load {
            url,
            connections,
            duration_secs,
            warmup_secs,
            label,
            threads,
            method,
            body_file,
            bodies,
            headers,
        } => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads.max(1))
                .enable_all()
                .build()?;
            let method: http::Method = method.parse().context("parsing --method")?;
            let bodies: Vec<Bytes> = match (body_file, bodies) {
                (Some(f), _) => {
                    vec![Bytes::from(
                        std::fs::read(&f).with_context(|| format!("reading {f:?}"))?,
                    )]
                }
                (None, Some(f)) => {
                    let text =
                        std::fs::read_to_string(&f).with_context(|| format!("reading {f:?}"))?;
                    let lines: Vec<Bytes> = text
                        .lines()
                        .filter(|l| !l.trim().is_empty())
                        .map(|l| Bytes::from(l.to_owned()))
                        .collect();
                    anyhow::ensure!(!lines.is_empty(), "{f:?} holds no body");
                    lines
                }
                (None, None) => vec![Bytes::new()],
            };
            let headers = headers
                .iter()
                .map(|h| {
                    let (name, value) = h.split_once(':').context("--header wants name: value")?;
                    Ok((
                        http::HeaderName::try_from(name.trim())?,
                        http::HeaderValue::try_from(value.trim())?,
                    ))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let s = rt.block_on(load(
                &url,
                (method, bodies, headers),
                connections,
                Duration::from_secs(warmup_secs),
                Duration::from_secs(duration_secs),
                label,
            ))?;
            println!("{}", serde_json::to_string(&s)?);
            Ok(())
        }
        BenchCommand::Native {
            listen,
            db,
            threads,
        } => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads.max(1))
                .enable_all()
                .build()?;
            rt.block_on(native(listen, db))
        }
        BenchCommand::Overhead {
            from,
            path,
            iterations,
        } => {
            // One thread, as one worker of the server sees it: no cross-thread wake-ups.
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(overhead(from, &path, iterations))
        }
    }
}

async fn load(
    url: &str,
    (method, bodies, headers): (
        http::Method,
        Vec<Bytes>,
        Vec<(http::HeaderName, http::HeaderValue)>,
    ),
    connections: usize,
    warmup: Duration,
    duration: Duration,
    label: String,
) -> anyhow::Result<Summary> {
    let uri: http::Uri = url.parse().context("parsing the URL")?;
    let authority = uri.authority().context("the URL needs a host")?.to_string();
    let addr = authority.clone();
    let measure_from = Instant::now() + warmup;
    let stop_at = measure_from + duration;
    let bodies = std::sync::Arc::new(bodies);
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let uri = uri.clone();
        let authority = authority.clone();
        let addr = addr.clone();
        let method = method.clone();
        let (bodies, next, headers) = (bodies.clone(), next.clone(), headers.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat: Vec<u32> = Vec::with_capacity(1 << 16);
            let mut errors = 0usize;
            let stream = tokio::net::TcpStream::connect(&addr).await?;
            stream.set_nodelay(true)?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            loop {
                let start = Instant::now();
                if start >= stop_at {
                    break;
                }
                let mut req = http::Request::builder()
                    .method(method.clone())
                    .uri(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
                    .header(http::header::HOST, &authority);
                for (name, value) in &headers {
                    req = req.header(name, value);
                }
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let body = bodies[i % bodies.len()].clone();
                let req = req.body(Full::new(body))?;
                let ok = match sender.send_request(req).await {
                    Ok(resp) => {
                        let success = resp.status().is_success();
                        resp.into_body().collect().await.is_ok() && success
                    }
                    Err(_) => false,
                };
                if start >= measure_from {
                    if ok {
                        lat.push(start.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    } else {
                        errors += 1;
                    }
                }
                if !ok && sender.ready().await.is_err() {
                    break;
                }
            }
            anyhow::Ok((lat, errors))
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await??;
        all.extend(lat);
        errors += e;
    }
    all.sort_unstable();
    Ok(Summary {
        label,
        rps: all.len() as f64 / duration.as_secs_f64(),
        p50_us: percentile(&all, 0.50),
        p99_us: percentile(&all, 0.99),
        requests: all.len(),
        errors,
    })
}

async fn native(listen: SocketAddr, db: PathBuf) -> anyhow::Result<()> {
    use rusqlite::OptionalExtension;
    thread_local! {
        static CONN: std::cell::RefCell<Option<rusqlite::Connection>> = const { std::cell::RefCell::new(None) };
    }
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("Serving http://{}", listener.local_addr()?);
    let db = Arc::new(db);
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let db = db.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(
                move |_req: http::Request<hyper::body::Incoming>| {
                    let db = db.clone();
                    async move {
                        let value: Option<Vec<u8>> = CONN.with(|c| {
                        let mut c = c.borrow_mut();
                        if c.is_none() {
                            *c = rusqlite::Connection::open(&*db).ok();
                        }
                        c.as_ref().and_then(|c| {
                            c.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")
                                .ok()?
                                .query_row(rusqlite::params!["default", "bench:greeting"], |r| r.get(0))
                                .optional()
                                .ok()?
                        })
                    });
                        let value = value.unwrap_or_else(|| b"hello from the edge".to_vec());
                        let body = format!(
                            r#"{{"greeting":"{}","ok":true}}"#,
                            String::from_utf8_lossy(&value)
                        );
                        let mut resp = http::Response::new(Full::new(Bytes::from(body)));
                        resp.headers_mut().insert(
                            http::header::CONTENT_TYPE,
                            http::HeaderValue::from_static("application/json"),
                        );
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                },
            );
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn overhead(manifest: PathBuf, path: &str, iterations: usize) -> anyhow::Result<()> {
    let opts = AppOptions {
        manifest,
        runtime_config: None,
        state_dir: std::env::temp_dir().join(format!("vantage-bench-{}", std::process::id())),
        limits: Default::default(),
        engine: Default::default(),
        variables: Default::default(),
        inherit_env: true,
    };
    let app = App::load(&opts).await?;
    let client: SocketAddr = "127.0.0.1:1".parse()?;
    let mut lat = Vec::with_capacity(iterations);
    let warmup = (iterations / 10).max(100);
    for i in 0..iterations + warmup {
        let req = http::Request::get(path)
            .header(http::header::HOST, "localhost")
            .body(Full::new(Bytes::new()))?;
        let start = Instant::now();
        let resp = app
            .handle(
                req,
                client,
                wasmtime_wasi_http::p2::bindings::http::types::Scheme::Http,
            )
            .await;
        let status = resp.status();
        let _ = resp.into_body().collect().await;
        let elapsed = start.elapsed();
        anyhow::ensure!(status.is_success(), "{path} answered {status}");
        if i >= warmup {
            lat.push(elapsed.as_nanos().min(u32::MAX as u128) as u32);
        }
    }
    lat.sort_unstable();
    let s = serde_json::json!({
        "label": "host overhead in-process (route + instantiate + call + response)",
        "iterations": iterations,
        "p50_us": percentile(&lat, 0.5) / 1000.0,
        "p99_us": percentile(&lat, 0.99) / 1000.0,
        "mean_us": lat.iter().map(|&n| n as f64).sum::<f64>() / lat.len().max(1) as f64 / 1000.0,
    });
    app.flush();
    println!("{s}");
    Ok(())
}
