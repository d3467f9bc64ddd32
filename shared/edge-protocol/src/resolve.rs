//! Which ECID a request belongs to, by the order of trust the protocol implies: the identity
//! cookie (copied into `meta.state.entries`, or in the `Cookie` header when alloy shares the
//! apex domain or the page is same-origin), then a migrated ECID in the request-level
//! `xdm.identityMap` (AMCV, `s_ecid`, Visitor.js, `adobe_mc`), then an ECID the caller put in
//! the event's own `identityMap` (server-side and mobile callers), and only then a new one.

use crate::cookie::{self, CookieNames};
use crate::ecid::Ecid;
use crate::identity_map::IdentityMap;
use crate::random::RandomSource;
use crate::request::StateEntry;

/// Where the ECID came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EcidSource {
    /// The identity cookie in `meta.state.entries`.
    StateEntry,
    /// The identity cookie in the `Cookie` header.
    CookieHeader,
    /// The request-level `xdm.identityMap` (migration).
    Migration,
    /// An event's `xdm.identityMap`.
    EventIdentityMap,
    /// Issued at the edge for this request.
    Issued,
}

impl EcidSource {
    /// Whether the visitor is new to the edge (no identity came with the request).
    pub fn is_new(self) -> bool {
        self == Self::Issued
    }
}

/// The identity inputs of one request.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdentityInputs<'a> {
    /// `meta.state.entries`.
    pub entries: &'a [StateEntry],
    /// The `Cookie` header value, if any.
    pub cookie_header: Option<&'a str>,
    /// The request-level `xdm.identityMap` (or `identityMap` of a consent request).
    pub request_map: Option<&'a IdentityMap>,
    /// The first event's `xdm.identityMap`.
    pub event_map: Option<&'a IdentityMap>,
}

/// The ECID the request carries, and where from; `None` when it carries none.
pub fn find_ecid(names: &CookieNames, inputs: &IdentityInputs<'_>) -> Option<(Ecid, EcidSource)> {
    let cookie_name = names.identity();
    if let Some(ecid) =
        cookie::entry_value(inputs.entries, &cookie_name).and_then(cookie::decode_identity)
    {
        return Some((ecid, EcidSource::StateEntry));
    }
    if let Some(ecid) = inputs
        .cookie_header
        .and_then(|h| cookie::header_value(h, &cookie_name))
        .and_then(cookie::decode_identity)
    {
        return Some((ecid, EcidSource::CookieHeader));
    }
    if let Some(ecid) = inputs.request_map.and_then(IdentityMap::ecid) {
        return Some((ecid, EcidSource::Migration));
    }
    inputs
        .event_map
        .and_then(IdentityMap::ecid)
        .map(|ecid| (ecid, EcidSource::EventIdentityMap))
}

/// The request's ECID, issuing a new one from `rng` when it carries none.
pub fn resolve_ecid(
    names: &CookieNames,
    inputs: &IdentityInputs<'_>,
    rng: &mut dyn RandomSource,
) -> (Ecid, EcidSource) {
    find_ecid(names, inputs).unwrap_or_else(|| (Ecid::generate(rng), EcidSource::Issued))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity_map::IdentityItem;

    const ORG: &str = "ABCDEF0123456789ABCDEF01@AdobeOrg";
    const A: &str = "12345678901234567890123456789012345678";
    const B: &str = "22222222222222222222222222222222222222";
    const C: &str = "33333333333333333333333333333333333333";
    const D: &str = "44444444444444444444444444444444444444";

    fn cookie(ecid: &str) -> String {
        cookie::encode_identity(&Ecid::parse(ecid).unwrap())
    }

    fn map(ecid: &str) -> IdentityMap {
        let mut m = IdentityMap::new();
        m.push("ECID", IdentityItem::new(ecid));
        m
    }

    #[test]
    fn prefers_state_then_header_then_migration_then_event() {
        let names = CookieNames::new(ORG);
        let entries = vec![StateEntry {
            key: names.identity(),
            value: cookie(A),
            extra: Default::default(),
        }];
        let header = format!("{}={}", names.identity(), cookie(B));
        let (request_map, event_map) = (map(C), map(D));
        let mut inputs = IdentityInputs {
            entries: &entries,
            cookie_header: Some(&header),
            request_map: Some(&request_map),
            event_map: Some(&event_map),
        };
        let found = |i: &IdentityInputs<'_>| find_ecid(&names, i).map(|(e, s)| (e.to_string(), s));
        assert_eq!(found(&inputs), Some((A.into(), EcidSource::StateEntry)));
        inputs.entries = &[];
        assert_eq!(found(&inputs), Some((B.into(), EcidSource::CookieHeader)));
        inputs.cookie_header = None;
        assert_eq!(found(&inputs), Some((C.into(), EcidSource::Migration)));
        inputs.request_map = None;
        assert_eq!(
            found(&inputs),
            Some((D.into(), EcidSource::EventIdentityMap))
        );
        inputs.event_map = None;
        assert_eq!(found(&inputs), None);
        let mut zero = |buf: &mut [u8]| buf.fill(0);
        let (ecid, source) = resolve_ecid(&names, &inputs, &mut zero);
        assert_eq!((ecid.as_str().len(), source), (38, EcidSource::Issued));
        assert!(source.is_new());
    }

    #[test]
    fn a_garbage_cookie_falls_through() {
        let names = CookieNames::new(ORG);
        let entries = vec![StateEntry {
            key: names.identity(),
            value: "garbage".into(),
            extra: Default::default(),
        }];
        let header = format!("{}=also-garbage", names.identity());
        let request_map = map(C);
        let inputs = IdentityInputs {
            entries: &entries,
            cookie_header: Some(&header),
            request_map: Some(&request_map),
            event_map: None,
        };
        assert_eq!(
            find_ecid(&names, &inputs).map(|(_, s)| s),
            Some(EcidSource::Migration)
        );
        let bad_map = map("not-an-ecid");
        let inputs = IdentityInputs {
            request_map: Some(&bad_map),
            ..Default::default()
        };
        assert_eq!(find_ecid(&names, &inputs), None);
    }
}
