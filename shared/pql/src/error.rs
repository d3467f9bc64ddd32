//! Diagnostics a marketer can act on: where the problem is (byte offset, line, column), what
//! the parser expected and what it found, and whether the construct is wrong or merely
//! unsupported by this engine.

use serde::{Deserialize, Serialize};

/// What sort of problem a [`Diagnostic`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorKind {
    /// The text is not valid PQL.
    Syntax,
    /// Valid PQL (or a documented dialect) that this engine deliberately does not evaluate.
    Unsupported,
    /// The definition exceeds a safety limit (length, nesting depth).
    Limit,
}

/// One positioned problem in a PQL text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct Diagnostic {
    /// Syntax, unsupported or limit.
    pub kind: ErrorKind,
    /// Byte offset into the source where the problem starts.
    pub offset: usize,
    /// 1-based line of `offset`.
    pub line: u32,
    /// 1-based column (in characters) of `offset`.
    pub column: u32,
    /// What would have been accepted here, when the parser knows.
    pub expected: Option<String>,
    /// What was found here (a token, or "end of input").
    pub found: String,
    /// The full human-readable message.
    pub message: String,
}

impl Diagnostic {
    /// Builds a diagnostic, computing line and column from `offset` in `src`.
    pub fn new(
        src: &str,
        kind: ErrorKind,
        offset: usize,
        expected: Option<String>,
        found: String,
        message: String,
    ) -> Self {
        let (line, column) = line_column(src, offset);
        Diagnostic {
            kind,
            offset,
            line,
            column,
            expected,
            found,
            message,
        }
    }
}

/// Line and column (both 1-based, column in characters) of a byte offset; offsets past the end
/// or inside a character clamp to the nearest valid position.
pub fn line_column(src: &str, offset: usize) -> (u32, u32) {
    let mut line = 1u32;
    let mut column = 1u32;
    for (i, c) in src.char_indices() {
        if i >= offset {
            break;
        }
        if c == '\n' {
            line = line.saturating_add(1);
            column = 1;
        } else {
            column = column.saturating_add(1);
        }
    }
    (line, column)
}

/// The errors of one definition. Parsing stops at the first error, so there is usually one;
/// the list form leaves room for validators that report more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{}", render(.diagnostics))]
pub struct Errors {
    /// The problems, in source order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Errors {
    /// Wraps a single diagnostic.
    pub fn one(d: Diagnostic) -> Self {
        Errors {
            diagnostics: vec![d],
        }
    }

    /// The first diagnostic, if any.
    pub fn first(&self) -> Option<&Diagnostic> {
        self.diagnostics.first()
    }
}

fn render(ds: &[Diagnostic]) -> String {
    let parts: Vec<String> = ds.iter().map(|d| d.to_string()).collect();
    parts.join("; ")
}

/// Why an evaluation could not produce a result. Evaluation never panics; these are the only
/// failures, and callers treat them as "does not qualify" plus a log line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// The expression would do more work than the per-evaluation budget allows (for example a
    /// multi-variable `select` over many events).
    #[error("evaluation budget of {0} steps exceeded")]
    Budget(u64),
    /// A regular expression built at evaluation time is invalid or too large.
    #[error("invalid regular expression {pattern:?}: {reason}")]
    Regex {
        /// The pattern as evaluated.
        pattern: String,
        /// Why the regex engine refused it.
        reason: String,
    },
    /// The plan is structurally invalid (only possible for a hand-made or corrupted plan).
    #[error("invalid plan: {0}")]
    Plan(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        assert_eq!(line_column("abc", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("é=x", 2), (1, 2));
        assert_eq!(line_column("ab", 99), (1, 3));
    }
}
