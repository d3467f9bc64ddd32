//! Identities as the hub names them (`ECID`, `CRMID`, `Email_LC_SHA256`, …) and the case rules
//! that make two spellings of the same identity one key.
//!
//! # Case rules
//!
//! * **Namespace codes** compare case-insensitively. A known code is stored in its canonical
//!   spelling ([`KNOWN_NAMESPACES`]: `ecid` → `ECID`, `email_lc_sha256` → `Email_LC_SHA256`); any
//!   other code is stored lower-cased. Codes are 1–64 characters of `A–Z a–z 0–9 _ . -`, so a code
//!   never contains the `/` that separates it from the id in keys.
//! * **Ids** are case-sensitive and kept byte for byte (1–512 bytes, no control characters),
//!   except where the namespace says otherwise:
//!   `ECID` is 1–38 ASCII digits; `Email` is trimmed and lower-cased (Unicode) and must contain
//!   `@`; the hashed namespaces (`*_SHA256`) are 64 hex digits, stored lower-case.

use bincode::{Decode, Encode};

/// Known namespace codes in their canonical spelling.
pub const KNOWN_NAMESPACES: &[&str] = &[
    "AACUSTOMID",
    "AAID",
    "CORE",
    "CRMID",
    "ECID",
    "Email",
    "Email_LC_SHA256",
    "FPID",
    "GAID",
    "IDFA",
    "Phone",
    "Phone_E.164",
    "Phone_SHA256",
    "Phone_SHA256_E.164",
    "TNTID",
];

/// Longest namespace code accepted.
pub const MAX_NAMESPACE_LEN: usize = 64;
/// Longest id accepted, in bytes: ids end up inside store keys.
pub const MAX_ID_LEN: usize = 512;

/// Why an identity was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The namespace code is empty, too long, or has characters outside `A–Z a–z 0–9 _ . -`.
    #[error("namespace code must be 1-{MAX_NAMESPACE_LEN} characters of A-Z a-z 0-9 _ . -")]
    Namespace,
    /// The id is empty, too long, or contains control characters.
    #[error("id must be 1-{MAX_ID_LEN} bytes without control characters")]
    Id,
    /// The id does not have the form its namespace requires.
    #[error("{namespace} id {reason}")]
    Format {
        /// The canonical namespace.
        namespace: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

/// One identity: a canonical namespace code and a normalised id. Built only through
/// [`Identity::new`], so two equal identities are always the same key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct Identity {
    namespace: String,
    id: String,
}

impl Identity {
    /// Canonicalises and validates `namespace` and `id` by the rules in the module docs.
    pub fn new(namespace: &str, id: &str) -> Result<Self, IdentityError> {
        let namespace = canonical_namespace(namespace)?;
        let id = normalise_id(&namespace, id)?;
        Ok(Self { namespace, id })
    }

    /// The canonical namespace code.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The normalised id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.id)
    }
}

/// The canonical spelling of a namespace code.
pub fn canonical_namespace(code: &str) -> Result<String, IdentityError> {
    let valid = !code.is_empty()
        && code.len() <= MAX_NAMESPACE_LEN
        && code
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if !valid {
        return Err(IdentityError::Namespace);
    }
    Ok(KNOWN_NAMESPACES
        .iter()
        .find(|known| known.eq_ignore_ascii_case(code))
        .map_or_else(|| code.to_ascii_lowercase(), |known| (*known).to_owned()))
}

fn normalise_id(namespace: &str, id: &str) -> Result<String, IdentityError> {
    let known = KNOWN_NAMESPACES.iter().copied().find(|k| *k == namespace);
    let id = match known {
        Some("ECID") => {
            if id.is_empty() || id.len() > 38 || !id.bytes().all(|c| c.is_ascii_digit()) {
                return Err(IdentityError::Format {
                    namespace: "ECID",
                    reason: "must be 1-38 digits",
                });
            }
            id.to_owned()
        }
        Some("Email") => {
            let id = id.trim().to_lowercase();
            if !id.contains('@') {
                return Err(IdentityError::Format {
                    namespace: "Email",
                    reason: "must contain @",
                });
            }
            id
        }
        Some(ns @ ("Email_LC_SHA256" | "Phone_SHA256" | "Phone_SHA256_E.164")) => {
            if id.len() != 64 || !id.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(IdentityError::Format {
                    namespace: ns,
                    reason: "must be a SHA-256 digest in 64 hex digits",
                });
            }
            id.to_ascii_lowercase()
        }
        _ => id.to_owned(),
    };
    if id.is_empty() || id.len() > MAX_ID_LEN || id.chars().any(char::is_control) {
        return Err(IdentityError::Id);
    }
    Ok(id)
}

/// Most identities read from one XDM identity map.
pub const MAX_MAP_IDENTITIES: usize = 32;

