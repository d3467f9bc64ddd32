//! The HTTP front end: loads the manifest's components once, then serves each request from a
//! fresh instance of the routed component, under a memory limit and a wall-clock deadline.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use wasmtime::component::{Component, ResourceTable};
use wasmtime::{Engine, Store, StoreLimitsBuilder, Trap, UpdateDeadline};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpView};

use crate::engine::{self, EngineOptions, EpochTicker, WasmContext};
use crate::kv::Stores;
use crate::manifest::Manifest;
use crate::outbound::OutboundPolicy;
use crate::routes::{RoutePattern, Router};
use crate::runtime_config::RuntimeConfig;
use crate::state::{ComponentEnv, HostState};
use crate::variables::Variables;

/// Everything `vantage up` is told.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// The manifest.
    pub manifest: PathBuf,
    /// `--runtime-config-file`.
    pub runtime_config: Option<PathBuf>,
    /// `--state-dir`.
    pub state_dir: PathBuf,
    /// Request limits.
    pub limits: RequestLimits,
    /// Engine limits.
    pub engine: EngineOptions,
    /// Variable values by environment name (`SPIN_VARIABLE_<NAME>`), consulted first.
    pub variables: BTreeMap<String, String>,
    /// Also read `SPIN_VARIABLE_<NAME>` from the process environment.
    pub inherit_env: bool,
}

/// Limits applied to every request.
#[derive(Debug, Clone)]
pub struct RequestLimits {
    /// Largest request body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// Wall-clock budget of one request (504 beyond).
    pub timeout: Duration,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 << 20,
            timeout: Duration::from_secs(30),
        }
    }
}

/// The request body handed to a guest: the collected bytes, with the error type wasi-http wants.
type GuestBody = http_body_util::combinators::MapErr<
    Full<Bytes>,
    fn(std::convert::Infallible) -> wasmtime_wasi_http::Error,
>;

/// A loaded component, ready to instantiate.
struct Loaded {
    pre: ProxyPre<HostState>,
    env: Arc<ComponentEnv>,
}

/// A route and the component serving it.
struct Target {
    component: Arc<Loaded>,
}

/// A loaded application.
pub struct App {
    engine: Engine,
    router: Router<Target>,
    stores: Stores,
    limits: RequestLimits,
    permits: Arc<Semaphore>,
    max_memory_bytes: usize,
    next_request: AtomicU64,
    id_prefix: String,
    _ticker: EpochTicker,
}

/// The outcome of one request, for the access log.
struct Served {
    response: Response<HyperOutgoingBody>,
    route: String,
    component: String,
    error: Option<String>,
}

