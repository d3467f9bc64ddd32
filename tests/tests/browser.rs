//! The browser test of issue #6: the real `@adobe/alloy` from npm (bundled into a page by
//! esbuild, `tests/browser/`), configured with `edgeDomain: "localhost"` and
//! `thirdPartyCookiesEnabled: false`, runs in Debian's headless Chromium against the host
//! serving the repository's `spin.toml` over TLS on 127.0.0.1:443 (alloy hard-codes https and
//! port 443). The page is served over plain http from another loopback port, so every call to
//! the edge is cross-origin (CORS with credentials) and cross-site (state travels in
//! `meta.state.entries`, not in a Cookie header).
//!
//! The test publishes an A/B activity for `__view__` whose experiences are `setHtml` dom-actions
//! on `#hero`, runs `npm ci` (when `node_modules` is missing or stale), the esbuild bundle and
//! `driver.mjs` (playwright-core driving /usr/bin/chromium), then checks that the personalized
//! text is in the page and that the display notification reached the server: the activity's
//! report counts an exposure for the rendered experience.
//!
//! Needs node, npm and Chromium (`apt-get install -y nodejs npm chromium`, done by `.ci/run`) and
//! the right to bind port 443 (root, or `net.ipv4.ip_unprivileged_port_start=443`); it fails,
//! never skips, without them. Screenshot and every request/response: `tests/browser/test-artifacts/`.
//! One test function: it owns port 443 (shared with `demo.rs` through
//! [`vantage_tests::port_443_lock`]). When another server already holds 127.0.0.1:443 (a
//! developer's `vantage up`), page and edge move to 127.0.0.2 (or .3) and Chromium resolves
//! `localhost` there (`--host-resolver-rules`); `VANTAGE_BROWSER_LOOPBACK=IP` forces an address.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tokio_rustls::rustls;
use vantage_tests::components::{ALL, REPO_ROOT};
use vantage_tests::{Resp, Setup, TempDir, ago as ts};

const ORG_ID: &str = "0123456789ABCDEF01234567@AdobeOrg";
const ADMIN_TOKEN: &str = "browser-test-admin";
const API_TOKEN: &str = "browser-test-api";
const ACTIVITY: &str = "browser-hero";
/// Both experiences' content contains it; the driver waits for it in `#hero`.
const EXPECT_TEXT: &str = "Personalized by Vantage";

const NPM_CI_TIMEOUT: Duration = Duration::from_secs(300);
const BUNDLE_TIMEOUT: Duration = Duration::from_secs(60);
const DRIVER_TIMEOUT: Duration = Duration::from_secs(180);
const HTTP_TIMEOUT: Duration = Duration::from_secs(15);

