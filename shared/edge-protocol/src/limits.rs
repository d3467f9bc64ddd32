//! The explicit bounds on one Web SDK request, and the cheap nesting-depth scan that runs
//! before parsing so a hostile body cannot make the parser recurse deeply.

/// Largest body accepted, bytes: 64 KiB, like the reference platform (413 beyond).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Most events in one v1 `interact`/`collect` request. alloy sends one; mobile SDKs batch a
/// few. Every event is a profile append and an outbox entry, so the bound keeps one request's
/// work small.
pub const MAX_EVENTS: usize = 100;
/// Deepest JSON nesting (arrays plus objects) accepted. alloy's deepest fields (notification
/// propositions) sit about 10 levels down; 32 leaves room for custom XDM and `data`.
pub const MAX_DEPTH: usize = 32;
/// Most `meta.state.entries`: alloy copies only `kndctr_<org>_*`, `at_qa_mode` and `mbox`.
pub const MAX_STATE_ENTRIES: usize = 64;
/// Most identity items in one `identityMap`: each may cost a store lookup.
pub const MAX_IDENTITIES: usize = 32;
/// Most decision scopes plus surfaces asked in one event: each is a decision to make.
pub const MAX_SCOPES: usize = 64;
/// Most consent entries in one `set-consent` request.
pub const MAX_CONSENTS: usize = 16;

/// Bounds on one request; [`Default`] gives the constants above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// See [`MAX_BODY_BYTES`].
    pub max_body_bytes: usize,
    /// See [`MAX_EVENTS`].
    pub max_events: usize,
    /// See [`MAX_DEPTH`].
    pub max_depth: usize,
    /// See [`MAX_STATE_ENTRIES`].
    pub max_state_entries: usize,
    /// See [`MAX_IDENTITIES`].
    pub max_identities: usize,
    /// See [`MAX_SCOPES`].
    pub max_scopes: usize,
    /// See [`MAX_CONSENTS`].
    pub max_consents: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: MAX_BODY_BYTES,
            max_events: MAX_EVENTS,
            max_depth: MAX_DEPTH,
            max_state_entries: MAX_STATE_ENTRIES,
            max_identities: MAX_IDENTITIES,
            max_scopes: MAX_SCOPES,
            max_consents: MAX_CONSENTS,
        }
    }
}

/// Whether `json` nests more than `max` arrays/objects deep. Brackets inside strings do not
/// count; the text need not be valid JSON.
pub fn exceeds_depth(json: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in json {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_brackets_outside_strings() {
        assert!(!exceeds_depth(br#"{"a":[1,{"b":2}]}"#, 3));
        assert!(exceeds_depth(br#"{"a":[1,{"b":2}]}"#, 2));
        assert!(!exceeds_depth(br#"{"a":"[[[[\"[[[["}"#, 1));
        assert!(!exceeds_depth(b"", 0));
        assert!(exceeds_depth(&[b'['; 33], MAX_DEPTH));
    }
}