impl App {
    /// Loads the manifest: resolves variables, opens stores, compiles and pre-instantiates
    /// every component (refusing any that imports outside our world), builds the router.
    pub async fn load(opts: &AppOptions) -> anyhow::Result<Arc<Self>> {
        let manifest = Manifest::from_file(&opts.manifest)?;
        let variables = Variables::resolve(&manifest.variables, |name| {
            opts.variables
                .get(name)
                .cloned()
                .or_else(|| opts.inherit_env.then(|| std::env::var(name).ok()).flatten())
        })?;
        let runtime = match &opts.runtime_config {
            Some(p) => RuntimeConfig::from_file(p, &opts.state_dir)?,
            None => RuntimeConfig::default_for(&opts.state_dir),
        };
        let labels: Vec<&str> = manifest
            .components
            .values()
            .flat_map(|c| c.key_value_stores.iter().map(String::as_str))
            .collect();
        let stores = Stores::open(&runtime, labels).await?;

        let engine = engine::build_engine(&opts.engine)?;
        let linker = engine::linker(&engine)?;
        let mut compiled = Vec::new();
        for (id, decl) in &manifest.components {
            let engine = engine.clone();
            let path = decl.source.clone();
            let id = id.clone();
            // Compilation is CPU-bound: run components in parallel on the blocking pool.
            compiled.push(tokio::task::spawn_blocking(move || {
                let bytes = std::fs::read(&path).with_context(|| {
                    format!(
                        "reading component {id:?} from {} (build it with `vantage build` or `spin build`)",
                        path.display()
                    )
                })?;
                let component = Component::new(&engine, &bytes)
                    .wasm_context(|| format!("compiling component {id:?}"))?;
                anyhow::Ok((id, component))
            }));
        }
        let mut loaded: BTreeMap<String, Arc<Loaded>> = BTreeMap::new();
        for task in compiled {
            let (id, component) = task.await??;
            engine::check_imports(&engine, &component, &id)?;
            let decl = &manifest.components[&id];
            let pre = linker
                .instantiate_pre(&component)
                .wasm_context(|| format!("linking component {id:?}"))?;
            let pre = ProxyPre::new(pre).wasm_context(|| {
                format!("component {id:?} does not export wasi:http/incoming-handler")
            })?;
            let env = ComponentEnv {
                id: id.clone(),
                stores: stores.clone(),
                allowed_stores: decl.key_value_stores.clone(),
                variables: variables
                    .render_component(&decl.variables)
                    .with_context(|| format!("component {id:?}"))?,
                outbound: OutboundPolicy::parse(&decl.allowed_outbound_hosts)
                    .with_context(|| format!("component {id:?}"))?,
            };
            loaded.insert(
                id,
                Arc::new(Loaded {
                    pre,
                    env: Arc::new(env),
                }),
            );
        }

        let routes = manifest
            .http_triggers
            .iter()
            .filter_map(|t| t.route.as_ref().map(|r| (r, &t.component)))
            .map(|(route, component)| {
                Ok((
                    RoutePattern::parse(route)?,
                    Target {
                        component: loaded[component].clone(),
                    },
                ))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let router = Router::new(routes)?;

        let ticker = EpochTicker::start(&engine);
        Ok(Arc::new(Self {
            engine,
            router,
            stores,
            limits: opts.limits.clone(),
            permits: Arc::new(Semaphore::new(opts.engine.max_instances as usize)),
            max_memory_bytes: opts.engine.max_memory_bytes,
            next_request: AtomicU64::new(1),
            id_prefix: format!("{:08x}", rand_u32()),
            _ticker: ticker,
        }))
    }

    /// Routes and components, for the startup banner.
    pub fn routes(&self) -> Vec<(String, String)> {
        self.router
            .iter()
            .map(|(p, t)| (p.as_str().to_owned(), t.component.env.id.clone()))
            .collect()
    }

    /// The stores and what backs each, for the startup banner.
    pub fn store_descriptions(&self) -> Vec<(String, String)> {
        self.stores
            .iter()
            .map(|(l, b)| (l.clone(), b.describe()))
            .collect()
    }

    /// Commits queued writes and checkpoints stores (graceful shutdown).
    pub fn flush(&self) {
        self.stores.flush();
    }

    /// Serves one request end to end, with an access-log line.
    pub async fn handle<B>(
        self: &Arc<Self>,
        req: Request<B>,
        client: SocketAddr,
        scheme: Scheme,
    ) -> Response<HyperOutgoingBody>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let request_id = self.request_id(req.headers());
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let mut served = self.serve(req, client, scheme, &request_id).await;
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            served.response.headers_mut().insert("x-request-id", v);
        }
        let status = served.response.status().as_u16();
        let micros = started.elapsed().as_micros() as u64;
        match &served.error {
            None => tracing::info!(
                request_id = %request_id, method = %method, path = %path, route = %served.route,
                component = %served.component, status, duration_us = micros, "request"
            ),
            Some(error) => tracing::warn!(
                request_id = %request_id, method = %method, path = %path, route = %served.route,
                component = %served.component, status, duration_us = micros, error = %error, "request failed"
            ),
        }
        served.response
    }