#[test]
fn alloy_renders_a_view_proposition_and_sends_its_display_notification() {
    let started = Instant::now();
    let browser_dir = Path::new(REPO_ROOT).join("tests/browser");
    let artifacts = browser_dir.join("test-artifacts");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();

    // Prerequisites: fail loudly, never skip.
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    let mut missing = Vec::new();
    for tool in ["node", "npm"] {
        if !Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            missing.push(format!("`{tool}` (Debian: apt-get install -y nodejs npm)"));
        }
    }
    if !Path::new(&chromium).exists() {
        missing.push(format!(
            "Chromium at {chromium} (Debian: apt-get install -y chromium; or set CHROMIUM)"
        ));
    }
    assert!(
        missing.is_empty(),
        "the browser test needs {}; .ci/run installs them",
        missing.join(", ")
    );

    // The page: node_modules from the lock file, then the esbuild bundle into dist/.
    let installed = browser_dir.join("node_modules/.package-lock.json");
    let stale = match (
        std::fs::metadata(&installed).and_then(|m| m.modified()),
        std::fs::metadata(browser_dir.join("package-lock.json")).and_then(|m| m.modified()),
    ) {
        (Ok(inst), Ok(lock)) => inst < lock,
        _ => true,
    };
    if stale {
        run(
            "npm ci",
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&browser_dir),
            NPM_CI_TIMEOUT,
            &artifacts.join("npm-ci.log"),
        );
    }
    run(
        "the esbuild bundle (node build.mjs)",
        Command::new("node")
            .arg("build.mjs")
            .current_dir(&browser_dir),
        BUNDLE_TIMEOUT,
        &artifacts.join("build.log"),
    );

    // The edge: the repository's spin.toml, its components as built by build.rs, TLS on 443
    // (shared with tests/tests/demo.rs through a lock file, held until the end of the test).
    let _port = vantage_tests::port_443_lock();
    let loopback = loopback();
    let edge_addr = format!("{loopback}:443");
    let tls_dir = TempDir::new("browser-tls");
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (cert, key) = (
        tls_dir.path().join("cert.pem"),
        tls_dir.path().join("key.pem"),
    );
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    let host = Setup::new(&manifest())
        .variable("admin_token", ADMIN_TOKEN)
        .variable("api_token", API_TOKEN)
        .variable("org_id", ORG_ID)
        .listen(&edge_addr)
        .tls(&cert, &key)
        .start()
        .unwrap_or_else(|e| {
            panic!(
                "could not serve the edge on https://{edge_addr} (alloy only speaks https on port 443): {e:#}\n\
                 binding 443 needs root or net.ipv4.ip_unprivileged_port_start<=443, and nothing else on that port"
            )
        });

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let edge = Edge::new(generated.cert.der().clone(), &edge_addr);

    // The page, over plain http on another loopback port (cross-origin to the edge).
    let page_port = rt.block_on(serve_page(browser_dir.join("dist"), &loopback));
    let page_origin = format!("http://localhost:{page_port}");

    // The activity, through the projection API.
    let publish = rt.block_on(edge.send(
        "POST",
        "/v1/projection",
        &[
            ("authorization", &format!("Bearer {ADMIN_TOKEN}")),
            ("content-type", "application/x-ndjson"),
        ],
        format!("{}\n", activity()),
    ));
    assert_eq!(
        publish.status,
        200,
        "publishing the activity: {}",
        publish.text()
    );
    assert_eq!(
        publish.json()["accepted"],
        1,
        "publishing the activity: {}",
        publish.text()
    );

    // The browser.
    let (ok, output) = run_status(
        Command::new("node")
            .arg("driver.mjs")
            .args(["--url", &format!("{page_origin}/")])
            .args(["--org-id", ORG_ID])
            .args(["--edge-domain", "localhost"])
            .args(["--expect-text", EXPECT_TEXT])
            .args(["--selector", "#hero"])
            .arg("--artifacts")
            .arg(&artifacts)
            .args(["--timeout-ms", "20000"])
            .args(["--chromium", &chromium])
            .args(["--loopback", &loopback])
            .current_dir(&browser_dir),
        DRIVER_TIMEOUT,
        &artifacts.join("driver.log"),
    );
    println!("{output}");
    let report_path = artifacts.join("report.json");
    let report: Value = std::fs::read(&report_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    if !ok {
        // What the edge answers to the same requests, as seen from outside the browser
        // (a CORS-blocked response is invisible to the page and to the driver).
        let replays = rt.block_on(replay(&edge, &report, &page_origin));
        panic!(
            "the browser run failed (driver output above; every request and response in {}):\n{}\n\
             what the edge answers when the failed requests are replayed with Origin {page_origin}:\n{replays}",
            report_path.display(),
            failures(&output),
        );
    }

    // (a) The personalized text is in the page: the driver waited for it in #hero; check what
    // alloy resolved sendEvent with, too.
    let rendered: Vec<&Value> = report["state"]["propositions"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter(|p| p["scope"] == "__view__" && p["renderAttempted"] == true)
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        rendered.len(),
        1,
        "alloy should have rendered exactly one __view__ proposition: {}",
        report["state"]
    );
    let experience = rendered[0]["scopeDetails"]["experience"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no scopeDetails.experience.id in {}", rendered[0]))
        .to_owned();
    assert_eq!(
        rendered[0]["scopeDetails"]["activity"]["id"], ACTIVITY,
        "{}",
        rendered[0]
    );

    // (b) The display notification reached the server: the report shows the exposure.
    let deadline = Instant::now() + Duration::from_secs(10);
    let activity_report = loop {
        let r = rt.block_on(edge.send(
            "GET",
            &format!("/v1/reports/activities/{ACTIVITY}"),
            &[("authorization", &format!("Bearer {ADMIN_TOKEN}"))],
            "",
        ));
        assert_eq!(r.status, 200, "the activity report: {}", r.text());
        let v = r.json();
        if v["totals"]["exposures"].as_i64().unwrap_or(0) >= 1 || Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let row = activity_report["experiences"]
        .as_array()
        .and_then(|rows| {
            rows.iter()
                .find(|r| r["experienceId"] == experience.as_str())
        })
        .unwrap_or_else(|| panic!("no row for experience {experience} in {activity_report}"));
    let exposures = row["exposures"].as_i64().unwrap_or(0);
    assert!(
        exposures >= 1,
        "the display notification did not count an exposure for experience {experience}: {activity_report}"
    );
    if exposures > 1 {
        println!(
            "note: experience {experience} counts {exposures} exposures for one page view and one display notification"
        );
    }
    println!(
        "browser test passed in {:.1} s: experience {experience} rendered, {exposures} exposure(s) reported; artifacts in {}",
        started.elapsed().as_secs_f64(),
        artifacts.display()
    );
    drop(rt);
    host.stop();
}

/// The loopback address whose port 443 the test can take: `VANTAGE_BROWSER_LOOPBACK`, else
/// 127.0.0.1, else 127.0.0.2 or 127.0.0.3 when another server holds it.
fn loopback() -> String {
    if let Ok(ip) = std::env::var("VANTAGE_BROWSER_LOOPBACK") {
        return ip;
    }
    let mut errors = Vec::new();
    for ip in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
        match std::net::TcpListener::bind((ip, 443)) {
            Ok(_) => {
                if ip != "127.0.0.1" {
                    println!("note: 127.0.0.1:443 is taken; page and edge use {ip}");
                }
                return ip.to_owned();
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                errors.push(format!("{ip}:443: {e}"));
            }
            Err(e) => panic!(
                "cannot bind {ip}:443 (alloy only speaks https on port 443): {e}; \
                 run as root or set net.ipv4.ip_unprivileged_port_start=443"
            ),
        }
    }
    panic!(
        "no loopback address has port 443 free: {}",
        errors.join("; ")
    );
}

/// The repository's spin.toml with its component sources pointed at the wasm built by build.rs.
fn manifest() -> String {
    let mut text = std::fs::read_to_string(Path::new(REPO_ROOT).join("spin.toml")).unwrap();
    assert!(
        text.contains("[component.collect]"),
        "spin.toml has no `collect` component: the browser test needs the Web SDK front door (issue #6)"
    );
    for (name, path) in ALL {
        let source = format!(
            "target/wasm32-wasip2/component/{}.wasm",
            name.replace('-', "_")
        );
        text = text.replace(&format!("\"{source}\""), &format!("{path:?}"));
    }
    text
}

/// An A/B activity on the page (`__view__`): each experience replaces `#hero`.
fn activity() -> Value {
    let offer = |id: &str, label: &str| {
        json!({"id": id, "schema": "https://ns.adobe.com/personalization/dom-action",
            "data": {"type": "setHtml", "selector": "#hero",
                     "content": format!("<h2 class=\"personalized\">{EXPECT_TEXT} ({label})</h2>")}})
    };
    json!({"type": "activity", "id": ACTIVITY, "name": "Browser test hero", "timestamp": ts(60_000),
        "activityType": "ab", "priority": 10, "scopes": ["__view__"], "audience": null,
        "bucketing": {"scheme": "adobe-target", "client": "vantage", "salt": "0", "version": 1},
        "experiences": [
            {"id": "0", "name": "A", "allocation": 50, "offers": [offer("browser-hero-a", "A")]},
            {"id": "1", "name": "B", "allocation": 50, "offers": [offer("browser-hero-b", "B")]}]})
}

/// Runs a command to completion within `timeout`, its output in `log`; panics on failure.
fn run(what: &str, cmd: &mut Command, timeout: Duration, log: &Path) {
    let (ok, output) = run_status(cmd, timeout, log);
    assert!(ok, "{what} failed:\n{output}");
}

/// Runs a command within `timeout` (killed beyond), stdout and stderr into `log`; returns
/// whether it exited 0 and its output.
fn run_status(cmd: &mut Command, timeout: Duration, log: &Path) -> (bool, String) {
    let out = File::create(log).unwrap();
    let err = out.try_clone().unwrap();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().unwrap() {
            Some(status) => break Some(status),
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let text = std::fs::read_to_string(log).unwrap_or_default();
    match status {
        Some(s) => (s.success(), text),
        None => (
            false,
            format!("{text}\n{cmd:?} was killed after {} s", timeout.as_secs()),
        ),
    }
}

/// The driver's failure lines.
fn failures(output: &str) -> String {
    let lines: Vec<&str> = output
        .lines()
        .skip_while(|l| !l.contains("FAILED"))
        .take(40)
        .collect();
    if lines.is_empty() {
        output.lines().rev().take(20).collect::<Vec<_>>().join("\n")
    } else {
        lines.join("\n")
    }
}

/// Replays the edge requests of a failed run that got no usable answer in the browser.
async fn replay(edge: &Edge, report: &Value, origin: &str) -> String {
    let mut out = String::new();
    for x in report["exchanges"].as_array().into_iter().flatten() {
        let status = x["response"]["status"].as_u64().unwrap_or(0);
        let cors_ok = x["response"]["headers"]["access-control-allow-origin"] == origin;
        if x["failure"].is_null() && (200..300).contains(&status) && cors_ok {
            continue;
        }
        let url = x["url"].as_str().unwrap_or_default();
        let path = url
            .strip_prefix("https://localhost")
            .unwrap_or(url)
            .to_owned();
        let body = x["rawBody"].as_str().unwrap_or_default().to_owned();
        let r = edge
            .send(
                x["method"].as_str().unwrap_or("POST"),
                &path,
                &[
                    ("origin", origin),
                    ("content-type", "text/plain; charset=UTF-8"),
                ],
                body,
            )
            .await;
        let mut headers: Vec<String> = r
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("?")))
            .collect();
        headers.sort();
        let text = r.text();
        out.push_str(&format!(
            "  {} {path}\n    -> {}\n    {}\n    {}\n",
            x["method"].as_str().unwrap_or("POST"),
            r.status,
            headers.join("\n    "),
            &text[..text.len().min(2000)]
        ));
    }
    if out.is_empty() {
        out.push_str("  (nothing to replay)\n");
    }
    out
}

