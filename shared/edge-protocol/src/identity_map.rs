//! XDM `identityMap`: namespace code → identity items, in the order the client wrote them
//! (order decides the primary identity when several are marked). Items are typed strictly
//! (`id` a string, `primary` a bool, `authenticatedState` one of alloy's three values), because
//! alloy validates them the same way before sending; unknown item keys are kept.
//! Namespace and id canonicalisation (case rules, hashing formats) belong to the data model and
//! are not repeated here.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::ecid::{ECID_NAMESPACE, Ecid};

/// `authenticatedState` of an identity item.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AuthenticatedState {
    /// The default: nothing is known about the login.
    #[default]
    Ambiguous,
    /// The visitor is logged in as this identity.
    Authenticated,
    /// The visitor logged out of this identity.
    LoggedOut,
}

/// One identity item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityItem {
    /// The id in its namespace.
    pub id: String,
    /// Login state; absent means [`AuthenticatedState::Ambiguous`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticated_state: Option<AuthenticatedState>,
    /// Whether the client marks this the primary identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
    /// Other keys (`namespace.code`, `xid`, …), kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl IdentityItem {
    /// An item with only an id.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            authenticated_state: None,
            primary: None,
            extra: Map::new(),
        }
    }

    /// The login state, defaulted.
    pub fn state(&self) -> AuthenticatedState {
        self.authenticated_state.unwrap_or_default()
    }

    /// Whether the item is explicitly marked primary.
    pub fn is_primary(&self) -> bool {
        self.primary == Some(true)
    }
}

/// One `(namespace, item)` pair of an [`IdentityMap`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IdentityRef<'a> {
    /// The namespace code as sent.
    pub namespace: &'a str,
    /// The item.
    pub item: &'a IdentityItem,
}

/// An `identityMap`, namespaces in document order (a repeated namespace key appends its items).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IdentityMap {
    entries: Vec<(String, Vec<IdentityItem>)>,
}

impl IdentityMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `item` under `namespace`.
    pub fn push(&mut self, namespace: &str, item: IdentityItem) {
        match self.entries.iter_mut().find(|(ns, _)| ns == namespace) {
            Some((_, items)) => items.push(item),
            None => self.entries.push((namespace.to_owned(), vec![item])),
        }
    }

    /// The namespaces and their items, in document order.
    pub fn namespaces(&self) -> impl Iterator<Item = (&str, &[IdentityItem])> {
        self.entries
            .iter()
            .map(|(ns, items)| (ns.as_str(), items.as_slice()))
    }

    /// The items of `namespace` (exact code).
    pub fn get(&self, namespace: &str) -> &[IdentityItem] {
        self.entries
            .iter()
            .find(|(ns, _)| ns == namespace)
            .map_or(&[], |(_, items)| items.as_slice())
    }

    /// Every identity, flattened in document order.
    pub fn identities(&self) -> impl Iterator<Item = IdentityRef<'_>> {
        self.entries.iter().flat_map(|(ns, items)| {
            items.iter().map(move |item| IdentityRef {
                namespace: ns.as_str(),
                item,
            })
        })
    }

    /// Number of identity items.
    pub fn len(&self) -> usize {
        self.entries.iter().map(|(_, items)| items.len()).sum()
    }

    /// Whether the map holds no item.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The primary identity, by the platform's rule: the first item marked `primary: true`;
    /// failing that the first well-formed ECID (the default primary); failing that the first
    /// `authenticated` item; failing that the first item.
    pub fn primary(&self) -> Option<IdentityRef<'_>> {
        self.identities()
            .find(|r| r.item.is_primary())
            .or_else(|| {
                self.identities().find(|r| {
                    r.namespace.eq_ignore_ascii_case(ECID_NAMESPACE)
                        && crate::ecid::is_valid(&r.item.id)
                })
            })
            .or_else(|| {
                self.identities()
                    .find(|r| r.item.state() == AuthenticatedState::Authenticated)
            })
            .or_else(|| self.identities().next())
    }

    /// The first well-formed ECID (namespace code compared case-insensitively).
    pub fn ecid(&self) -> Option<Ecid> {
        self.identities()
            .filter(|r| r.namespace.eq_ignore_ascii_case(ECID_NAMESPACE))
            .find_map(|r| Ecid::parse(&r.item.id).ok())
    }

    /// Every identity except ECIDs: the ones that may name a profile the hub projected
    /// (first-login personalization), authenticated ones first, then in document order.
    pub fn known_identities(&self) -> Vec<IdentityRef<'_>> {
        let mut out: Vec<_> = self
            .identities()
            .filter(|r| !r.namespace.eq_ignore_ascii_case(ECID_NAMESPACE))
            .filter(|r| !r.item.id.is_empty())
            .collect();
        out.sort_by_key(|r| r.item.state() != AuthenticatedState::Authenticated);
        out
    }
}

