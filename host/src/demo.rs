//! `vantage demo`: the demo storefront's data (`functions/storefront`, README "Demo").
//!
//! - `vantage demo seed` loads the demo's segment, activities and CRM profiles
//!   (`demo/seed.ndjson`, compiled in) into a running PoP through `POST /v1/projection`.
//! - `vantage demo link ECID --customer c-1001` projects an identity link, as a CRM would after
//!   matching a browser to a customer offline: that browser gets the customer's personalization
//!   on its next page view, without logging in.
//!
//! Both speak http or https; for https the CA of `vantage up --tls-dev`
//! (`<state-dir>/tls/ca.pem`) is trusted, or the one given with `--ca`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde::Deserialize;
use tokio_rustls::rustls;

/// The seed, with `{{now}}` placeholders and `#` comments.
pub const SEED: &str = include_str!("demo/seed.ndjson");

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// `vantage demo …`.
#[derive(clap::Subcommand, Debug)]
pub enum DemoCommand {
    /// Load the demo storefront's segment, activities and CRM profiles into a running PoP.
    Seed(SeedArgs),
    /// Link a browser's ECID to a CRM customer, as the hub would after an offline match.
    Link(LinkArgs),
}

/// Where the PoP is and how to reach it.
#[derive(clap::Args, Debug)]
pub struct Target {
    /// The PoP's base URL.
    #[arg(long, default_value = "https://localhost")]
    pub url: String,
    /// The PoP's admin token.
    #[arg(long, env = "VANTAGE_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A CA certificate (PEM) to trust for an https URL [default: <state-dir>/tls/ca.pem].
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// The state directory of `vantage up --tls-dev`, whose tls/ca.pem is trusted by default.
    #[arg(long = "state-dir", default_value = ".spin")]
    pub state_dir: PathBuf,
}

/// `vantage demo seed`.
#[derive(clap::Args, Debug)]
pub struct SeedArgs {
    #[command(flatten)]
    pub target: Target,
    /// Print the records (NDJSON) instead of sending them.
    #[arg(long)]
    pub print: bool,
}

/// `vantage demo link`.
#[derive(clap::Args, Debug)]
pub struct LinkArgs {
    /// The browser's ECID (the storefront's side panel shows it).
    pub ecid: String,
    /// The CRM id to link it to (the seed has c-1001, gold, and c-1002, silver).
    #[arg(long, default_value = "c-1001")]
    pub customer: String,
    #[command(flatten)]
    pub target: Target,
}

/// Runs a `vantage demo` command.
pub fn run(cmd: DemoCommand) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let now = now_ms();
    match cmd {
        DemoCommand::Seed(args) => {
            let (body, lines) = seed_records(now);
            if args.print {
                print!("{body}");
                return Ok(());
            }
            let kinds = summary(&body);
            let report = rt.block_on(project(&args.target, body))?;
            let rejected = report.rejected.len();
            for r in &report.rejected {
                let line = r
                    .line
                    .checked_sub(1)
                    .and_then(|i| lines.get(i))
                    .map_or_else(|| "?".to_owned(), |l| l.to_string());
                eprintln!("seed.ndjson line {line}: {}", r.error);
            }
            println!(
                "Seeded {}: {} records accepted, {rejected} rejected ({}).",
                args.target.url, report.accepted, kinds
            );
            if rejected > 0 {
                bail!("{rejected} demo record(s) were rejected");
            }
            println!(
                "Open {}/ : the hero is an A/B test, viewed products tailor \"Recommended for you\", \
                 and logging in as Ada (CRM gold) shows the gold banner at once.",
                args.target.url.trim_end_matches('/')
            );
            Ok(())
        }
        DemoCommand::Link(args) => {
            let ecid = args.ecid.trim();
            if ecid.len() != 38 || !ecid.bytes().all(|b| b.is_ascii_digit()) {
                bail!("an ECID is 38 digits; the storefront's side panel shows this browser's");
            }
            let record = serde_json::json!({
                "type": "identity-link",
                "timestamp": rfc3339(now),
                "identities": [
                    {"namespace": "ECID", "id": ecid},
                    {"namespace": "CRMID", "id": args.customer},
                ],
            });
            let report = rt.block_on(project(&args.target, format!("{record}\n")))?;
            if let Some(r) = report.rejected.first() {
                bail!("the identity link was rejected: {}", r.error);
            }
            println!(
                "Linked ECID {ecid} to CRMID {}: reload the storefront in that browser.",
                args.customer
            );
            Ok(())
        }
    }
}

/// The seed's records as NDJSON for `now_ms`, and the seed.ndjson line number of each.
pub fn seed_records(now_ms: i64) -> (String, Vec<usize>) {
    let now = rfc3339(now_ms);
    let mut body = String::new();
    let mut lines = Vec::new();
    for (i, line) in SEED.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        body.push_str(&line.replace("{{now}}", &now));
        body.push('\n');
        lines.push(i + 1);
    }
    (body, lines)
}

