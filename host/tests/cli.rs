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