impl Serialize for IdentityMap {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (ns, items) in &self.entries {
            map.serialize_entry(ns, items)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for IdentityMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor;

        impl<'de> Visitor<'de> for MapVisitor {
            type Value = IdentityMap;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of namespace codes to arrays of identity items")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<IdentityMap, A::Error> {
                let mut map = IdentityMap::new();
                while let Some(ns) = access.next_key::<String>()? {
                    let items: Vec<IdentityItem> = access.next_value()?;
                    for item in items {
                        map.push(&ns, item);
                    }
                }
                Ok(map)
            }
        }

        deserializer.deserialize_map(MapVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// §3.2 of the protocol reference.
    const DOC_MAP: &str = r#"{ "Email_LC_SHA256": [ {"id": "0c7e…", "authenticatedState": "authenticated", "primary": true} ],
                 "ECID": [ {"id": "12345678901234567890123456789012345678"} ] }"#;

    #[test]
    fn parses_the_reference_example_in_order() {
        let map: IdentityMap = serde_json::from_str(DOC_MAP).unwrap();
        let namespaces: Vec<_> = map.namespaces().map(|(ns, _)| ns).collect();
        assert_eq!(namespaces, ["Email_LC_SHA256", "ECID"]);
        let primary = map.primary().unwrap();
        assert_eq!(primary.namespace, "Email_LC_SHA256");
        assert_eq!(primary.item.state(), AuthenticatedState::Authenticated);
        assert_eq!(
            map.ecid().unwrap().as_str(),
            "12345678901234567890123456789012345678"
        );
        assert_eq!(map.known_identities().len(), 1);
        let back = serde_json::to_value(&map).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(DOC_MAP).unwrap());
    }

    #[test]
    fn primary_falls_back_to_ecid_then_authenticated_then_first() {
        let parse = |s: &str| serde_json::from_str::<IdentityMap>(s).unwrap();
        let map = parse(
            r#"{"CRMID":[{"id":"c1"}],"ecid":[{"id":"12345678901234567890123456789012345678"}]}"#,
        );
        assert_eq!(map.primary().unwrap().namespace, "ecid");
        let map =
            parse(r#"{"A":[{"id":"a"}],"B":[{"id":"b","authenticatedState":"authenticated"}]}"#);
        assert_eq!(map.primary().unwrap().namespace, "B");
        let map = parse(
            r#"{"A":[{"id":"a"},{"id":"a2","primary":true}],"B":[{"id":"b","primary":true}]}"#,
        );
        assert_eq!(map.primary().unwrap().item.id, "a2");
        let map = parse(r#"{"A":[{"id":"a","authenticatedState":"loggedOut"}]}"#);
        assert_eq!(map.primary().unwrap().item.id, "a");
        assert!(parse("{}").primary().is_none());
        assert!(parse(r#"{"A":[]}"#).is_empty());
    }

    #[test]
    fn keeps_unknown_item_keys_and_merges_repeated_namespaces() {
        let map: IdentityMap = serde_json::from_str(
            r#"{"X":[{"id":"1","xid":"x1","namespace":{"code":"X"}}],"X":[{"id":"2"}]}"#,
        )
        .unwrap();
        assert_eq!(map.get("X").len(), 2);
        assert_eq!(map.get("X")[0].extra["xid"], "x1");
    }

    #[test]
    fn refuses_mistyped_items() {
        for bad in [
            r#"{"A":{"id":"a"}}"#,
            r#"{"A":[{"id":1}]}"#,
            r#"{"A":[{}]}"#,
            r#"{"A":[{"id":"a","primary":"yes"}]}"#,
            r#"{"A":[{"id":"a","authenticatedState":"maybe"}]}"#,
            r#"[]"#,
        ] {
            assert!(serde_json::from_str::<IdentityMap>(bad).is_err(), "{bad}");
        }
    }
}
