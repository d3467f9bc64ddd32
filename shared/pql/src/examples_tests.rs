//! Runs every expression of the reference example set (`shared/reference/pql-examples.tsv`):
//! each parses, or fails with a positioned error that is either a deliberate "unsupported: …"
//! or a documented doc error; and each expression the reference marks edge-eligible (or not)
//! gets the same verdict from [`crate::analyze`].

use crate::{Eligibility, ErrorKind, analyze, compile, parse, print};

fn examples() -> Vec<(usize, String, String, String)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/reference/pql-examples.tsv"
    );
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => panic!("reading {path}: {e} (the reference set lives beside the repository)"),
    };
    text.lines()
        .enumerate()
        .skip(1)
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let cols: Vec<&str> = l.split('\t').collect();
            let col = |k: usize| cols.get(k).copied().unwrap_or("").to_string();
            (i + 1, col(0), col(2), col(4))
        })
        .collect()
}

/// Rows the reference marks as documentation errors; they must fail with a syntax error.
fn is_doc_error(meaning: &str, expr: &str) -> bool {
    meaning.contains("AS PUBLISHED") || expr.contains('\u{201C}') || expr.contains('\u{201D}')
}

#[test]
fn every_example_parses_or_is_explained() {
    let mut unsupported = Vec::new();
    let mut parsed = 0;
    for (line, expr, _, meaning) in examples() {
        match compile(&expr) {
            Ok(c) => {
                parsed += 1;
                assert!(
                    !is_doc_error(&meaning, &expr) || meaning.contains("single-quoted"),
                    "line {line}: doc error accepted: {expr}"
                );
                // Canonical text parses back to the same tree.
                let again = parse(&c.canonical());
                assert_eq!(
                    again.as_ref().ok(),
                    Some(&c.expr),
                    "line {line}: {}",
                    c.canonical()
                );
                assert_eq!(print(&c.expr), c.canonical());
            }
            Err(e) => {
                let d = e.first().cloned();
                let Some(d) = d else {
                    panic!("line {line}: empty error list")
                };
                assert!(d.offset <= expr.len(), "line {line}: offset out of range");
                match d.kind {
                    ErrorKind::Unsupported => {
                        assert!(
                            d.message.starts_with("unsupported: "),
                            "line {line}: {}",
                            d.message
                        );
                        unsupported.push((line, d.message.clone()));
                    }
                    _ => assert!(
                        is_doc_error(&meaning, &expr) || meaning.contains("LEGACY"),
                        "line {line}: {expr}\n  error: {e}"
                    ),
                }
            }
        }
    }
    assert!(parsed >= 190, "only {parsed} examples parsed");
    assert!(unsupported.len() <= 16, "{unsupported:#?}");
}

#[test]
fn edge_verdicts_match_the_reference() {
    for (line, expr, edge, _) in examples() {
        let Ok(e) = parse(&expr) else { continue };
        let got = analyze(&e).classify();
        match edge.as_str() {
            "yes" => assert_eq!(
                got.eligibility,
                Eligibility::Edge,
                "line {line}: {expr}: {}",
                got.reason
            ),
            "no" => assert_ne!(
                got.eligibility,
                Eligibility::Edge,
                "line {line}: {expr}: {}",
                got.reason
            ),
            _ => {}
        }
    }
}

#[test]
fn doc_errors_point_at_the_problem() {
    let d = parse("inSegment(\"7deb246a-49b4-4687-95f9-6316df049948) and inSegment(\"9e16\")")
        .err()
        .and_then(|e| e.first().cloned());
    // The first string swallows text up to the next quote; the error points at its start.
    assert!(d.is_some_and(|d| d.offset == 10 && d.message.contains("closing")));
    let d = parse("homeAddress.stateProvinceISO = \u{201C}CA\"")
        .err()
        .and_then(|e| e.first().cloned());
    assert_eq!(d.map(|d| (d.offset, d.line, d.column)), Some((31, 1, 32)));
}
