//! Projection ingest: what the hub projects to the edge (profile attributes, memberships,
//! identity links and unlinks, deletes, segment and activity definitions), parsed from NDJSON or
//! a JSON array, validated per record and applied to the store; plus the profile read and delete
//! the admin routes need. Pure Rust over [`vantage_kv::Kv`]; the HTTP glue lives in the
//! `projection` component.
//!
//! One bad record never blocks the others. Replaying a stream leaves the same state, records
//! may arrive out of order (timestamps decide), and several clients may ingest the same stream
//! at once: every write is a CAS read-modify-write. Runs of `profile` and `membership` records
//! (the bulk of a projection) are applied together, one batch read and one CAS write per
//! profile (`batch`); everything else goes record by record through [`vantage_model`].

#![deny(unsafe_code)]
#![deny(missing_docs)]

mod apply;
mod batch;
mod body;
mod depth;
mod limits;
pub mod record;
mod view;

use serde::Serialize;
use serde_json::Value;
use vantage_kv::Kv;
use vantage_model::{Outcome, Policy};

pub use limits::{IngestError, Limits};
pub use record::{Record, RecordError};
pub use view::{Error, delete_profile, profile_view};

/// Compiles a segment's PQL at publish time into an opaque plan, or says why it cannot.
pub type CompileSegment<'a> = &'a dyn Fn(&str) -> Result<Vec<u8>, String>;
/// Validates an activity definition against the activity schema and compiles it: `(format,
/// compiled bytes)` for the model's compiled-activity record, or why it is refused.
pub type CompileActivity<'a> = &'a dyn Fn(&Value) -> Result<(u32, Vec<u8>), String>;

/// How to ingest: limits, retention policy, and the optional hooks of engines that are
/// plugged in (without them, segment text is kept uncompiled and activities are stored as
/// given, to be compiled from their source later).
#[derive(Clone, Default)]
pub struct Options<'a> {
    /// Request and record limits.
    pub limits: Limits,
    /// Retention and size policy of edge data.
    pub policy: Policy,
    /// Compiles active segment expressions; a failure rejects the record.
    pub compile_segment: Option<CompileSegment<'a>>,
    /// Validates and compiles active activity definitions; a failure rejects the record. The
    /// compiled form is stored with the definition (`vantage_decisioning::compile_hook`).
    pub compile_activity: Option<CompileActivity<'a>>,
}

/// The answer to a projection request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Records applied (including replays and records a newer one supersedes).
    pub accepted: usize,
    /// Records refused, in order.
    pub rejected: Vec<Rejection>,
}

/// One refused record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// Its 1-based line (NDJSON) or position (array).
    pub line: usize,
    /// Why.
    pub error: String,
}

/// Most `profile`/`membership` records applied together in one run (one `get_many` of their
/// identities, one write per profile): bounds the memory of parsed records and the size of a
/// batch read.
const MAX_RUN: usize = 512;

/// Ingests `body` with default options. See [`ingest_with`].
pub fn ingest<K: Kv + ?Sized>(
    kv: &K,
    body: &[u8],
    limits: &Limits,
    now_ms: i64,
) -> Result<Report, IngestError> {
    let options = Options {
        limits: limits.clone(),
        ..Options::default()
    };
    ingest_with(kv, body, &options, now_ms)
}

/// Parses `body` (NDJSON, or a JSON array when it starts with `[`) and applies each record in
/// order at `now_ms`. Fails as a whole only on the request limits; everything else rejects one
/// record and goes on.
pub fn ingest_with<K: Kv + ?Sized>(
    kv: &K,
    body: &[u8],
    options: &Options<'_>,
    now_ms: i64,
) -> Result<Report, IngestError> {
    let limits = &options.limits;
    let mut report = Report::default();
    let mut run: Vec<batch::Pending<'_>> = Vec::new();
    let flush = |report: &mut Report, run: &mut Vec<batch::Pending<'_>>| {
        let results = batch::apply_run(kv, run, options, now_ms);
        for (p, result) in run.drain(..).zip(results) {
            account(report, p.line, result);
        }
    };
    for item in body::split(body, limits)? {
        let parsed = item
            .text
            .map_err(|_| RecordError::NotUtf8)
            .and_then(|text| {
                if text.len() > limits.max_record_bytes {
                    return Err(RecordError::TooLarge {
                        size: text.len(),
                        limit: limits.max_record_bytes,
                    });
                }
                Ok((record::parse(text, limits.max_depth)?, text))
            });
        let (record, text) = match parsed {
            Ok(ok) => ok,
            Err(e) => {
                account(&mut report, item.line, Err(e));
                continue;
            }
        };
        if apply::profile_target(&record).is_some() {
            // Profile and membership records gather into a run applied together.
            run.push(batch::Pending {
                line: item.line,
                record,
                text,
            });
            if run.len() >= MAX_RUN {
                flush(&mut report, &mut run);
            }
            continue;
        }
        if matches!(
            record,
            Record::Link { .. } | Record::Unlink { .. } | Record::Delete { .. }
        ) {
            // These touch several profiles: what came before them lands first.
            flush(&mut report, &mut run);
        }
        // Definitions touch only the catalogs, independent of the run.
        let result = apply::apply(kv, &record, text, options, now_ms);
        account(&mut report, item.line, result);
    }
    flush(&mut report, &mut run);
    // Runs finish after the definitions that followed them: report in body order.
    report.rejected.sort_by_key(|r| r.line);
    Ok(report)
}

fn account(report: &mut Report, line: usize, result: Result<Outcome, RecordError>) {
    match result {
        Ok(_) => report.accepted += 1,
        Err(e) => report.rejected.push(Rejection {
            line,
            error: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests;
