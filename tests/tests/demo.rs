//! The browser test of the demo storefront (issue #7), run as a newcomer would: the built
//! `vantage` binary serves the repository's `spin.toml` with `up --tls-dev --listen
//! 127.0.0.1:443` (the dev certificate made on first use), `vantage demo seed` loads the demo
//! data over https (trusting the dev CA), then `functions/storefront/site/e2e/demo.mjs` drives
//! Debian's headless Chromium (playwright-core) through each scenario, one fresh visitor each:
//!
//! 1. landing-page optimization: the hero shows an experience of the A/B test, sticky on reload;
//! 2. behavioural targeting: a shoe view turns the recommendation to shoes in the same request,
//!    and the shoe-shopper edge segment's banner shows on the next page view;
//! 3. offline targeting: `vantage demo link ECID` (the hub linking the browser to a CRM gold
//!    customer) makes the gold banner show on the next page view, without a login;
//! 4. first-login personalization: logging in as Ada shows the gold banner in the login's own
//!    response; Grace (silver) gets none.
//!
//! Then the activity reports show the display notifications the page sent. The page is the
//! committed bundle, checked against its sources (`npm run check`). Screenshots, report.json and
//! the host's log: `<target>/test-artifacts/demo/`. Needs node, npm, Chromium and port 443
//! (root, or `net.ipv4.ip_unprivileged_port_start=443`); fails, never skips, without them.
//! Port 443 is shared with `browser.rs` through [`vantage_tests::port_443_lock`].

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tokio_rustls::rustls;
use vantage_tests::TempDir;
use vantage_tests::components::{ALL, REPO_ROOT, VANTAGE_BIN};

const ADMIN_TOKEN: &str = "demo-test-admin";
const API_TOKEN: &str = "demo-test-api";
const LISTEN: &str = "127.0.0.1:443";

const NPM_CI_TIMEOUT: Duration = Duration::from_secs(300);
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
const START_TIMEOUT: Duration = Duration::from_secs(180);
const DRIVER_TIMEOUT: Duration = Duration::from_secs(300);

