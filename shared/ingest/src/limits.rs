//! The explicit limits of one projection request and the request-level errors they raise.

/// Bounds on one request. Every limit has its own error so the HTTP glue can answer precisely
/// (413 for a body over [`max_body_bytes`](Self::max_body_bytes), 400 for the rest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest body accepted, bytes.
    pub max_body_bytes: usize,
    /// Most records per request.
    pub max_records: usize,
    /// Largest single record, bytes (a line of NDJSON, an element of an array).
    pub max_record_bytes: usize,
    /// Deepest JSON nesting accepted in a record.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 8 << 20,
            max_records: 10_000,
            max_record_bytes: 64 << 10,
            max_depth: 32,
        }
    }
}

/// Why a whole request was refused (a bad record only rejects itself; see
/// [`RecordError`](crate::RecordError)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// The body is over [`Limits::max_body_bytes`] (HTTP 413).
    #[error("body is {size} bytes, over the limit of {limit}")]
    BodyTooLarge {
        /// The body's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The body holds more than [`Limits::max_records`] records (HTTP 400).
    #[error("body holds {count} records, over the limit of {limit}")]
    TooManyRecords {
        /// How many it holds (counted up to one past the limit).
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The body starts like a JSON array but is not one (HTTP 400). NDJSON bodies never fail
    /// this way: each bad line is rejected on its own.
    #[error("body is not a valid JSON array: {0}")]
    MalformedArray(String),
}