/// "1 segment, 3 activities, …" for a body of records.
fn summary(body: &str) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for line in body.lines() {
        let kind = serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v["type"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "?".to_owned());
        match counts.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => counts.push((kind, 1)),
        }
    }
    counts
        .iter()
        .map(|(k, n)| match (*n, k.strip_suffix('y')) {
            (1, _) => format!("1 {k}"),
            (n, Some(stem)) => format!("{n} {stem}ies"),
            (n, None) => format!("{n} {k}s"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The projection component's answer.
#[derive(Debug, Deserialize)]
pub struct Report {
    /// Records applied.
    pub accepted: u64,
    /// Records refused, with their line in the request body (1-based).
    #[serde(default)]
    pub rejected: Vec<Rejected>,
}

/// One refused record.
#[derive(Debug, Deserialize)]
pub struct Rejected {
    /// Its line in the request body.
    pub line: usize,
    /// Why.
    pub error: String,
}

/// `POST {url}/v1/projection` with `body` (NDJSON).
async fn project(target: &Target, body: String) -> anyhow::Result<Report> {
    let token = target
        .token
        .clone()
        .filter(|t| !t.is_empty())
        .context("an admin token is required: --token T or VANTAGE_ADMIN_TOKEN")?;
    let (status, text) = post(target, "/v1/projection", &token, body)
        .await
        .with_context(|| format!("POST {}/v1/projection", target.url.trim_end_matches('/')))?;
    if status != 200 {
        bail!(
            "POST {}/v1/projection answered {status}: {}",
            target.url.trim_end_matches('/'),
            text.chars().take(500).collect::<String>()
        );
    }
    serde_json::from_str(&text).with_context(|| format!("reading the projection report: {text}"))
}

async fn post(
    target: &Target,
    path: &str,
    token: &str,
    body: String,
) -> anyhow::Result<(u16, String)> {
    let uri: http::Uri = target
        .url
        .parse()
        .with_context(|| format!("{:?} is not a URL", target.url))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => bail!(
            "{:?}: the URL must start with http:// or https://",
            target.url
        ),
    };
    let host = uri.host().context("the URL has no host")?.to_owned();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let base = uri.path().trim_end_matches('/');
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or(&host);
    let host_name = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let tcp = connect(&host_name, port).await?;
    let req = http::Request::post(format!("{base}{path}"))
        .header("host", authority)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/x-ndjson")
        .body(Full::new(Bytes::from(body)))?;
    let exchange = async {
        if https {
            let tls = tls_connector(target)?
                .connect(
                    rustls::pki_types::ServerName::try_from(host_name.clone())
                        .context("the URL's host is not a valid TLS name")?,
                    tcp,
                )
                .await
                .context("TLS handshake (is the PoP's certificate signed by the CA given?)")?;
            send(hyper_util::rt::TokioIo::new(tls), req).await
        } else {
            send(hyper_util::rt::TokioIo::new(tcp), req).await
        }
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .context("no answer within 60 s")?
}

async fn send<T>(io: T, req: http::Request<Full<Bytes>>) -> anyhow::Result<(u16, String)>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(conn);
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

/// Connects to the first address of `host` that answers (`localhost` may resolve to `::1`
/// first while the PoP listens on 127.0.0.1).
async fn connect(host: &str, port: u16) -> anyhow::Result<tokio::net::TcpStream> {
    let addrs: Vec<_> = tokio::net::lookup_host((host, port))
        .await
        .with_context(|| format!("resolving {host}"))?
        .collect();
    let mut last = None;
    for addr in &addrs {
        match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e)) => last = Some(format!("{addr}: {e}")),
            Err(_) => last = Some(format!("{addr}: timed out")),
        }
    }
    bail!(
        "cannot connect to {host}:{port} ({}); is `vantage up` running?",
        last.unwrap_or_else(|| "no address".to_owned())
    )
}

fn tls_connector(target: &Target) -> anyhow::Result<tokio_rustls::TlsConnector> {
    let ca = target
        .ca
        .clone()
        .unwrap_or_else(|| target.state_dir.join("tls/ca.pem"));
    if !ca.exists() {
        bail!(
            "no CA certificate to trust at {}: pass --ca FILE, or --state-dir DIR of the \
             `vantage up --tls-dev` that serves the URL",
            ca.display()
        );
    }
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        CertificateDer::pem_file_iter(&ca).with_context(|| format!("reading {}", ca.display()))?
    {
        roots
            .add(cert.with_context(|| format!("parsing {}", ca.display()))?)
            .with_context(|| format!("trusting {}", ca.display()))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// RFC 3339 (UTC, milliseconds).
pub fn rfc3339(ms: i64) -> String {
    let (y, m, d) = crate::devcert::civil(ms.div_euclid(86_400_000));
    let rem = ms.rem_euclid(86_400_000);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
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
    fn seed_is_ndjson_with_unique_ids_and_line_numbers() {
        let (body, lines) = seed_records(1_767_225_600_000);
        assert!(!body.contains("{{"), "a placeholder is left: {body}");
        let records: Vec<serde_json::Value> = body
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert_eq!(records.len(), lines.len());
        let mut ids = std::collections::HashSet::new();
        for (r, line) in records.iter().zip(&lines) {
            assert_eq!(r["timestamp"], "2026-01-01T00:00:00.000Z", "line {line}");
            let source_line = SEED.lines().nth(line - 1).unwrap();
            assert!(source_line.starts_with('{'), "line {line}: {source_line}");
            let id = r["id"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| r["identity"]["id"].to_string());
            assert!(
                ids.insert((r["type"].to_string(), id.clone())),
                "{id} twice"
            );
        }
        assert_eq!(summary(&body), "1 segment, 3 activities, 2 profiles");
    }

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_767_225_600_123), "2026-01-01T00:00:00.123Z");
    }
}
