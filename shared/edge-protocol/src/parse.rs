//! Body parsing for each endpoint: size and depth checks before the parser runs, then typed
//! deserialization that reports the JSON path of the first bad value, then the checks serde
//! cannot express. Every failure is a [`ProtocolError`]; no input panics.

use serde::de::DeserializeOwned;

use crate::consent::ConsentRequest;
use crate::error::ProtocolError;
use crate::limits::{Limits, exceeds_depth};
use crate::request::{AcquireRequest, InteractRequest, ServerInteractRequest};
use crate::route::Endpoint;

/// A parsed request body, by endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// v1 `interact`.
    Interact(InteractRequest),
    /// v1 `collect` (same body as `interact`; answered 204).
    Collect(InteractRequest),
    /// v1 `privacy/set-consent`.
    SetConsent(ConsentRequest),
    /// v1 `identity/acquire`.
    Acquire(AcquireRequest),
    /// v2 (server-to-server) `interact` (boxed: its single event makes it the largest).
    ServerInteract(Box<ServerInteractRequest>),
}

/// Parses the body of `endpoint`.
pub fn parse_request(
    endpoint: Endpoint,
    body: &[u8],
    limits: &Limits,
) -> Result<Request, ProtocolError> {
    Ok(match endpoint {
        Endpoint::Interact => Request::Interact(parse_interact(body, limits)?),
        Endpoint::Collect => Request::Collect(parse_interact(body, limits)?),
        Endpoint::SetConsent => Request::SetConsent(parse_consent(body, limits)?),
        Endpoint::Acquire => Request::Acquire(parse_acquire(body, limits)?),
        Endpoint::InteractV2 => {
            Request::ServerInteract(Box::new(parse_server_interact(body, limits)?))
        }
    })
}

/// A v1 `interact` or `collect` body.
pub fn parse_interact(body: &[u8], limits: &Limits) -> Result<InteractRequest, ProtocolError> {
    let request: InteractRequest = parse_json(body, limits)?;
    request.validate(limits)?;
    Ok(request)
}

/// A v2 `interact` body.
pub fn parse_server_interact(
    body: &[u8],
    limits: &Limits,
) -> Result<ServerInteractRequest, ProtocolError> {
    let request: ServerInteractRequest = parse_json(body, limits)?;
    request.validate(limits)?;
    Ok(request)
}

/// A `set-consent` body.
pub fn parse_consent(body: &[u8], limits: &Limits) -> Result<ConsentRequest, ProtocolError> {
    let request: ConsentRequest = parse_json(body, limits)?;
    request.validate(limits)?;
    Ok(request)
}

/// An `identity/acquire` body; an empty body is an empty request (there is nothing required).
pub fn parse_acquire(body: &[u8], limits: &Limits) -> Result<AcquireRequest, ProtocolError> {
    check_size(body.len(), limits)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(AcquireRequest::default());
    }
    let request: AcquireRequest = parse_json(body, limits)?;
    request.validate(limits)?;
    Ok(request)
}

/// Size check, depth check, then typed parsing with the failing path.
pub fn parse_json<T: DeserializeOwned>(body: &[u8], limits: &Limits) -> Result<T, ProtocolError> {
    check_size(body.len(), limits)?;
    if exceeds_depth(body, limits.max_depth) {
        return Err(ProtocolError::TooDeep {
            limit: limits.max_depth,
        });
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        // serde_path_to_error writes `?` for a position it cannot name (end of input).
        let path = match e.path().to_string() {
            p if p == "?" => ".".to_owned(),
            p => p,
        };
        let inner = e.into_inner();
        let message = inner.to_string();
        if inner.is_data() {
            ProtocolError::Invalid { path, message }
        } else {
            ProtocolError::Syntax { path, message }
        }
    })?;
    de.end().map_err(|e| ProtocolError::Syntax {
        path: ".".to_owned(),
        message: e.to_string(),
    })?;
    Ok(value)
}

/// 413 before reading further: call with `Content-Length` when known, then with the body read.
pub fn check_size(size: usize, limits: &Limits) -> Result<(), ProtocolError> {
    if size > limits.max_body_bytes {
        return Err(ProtocolError::BodyTooLarge {
            size,
            limit: limits.max_body_bytes,
        });
    }
    Ok(())
}