#[test]
fn the_demo_storefront_personalizes_every_scenario() {
    let started = Instant::now();
    let site = Path::new(REPO_ROOT).join("functions/storefront/site");
    let artifacts = artifacts_dir();
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();

    // Prerequisites: fail loudly, never skip.
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    let mut missing = Vec::new();
    for tool in ["node", "npm"] {
        let ok = Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            missing.push(format!("`{tool}` (Debian: apt-get install -y nodejs npm)"));
        }
    }
    if !Path::new(&chromium).exists() {
        missing.push(format!(
            "Chromium at {chromium} (apt-get install -y chromium)"
        ));
    }
    if !Path::new(VANTAGE_BIN).exists() {
        missing.push(format!(
            "{VANTAGE_BIN} (run the workspace tests, `cargo test --workspace --release`, which build it)"
        ));
    }
    assert!(
        missing.is_empty(),
        "the demo test needs {}",
        missing.join(", ")
    );

    // The page: playwright-core (and the bundle's inputs) from the lock file; the committed
    // bundle that the component embeds must be what the sources build.
    let installed = site.join("node_modules/.package-lock.json");
    let stale = match (
        modified(&installed),
        modified(&site.join("package-lock.json")),
    ) {
        (Some(inst), Some(lock)) => inst < lock,
        _ => true,
    };
    if stale {
        run(
            "npm ci",
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&site),
            NPM_CI_TIMEOUT,
            &artifacts.join("npm-ci.log"),
        );
    }
    run(
        "the committed bundle check (npm run check: functions/storefront/site/dist/ must be rebuilt)",
        Command::new("node")
            .args(["build.mjs", "--check"])
            .current_dir(&site),
        STEP_TIMEOUT,
        &artifacts.join("bundle-check.log"),
    );

    // The PoP, as the README runs it, on port 443 with the dev certificate.
    let _port = vantage_tests::port_443_lock();
    let dir = TempDir::new("demo");
    let manifest = dir.path().join("spin.toml");
    std::fs::write(&manifest, manifest_text()).unwrap();
    let state = dir.path().join("state");
    let log_path = artifacts.join("vantage.log");
    let log = File::create(&log_path).unwrap();
    let child = Command::new(VANTAGE_BIN)
        .args(["up", "-f"])
        .arg(&manifest)
        .args(["--listen", LISTEN, "--tls-dev", "--state-dir"])
        .arg(&state)
        .env("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("SPIN_VARIABLE_API_TOKEN", API_TOKEN)
        .env("VANTAGE_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("starting vantage up");
    let mut host = Host(Some(child));
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if text.contains("Serving https://") {
            assert!(
                text.contains("Dev TLS") && text.contains("update-ca-certificates"),
                "--tls-dev did not print how to trust its certificate:\n{text}"
            );
            break;
        }
        if let Some(status) = host.0.as_mut().unwrap().try_wait().unwrap() {
            panic!(
                "vantage up exited ({status}) before serving on https://{LISTEN}; binding 443 needs root \
                 or net.ipv4.ip_unprivileged_port_start<=443:\n{text}"
            );
        }
        assert!(
            Instant::now() < deadline,
            "vantage up did not serve within {START_TIMEOUT:?}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let ca = state.join("tls/ca.pem");
    assert!(ca.exists(), "--tls-dev made no CA at {}", ca.display());

    // The demo data, through the CLI (https, trusting the dev CA from --state-dir).
    let seeded = run(
        "vantage demo seed",
        Command::new(VANTAGE_BIN)
            .args([
                "demo",
                "seed",
                "--url",
                "https://localhost",
                "--token",
                ADMIN_TOKEN,
            ])
            .arg("--state-dir")
            .arg(&state),
        STEP_TIMEOUT,
        &artifacts.join("seed.log"),
    );
    assert!(
        seeded.contains("6 records accepted, 0 rejected"),
        "unexpected seed output:\n{seeded}"
    );

    // The browser.
    let link = format!(
        "{} demo link {{ecid}} --customer c-1001 --url https://localhost --token {ADMIN_TOKEN} --state-dir {}",
        shell_quote(VANTAGE_BIN),
        shell_quote(&state.display().to_string())
    );
    let (ok, output) = run_status(
        Command::new("node")
            .arg("e2e/demo.mjs")
            .args(["--url", "https://localhost/", "--link", &link])
            .args(["--chromium", &chromium, "--timeout-ms", "20000"])
            .arg("--artifacts")
            .arg(&artifacts)
            .current_dir(&site),
        DRIVER_TIMEOUT,
        &artifacts.join("driver.log"),
    );
    println!("{output}");
    assert!(
        ok,
        "the demo browser run failed (every check in {}, host log in {}):\n{}",
        artifacts.join("report.json").display(),
        log_path.display(),
        output
            .lines()
            .filter(|l| l.contains("FAIL") || l.starts_with("  "))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // The display notifications reached the edge: alloy's own for __view__ (hero, banner) and
    // the page's for the recommendation it rendered with applyPropositions.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = Https::new(&ca);
    for activity in ["demo-hero", "demo-recommendation", "demo-loyalty-banner"] {
        let (status, body) = rt.block_on(client.get(
            &format!("/v1/reports/activities/{activity}"),
            &format!("Bearer {ADMIN_TOKEN}"),
        ));
        assert_eq!(status, 200, "{activity} report: {body}");
        let report: Value = serde_json::from_str(&body).unwrap();
        let exposures = report["totals"]["exposures"].as_i64().unwrap_or(0);
        assert!(exposures >= 1, "{activity}: no exposure reported: {report}");
        println!("{activity}: {exposures} exposure(s)");
    }
    drop(rt);

    // A clean stop: SIGTERM, in-flight requests finished, exit 0.
    let status = host.stop();
    assert!(status.success(), "vantage up exited with {status}");
    println!(
        "demo test passed in {:.1} s; screenshots in {}",
        started.elapsed().as_secs_f64(),
        artifacts.display()
    );
}

/// `<target>/test-artifacts/demo` (the binary is `<target>/<profile>/vantage`).
fn artifacts_dir() -> PathBuf {
    let target = Path::new(VANTAGE_BIN)
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    target.join("test-artifacts/demo")
}

/// The repository's spin.toml with its component sources pointed at the wasm built by build.rs.
fn manifest_text() -> String {
    let mut text = std::fs::read_to_string(Path::new(REPO_ROOT).join("spin.toml")).unwrap();
    assert!(
        text.contains("[component.storefront]"),
        "spin.toml has no storefront component"
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

/// The running `vantage up`, killed if the test fails before stopping it.
struct Host(Option<Child>);

impl Host {
    fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.0.take().unwrap();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("vantage up did not stop within 40 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn modified(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Runs a command to completion within `timeout`, its output in `log`; panics on failure and
/// returns the output.
fn run(what: &str, cmd: &mut Command, timeout: Duration, log: &Path) -> String {
    let (ok, output) = run_status(cmd, timeout, log);
    assert!(ok, "{what} failed:\n{output}");
    output
}

/// Runs a command within `timeout` (killed beyond), stdout and stderr into `log`.
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

/// An HTTPS client for `https://localhost` that trusts the dev CA.
struct Https {
    connector: tokio_rustls::TlsConnector,
}

impl Https {
    fn new(ca: &Path) -> Self {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        Https {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
        }
    }

    async fn get(&self, path: &str, authorization: &str) -> (u16, String) {
        let exchange = async {
            let tcp = tokio::net::TcpStream::connect(LISTEN).await?;
            let tls = self.connector.connect("localhost".try_into()?, tcp).await?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await?;
            tokio::spawn(conn);
            let req = http::Request::get(path)
                .header("host", "localhost")
                .header("authorization", authorization)
                .body(Full::new(Bytes::new()))?;
            let resp = sender.send_request(req).await?;
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, String::from_utf8_lossy(&body).into_owned()))
        };
        tokio::time::timeout(Duration::from_secs(15), exchange)
            .await
            .unwrap_or_else(|_| panic!("GET {path}: no answer within 15 s"))
            .unwrap_or_else(|e| panic!("GET {path}: {e:#}"))
    }
}
