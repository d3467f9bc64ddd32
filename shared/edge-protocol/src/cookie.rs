//! The `kndctr_<org>_*` cookies alloy keeps for the edge: their names, the identity cookie
//! (base64 of a protobuf whose field 1 is the ECID), the consent cookie (`general=in|out`), the
//! cluster cookie (location hint), and reading them from `meta.state.entries` or a `Cookie`
//! header (alloy sends one, the other or both; §0 item 10 of the protocol reference).

use crate::base64;
use crate::consent::General;
use crate::ecid::Ecid;
use crate::protobuf;
use crate::request::StateEntry;
use crate::response::{SameSite, StoreEntry};

/// `maxAge` of the identity cookie, seconds (395 days, as Adobe sets it).
pub const IDENTITY_MAX_AGE: u64 = 34_128_000;
/// `maxAge` of the consent cookie, seconds (180 days). The reference gives no figure; consent
/// is re-asked by CMPs on roughly this cycle, and alloy drops it with the identity anyway.
pub const CONSENT_MAX_AGE: u64 = 15_552_000;
/// `maxAge` of the cluster (location hint) cookie, seconds (30 minutes, as Adobe sets it).
pub const CLUSTER_MAX_AGE: u64 = 1_800;
/// Longest cookie value read, bytes: real ones are well under 200, and this bounds the decode work.
pub const MAX_COOKIE_VALUE_LEN: usize = 4096;

/// The cookie names of one organization: `kndctr_` + org id with its first `@` replaced by
/// `_` (alloy uses JavaScript's `String.replace`, which replaces only the first match) + `_`
/// + key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieNames {
    prefix: String,
}

impl CookieNames {
    /// Names for `org_id`, e.g. `ABCDEF0123456789ABCDEF01@AdobeOrg`.
    pub fn new(org_id: &str) -> Self {
        Self {
            prefix: format!("kndctr_{}_", org_id.replacen('@', "_", 1)),
        }
    }

    /// `kndctr_<org>_` (alloy transfers every cookie with this prefix into `meta.state`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `kndctr_<org>_<key>`.
    pub fn named(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// `kndctr_<org>_identity`.
    pub fn identity(&self) -> String {
        self.named("identity")
    }

    /// `kndctr_<org>_consent`.
    pub fn consent(&self) -> String {
        self.named("consent")
    }

    /// `kndctr_<org>_cluster`.
    pub fn cluster(&self) -> String {
        self.named("cluster")
    }

    /// The `state:store` entry that sets the identity cookie.
    pub fn identity_entry(&self, ecid: &Ecid, same_site: Option<SameSite>) -> StoreEntry {
        StoreEntry::new(
            self.identity(),
            encode_identity(ecid),
            IDENTITY_MAX_AGE,
            same_site,
        )
    }

    /// The `state:store` entry that sets the consent cookie.
    pub fn consent_entry(&self, general: General, same_site: Option<SameSite>) -> StoreEntry {
        StoreEntry::new(
            self.consent(),
            encode_consent(general),
            CONSENT_MAX_AGE,
            same_site,
        )
    }

    /// The `state:store` entry that sets the cluster cookie, after which alloy sends requests
    /// to `/ee/<hint>/v1/...`.
    pub fn cluster_entry(&self, hint: &str, same_site: Option<SameSite>) -> StoreEntry {
        StoreEntry::new(self.cluster(), hint.to_owned(), CLUSTER_MAX_AGE, same_site)
    }
}

/// The identity cookie value: standard padded base64 of `0x0A len ecid`.
pub fn encode_identity(ecid: &Ecid) -> String {
    base64::encode(&protobuf::encode_bytes_field(1, ecid.as_str().as_bytes()))
}

/// The ECID in an identity cookie value, decoded the way alloy does (percent-decoding, `_`→`/`
/// and `-`→`+`, base64, protobuf field 1), tolerating other fields. `None` for anything that
/// is not a well-formed message whose field 1 is a well-formed ECID.
pub fn decode_identity(value: &str) -> Option<Ecid> {
    if value.len() > MAX_COOKIE_VALUE_LEN {
        return None;
    }
    let text = percent_decode(value.trim().trim_matches('"'))?;
    let bytes = base64::decode(&text)?;
    let field = protobuf::last_bytes_field(&bytes, 1)?;
    Ecid::parse(std::str::from_utf8(field).ok()?).ok()
}

/// The consent cookie value alloy reads: `general=in` or `general=out`.
pub fn encode_consent(general: General) -> String {
    format!("general={}", general.as_str())
}

/// The `general` consent in a consent cookie value (`a=b;c=d`; the last `general` wins).
/// `None` if absent or neither `in` nor `out`.
pub fn decode_consent(value: &str) -> Option<General> {
    if value.len() > MAX_COOKIE_VALUE_LEN {
        return None;
    }
    let text = percent_decode(value.trim().trim_matches('"'))?;
    text.split(';')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(k, _)| k.trim() == "general")
        .map(|(_, v)| General::parse(v.trim()))
        .next_back()
        .flatten()
}

/// The value of cookie `name` in a `Cookie` request header (`a=b; c=d`), first match.
pub fn header_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k.trim() == name).then(|| v.trim())
    })
}

/// The value of `name` among `meta.state.entries`, first match.
pub fn entry_value<'a>(entries: &'a [StateEntry], name: &str) -> Option<&'a str> {
    entries
        .iter()
        .find(|e| e.key == name)
        .map(|e| e.value.as_str())
}

