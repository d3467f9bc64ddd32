//! Test harness: the components built for wasm32-wasip2 by `build.rs`, an in-process `vantage`
//! host serving a manifest on a loopback port, and a small HTTP client.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use vantage::engine::EngineOptions;
use vantage::server::{App, AppOptions, RequestLimits};

/// Paths of the built components (`components::KV_PROBE`, …) and of the `vantage` binary.
pub mod components {
    include!(concat!(env!("OUT_DIR"), "/components.rs"));
}

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh, empty directory.
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("vantage-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How to start a host.
pub struct Setup {
    manifest: String,
    variables: BTreeMap<String, String>,
    runtime_config: Option<String>,
    /// Request limits (tests shrink them).
    pub limits: RequestLimits,
    /// Engine options (tests use a small pool).
    pub engine: EngineOptions,
    state_dir: Option<PathBuf>,
    tls: Option<(PathBuf, PathBuf)>,
    listen: Option<String>,
}

impl Setup {
    /// A manifest (spin.toml text); `{{component:NAME}}` stands for a built component's path.
    pub fn new(manifest: &str) -> Self {
        let mut text = manifest.to_owned();
        for (name, path) in components::ALL {
            text = text.replace(&format!("{{{{component:{name}}}}}"), path);
        }
        Self {
            manifest: text,
            variables: BTreeMap::new(),
            runtime_config: None,
            limits: RequestLimits {
                max_body_bytes: 1 << 20,
                timeout: Duration::from_secs(10),
            },
            engine: EngineOptions {
                max_instances: 32,
                max_memory_bytes: 64 << 20,
                pooling: true,
                compile_cache: true,
            },
            state_dir: None,
            tls: None,
            listen: None,
        }
    }

    /// Listens on this address instead of a free loopback port (`127.0.0.1:0`), e.g.
    /// `127.0.0.1:443` for a browser SDK that only speaks to port 443.
    pub fn listen(mut self, addr: &str) -> Self {
        self.listen = Some(addr.to_owned());
        self
    }

    /// Serves HTTPS with this PEM certificate chain and key.
    pub fn tls(mut self, cert: &Path, key: &Path) -> Self {
        self.tls = Some((cert.to_path_buf(), key.to_path_buf()));
        self
    }

    /// Sets an application variable as `SPIN_VARIABLE_<NAME>` would.
    pub fn variable(mut self, name: &str, value: &str) -> Self {
        self.variables.insert(
            format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase()),
            value.to_owned(),
        );
        self
    }

    /// A runtime config (runtime-config.toml text).
    pub fn runtime_config(mut self, text: &str) -> Self {
        self.runtime_config = Some(text.to_owned());
        self
    }

    /// Keeps the store in this directory (to restart a host on the same store).
    pub fn state_dir(mut self, dir: &Path) -> Self {
        self.state_dir = Some(dir.to_path_buf());
        self
    }

    /// Starts the host on a loopback port (or the `listen` address); fails as `vantage up` would.
    pub fn start(self) -> anyhow::Result<TestApp> {
        let dir = TempDir::new("app");
        let manifest = dir.path().join("spin.toml");
        std::fs::write(&manifest, &self.manifest)?;
        let runtime_config = match &self.runtime_config {
            Some(text) => {
                let p = dir.path().join("runtime-config.toml");
                std::fs::write(&p, text)?;
                Some(p)
            }
            None => None,
        };
        let opts = AppOptions {
            manifest,
            runtime_config,
            state_dir: self
                .state_dir
                .clone()
                .unwrap_or_else(|| dir.path().join(".spin")),
            limits: self.limits,
            engine: self.engine,
            variables: self.variables,
            inherit_env: false,
        };
        let tls = match &self.tls {
            Some((cert, key)) => Some(vantage::server::tls_acceptor(cert, key)?),
            None => None,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let listen = self
            .listen
            .clone()
            .unwrap_or_else(|| "127.0.0.1:0".to_owned());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || -> anyhow::Result<()> {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let app = match App::load(&opts).await {
                    Ok(app) => app,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return Ok(());
                    }
                };
                let listener = match tokio::net::TcpListener::bind(&listen).await {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready_tx.send(Err(anyhow::anyhow!("binding {listen}: {e}")));
                        return Ok(());
                    }
                };
                let _ = ready_tx.send(Ok(listener.local_addr()?));
                vantage::server::serve(
                    app,
                    listener,
                    tls,
                    async {
                        let _ = stop_rx.await;
                    },
                    Duration::from_secs(10),
                )
                .await
            })
        });
        let addr = ready_rx
            .recv()
            .map_err(|_| anyhow::anyhow!("the host thread died while starting"))??;
        Ok(TestApp {
            url: format!("{scheme}://{addr}"),
            stop: Some(stop_tx),
            thread: Some(thread),
            _dir: dir,
        })
    }
}

/// A running in-process host.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
    _dir: TempDir,
}

impl TestApp {
    /// Stops the host gracefully and waits for it (stores flushed).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            match t.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => panic!("host failed: {e:#}"),
                Err(_) => panic!("host thread panicked"),
            }
        }
    }

    /// A client for this host.
    pub fn client(&self) -> Client {
        Client::new(&self.url)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.shutdown();
        }
    }
}

/// A response, fully read.
#[derive(Debug)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: http::HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Resp {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A pooled HTTP/1.1 client bound to one host.
#[derive(Clone)]
pub struct Client {
    base: String,
    inner: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Full<Bytes>,
    >,
}

impl Client {
    /// A client for `base` (`http://127.0.0.1:PORT`).
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            inner:
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .build_http(),
        }
    }

    /// Sends a request; `path` is appended to the base URL.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Resp {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body.into())).unwrap();
        let resp = self
            .inner
            .request(req)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e:?}"));
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: reading body: {e}"))
            .to_bytes();
        Resp {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }

    /// GET.
    pub async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, &[], Bytes::new()).await
    }

    /// POST with a body.
    pub async fn post(&self, path: &str, body: impl Into<Bytes>) -> Resp {
        self.send("POST", path, &[], body).await
    }

    /// PUT with a body.
    pub async fn put(&self, path: &str, body: impl Into<Bytes>) -> Resp {
        self.send("PUT", path, &[], body).await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str) -> Resp {
        self.send("DELETE", path, &[], Bytes::new()).await
    }
}

/// The Redis URL for store tests, when `VANTAGE_TEST_REDIS_URL` is set.
pub fn redis_url() -> Option<String> {
    std::env::var("VANTAGE_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A key prefix unique to this test run, so tests sharing a Redis do not collide.
pub fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{tag}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Serializes the tests that serve on port 443 (the Adobe Web SDK only calls https on port
/// 443: `tests/tests/browser.rs`, `tests/tests/demo.rs`), across test binaries and concurrent
/// `cargo test` runs on one machine, with an advisory lock on a file in the temp directory.
/// Hold the returned file while the port is in use; the lock goes with it (or with the process).
pub fn port_443_lock() -> std::fs::File {
    let path = std::env::temp_dir().join("vantage-port-443.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    file.lock()
        .unwrap_or_else(|e| panic!("locking {}: {e}", path.display()));
    file
}

/// Now, ms since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// RFC 3339 (UTC, milliseconds) of `ms`, as records and events carry time.
pub fn rfc3339(ms: i64) -> String {
    vantage_model::time::format_rfc3339(ms)
}

/// RFC 3339 of `now - ago_ms`.
pub fn ago(ago_ms: i64) -> String {
    rfc3339(now_ms() - ago_ms)
}
