//! Why a request was refused, with the JSON path of the offending value, and the one mapping
//! from each refusal to its HTTP status and problem body.

use crate::problem::{ErrorCode, Problem};

/// A refused request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The body is over the size limit (413).
    #[error("body is {size} bytes, over the limit of {limit}")]
    BodyTooLarge {
        /// The body's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The body nests arrays/objects deeper than allowed (422).
    #[error("body nests deeper than {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// The body is not JSON (400).
    #[error("malformed JSON at {path}: {message}")]
    Syntax {
        /// Where parsing stopped (`.` is the root).
        path: String,
        /// The parser's message (with line and column).
        message: String,
    },
    /// The body is JSON but not a valid request (422).
    #[error("invalid request at {path}: {message}")]
    Invalid {
        /// The offending value, e.g. `events[0].xdm.identityMap.ECID[0].id`.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A required query parameter (`configId`, `datastreamId`) is missing or empty (400).
    #[error("missing query parameter {0}")]
    MissingParameter(&'static str),
    /// The path is not an edge endpoint (404).
    #[error("no edge endpoint at this path")]
    NotFound,
    /// The method is not allowed on the endpoint (405; answer with `Allow: POST, OPTIONS`).
    #[error("method {0} not allowed")]
    MethodNotAllowed(String),
}

impl ProtocolError {
    /// An [`Invalid`](Self::Invalid) error.
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The problem code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BodyTooLarge { .. } => ErrorCode::BodyTooLarge,
            Self::TooDeep { .. } | Self::Invalid { .. } => ErrorCode::Validation,
            Self::Syntax { .. } => ErrorCode::MalformedJson,
            Self::MissingParameter(_) => ErrorCode::InvalidDatastream,
            Self::NotFound => ErrorCode::NotFound,
            Self::MethodNotAllowed(_) => ErrorCode::MethodNotAllowed,
        }
    }

    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        self.code().status()
    }

    /// The JSON path of the offending value, when there is one.
    pub fn path(&self) -> Option<&str> {
        match self {
            Self::Syntax { path, .. } | Self::Invalid { path, .. } => Some(path),
            _ => None,
        }
    }

    /// The problem body to answer with (`report.requestId`, and `report.path` when known).
    pub fn to_problem(&self, request_id: &str) -> Problem {
        let problem = Problem::fatal(self.code(), Some(self.to_string()), request_id);
        match self.path() {
            Some(path) => problem.with_report("path", path.into()),
            None => problem,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_to_statuses_and_problems() {
        assert_eq!(
            ProtocolError::BodyTooLarge {
                size: 70000,
                limit: 65536
            }
            .status(),
            413
        );
        assert_eq!(ProtocolError::invalid("events", "empty").status(), 422);
        assert_eq!(ProtocolError::MissingParameter("configId").status(), 400);
        assert_eq!(ProtocolError::NotFound.status(), 404);
        assert_eq!(ProtocolError::MethodNotAllowed("GET".into()).status(), 405);
        let problem = ProtocolError::invalid("events[0].xdm", "expected an object").to_problem("r");
        assert_eq!(problem.status, 422);
        assert_eq!(problem.report["path"], "events[0].xdm");
        assert_eq!(problem.report["requestId"], "r");
        assert_eq!(
            problem.detail.as_deref(),
            Some("invalid request at events[0].xdm: expected an object")
        );
    }
}