/// `decodeURIComponent`, except that a malformed escape fails instead of throwing.
fn percent_decode(text: &str) -> Option<String> {
    if !text.contains('%') {
        return Some(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: &str = "ABCDEF0123456789ABCDEF01@AdobeOrg";
    /// §2.1 / §2.3 of the protocol reference.
    const DOC_ECID: &str = "12345678901234567890123456789012345678";
    const DOC_COOKIE: &str = "CiYxMjM0NTY3ODkwMTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3OA==";

    #[test]
    fn names_follow_alloy() {
        let names = CookieNames::new(ORG);
        assert_eq!(
            names.identity(),
            "kndctr_ABCDEF0123456789ABCDEF01_AdobeOrg_identity"
        );
        assert_eq!(
            names.consent(),
            "kndctr_ABCDEF0123456789ABCDEF01_AdobeOrg_consent"
        );
        assert_eq!(
            names.cluster(),
            "kndctr_ABCDEF0123456789ABCDEF01_AdobeOrg_cluster"
        );
        assert_eq!(
            CookieNames::new("a@b@c").identity(),
            "kndctr_a_b@c_identity"
        );
    }

    #[test]
    fn identity_cookie_matches_the_reference_vector() {
        let ecid = Ecid::parse(DOC_ECID).unwrap();
        assert_eq!(encode_identity(&ecid), DOC_COOKIE);
        assert_eq!(decode_identity(DOC_COOKIE), Some(ecid.clone()));
        // What a cookie jar or proxy may hand back instead.
        let url_safe = DOC_COOKIE.replace('/', "_").replace('+', "-");
        assert_eq!(decode_identity(&url_safe), Some(ecid.clone()));
        assert_eq!(
            decode_identity(DOC_COOKIE.trim_end_matches('=')),
            Some(ecid.clone())
        );
        assert_eq!(
            decode_identity(&DOC_COOKIE.replace('=', "%3D")),
            Some(ecid.clone())
        );
        assert_eq!(decode_identity(&format!("\"{DOC_COOKIE}\"")), Some(ecid));
    }

    #[test]
    fn identity_cookie_with_adobe_metadata_fields_still_decodes() {
        let mut msg = protobuf::encode_bytes_field(1, DOC_ECID.as_bytes());
        msg.extend(protobuf::encode_bytes_field(10, b"\x08\x01\x10\x02"));
        msg.extend([0xa0, 0x01, 0x96, 0x01]); // field 20 varint
        msg.extend([0xf0, 0x01, 0x01]); // field 30 varint
        assert_eq!(
            decode_identity(&base64::encode(&msg)).map(|e| e.to_string()),
            Some(DOC_ECID.to_owned())
        );
    }

    #[test]
    fn garbage_identity_cookies_decode_to_none() {
        let not_an_ecid = base64::encode(&protobuf::encode_bytes_field(1, b"hello"));
        let bad_utf8 = base64::encode(&protobuf::encode_bytes_field(1, &[0xff; 38]));
        let long = "A".repeat(MAX_COOKIE_VALUE_LEN + 4);
        for bad in [
            "",
            "!!!",
            "%",
            "%zz",
            "CiY",
            &DOC_COOKIE[..20],
            &not_an_ecid,
            &bad_utf8,
            &long,
        ] {
            assert_eq!(decode_identity(bad), None, "{bad}");
        }
    }

    #[test]
    fn consent_cookie_round_trips() {
        assert_eq!(encode_consent(General::In), "general=in");
        assert_eq!(encode_consent(General::Out), "general=out");
        assert_eq!(decode_consent("general=in"), Some(General::In));
        assert_eq!(decode_consent("a=b; general=out"), Some(General::Out));
        assert_eq!(decode_consent("general%3Din"), Some(General::In));
        assert_eq!(decode_consent("general=pending"), None);
        assert_eq!(decode_consent("garbage"), None);
    }

    #[test]
    fn reads_cookies_from_headers_and_state_entries() {
        let names = CookieNames::new(ORG);
        let header = format!("other=1; {}={DOC_COOKIE} ;x=y", names.identity());
        assert_eq!(header_value(&header, &names.identity()), Some(DOC_COOKIE));
        assert_eq!(header_value(&header, "x"), Some("y"));
        assert_eq!(header_value(&header, "missing"), None);
        assert_eq!(header_value("", "x"), None);
        let entries = vec![StateEntry {
            key: names.identity(),
            value: DOC_COOKIE.to_owned(),
            extra: Default::default(),
        }];
        assert_eq!(entry_value(&entries, &names.identity()), Some(DOC_COOKIE));
        assert_eq!(entry_value(&entries, &names.consent()), None);
    }

    #[test]
    fn store_entries_carry_the_reference_max_ages() {
        let names = CookieNames::new(ORG);
        let ecid = Ecid::parse(DOC_ECID).unwrap();
        let entry = names.identity_entry(&ecid, Some(SameSite::None));
        assert_eq!(
            serde_json::to_value(&entry).unwrap(),
            serde_json::json!({"key": names.identity(), "value": DOC_COOKIE,
                "maxAge": 34_128_000, "attrs": {"SameSite": "None"}})
        );
        let cluster = names.cluster_entry("or2", None);
        assert_eq!(
            serde_json::to_value(&cluster).unwrap(),
            serde_json::json!({"key": names.cluster(), "value": "or2", "maxAge": 1800})
        );
        assert_eq!(names.consent_entry(General::Out, None).value, "general=out");
    }
}
