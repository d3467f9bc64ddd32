//! `openapi.yaml` kept honest: the real host serves all five components (`health`,
//! `projection`, `segments`, `decisions`, `collect`), a few records are published through
//! `projection` so the profile, membership, report and preview-token routes have data, and then
//! Schemathesis (`st run`) tests every operation of the spec against it. The checks cover
//! response schema, status code, content type and headers conformance, 5xx, authentication,
//! unsupported methods, and positive and negative data. Error responses are exercised too. The
//! run is bounded in examples per operation, is reproducible (deterministic generation) and is
//! killed after a hard timeout.
//!
//! Needs the Schemathesis CLI (`pip install schemathesis==4.32.5`; `.ci/run` installs it).
//! `SCHEMATHESIS_ST` names another `st` executable. `VANTAGE_OPENAPI_EXAMPLES` changes the
//! examples per operation (default 20).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vantage_tests::{Client, Setup, TempDir};

const ADMIN_TOKEN: &str = "test-admin-token";
const API_TOKEN: &str = "test-api-token";
const ADMIN: (&str, &str) = ("authorization", "Bearer test-admin-token");
/// The version `.ci/run` installs; others are tried but may differ in flags or checks.
const PINNED: &str = "4.32.5";
/// The main `st run` is killed past this (it takes about two minutes on a busy 2-core machine).
const HARD_TIMEOUT: Duration = Duration::from_secs(270);
/// The `st run` against the host without tokens is killed past this.
const CLOSED_TIMEOUT: Duration = Duration::from_secs(60);
/// Lines of Schemathesis output shown when the run fails.
const TAIL_LINES: usize = 400;

/// Every component, routed as `spin.toml` routes them.
const APP: &str = r#"
spin_manifest_version = 2
[application]
name = "openapi-tests"

[variables]
admin_token = { default = "" }
api_token = { default = "" }
org_id = { default = "ABCDEF0123456789ABCDEF01@AdobeOrg" }
default_consent = { default = "in" }
allowed_origins = { default = "" }
outbox_max_events = { default = "1000000" }

[[trigger.http]]
route = "/health"
component = "health"
[[trigger.http]]
route = "/v1/segments/..."
component = "segments"
[[trigger.http]]
route = "/v1/projection"
component = "projection"
[[trigger.http]]
route = "/v1/profiles/..."
component = "projection"
[[trigger.http]]
route = "/v1/decisions/..."
component = "decisions"
[[trigger.http]]
route = "/v1/reports/..."
component = "decisions"
[[trigger.http]]
route = "/ee/..."
component = "collect"
[[trigger.http]]
route = "/v1/outbox/..."
component = "collect"

[component.health]
source = "{{component:health}}"
key_value_stores = ["default"]

[component.segments]
source = "{{component:segments}}"
key_value_stores = ["default"]
[component.segments.variables]
api_token = "{{ api_token }}"

[component.projection]
source = "{{component:projection}}"
key_value_stores = ["default"]
[component.projection.variables]
admin_token = "{{ admin_token }}"

[component.decisions]
source = "{{component:decisions}}"
key_value_stores = ["default"]
[component.decisions.variables]
api_token = "{{ api_token }}"
admin_token = "{{ admin_token }}"

[component.collect]
source = "{{component:collect}}"
key_value_stores = ["default"]
[component.collect.variables]
org_id = "{{ org_id }}"
admin_token = "{{ admin_token }}"
default_consent = "{{ default_consent }}"
allowed_origins = "{{ allowed_origins }}"
outbox_max_events = "{{ outbox_max_events }}"
"#;

/// Schemathesis settings: every check, a bearer token per security scheme of the spec, the
/// NDJSON serializer, and the checks that cannot hold for one operation, each switched off
/// there only, with the reason. (Checks are chosen here rather than with `--checks`: the
/// command line would override the per-operation settings.)
const CONFIG: &str = r#"
hooks = "@HOOKS@"

[checks]
enabled = true

[auth.openapi.adminToken]
bearer = "${VANTAGE_ST_ADMIN_TOKEN}"

[auth.openapi.apiToken]
bearer = "${VANTAGE_ST_API_TOKEN}"

# Projection reports bad records one by one in a 200 answer (`rejected[]`), so that one bad
# record never blocks a stream: a body that breaks the record schema is *meant* to be accepted.
[[operations]]
include-operation-id = "ingestProjection"
checks.negative_data_rejection.enabled = false

# An `upTo` past the last sequence number handed out is refused (400) by the outbox's state,
# not by the body's shape: no schema can say which numbers are in the past.
[[operations]]
include-operation-id = "ackOutbox"
checks.positive_data_acceptance.enabled = false
"#;

