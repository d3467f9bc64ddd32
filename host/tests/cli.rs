//! The `vantage` command line as an operator meets it: version, help, and clear refusals for
//! a missing or invalid manifest and a failing build. (Building this test also makes cargo
//! build the `vantage` binary that the integration suites in `tests/` start.)

use std::process::Command;

fn vantage() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vantage"))
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("vantage-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

#[test]
fn prints_its_version() {
    let out = vantage().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("vantage {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_missing_manifest_is_a_clear_error() {
    let out = vantage()
        .args([
            "up",
            "-f",
            "/nonexistent/spin.toml",
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("reading manifest /nonexistent/spin.toml"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn an_invalid_manifest_names_the_problem() {
    let dir = temp_dir("invalid");
    let manifest = dir.join("spin.toml");
    std::fs::write(
        &manifest,
        "spin_manifest_version = 2\n[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"ghost\"\n",
    )
    .unwrap();
    let out = vantage()
        .args(["up", "--listen", "127.0.0.1:0", "-f"])
        .arg(&manifest)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("names component \"ghost\", which is not defined"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failing_build_command_fails_the_build() {
    let dir = temp_dir("build");
    std::fs::write(
        dir.join("spin.toml"),
        "spin_manifest_version = 2\n[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n\
         [component.c]\nsource = \"c.wasm\"\n[component.c.build]\ncommand = \"echo building && exit 3\"\n",
    )
    .unwrap();
    let out = vantage().args(["build", "-f"]).arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("build command for component \"c\" failed"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("building"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn gen_profiles_writes_a_synthetic_projection() {
    // To stdout: one JSON record a line, the same people for the same seed.
    let run = |seed: &str| {
        let out = vantage()
            .args(["gen-profiles", "--count", "50", "--seed", seed])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("wrote 50 records"));
        String::from_utf8(out.stdout).unwrap()
    };
    let text = run("7");
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 50);
    let kinds = |t: &str| records.iter().filter(|r| r["type"] == t).count();
    assert!(kinds("profile") >= 40, "{}", kinds("profile"));
    assert!(kinds("identity-link") >= 1 && kinds("membership") >= 1);
    let profile = records.iter().find(|r| r["type"] == "profile").unwrap();
    for field in ["person", "loyalty", "transactions", "scores", "homeAddress"] {
        assert!(
            profile["attributes"][field].is_object(),
            "{field}: {profile}"
        );
    }
    assert_eq!(profile["identity"]["namespace"], "CRMID");
    let names = |t: &str| -> Vec<String> {
        t.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|r| r["attributes"]["person"]["name"].to_string())
            .collect()
    };
    assert_eq!(names(&run("7")), names(&text));

    // To a file with --out.
    let dir = temp_dir("gen");
    let file = dir.join("p.ndjson");
    let out = vantage()
        .args(["gen-profiles", "--count", "20", "--out"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 20);
    // `push --generate` still writes the same kind of file.
    let legacy = dir.join("legacy.ndjson");
    let out = vantage()
        .args(["push", "--generate", "5", "--out"])
        .arg(&legacy)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&legacy).unwrap().lines().count(), 5);
    // A count is required.
    let out = vantage().arg("gen-profiles").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
