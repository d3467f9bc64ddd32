//! Conformance against the vendors' published vectors: the GrowthBook spec cases (a copy of
//! the sections we implement lives in `tests/data`, and the full file in `../shared/reference`
//! is checked too when present) and non-ASCII vectors generated with the vendors' own code.

use serde_json::Value;
use vantage_bucketing::{adobe, growthbook, unleash};

const LOCAL_CASES: &str = include_str!("data/growthbook-cases.json");
const VECTORS: &str = include_str!("data/vectors.json");

/// The shared reference file, located at run time (CI lays `shared/` beside the clone).
fn reference_cases() -> Option<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/reference/growthbook-cases-0.7.1.json"
    );
    let text = std::fs::read_to_string(path).ok()?;
    Some(serde_json::from_str(&text).expect("reference cases parse"))
}

fn f(v: &Value) -> f64 {
    v.as_f64().expect("number")
}

fn s(v: &Value) -> &str {
    v.as_str().expect("string")
}

fn ranges(v: &Value) -> Vec<(f64, f64)> {
    v.as_array()
        .expect("ranges")
        .iter()
        .map(|r| (f(&r[0]), f(&r[1])))
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// Runs every supported section of a cases document; returns how many cases ran.
fn check_cases(cases: &Value) -> usize {
    let mut ran = 0;
    for c in cases["hash"].as_array().expect("hash") {
        let version = c[2].as_u64().expect("version") as u32;
        let got = growthbook::hash(s(&c[0]), s(&c[1]), version);
        assert_eq!(got, c[3].as_f64(), "hash {c}");
        ran += 1;
    }
    for c in cases["getBucketRange"].as_array().expect("getBucketRange") {
        let args = &c[1];
        let weights: Option<Vec<f64>> = args[2].as_array().map(|w| w.iter().map(f).collect());
        let got = growthbook::bucket_ranges(
            args[0].as_u64().expect("n") as usize,
            args[1].as_f64(),
            weights.as_deref(),
        );
        let want = ranges(&c[2]);
        assert_eq!(got.len(), want.len(), "{}", c[0]);
        for (g, w) in got.iter().zip(&want) {
            assert!(
                close(g.0, w.0) && close(g.1, w.1),
                "{}: {got:?} != {want:?}",
                c[0]
            );
        }
        ran += 1;
    }
    for c in cases["chooseVariation"]
        .as_array()
        .expect("chooseVariation")
    {
        let got = growthbook::choose_variation(f(&c[1]), &ranges(&c[2]));
        let want = usize::try_from(c[3].as_i64().expect("index")).ok();
        assert_eq!(got, want, "{}", c[0]);
        ran += 1;
    }
    for c in cases["inNamespace"].as_array().expect("inNamespace") {
        let ns = &c[2];
        let got = growthbook::in_namespace(s(&c[1]), s(&ns[0]), f(&ns[1]), f(&ns[2]));
        assert_eq!(got, c[3].as_bool().expect("bool"), "{}", c[0]);
        ran += 1;
    }
    for c in cases["getEqualWeights"]
        .as_array()
        .expect("getEqualWeights")
    {
        let n = usize::try_from(c[0].as_i64().expect("n")).unwrap_or(0);
        let got = growthbook::equal_weights(n);
        let want: Vec<f64> = c[1].as_array().expect("weights").iter().map(f).collect();
        assert_eq!(got.len(), want.len());
        assert!(
            got.iter().zip(&want).all(|(g, w)| (g - w).abs() < 1e-8),
            "{n}: {got:?}"
        );
        ran += 1;
    }
    ran + check_run_cases(cases)
}

/// The attribute as GrowthBook stringifies it for hashing (`value + ""`); `None` if unusable.
fn hash_value(attributes: &Value, name: &str) -> Option<String> {
    match attributes.get(name)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Keys of `run` cases that only need hashing, ranges, namespaces, filters and `force`: exactly
/// what this crate provides. Conditions, URLs, QA mode and the like belong to other engines.
const RUN_EXPERIMENT_KEYS: [&str; 12] = [
    "key",
    "variations",
    "weights",
    "coverage",
    "seed",
    "hashVersion",
    "ranges",
    "namespace",
    "filters",
    "hashAttribute",
    "force",
    "active",
];

/// GrowthBook's `runExperiment`, reduced to the steps that bucketing decides:
/// returns (variation index or None, hashUsed).
fn run_experiment(attributes: &Value, exp: &Value) -> (Option<usize>, bool) {
    let variations = exp["variations"].as_array().expect("variations").len();
    if variations < 2 || exp.get("active") == Some(&Value::Bool(false)) {
        return (None, false);
    }
    let hash_attribute = exp
        .get("hashAttribute")
        .and_then(Value::as_str)
        .unwrap_or("id");
    let Some(value) = hash_value(attributes, hash_attribute) else {
        return (None, false);
    };
    if let Some(filters) = exp.get("filters").and_then(Value::as_array) {
        for filter in filters {
            let attribute = filter
                .get("attribute")
                .and_then(Value::as_str)
                .unwrap_or(hash_attribute);
            let Some(v) = hash_value(attributes, attribute) else {
                return (None, false);
            };
            let version = filter
                .get("hashVersion")
                .and_then(Value::as_u64)
                .unwrap_or(2) as u32;
            let Some(n) = growthbook::hash(s(&filter["seed"]), &v, version) else {
                return (None, false);
            };
            if !ranges(&filter["ranges"])
                .into_iter()
                .any(|r| growthbook::in_range(n, r))
            {
                return (None, false);
            }
        }
    } else if let Some(ns) = exp.get("namespace")
        && !growthbook::in_namespace(&value, s(&ns[0]), f(&ns[1]), f(&ns[2]))
    {
        return (None, false);
    }
    let seed = exp
        .get("seed")
        .and_then(Value::as_str)
        .unwrap_or_else(|| s(&exp["key"]));
    let version = exp.get("hashVersion").and_then(Value::as_u64).unwrap_or(1) as u32;
    let Some(n) = growthbook::hash(seed, &value, version) else {
        return (None, false);
    };
    let bucket_ranges = match exp.get("ranges") {
        Some(r) => ranges(r),
        None => {
            let weights: Option<Vec<f64>> = exp
                .get("weights")
                .and_then(Value::as_array)
                .map(|w| w.iter().map(f).collect());
            growthbook::bucket_ranges(
                variations,
                exp.get("coverage").and_then(Value::as_f64),
                weights.as_deref(),
            )
        }
    };
    let Some(chosen) = growthbook::choose_variation(n, &bucket_ranges) else {
        return (None, false);
    };
    if let Some(force) = exp.get("force").and_then(Value::as_i64) {
        return (
            usize::try_from(force).ok().filter(|&i| i < variations),
            false,
        );
    }
    (Some(chosen), true)
}

fn check_run_cases(cases: &Value) -> usize {
    let mut ran = 0;
    for c in cases["run"].as_array().expect("run") {
        let (name, context, exp) = (s(&c[0]), &c[1], &c[2]);
        let context_ok = context
            .as_object()
            .expect("context")
            .keys()
            .all(|k| k == "attributes");
        let exp_ok = exp
            .as_object()
            .expect("experiment")
            .keys()
            .all(|k| RUN_EXPERIMENT_KEYS.contains(&k.as_str()));
        if !context_ok || !exp_ok {
            continue;
        }
        let attributes = context.get("attributes").cloned().unwrap_or(Value::Null);
        let (index, hash_used) = run_experiment(&attributes, exp);
        let variations = exp["variations"].as_array().expect("variations");
        let value = &variations[index.unwrap_or(0)];
        assert_eq!(value, &c[3], "{name}: value");
        assert_eq!(
            index.is_some(),
            c[4].as_bool().expect("inExperiment"),
            "{name}: inExperiment"
        );
        assert_eq!(
            hash_used,
            c[5].as_bool().expect("hashUsed"),
            "{name}: hashUsed"
        );
        ran += 1;
    }
    ran
}

#[test]
fn growthbook_spec_cases_local_copy() {
    let cases: Value = serde_json::from_str(LOCAL_CASES).expect("local cases parse");
    let ran = check_cases(&cases);
    // 15 hash + 13 ranges + 13 choose + 16 namespace + 6 equal weights + 61 of the 73 run
    // cases (the others need conditions, URLs, QA mode or forced variations from the context).
    assert_eq!(ran, 124, "a section stopped running");
}

#[test]
fn growthbook_spec_cases_reference_file() {
    let Some(reference) = reference_cases() else {
        eprintln!("../shared/reference not found: the local copy of the cases still ran");
        return;
    };
    let local: Value = serde_json::from_str(LOCAL_CASES).expect("local cases parse");
    for section in [
        "hash",
        "getBucketRange",
        "chooseVariation",
        "inNamespace",
        "getEqualWeights",
        "run",
    ] {
        assert_eq!(
            local[section], reference[section],
            "local copy of {section} drifted"
        );
    }
    assert_eq!(check_cases(&reference), 124);
}

#[test]
fn adobe_vectors_from_the_target_sdk() {
    let v: Value = serde_json::from_str(VECTORS).expect("vectors parse");
    let rows = v["adobe"].as_array().expect("adobe");
    assert!(rows.len() >= 15);
    for row in rows {
        let key = s(&row[0]);
        assert_eq!(
            i64::from(adobe::hash(key)),
            row[1].as_i64().expect("hash"),
            "{key}"
        );
        assert_eq!(
            u64::from(adobe::bucket(key)),
            row[2].as_u64().expect("bucket"),
            "{key}"
        );
    }
    for case in v["adobeSuite"].as_array().expect("suite") {
        let inputs = vantage_bucketing::Inputs {
            client: s(&case["client"]),
            activity_id: s(&case["activityId"]),
            visitor_id: s(&case["visitorId"]),
            salt: s(&case["salt"]),
        };
        let allocations: Vec<f64> = case["allocations"]
            .as_array()
            .expect("allocations")
            .iter()
            .map(f)
            .collect();
        let got = vantage_bucketing::choose(
            vantage_bucketing::Scheme::AdobeTarget,
            &inputs,
            &allocations,
        );
        assert_eq!(got.map(|i| i as u64), case["experience"].as_u64(), "{case}");
    }
}

#[test]
fn growthbook_non_ascii_vectors_from_the_js_sdk() {
    let v: Value = serde_json::from_str(VECTORS).expect("vectors parse");
    let rows = v["growthbook"].as_array().expect("growthbook");
    assert!(rows.len() >= 18);
    for row in rows {
        let version = row[2].as_u64().expect("version") as u32;
        assert_eq!(
            growthbook::hash(s(&row[0]), s(&row[1]), version),
            row[3].as_f64(),
            "{row}"
        );
    }
}

#[test]
fn unleash_vectors() {
    let v: Value = serde_json::from_str(VECTORS).expect("vectors parse");
    let rows = v["unleash"].as_array().expect("unleash");
    assert!(rows.len() >= 11);
    for row in rows {
        let got = unleash::normalized_hash(
            s(&row[0]),
            s(&row[1]),
            row[2].as_u64().expect("modulus") as u32,
            row[3].as_u64().expect("seed") as u32,
        );
        assert_eq!(u64::from(got), row[4].as_u64().expect("want"), "{row}");
    }
}