/// Hooks: an NDJSON serializer (Schemathesis has none, so a generated string goes out as it
/// is), and two adjustments of generated bodies for what JSON Schema cannot say:
/// - an integral float (`2008.0`) is an `integer` to JSON Schema but not to serde, which wants
///   `2008` (what every JSON encoder, alloy's included, writes): such floats are spelled as
///   integers;
/// - limits that count across properties (at most 32 identities in an identity map across its
///   namespaces, at most 64 decision scopes and surfaces together) are in the spec's
///   descriptions only: bodies over them are not generated.
const HOOKS: &str = r#"
import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, list):
        return "".join(json.dumps(v) + "\n" for v in value).encode("utf-8")
    return json.dumps(value).encode("utf-8")


def _integral(value):
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, list):
        return [_integral(v) for v in value]
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    return value


def _over_counted_limits(value):
    if isinstance(value, list):
        return any(_over_counted_limits(v) for v in value)
    if not isinstance(value, dict):
        return False
    ids = value.get("identityMap")
    if isinstance(ids, dict):
        if sum(len(v) for v in ids.values() if isinstance(v, list)) > 32:
            return True
    personalization = value.get("personalization")
    if isinstance(personalization, dict):
        asked = [personalization.get(k) for k in ("decisionScopes", "surfaces")]
        if sum(len(v) for v in asked if isinstance(v, list)) > 64:
            return True
    return any(_over_counted_limits(v) for v in value.values())


@schemathesis.hook
def map_body(ctx, body):
    return _integral(body)


@schemathesis.hook
def filter_body(ctx, body):
    return not _over_counted_limits(body)
"#;

fn spec() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi.yaml")
}

/// The `st` executable, checked to run; a clear failure when it is missing.
fn st() -> (PathBuf, String) {
    let exe =
        std::env::var_os("SCHEMATHESIS_ST").map_or_else(|| PathBuf::from("st"), PathBuf::from);
    let version = Command::new(&exe)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    match version {
        Some(v) => (exe, v),
        None => panic!(
            "the Schemathesis CLI `{}` is missing or does not run: install it with \
             `pip install schemathesis=={PINNED}` (.ci/run does), or name it in SCHEMATHESIS_ST",
            exe.display()
        ),
    }
}

fn examples() -> u32 {
    match std::env::var("VANTAGE_OPENAPI_EXAMPLES") {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("VANTAGE_OPENAPI_EXAMPLES={s:?}: {e}")),
        Err(_) => 20,
    }
}

async fn publish(c: &Client, records: &[Value]) {
    let body: String = records.iter().map(|r| format!("{r}\n")).collect();
    let r = c
        .send(
            "POST",
            "/v1/projection",
            &[ADMIN, ("content-type", "application/x-ndjson")],
            body,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["accepted"], records.len(), "{}", r.text());
}