    fn request_id(&self, headers: &HeaderMap) -> String {
        // Honour an upstream id (a CDN's) when it is short and printable.
        if let Some(v) = headers.get("x-request-id").and_then(|v| v.to_str().ok())
            && !v.is_empty()
            && v.len() <= 128
            && v.bytes().all(|b| b.is_ascii_graphic())
        {
            return v.to_owned();
        }
        let n = self.next_request.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n:x}", self.id_prefix)
    }

    async fn serve<B>(
        self: &Arc<Self>,
        req: Request<B>,
        client: SocketAddr,
        scheme: Scheme,
        request_id: &str,
    ) -> Served
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let Some((pattern, target, matched)) = self.router.route(req.uri().path()) else {
            return Served {
                response: problem(
                    StatusCode::NOT_FOUND,
                    "No route matches this path.",
                    request_id,
                ),
                route: "-".into(),
                component: "-".into(),
                error: None,
            };
        };
        let route = pattern.as_str().to_owned();
        let component = target.component.clone();
        let done = |response, error| Served {
            response,
            route: route.clone(),
            component: component.env.id.clone(),
            error,
        };

        // Take the whole body first, under the cap, so an oversized body is a clean 413.
        let cap = self.limits.max_body_bytes;
        let (mut parts, body) = req.into_parts();
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let body = match read_body(body, cap, declared).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return done(too_large(cap, request_id), None),
            Err(e) => {
                return done(
                    problem(
                        StatusCode::BAD_REQUEST,
                        "The request body could not be read.",
                        request_id,
                    ),
                    Some(format!("reading body: {e}")),
                );
            }
        };
        parts.headers.remove(header::TRANSFER_ENCODING);
        if !body.is_empty() || declared.is_some() {
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        set_spin_headers(&mut parts, pattern, &matched, client, &scheme);
        let req = Request::from_parts(parts, Full::new(body).map_err(never as fn(_) -> _));

        match self.run(&component, req, scheme, request_id).await {
            Ok(response) => done(response, None),
            Err(failure) => {
                let (status, title) = match failure.kind {
                    FailureKind::Timeout => (
                        StatusCode::GATEWAY_TIMEOUT,
                        "The component did not answer within its time budget.",
                    ),
                    FailureKind::Busy => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "The server is at capacity; retry shortly.",
                    ),
                    FailureKind::Error => (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "The component failed while handling the request.",
                    ),
                };
                done(problem(status, title, request_id), Some(failure.message))
            }
        }
    }

    /// Instantiates the component in a fresh store and calls its handler.
    async fn run(
        self: &Arc<Self>,
        component: &Arc<Loaded>,
        req: Request<GuestBody>,
        scheme: Scheme,
        request_id: &str,
    ) -> Result<Response<HyperOutgoingBody>, Failure> {
        let deadline = Instant::now() + self.limits.timeout;
        let permit = tokio::time::timeout_at(deadline.into(), self.permits.clone().acquire_owned())
            .await
            .map_err(|_| Failure::busy("no instance slot became free before the deadline"))?
            .map_err(|_| Failure::error("the server is shutting down"))?;

        let env = component.env.clone();
        let state = HostState {
            table: ResourceTable::new(),
            wasi: WasiCtx::builder().inherit_stdout().inherit_stderr().build(),
            http: WasiHttpCtx::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(self.max_memory_bytes)
                .instances(64)
                .build(),
            hooks: env.outbound.clone(),
            env,
            deadline,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|ctx| {
            if Instant::now() >= ctx.data().deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                // Give other requests on this thread a turn, then keep going.
                Ok(UpdateDeadline::Yield(1))
            }
        });

        let (tx, rx) = tokio::sync::oneshot::channel();
        let responded = Arc::new(AtomicBool::new(false));
        let flag = responded.clone();
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(scheme, req)
            .map_err(|e| Failure::error(format!("preparing the request: {e:#}")))?;
        let outparam = store
            .data_mut()
            .http()
            .new_response_outparam_from_callback(move |r| {
                flag.store(true, Ordering::Release);
                let _ = tx.send(r);
            })
            .map_err(|e| Failure::error(format!("preparing the response: {e:#}")))?;

        let pre = component.pre.clone();
        let id = request_id.to_owned();
        let task = tokio::spawn(async move {
            let _permit = permit;
            let result = async {
                let proxy = pre.instantiate_async(&mut store).await?;
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, incoming, outparam)
                    .await
            }
            .await;
            if let Err(e) = &result
                && responded.load(Ordering::Acquire)
            {
                // The response head was already sent; all that is left is to log it.
                tracing::warn!(request_id = %id, error = %format!("{e:#}"), "component failed after responding");
            }
            result
        });

        // The epoch callback cuts off guest code at the deadline; this bound also covers a
        // guest stuck waiting on a host call.
        let backstop = deadline + engine::EPOCH_TICK * 5;
        match tokio::time::timeout_at(backstop.into(), rx).await {
            Ok(Ok(Ok(response))) => Ok(response),
            Ok(Ok(Err(code))) => Err(Failure::error(format!(
                "the component reported an error: {code:?}"
            ))),
            Ok(Err(_)) => match task.await {
                Ok(Ok(())) => Err(Failure::error(
                    "the component returned without setting a response",
                )),
                Ok(Err(e)) => Err(classify(e)),
                Err(join) => Err(Failure::error(format!("the request task failed: {join}"))),
            },
            Err(_) => {
                task.abort();
                Err(Failure::timeout(
                    "the request deadline passed while the component waited",
                ))
            }
        }
    }
}

enum FailureKind {
    Timeout,
    Busy,
    Error,
}

struct Failure {
    kind: FailureKind,
    message: String,
}

impl Failure {
    fn error(m: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::Error,
            message: m.into(),
        }
    }
    fn busy(m: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::Busy,
            message: m.into(),
        }
    }
    fn timeout(m: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::Timeout,
            message: m.into(),
        }
    }
}

fn never(e: std::convert::Infallible) -> wasmtime_wasi_http::Error {
    match e {}
}

fn classify(e: wasmtime::Error) -> Failure {
    if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        Failure::timeout("the component ran past its deadline and was interrupted")
    } else {
        Failure::error(format!("{e:#}"))
    }
}