/// Why an XDM identity map could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityMapError {
    /// The map names no identity at all.
    #[error("no identity")]
    Empty,
    /// The map is not `{namespace: [{id, primary?}, …]}`, or an id breaks its namespace's rules.
    #[error("{0}")]
    Invalid(String),
}

/// The identities of an XDM identity map (`{namespace: [{"id": …, "primary": true?}, …]}`),
/// primary first, then in map order; ids validated and normalised by [`Identity::new`].
pub fn from_identity_map(map: &serde_json::Value) -> Result<Vec<Identity>, IdentityMapError> {
    use serde_json::Value;
    let bad = IdentityMapError::Invalid;
    let Value::Object(namespaces) = map else {
        return Err(bad("expected an object of namespace → [{\"id\": …}]".into()));
    };
    let mut primary = Vec::new();
    let mut rest = Vec::new();
    for (namespace, items) in namespaces {
        let Value::Array(items) = items else {
            return Err(bad(format!("{namespace}: expected an array")));
        };
        for item in items {
            let id = item
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("{namespace}: every item needs a string \"id\"")))?;
            let identity =
                Identity::new(namespace, id).map_err(|e| bad(format!("{namespace}: {e}")))?;
            if item.get("primary").and_then(Value::as_bool) == Some(true) {
                primary.push(identity);
            } else {
                rest.push(identity);
            }
        }
    }
    primary.extend(rest);
    if primary.is_empty() {
        return Err(IdentityMapError::Empty);
    }
    if primary.len() > MAX_MAP_IDENTITIES {
        return Err(bad(format!(
            "{} identities, over the limit of {MAX_MAP_IDENTITIES}",
            primary.len()
        )));
    }
    Ok(primary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_compare_case_insensitively() {
        let a = Identity::new("crmid", "c-42").unwrap();
        let b = Identity::new("CrmId", "c-42").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.namespace(), "CRMID");
        assert_eq!(
            Identity::new("email_lc_sha256", &"AB".repeat(32)).unwrap(),
            Identity::new("Email_LC_SHA256", &"ab".repeat(32)).unwrap()
        );
        assert_eq!(
            Identity::new("LoyaltyId", "x").unwrap().namespace(),
            "loyaltyid"
        );
    }

    #[test]
    fn ids_are_case_sensitive_unless_the_namespace_says_otherwise() {
        assert_ne!(
            Identity::new("CRMID", "Abc").unwrap(),
            Identity::new("CRMID", "abc").unwrap()
        );
        assert_eq!(
            Identity::new("Email", " Ada@Example.COM ").unwrap().id(),
            "ada@example.com"
        );
        assert_eq!(
            Identity::new("CRMID", "a/b~c").unwrap().to_string(),
            "CRMID/a/b~c"
        );
    }

    #[test]
    fn refuses_malformed_identities() {
        assert_eq!(Identity::new("", "x"), Err(IdentityError::Namespace));
        assert_eq!(Identity::new("a/b", "x"), Err(IdentityError::Namespace));
        assert_eq!(Identity::new("CRMID", ""), Err(IdentityError::Id));
        assert_eq!(Identity::new("CRMID", "a\nb"), Err(IdentityError::Id));
        assert_eq!(
            Identity::new("CRMID", &"x".repeat(MAX_ID_LEN + 1)),
            Err(IdentityError::Id)
        );
        assert!(matches!(
            Identity::new("ECID", "12ab"),
            Err(IdentityError::Format { .. })
        ));
        assert!(matches!(
            Identity::new("Email", "nobody"),
            Err(IdentityError::Format { .. })
        ));
        assert!(matches!(
            Identity::new("Phone_SHA256", "abc"),
            Err(IdentityError::Format { .. })
        ));
        assert!(Identity::new("ECID", &"1".repeat(38)).is_ok());
    }

    #[test]
    fn identity_maps() {
        use serde_json::json;
        let ids = from_identity_map(&json!({
            "CRMID": [{"id": "c-1"}],
            "ECID": [{"id": "1".repeat(38), "primary": true}]
        }))
        .unwrap();
        assert_eq!(ids[0].namespace(), "ECID");
        assert_eq!(ids[1].id(), "c-1");
        assert_eq!(from_identity_map(&json!({})), Err(IdentityMapError::Empty));
        assert!(matches!(
            from_identity_map(&json!({"ECID": "x"})),
            Err(IdentityMapError::Invalid(_))
        ));
        assert!(matches!(
            from_identity_map(&json!(null)),
            Err(IdentityMapError::Invalid(_))
        ));
        let many: Vec<_> = (0..=MAX_MAP_IDENTITIES)
            .map(|i| json!({"id": format!("c-{i}")}))
            .collect();
        assert!(matches!(
            from_identity_map(&json!({"CRMID": many})),
            Err(IdentityMapError::Invalid(_))
        ));
    }
}