/// What the spec's examples name: profiles `CRMID/c-42` (read) and `CRMID/c-43` (deleted),
/// a segment and a membership, the A/B activity `hero-test` on `__view__` (experiences `0` and
/// `1`), and a few events in the outbox.
async fn seed(c: &Client) {
    let ts = "2026-12-01T10:00:00Z";
    let offer = |id: &str| {
        json!({"id": id, "schema": "https://ns.adobe.com/personalization/dom-action",
               "data": {"type": "setHtml", "selector": "#hero", "content": format!("<h1>{id}</h1>")}})
    };
    publish(
        c,
        &[
            json!({"type": "segment", "id": "gold-members", "name": "Gold members",
                   "expression": "attributes.loyalty.tier = \"gold\"", "timestamp": ts}),
            json!({"type": "profile", "identity": {"namespace": "CRMID", "id": "c-42"},
                   "timestamp": ts, "attributes": {"loyalty": {"tier": "gold", "points": 5200}}}),
            json!({"type": "membership", "identity": {"namespace": "CRMID", "id": "c-42"},
                   "segmentId": "high-value", "status": "realized", "timestamp": ts}),
            json!({"type": "profile", "identity": {"namespace": "CRMID", "id": "c-43"},
                   "timestamp": ts, "attributes": {"loyalty": {"tier": "silver"}}}),
            json!({"type": "activity", "id": "hero-test", "name": "Homepage hero", "timestamp": ts,
                   "activityType": "ab", "priority": 10, "scopes": ["__view__"], "audience": null,
                   "experiences": [
                       {"id": "0", "name": "A", "allocation": 50, "offers": [offer("hero-a")]},
                       {"id": "1", "name": "B", "allocation": 50, "offers": [offer("hero-b")]}]}),
        ],
    )
    .await;
    // Decisions and a display notification so the report has counts; events for the outbox.
    let r = c
        .send(
            "POST",
            "/v1/decisions",
            &[("authorization", "Bearer test-api-token")],
            json!({"identityMap": {"CRMID": [{"id": "c-42"}]}, "scopes": ["__view__"]}).to_string(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let propositions = r.json()["propositions"].clone();
    let display = json!({"identityMap": {"CRMID": [{"id": "c-42"}]},
        "events": [{"xdm": {"eventType": "decisioning.propositionDisplay",
                            "_experience": {"decisioning": {"propositions": propositions}}}}]});
    let r = c
        .send(
            "POST",
            "/v1/decisions",
            &[("authorization", "Bearer test-api-token")],
            display.to_string(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    for _ in 0..3 {
        let body = json!({"events": [{"xdm": {"eventType": "web.webpagedetails.pageViews",
            "web": {"webPageDetails": {"URL": "https://shop.example/"}}}}]});
        let r = c
            .send(
                "POST",
                "/ee/v1/interact?configId=ds-1",
                &[("content-type", "text/plain; charset=UTF-8")],
                body.to_string(),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
}

/// The `st` executable with the settings and hooks written to a scratch directory, where it
/// also runs (so nothing lands in the working tree).
struct Schemathesis {
    exe: PathBuf,
    dir: TempDir,
    config: PathBuf,
}

impl Schemathesis {
    fn new() -> Self {
        let (exe, version) = st();
        if !version.contains(PINNED) {
            eprintln!("note: {version}, while .ci/run pins {PINNED}");
        }
        let dir = TempDir::new("openapi");
        let hooks = dir.path().join("vantage_hooks.py");
        std::fs::write(&hooks, HOOKS).expect("writing the hooks");
        let config = dir.path().join("schemathesis.toml");
        let hooks_path = hooks.display().to_string().replace('\\', "\\\\");
        std::fs::write(&config, CONFIG.replace("@HOOKS@", &hooks_path))
            .expect("writing schemathesis.toml");
        Self { exe, dir, config }
    }

    /// `st run openapi.yaml --url <url> <args>`, killed past `timeout`: the exit code (`None`
    /// when killed), the output and the time taken.
    fn run(&self, url: &str, args: &[&str], timeout: Duration) -> (Option<i32>, String, Duration) {
        let mut cmd = Command::new(&self.exe);
        cmd.current_dir(self.dir.path())
            .env("VANTAGE_ST_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("VANTAGE_ST_API_TOKEN", API_TOKEN)
            .env("NO_COLOR", "1")
            .arg("--config-file")
            .arg(&self.config)
            .arg("run")
            .arg(spec())
            .args(["--url", url])
            .arg("--generation-deterministic")
            // One worker: CPython 3.11 before 3.11.9 can fail parsing in two threads at once
            // ("AST constructor recursion depth mismatch", hit through Hypothesis).
            .args(["--workers", "1", "--request-timeout", "20", "--no-color"])
            .args(args);
        let started = Instant::now();
        let (code, output) = run_bounded(cmd, self.dir.path(), timeout);
        (code, output, started.elapsed())
    }
}

/// Runs `cmd` with its output in `dir`, killing it past `timeout`; the exit code (`None` when
/// killed) and the output.
fn run_bounded(mut cmd: Command, dir: &Path, timeout: Duration) -> (Option<i32>, String) {
    let log = dir.join("st.log");
    let out = std::fs::File::create(&log).expect("creating the log");
    let err = out.try_clone().expect("cloning the log handle");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("starting st");
    let deadline = Instant::now() + timeout;
    let code = loop {
        match child.try_wait().expect("waiting for st") {
            Some(status) => break status.code(),
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    (code, text)
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Panics with the output unless `st` exited 0.
fn expect_pass(what: &str, (code, output, took): (Option<i32>, String, Duration), limit: Duration) {
    match code {
        Some(0) => eprintln!("{what}: st run passed in {took:.1?}\n{}", tail(&output, 12)),
        Some(code) => panic!(
            "{what}: st run found the host and openapi.yaml disagreeing (exit {code}, \
             {took:.1?}):\n{}",
            tail(&output, TAIL_LINES)
        ),
        None => panic!(
            "{what}: st run did not finish within {limit:?} and was killed:\n{}",
            tail(&output, TAIL_LINES)
        ),
    }
}

#[test]
fn the_running_host_conforms_to_openapi_yaml() {
    let st = Schemathesis::new();

    // The routes closed by unset tokens: every protected operation answers its documented 503.
    // Only the answers' conformance is checked (a 503 is the point here, and no auth works).
    let closed = Setup::new(APP)
        .start()
        .expect("starting the host without tokens");
    let result = st.run(
        &closed.url,
        &[
            "--phases",
            "examples,fuzzing",
            "--max-examples",
            "2",
            "--checks",
            "status_code_conformance,content_type_conformance,\
             response_headers_conformance,response_schema_conformance",
        ],
        CLOSED_TIMEOUT,
    );
    closed.stop();
    expect_pass("routes without their tokens", result, CLOSED_TIMEOUT);

    let app = Setup::new(APP)
        .variable("admin_token", ADMIN_TOKEN)
        .variable("api_token", API_TOKEN)
        .start()
        .expect("starting the host");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(seed(&app.client()));
    let examples = examples().to_string();
    let result = st.run(
        &app.url,
        &[
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            &examples,
            "--max-failures",
            "200",
            "--continue-on-failure",
        ],
        HARD_TIMEOUT,
    );
    app.stop();
    expect_pass("every operation", result, HARD_TIMEOUT);
}
