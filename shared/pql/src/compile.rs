//! Publish-time compilation: parse, validate literal regular expressions, analyse
//! dependencies and classify eligibility, producing a [`Compiled`] plan that is stored
//! (serde) and evaluated on every request.

use crate::analysis::{Classification, Dependencies, Eligibility, analyze};
use crate::ast::{BinOp, Expr, Method};
use crate::context::{EvalContext, MembershipState, build_regex};
use crate::error::{Diagnostic, ErrorKind, Errors, EvalError};
use crate::eval::{eval_bool, eval_bool_with, eval_value};
use crate::parser::parse;
use crate::printer::print;
use serde::{Deserialize, Serialize};

/// A compiled segment definition: the resolved tree plus what it depends on and how it may be
/// evaluated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compiled {
    /// The definition as published.
    pub source: String,
    /// The resolved expression tree (also the evaluation plan).
    pub expr: Expr,
    /// What the definition reads.
    pub deps: Dependencies,
    /// Edge / streaming / batch, with the reason.
    pub classification: Classification,
}

/// Compiles a PQL definition.
pub fn compile(source: &str) -> Result<Compiled, Errors> {
    let expr = parse(source)?;
    check_regexes(&expr, source)?;
    let analysis = analyze(&expr);
    let classification = analysis.classify();
    Ok(Compiled {
        source: source.to_string(),
        expr,
        deps: analysis.deps,
        classification,
    })
}

/// The answer of a validation request, shaped as the `/v1/segments/validate` contract:
/// `{"valid":true,"eligibility":…,"reason":…,"canonical":…}` or
/// `{"valid":false,"errors":[{"offset":…,"line":…,"column":…,"message":…,…}]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    /// Whether the definition compiles.
    pub valid: bool,
    /// Its evaluation method, when valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eligibility: Option<Eligibility>,
    /// Why, when valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The canonical text (what the engine understood), when valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canonical: Option<String>,
    /// Positioned problems, when invalid.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub errors: Vec<Diagnostic>,
}

/// Compiles and reports validity, eligibility and errors in one serializable answer.
pub fn validate(source: &str) -> Validation {
    match compile(source) {
        Ok(c) => Validation {
            valid: true,
            eligibility: Some(c.classification.eligibility),
            reason: Some(c.classification.reason.clone()),
            canonical: Some(c.canonical()),
            errors: Vec::new(),
        },
        Err(e) => Validation {
            valid: false,
            eligibility: None,
            reason: None,
            canonical: None,
            errors: e.diagnostics,
        },
    }
}

/// Rejects literal regex patterns the engine cannot run, at publish time rather than per
/// request.
fn check_regexes(e: &Expr, src: &str) -> Result<(), Errors> {
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        let pattern = match e {
            Expr::Binary {
                op: BinOp::Matches,
                rhs,
                ..
            } => match &**rhs {
                Expr::Str(p) => Some(p),
                _ => None,
            },
            Expr::Method {
                method: Method::RegexGroup,
                args,
                ..
            } => match args.first() {
                Some(Expr::Str(p)) => Some(p),
                _ => None,
            },
            _ => None,
        };
        if let Some(p) = pattern
            && let Err(err) = build_regex(p)
        {
            let reason = err.to_string();
            let kind = if reason.contains("look-around") || reason.contains("backreferences") {
                ErrorKind::Unsupported
            } else {
                ErrorKind::Syntax
            };
            let prefix = if kind == ErrorKind::Unsupported {
                "unsupported: "
            } else {
                ""
            };
            let offset = src.find(p.as_str()).unwrap_or(0);
            let last = reason.lines().last().unwrap_or("").trim().to_string();
            return Err(Errors::one(Diagnostic::new(
                src,
                kind,
                offset,
                Some("a regular expression".into()),
                format!("\"{p}\""),
                format!("{prefix}invalid regular expression \"{p}\": {last}"),
            )));
        }
        stack.extend(e.children());
    }
    Ok(())
}

impl Compiled {
    /// Whether the profile in `ctx` qualifies.
    pub fn evaluate(&self, ctx: &EvalContext<'_>) -> Result<bool, EvalError> {
        eval_bool(&self.expr, ctx)
    }

    /// Like [`Compiled::evaluate`] with a different membership lookup (used by the catalog to
    /// overlay fresh edge results).
    pub fn evaluate_with_membership(
        &self,
        ctx: &EvalContext<'_>,
        membership: &dyn Fn(&str) -> Option<MembershipState>,
    ) -> Result<bool, EvalError> {
        eval_bool_with(&self.expr, ctx, membership)
    }

    /// The expression's value as JSON (for non-boolean expressions).
    pub fn evaluate_value(&self, ctx: &EvalContext<'_>) -> Result<serde_json::Value, EvalError> {
        eval_value(&self.expr, ctx)
    }

    /// Canonical PQL text of the definition.
    pub fn canonical(&self) -> String {
        print(&self.expr)
    }

    /// The evaluation method.
    pub fn eligibility(&self) -> Eligibility {
        self.classification.eligibility
    }

    /// Re-classifies knowing which referenced segments are profile-only (the platform keeps
    /// "event + inSegment(profile-only audience)" eligible).
    pub fn reclassify(&mut self, is_profile_only: &dyn Fn(&str) -> bool) {
        self.classification = analyze(&self.expr).classify_with(is_profile_only);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_regex_at_compile_time() {
        let e = compile("name matches \"(?<=a)b\"").err();
        let d = e.and_then(|e| e.first().cloned());
        assert!(d.is_some_and(|d| d.kind == ErrorKind::Unsupported && d.offset == 14));
        assert!(compile("name matches \"(unclosed\"").is_err());
        assert!(compile("name matches \"^J.*n$\"").is_ok());
    }

    #[test]
    fn validation_answers() {
        let ok = serde_json::to_value(validate("homeAddress.countryCode = \"US\"")).ok();
        assert_eq!(
            ok.as_ref().and_then(|v| v.get("eligibility")).cloned(),
            Some(serde_json::json!("edge"))
        );
        let bad = validate("a = ");
        assert!(!bad.valid);
        assert_eq!(bad.errors.first().map(|d| d.offset), Some(4));
    }

    #[test]
    fn plans_round_trip_through_bincode() {
        let c = compile(
            "homeAddress.countryCode = \"US\" and chain(xEvent, timestamp, [A: WHAT(eventType = \"x\") WHEN(< 24 hours before now)])",
        );
        let Ok(c) = c else { panic!() };
        let cfg = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(&c, cfg).unwrap_or_default();
        let back: Option<(Compiled, usize)> = bincode::serde::decode_from_slice(&bytes, cfg).ok();
        assert_eq!(back.map(|b| b.0), Some(c));
    }
}
