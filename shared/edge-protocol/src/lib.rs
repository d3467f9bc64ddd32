//! The Adobe Web SDK (alloy.js) edge wire protocol, as `shared/reference/adobe-edge-protocol.md`
//! describes it: everything the `collect` component needs that is protocol rather than I/O.
//! Pure Rust, no WASI or HTTP dependency; compiles natively and for `wasm32-wasip2`.
//!
//! # Handling one request
//!
//! 1. [`classify`] the path → [`Endpoint`] and location hint; [`check_method`] (POST, or an
//!    OPTIONS [`preflight`]); [`QueryParams::parse`] the query.
//! 2. [`check_size`] against `Content-Length`, then [`parse_request`] the body (size, depth,
//!    typed parse with the JSON path of the first bad value, request bounds).
//! 3. Resolve the visitor: [`resolve_ecid`] from `meta.state.entries`, the `Cookie` header,
//!    the migration `identityMap` or a new [`Ecid`]; [`IdentityMap::primary`] and
//!    [`IdentityMap::known_identities`] for known-identity lookups.
//! 4. Answer with a [`Response`]: [`Handle::identity_result`], [`Handle::state_store`] with
//!    [`CookieNames::identity_entry`] (and [`CookieNames::consent_entry`] for set-consent),
//!    [`Handle::decisions`]; status from [`Endpoint::success_status`] / [`Response::status`];
//!    CORS headers from [`cors_response_headers`]. Failures: [`ProtocolError::to_problem`]
//!    with [`ProtocolError::status`] and [`PROBLEM_CONTENT_TYPE`].

#![deny(unsafe_code)]
#![deny(missing_docs)]

mod base64;
mod consent;
mod cookie;
mod cors;
mod ecid;
mod error;
mod identity_map;
mod limits;
mod notification;
mod parse;
mod problem;
mod protobuf;
mod random;
mod request;
mod request_id;
mod resolve;
mod response;
mod route;
mod surface;
mod tcf;

#[cfg(test)]
mod fixture_tests;
#[cfg(test)]
mod nasty_tests;

pub use consent::{Consent, ConsentForm, ConsentRequest, ConsentVal, General};
pub use cookie::{
    CLUSTER_MAX_AGE, CONSENT_MAX_AGE, CookieNames, IDENTITY_MAX_AGE, MAX_COOKIE_VALUE_LEN,
    decode_consent, decode_identity, encode_consent, encode_identity, entry_value, header_value,
};
pub use cors::{
    ALLOWED_METHODS, AllowedOrigins, EXPOSED_HEADERS, MethodCheck, PREFLIGHT_MAX_AGE, check_method,
    is_valid_origin, preflight, response_headers as cors_response_headers,
};
pub use ecid::{ECID_LEN, ECID_NAMESPACE, Ecid, InvalidEcid, is_valid as is_valid_ecid};
pub use error::ProtocolError;
pub use identity_map::{AuthenticatedState, IdentityItem, IdentityMap, IdentityRef};
pub use limits::{
    Limits, MAX_BODY_BYTES, MAX_CONSENTS, MAX_DEPTH, MAX_EVENTS, MAX_IDENTITIES, MAX_SCOPES,
    MAX_STATE_ENTRIES, exceeds_depth,
};
pub use notification::{Notification, NotificationKind, PropositionRef, notification};
pub use parse::{
    Request, check_size, parse_acquire, parse_consent, parse_interact, parse_json, parse_request,
    parse_server_interact,
};
pub use problem::{ErrorCode, JSON_CONTENT_TYPE, PROBLEM_CONTENT_TYPE, Problem};
pub use random::RandomSource;
pub use request::{
    AcquireRequest, Event, EventQuery, IdentityQuery, InteractRequest, Meta,
    PROPOSITION_EVENT_PREFIX, PersonalizationQuery, RequestQuery, RequestXdm,
    ServerInteractRequest, State, StateEntry, VIEW_SCOPE, Xdm,
};
pub use request_id::{response_request_id, uuid_v4};
pub use resolve::{EcidSource, IdentityInputs, find_ecid, resolve_ecid};
pub use response::{
    CookieAttrs, Handle, IDENTITY_RESULT, IdentityResult, LOCATION_HINT_RESULT, LocationHint,
    NamespaceCode, PERSONALIZATION_DECISIONS, Response, STATE_STORE, SameSite, StoreEntry,
};
pub use route::{
    DEFAULT_BASE_PATH, Endpoint, MAX_HINT_LEN, PathKind, QueryParams, Route, classify,
    classify_with_base, is_valid_hint,
};
pub use surface::{Surface, page_surface};
pub use tcf::{
    ADOBE_VENDOR_ID, REQUIRED_PURPOSES, TcConsent, decode as decode_tc_string, grants_edge,
};
