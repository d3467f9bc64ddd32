//! Errors and warnings in the reference platform's shapes: RFC 7807-style problem objects
//! `{type, status, title, detail?, report?}`, used as the body of fatal (non-2xx) answers
//! and inside `errors[]`/`warnings[]` of a 2xx answer (which alloy only logs).
//!
//! Adobe's own codes are used where the reference names them (`EXEG-0003-400` invalid
//! datastream, `EXEG-0104-422` validation, `EXEG-0201-503` upstream); conditions the reference
//! gives no code for get Vantage codes in the same `PREFIX-NNNN-STATUS` pattern under a `VNTG`
//! prefix, so nobody mistakes them for Adobe's.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `Content-Type` of a fatal error body.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json;charset=utf-8";
/// `Content-Type` of a normal answer.
pub const JSON_CONTENT_TYPE: &str = "application/json;charset=utf-8";

const ADOBE_TYPE_BASE: &str = "https://ns.adobe.com/aep/errors/";
const VANTAGE_TYPE_BASE: &str = "urn:vantage:errors:";

/// The error and warning codes this edge uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `EXEG-0003-400`: the datastream (`configId`/`datastreamId`) is missing or unknown.
    InvalidDatastream,
    /// `EXEG-0104-422`: the body is JSON but not a valid request.
    Validation,
    /// `EXEG-0201-503`: a dependency (store) is unavailable.
    Upstream,
    /// `VNTG-0001-400`: the body is not JSON.
    MalformedJson,
    /// `VNTG-0002-413`: the body is over the size limit.
    BodyTooLarge,
    /// `VNTG-0003-404`: no such edge endpoint.
    NotFound,
    /// `VNTG-0004-405`: wrong method for the endpoint.
    MethodNotAllowed,
    /// `VNTG-0005-500`: an internal failure.
    Internal,
    /// `VNTG-0101-200` (warning): events were accepted but could not be queued for the hub.
    NotQueued,
    /// `VNTG-0102-200` (warning): consent is out, so nothing was collected or personalized.
    ConsentOut,
    /// `VNTG-0103-200` (warning): the visitor's ECID could not join a full identity graph.
    IdentityNotLinked,
}

impl ErrorCode {
    /// The code, e.g. `EXEG-0104-422`.
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidDatastream => "EXEG-0003-400",
            Self::Validation => "EXEG-0104-422",
            Self::Upstream => "EXEG-0201-503",
            Self::MalformedJson => "VNTG-0001-400",
            Self::BodyTooLarge => "VNTG-0002-413",
            Self::NotFound => "VNTG-0003-404",
            Self::MethodNotAllowed => "VNTG-0004-405",
            Self::Internal => "VNTG-0005-500",
            Self::NotQueued => "VNTG-0101-200",
            Self::ConsentOut => "VNTG-0102-200",
            Self::IdentityNotLinked => "VNTG-0103-200",
        }
    }

    /// The HTTP status the code stands for (the last part of the code).
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidDatastream | Self::MalformedJson => 400,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::BodyTooLarge => 413,
            Self::Validation => 422,
            Self::Internal => 500,
            Self::Upstream => 503,
            Self::NotQueued | Self::ConsentOut | Self::IdentityNotLinked => 200,
        }
    }

    /// A short, fixed title.
    pub fn title(self) -> &'static str {
        match self {
            Self::InvalidDatastream => "Invalid datastream ID",
            Self::Validation => "Request validation failed",
            Self::Upstream => "A dependency of the edge is unavailable",
            Self::MalformedJson => "The request body is not valid JSON",
            Self::BodyTooLarge => "The request body is too large",
            Self::NotFound => "No such edge endpoint",
            Self::MethodNotAllowed => "Method not allowed",
            Self::Internal => "Internal error",
            Self::NotQueued => "Events could not be queued for the hub",
            Self::ConsentOut => "The visitor has not consented",
            Self::IdentityNotLinked => "The identity graph is full",
        }
    }

    /// The problem `type` URI.
    pub fn type_uri(self) -> String {
        let code = self.code();
        if code.starts_with("EXEG") {
            format!("{ADOBE_TYPE_BASE}{code}")
        } else {
            format!("{VANTAGE_TYPE_BASE}{code}")
        }
    }
}

/// A problem object. `report` holds what the reference shows there (`requestId`,
/// `eventIndex`, `cause`) plus, for our validation errors, the JSON `path`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// The problem type URI.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP status (200 for warnings and non-fatal errors' own codes).
    pub status: u16,
    /// Short summary.
    pub title: String,
    /// What exactly went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Context.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub report: Map<String, Value>,
}

impl Problem {
    /// A problem of `code` with an optional detail.
    pub fn new(code: ErrorCode, detail: Option<String>) -> Self {
        Self {
            kind: code.type_uri(),
            status: code.status(),
            title: code.title().to_owned(),
            detail,
            report: Map::new(),
        }
    }

    /// A fatal error body: `report.requestId` set as the reference shows.
    pub fn fatal(code: ErrorCode, detail: Option<String>, request_id: &str) -> Self {
        Self::new(code, detail).with_report("requestId", Value::from(request_id))
    }

    /// A warning in the reference's format: `report.cause = {message, code}`.
    pub fn warning(code: ErrorCode, message: &str, cause_code: u16) -> Self {
        let cause = serde_json::json!({ "message": message, "code": cause_code });
        Self::new(code, None).with_report("cause", cause)
    }

    /// Ties the problem to one event of the request (`report.eventIndex`).
    pub fn for_event(self, index: usize) -> Self {
        self.with_report("eventIndex", Value::from(index))
    }

    /// Adds `key` to `report`.
    pub fn with_report(mut self, key: &str, value: Value) -> Self {
        self.report.insert(key.to_owned(), value);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn codes_carry_their_status() {
        for code in [
            ErrorCode::InvalidDatastream,
            ErrorCode::Validation,
            ErrorCode::Upstream,
            ErrorCode::MalformedJson,
            ErrorCode::BodyTooLarge,
            ErrorCode::NotFound,
            ErrorCode::MethodNotAllowed,
            ErrorCode::Internal,
            ErrorCode::NotQueued,
            ErrorCode::ConsentOut,
            ErrorCode::IdentityNotLinked,
        ] {
            assert!(code.code().ends_with(&format!("-{}", code.status())));
        }
        assert_eq!(
            ErrorCode::Validation.type_uri(),
            "https://ns.adobe.com/aep/errors/EXEG-0104-422"
        );
        assert_eq!(
            ErrorCode::BodyTooLarge.type_uri(),
            "urn:vantage:errors:VNTG-0002-413"
        );
    }

    #[test]
    fn shapes_match_the_reference() {
        let fatal = Problem::fatal(ErrorCode::Upstream, Some("store down".into()), "r-1");
        assert_eq!(
            serde_json::to_value(&fatal).unwrap(),
            json!({"type": "https://ns.adobe.com/aep/errors/EXEG-0201-503", "status": 503,
                "title": "A dependency of the edge is unavailable", "detail": "store down",
                "report": {"requestId": "r-1"}})
        );
        let warning = Problem::warning(ErrorCode::NotQueued, "outbox full", 202);
        assert_eq!(
            serde_json::to_value(&warning).unwrap(),
            json!({"type": "urn:vantage:errors:VNTG-0101-200", "status": 200,
                "title": "Events could not be queued for the hub",
                "report": {"cause": {"message": "outbox full", "code": 202}}})
        );
        let per_event = Problem::new(ErrorCode::Upstream, None).for_event(0);
        assert_eq!(per_event.report["eventIndex"], 0);
    }
}
