//! The host over real HTTP: routing, Spin headers, variables, limits, isolation of failing
//! guests, refusal of foreign imports, outbound policy, the CLI and graceful shutdown.

use std::time::{Duration, Instant};

use vantage_tests::{Setup, components};

const APP: &str = r#"
spin_manifest_version = 2
[application]
name = "host-tests"

[variables]
name = { default = "world" }
token = { required = true, secret = true }

[[trigger.http]]
route = "/..."
component = "health"
[[trigger.http]]
route = "/health"
component = "health"
[[trigger.http]]
route = "/misbehave/..."
component = "misbehave"
[[trigger.http]]
route = "/probe/..."
component = "probe"

[component.health]
source = "{{component:health}}"
key_value_stores = ["default"]

[component.misbehave]
source = "{{component:test-misbehave}}"

[component.probe]
source = "{{component:test-kv-probe}}"
key_value_stores = ["default"]
[component.probe.variables]
greeting = "hello {{ name }}"
secret = "{{ token }}"
"#;

fn app() -> Setup {
    Setup::new(APP).variable("token", "t0k3n")
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_most_specific_and_404() {
    let host = app().start().unwrap();
    let c = host.client();
    let r = c.get("/health").await;
    assert_eq!(r.status, 200);
    assert!(!r.json()["version"].as_str().unwrap().is_empty());
    assert_eq!(r.json()["stores"]["default"], "ok");
    assert!(r.header("x-request-id").is_some());
    // The catch-all serves what nothing more specific claims.
    assert_eq!(c.get("/anything/else").await.status, 200);
    assert_eq!(c.get("/misbehave/ok").await.text(), "fine");
    assert_eq!(c.get("/misbehave/nope").await.status, 404);

    let only_health = Setup::new(&APP.replace("route = \"/...\"", "route = \"/other/...\""))
        .variable("token", "x");
    let host2 = only_health.start().unwrap();
    let r = host2.client().get("/nothing-here").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert_eq!(r.json()["status"], 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn spin_headers_are_set_and_cannot_be_forged() {
    let host = app().start().unwrap();
    let r = host
        .client()
        .send(
            "GET",
            "/misbehave/headers?x=1",
            &[("spin-path-info", "/forged"), ("x-request-id", "abc-123")],
            "",
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-request-id"), Some("abc-123"));
    let h = r.json();
    assert_eq!(h["spin-path-info"], "/headers");
    assert_eq!(h["spin-matched-route"], "/misbehave/...");
    assert_eq!(h["spin-component-route"], "/misbehave");
    assert!(
        h["spin-full-url"]
            .as_str()
            .unwrap()
            .ends_with("/misbehave/headers?x=1")
    );
    assert!(
        h["spin-client-addr"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn variables_from_defaults_and_overrides() {
    let host = app().start().unwrap();
    let c = host.client();
    assert_eq!(c.get("/probe/var/greeting").await.text(), "hello world");
    assert_eq!(c.get("/probe/var/secret").await.text(), "t0k3n");
    assert_eq!(c.get("/probe/var/missing").await.status, 404);
    drop(host);

    let host = app().variable("name", "vantage").start().unwrap();
    assert_eq!(
        host.client().get("/probe/var/greeting").await.text(),
        "hello vantage"
    );
}

#[test]
fn required_variable_missing_is_refused() {
    let err = Setup::new(APP).start().err().expect("start must fail");
    let msg = format!("{err:#}");
    assert!(msg.contains("token (set SPIN_VARIABLE_TOKEN)"), "{msg}");
}

#[test]
fn foreign_imports_are_refused_by_name() {
    let manifest = r#"
spin_manifest_version = 2
[application]
name = "refuse"
[[trigger.http]]
route = "/..."
component = "forbidden"
[component.forbidden]
source = "{{component:test-forbidden}}"
"#;
    let err = Setup::new(manifest).start().err().expect("start must fail");
    let msg = format!("{err:#}");
    assert!(msg.contains("fermyon:spin/key-value"), "{msg}");
    assert!(msg.contains("outside the vantage:edge world"), "{msg}");
}

#[tokio::test(flavor = "multi_thread")]
async fn traps_become_500_and_the_host_keeps_serving() {
    let host = app().start().unwrap();
    let c = host.client();
    for _ in 0..3 {
        let r = c.get("/misbehave/panic").await;
        assert_eq!(r.status, 500);
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        assert_eq!(c.get("/misbehave/ok").await.status, 200);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn runaway_guests_are_cut_off_at_the_deadline() {
    let mut setup = app();
    setup.limits.timeout = Duration::from_millis(700);
    let host = setup.start().unwrap();
    let c = host.client();
    for path in ["/misbehave/loop", "/misbehave/sleep"] {
        let started = Instant::now();
        let r = c.get(path).await;
        assert_eq!(r.status, 504, "{path}: {}", r.text());
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{path} took {:?}",
            started.elapsed()
        );
        assert_eq!(c.get("/misbehave/ok").await.status, 200);
    }
    // Several at once still leave the host responsive.
    let loops: Vec<_> = (0..4)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.get("/misbehave/loop").await.status })
        })
        .collect();
    assert_eq!(c.get("/health").await.status, 200);
    for l in loops {
        assert_eq!(l.await.unwrap(), 504);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_is_capped_per_instance() {
    let host = app().start().unwrap();
    let c = host.client();
    let r = c.get("/misbehave/oom").await;
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(c.get("/misbehave/ok").await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn request_bodies_are_capped() {
    let mut setup = app();
    setup.limits.max_body_bytes = 64 * 1024;
    let host = setup.start().unwrap();
    let c = host.client();
    let small = vec![b'x'; 64 * 1024];
    let r = c.post("/misbehave/echo", small.clone()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-body-length"), Some("65536"));
    assert_eq!(r.body.as_ref(), small.as_slice());
    let r = c.post("/misbehave/echo", vec![b'x'; 64 * 1024 + 1]).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    // A client still sending a much larger body reads the 413 rather than a reset connection.
    for _ in 0..5 {
        let r = c.post("/misbehave/echo", vec![b'x'; 8 << 20]).await;
        assert_eq!(r.status, 413);
        assert_eq!(r.header("connection"), Some("close"));
    }

    // A chunked body with no length is cut off at the cap too.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = host.url.trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut req = format!(
        "POST /misbehave/echo HTTP/1.1\r\nhost: {addr}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    )
    .into_bytes();
    for _ in 0..20 {
        req.extend_from_slice(format!("{:x}\r\n", 8192).as_bytes());
        req.extend_from_slice(&[b'y'; 8192]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    s.write_all(&req).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.starts_with("HTTP/1.1 413"),
        "{}",
        &text[..text.len().min(200)]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn outbound_requests_follow_allowed_outbound_hosts() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = upstream.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = upstream.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 418 I'm a teapot\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    let url = format!("/misbehave/outbound?url=http://127.0.0.1:{port}/");

    let denied = app().start().unwrap();
    let r = denied.client().get(&url).await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(
        r.text().contains("Denied") || r.text().contains("denied"),
        "{}",
        r.text()
    );
    drop(denied);

    let allowed = Setup::new(&APP.replace(
        "source = \"{{component:test-misbehave}}\"",
        &format!("source = \"{{{{component:test-misbehave}}}}\"\nallowed_outbound_hosts = [\"http://127.0.0.1:{port}\"]"),
    ))
    .variable("token", "x")
    .start()
    .unwrap();
    let r = allowed.client().get(&url).await;
    assert_eq!(r.text(), "upstream status 418");
}

#[tokio::test(flavor = "multi_thread")]
async fn many_concurrent_requests_queue_for_instances() {
    let host = app().start().unwrap();
    let c = host.client();
    let tasks: Vec<_> = (0..300)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move {
                if i % 3 == 0 {
                    c.get("/misbehave/panic").await.status
                } else {
                    c.get("/health").await.status
                }
            })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        let status = t.await.unwrap();
        assert_eq!(status, if i % 3 == 0 { 500 } else { 200 });
    }
}

#[test]
fn cli_up_serves_and_shuts_down_gracefully_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    assert!(
        std::path::Path::new(components::VANTAGE_BIN).exists(),
        "{} is missing: run the workspace tests (`cargo test --workspace --release`), which build it",
        components::VANTAGE_BIN
    );
    let dir = vantage_tests::TempDir::new("cli");
    let manifest = dir.path().join("spin.toml");
    std::fs::write(
        &manifest,
        APP.replace("{{component:health}}", components::HEALTH)
            .replace("{{component:test-misbehave}}", components::TEST_MISBEHAVE)
            .replace("{{component:test-kv-probe}}", components::TEST_KV_PROBE),
    )
    .unwrap();

    // Without the required variable the CLI refuses to start and says why.
    let out = Command::new(components::VANTAGE_BIN)
        .args(["up", "-f"])
        .arg(&manifest)
        .args(["--listen", "127.0.0.1:0", "--state-dir"])
        .arg(dir.path().join("state"))
        .env_remove("SPIN_VARIABLE_TOKEN")
        .output()
        .expect("run vantage");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SPIN_VARIABLE_TOKEN"), "{stderr}");

    let mut child = Command::new(components::VANTAGE_BIN)
        .args(["up", "-f"])
        .arg(&manifest)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--max-instances",
            "16",
            "--state-dir",
        ])
        .arg(dir.path().join("state"))
        .env("SPIN_VARIABLE_TOKEN", "t")
        .env("VANTAGE_LOG", "info")
        .args(["--log-format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run vantage");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first.strip_prefix("Serving ").expect(&first).to_owned();

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = vantage_tests::Client::new(&url);
        assert_eq!(c.get("/health").await.status, 200);
        assert_eq!(
            c.put("/probe/kv/default/persisted", "yes").await.status,
            204
        );
        // A request in flight when the signal arrives still completes.
        let slow = {
            let c = c.clone();
            tokio::spawn(async move { c.get("/misbehave/echo").await.status })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let kill = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        assert_eq!(slow.await.unwrap(), 200);
    });
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "vantage did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    // One structured line per request: id, route, component, status, duration.
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    let access: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "request")
        .collect();
    let health = access
        .iter()
        .find(|v| v["path"] == "/health")
        .unwrap_or_else(|| panic!("no access log line for /health in:\n{log}"));
    assert_eq!(health["status"], 200);
    assert_eq!(health["component"], "health");
    assert_eq!(health["route"], "/health");
    assert!(
        health["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    assert!(health["duration_us"].as_u64().is_some());
    assert!(log.contains("stores flushed"), "{log}");
    // Flushed: the WAL was folded back and the write is in Spin's table.
    let db = rusqlite::Connection::open(dir.path().join("state/sqlite_key_value.db")).unwrap();
    let v: Vec<u8> = db
        .query_row(
            "SELECT value FROM spin_key_value WHERE store = 'default' AND key = 'persisted'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(v, b"yes");
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_https_with_the_given_certificate() {
    use http_body_util::{BodyExt, Empty};
    use std::sync::Arc;
    use tokio_rustls::rustls;

    let dir = vantage_tests::TempDir::new("tls");
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    let host = app().tls(&cert, &key).start().unwrap();
    assert!(host.url.starts_with("https://"));

    let mut roots = rustls::RootCertStore::empty();
    roots.add(generated.cert.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let addr = host.url.trim_start_matches("https://").to_owned();
    let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let tls = connector
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .expect("TLS handshake with the served certificate");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = http::Request::get("/misbehave/headers")
        .header("host", "localhost")
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let headers: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        headers["spin-full-url"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
}