/// An HTTPS client for the edge, trusting the test certificate.
struct Edge {
    connector: tokio_rustls::TlsConnector,
    addr: String,
}

impl Edge {
    fn new(cert: rustls::pki_types::CertificateDer<'static>, addr: &str) -> Self {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        Self {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
            addr: addr.to_owned(),
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Resp {
        let body = body.into();
        tokio::time::timeout(HTTP_TIMEOUT, self.exchange(method, path, headers, body))
            .await
            .unwrap_or_else(|_| panic!("{method} {path}: no answer within {HTTP_TIMEOUT:?}"))
            .unwrap_or_else(|e| panic!("{method} {path}: {e:#}"))
    }

    async fn exchange(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> anyhow::Result<Resp> {
        let tcp = tokio::net::TcpStream::connect(&self.addr).await?;
        let tls = self.connector.connect("localhost".try_into()?, tcp).await?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await?;
        tokio::spawn(conn);
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = sender.send_request(req.body(Full::new(body))?).await?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Resp {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }
}

/// Serves the bundled page (`tests/browser/dist`) over plain http on a free port of `ip`.
async fn serve_page(dist: PathBuf, ip: &str) -> u16 {
    assert!(
        dist.join("index.html").exists() && dist.join("app.js").exists(),
        "{} lacks the bundled page",
        dist.display()
    );
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let dist = Arc::new(dist);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let dist = dist.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let dist = dist.clone();
                        async move {
                            Ok::<_, std::convert::Infallible>(page_file(&dist, req.uri().path()))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    port
}

fn page_file(dist: &Path, path: &str) -> http::Response<Full<Bytes>> {
    let name = match path.trim_start_matches('/') {
        "" => "index.html",
        n => n,
    };
    let found = (!name.contains('/') && !name.contains(".."))
        .then(|| std::fs::read(dist.join(name)).ok())
        .flatten();
    let Some(bytes) = found else {
        return http::Response::builder()
            .status(404)
            .body(Full::new(Bytes::from_static(b"not found")))
            .unwrap();
    };
    let content_type = match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("map") => "application/json",
        _ => "application/octet-stream",
    };
    http::Response::builder()
        .header("content-type", content_type)
        .header("cache-control", "no-store")
        .body(Full::new(Bytes::from(bytes)))
        .unwrap()
}