/// Headers Spin gives a component about how it was reached; clients cannot forge them.
fn set_spin_headers(
    parts: &mut http::request::Parts,
    pattern: &RoutePattern,
    matched: &crate::routes::RouteMatch,
    client: SocketAddr,
    scheme: &Scheme,
) {
    let forged: Vec<_> = parts
        .headers
        .keys()
        .filter(|k| k.as_str().starts_with("spin-"))
        .cloned()
        .collect();
    for k in forged {
        parts.headers.remove(k);
    }
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    if !parts.headers.contains_key(header::HOST) {
        parts
            .headers
            .insert(header::HOST, HeaderValue::from_static("localhost"));
    }
    let scheme = match scheme {
        Scheme::Https => "https",
        _ => "http",
    };
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut set = |name: String, value: String| {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            parts.headers.insert(n, v);
        }
    };
    set(
        "spin-full-url".into(),
        format!("{scheme}://{host}{path_and_query}"),
    );
    set("spin-path-info".into(), matched.path_info.clone());
    set("spin-matched-route".into(), pattern.as_str().to_owned());
    set(
        "spin-raw-component-route".into(),
        pattern.as_str().to_owned(),
    );
    set("spin-component-route".into(), pattern.base());
    set("spin-base-path".into(), "/".into());
    set("spin-client-addr".into(), client.to_string());
    for (name, value) in &matched.params {
        set(
            format!("spin-path-match-{}", name.to_ascii_lowercase()),
            value.clone(),
        );
    }
}

/// An `application/problem+json` response (RFC 9457).
pub fn problem(status: StatusCode, detail: &str, request_id: &str) -> Response<HyperOutgoingBody> {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
        "instance": format!("urn:vantage:request:{request_id}"),
    });
    let mut resp = Response::new(
        Full::new(Bytes::from(body.to_string()))
            .map_err(|e| match e {})
            .boxed_unsync(),
    );
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    resp
}

fn too_large(cap: usize, request_id: &str) -> Response<HyperOutgoingBody> {
    let mut resp = problem(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("The request body is larger than the {cap}-byte limit."),
        request_id,
    );
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// How much of an oversized body is read and discarded before answering 413, and for how long:
/// a client still sending when the answer comes would otherwise see a reset, not the 413.
const DRAIN_BYTES: u64 = 16 << 20;
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Reads the whole body if it fits in `cap` (`Ok(None)` when it does not: the rest is drained,
/// within bounds, so the client can read the answer).
async fn read_body<B>(body: B, cap: usize, declared: Option<u64>) -> Result<Option<Bytes>, String>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut body = std::pin::pin!(body);
    let mut over = declared.is_some_and(|n| n > cap as u64);
    let mut buf: Vec<u8> = Vec::with_capacity(declared.map_or(0, |n| n.min(cap as u64) as usize));
    let mut seen: u64 = 0;
    let started = Instant::now();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.into().to_string())?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen += data.len() as u64;
        if seen > cap as u64 {
            over = true;
        }
        if over {
            if seen > cap as u64 + DRAIN_BYTES || started.elapsed() > DRAIN_TIME {
                break;
            }
        } else {
            buf.extend_from_slice(&data);
        }
    }
    Ok((!over).then(|| Bytes::from(buf)))
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish() as u32
}

/// Accepts connections until `shutdown` resolves, then lets in-flight requests finish (up to
/// `drain`) and flushes the stores.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) -> anyhow::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let scheme_is_https = tls.is_some();
    tokio::pin!(shutdown);
    loop {
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |req| {
            let app = app.clone();
            async move {
                let scheme = if scheme_is_https {
                    Scheme::Https
                } else {
                    Scheme::Http
                };
                Ok::<_, std::convert::Infallible>(app.handle(req, client, scheme).await)
            }
        });
        let builder = {
            let mut b = hyper::server::conn::http1::Builder::new();
            b.keep_alive(true)
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30));
            b
        };
        match &tls {
            None => {
                let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%client, error = %e, "connection ended with an error");
                    }
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let stream = match acceptor.accept(stream).await {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::debug!(%client, error = %e, "TLS handshake failed");
                            return;
                        }
                    };
                    let conn =
                        builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(%client, error = %e, "connection ended with an error");
                    }
                });
            }
        }
    }
    tracing::info!("shutting down: no new connections; waiting for in-flight requests");
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish within {drain:?}; closing anyway");
    }
    app.flush();
    tracing::info!("stores flushed; bye");
    Ok(())
}

/// Loads a TLS certificate chain and private key (PEM) into an acceptor.
pub fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading TLS certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing TLS certificate {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading TLS key {}", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .context("TLS certificate and key do not match")?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
