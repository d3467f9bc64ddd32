//! Bounded fuzzing of the PQL engine inside the workspace tests: runs each `cargo fuzz` target
//! of `shared/pql/fuzz` (`parse`, `evaluate`) for `VANTAGE_FUZZ_SECONDS` (default 30; `0`
//! skips) and fails with the fuzzer's output and the crashing input when it finds one.
//!
//! Needs cargo-fuzz (`cargo install cargo-fuzz --locked`; `.ci/run` installs it). The pinned
//! stable toolchain builds the sanitizer flags `cargo fuzz` passes with `RUSTC_BOOTSTRAP=1`.
//! Builds go to `<target dir>/fuzz` (the workspace target dir is locked while tests run); the
//! corpus grows across runs in `<target dir>/fuzz/corpus/<target>` and crash inputs land in
//! `<target dir>/fuzz/artifacts/<target>/`. A crash worth keeping goes into
//! `shared/pql/fuzz/seeds/` with a regression unit test in `shared/pql`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime};

/// Lines of fuzzer output shown when a run fails.
const TAIL_LINES: usize = 120;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/pql/fuzz")
}

/// `<target dir>/fuzz`: the test binary is `<target dir>/<profile>/deps/fuzz-<hash>`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    match exe.ancestors().nth(3) {
        Some(target) => target.join("fuzz"),
        None => panic!("cannot find the target directory above {}", exe.display()),
    }
}

fn seconds() -> u64 {
    match std::env::var("VANTAGE_FUZZ_SECONDS") {
        Ok(s) => match s.trim().parse() {
            Ok(n) => n,
            Err(e) => panic!("VANTAGE_FUZZ_SECONDS={s:?}: {e} (expected whole seconds)"),
        },
        Err(_) => 30,
    }
}

fn cargo_fuzz() -> Command {
    let mut cmd = Command::new("cargo");
    cmd.arg("fuzz")
        .current_dir(fuzz_dir())
        // `-Zsanitizer`, `-Cpasses=sancov-module` and friends on the pinned stable toolchain.
        .env("RUSTC_BOOTSTRAP", "1")
        // Flags meant for the outer build must not leak into the instrumented one.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR");
    cmd
}

fn require_cargo_fuzz() {
    let installed = cargo_fuzz()
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        installed,
        "cargo-fuzz is not installed: run `cargo install cargo-fuzz --locked` \
         (or set VANTAGE_FUZZ_SECONDS=0 to skip the fuzz tests)"
    );
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Files written into `dir` since `since`, each with its content (escaped, and base64 for
/// binary inputs).
fn new_artifacts(dir: &Path, since: SystemTime) -> String {
    let mut out = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let fresh = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= since);
        if !fresh {
            continue;
        }
        let bytes = std::fs::read(e.path()).unwrap_or_default();
        let shown: String = String::from_utf8_lossy(&bytes).chars().take(2000).collect();
        out.push_str(&format!("\n{}\n  {shown:?}\n", e.path().display()));
    }
    out
}

fn fuzz(target: &str) {
    let secs = seconds();
    if secs == 0 {
        eprintln!("VANTAGE_FUZZ_SECONDS=0: not fuzzing {target}");
        return;
    }
    require_cargo_fuzz();
    let dir = fuzz_dir();
    let target_dir = target_dir();
    let corpus = target_dir.join("corpus").join(target);
    let artifacts = target_dir.join("artifacts").join(target);
    for d in [&corpus, &artifacts] {
        std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("creating {}: {e}", d.display()));
    }
    let started = SystemTime::now();
    let clock = Instant::now();
    let output = cargo_fuzz()
        .arg("run")
        .arg("--target-dir")
        .arg(&target_dir)
        .arg(target)
        // New inputs go into the first corpus directory; the checked-in seeds are only read.
        .arg(&corpus)
        .arg(dir.join("seeds"))
        .arg("--")
        .arg(format!("-max_total_time={secs}"))
        .arg(format!("-dict={}", dir.join("pql.dict").display()))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        // One input running this long is a finding: evaluation is budgeted.
        .arg("-timeout=60")
        .arg("-print_final_stats=1")
        .output()
        .unwrap_or_else(|e| panic!("running cargo fuzz: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        panic!(
            "cargo fuzz run {target} failed ({}) after {:.0} s.\n\
             --- last {TAIL_LINES} lines of its output ---\n{}\n{}\n\
             --- new inputs in {} ---{}\n\
             Reproduce from shared/pql/fuzz: RUSTC_BOOTSTRAP=1 cargo fuzz run {target} <input>",
            output.status,
            clock.elapsed().as_secs_f64(),
            tail(&stdout, 20),
            tail(&stderr, TAIL_LINES),
            artifacts.display(),
            new_artifacts(&artifacts, started),
        );
    }
    let stats: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("stat::number_of_executed_units") || l.starts_with("Done "))
        .collect();
    println!(
        "fuzzed {target} for {secs} s ({:.0} s with the build): {}",
        clock.elapsed().as_secs_f64(),
        stats.join("; ")
    );
}

#[test]
fn pql_parse_fuzz_target_finds_nothing() {
    fuzz("parse");
}

#[test]
fn pql_evaluate_fuzz_target_finds_nothing() {
    fuzz("evaluate");
}
