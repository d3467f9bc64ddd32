//! Who a request is about: the ECID (from the identity cookie in `meta.state.entries` or the
//! `Cookie` header, the migration `identityMap`, or newly issued) and the known identities the
//! request names (CRM ids, hashed emails), as the data model's [`Identity`] values; and the
//! consent the request carries.

use vantage_edge_protocol::{
    AuthenticatedState, CookieNames, Ecid, EcidSource, General, IdentityInputs, IdentityMap,
    RandomSource, StateEntry, decode_consent, entry_value, header_value, resolve_ecid,
};
use vantage_model::Identity;

/// The visitor of one request.
#[derive(Debug, Clone)]
pub struct Visitor {
    /// The ECID.
    pub ecid: Ecid,
    /// Where it came from.
    pub source: EcidSource,
    /// The ECID as a model identity.
    pub ecid_identity: Identity,
    /// Known (non-ECID) identities the request names, primary first; `loggedOut` ones are
    /// left out (a logged-out visitor is not personalized as that person).
    pub known: Vec<Identity>,
}

impl Visitor {
    /// The id visitors are bucketed by: the ECID.
    pub fn bucketing_id(&self) -> &str {
        self.ecid.as_str()
    }

    /// Every identity, the ECID first.
    pub fn identities(&self) -> Vec<Identity> {
        std::iter::once(self.ecid_identity.clone())
            .chain(self.known.iter().cloned())
            .collect()
    }
}

/// Resolves the visitor. `maps` are the identity maps of the request, most specific first
/// (request level, then each event's).
pub fn resolve(
    names: &CookieNames,
    entries: &[StateEntry],
    cookie_header: Option<&str>,
    request_map: Option<&IdentityMap>,
    event_maps: &[&IdentityMap],
    rng: &mut dyn RandomSource,
) -> Result<Visitor, String> {
    let inputs = IdentityInputs {
        entries,
        cookie_header,
        request_map,
        event_map: event_maps.first().copied(),
    };
    let (ecid, source) = resolve_ecid(names, &inputs, rng);
    let ecid_identity =
        Identity::new("ECID", ecid.as_str()).map_err(|e| format!("ECID {}: {e}", ecid.as_str()))?;
    let mut known: Vec<Identity> = Vec::new();
    let maps = request_map.into_iter().chain(event_maps.iter().copied());
    // Primary identities first, across maps.
    let mut primary = Vec::new();
    let mut others = Vec::new();
    for map in maps {
        for item in map.identities() {
            if item.namespace.eq_ignore_ascii_case("ECID")
                || item.item.state() == AuthenticatedState::LoggedOut
            {
                continue;
            }
            let identity = Identity::new(item.namespace, &item.item.id)
                .map_err(|e| format!("identityMap.{}: {e}", item.namespace))?;
            if item.item.is_primary() {
                primary.push(identity);
            } else {
                others.push(identity);
            }
        }
    }
    for identity in primary.into_iter().chain(others) {
        if !known.contains(&identity) {
            known.push(identity);
        }
    }
    Ok(Visitor {
        ecid,
        source,
        ecid_identity,
        known,
    })
}

/// The consent the request carries in the consent cookie (state entries first, then the
/// `Cookie` header), if any.
pub fn cookie_consent(
    names: &CookieNames,
    entries: &[StateEntry],
    cookie_header: Option<&str>,
) -> Option<General> {
    let name = names.consent();
    entry_value(entries, &name)
        .and_then(decode_consent)
        .or_else(|| {
            cookie_header
                .and_then(|h| header_value(h, &name))
                .and_then(decode_consent)
        })
}
