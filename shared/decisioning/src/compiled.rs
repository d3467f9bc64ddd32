//! Activities compiled at publish time: validated once, then stored as the typed [`Activity`]
//! in bincode (the model codec, with its version byte) instead of JSON text, so a request
//! decodes them without parsing JSON (which was most of a decision request's cost).
//!
//! The compiled bytes go into the model's [`CompiledActivity`] record with [`FORMAT`]; a reader
//! decodes only that format and compiles the activity from the catalog's JSON source when it
//! finds another (an older build's, or a newer one's), so a layout change never yields garbage.
//!
//! Offers carry arbitrary JSON (`data`), which bincode's serde bridge cannot decode (it needs a
//! self-describing format); it is encoded here as a small tagged tree instead.
//!
//! Decoding is allocation-bound (every string and map of an activity is its own allocation), and
//! a decision reads the offers of only the experience it picks. So each experience's offers stay
//! encoded in a compiled activity ([`Offers`]) and are decoded on first use: deciding 10 scopes
//! among 100 activities decodes about a fifth of the offers.

use std::fmt;
use std::ops::Deref;
use std::sync::OnceLock;

use bincode::de::Decoder;
use bincode::enc::Encoder;
use bincode::error::{DecodeError, EncodeError};
use bincode::{Decode, Encode};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Number, Value};
use vantage_model::catalog::CompiledActivity;
use vantage_model::codec::{self, CodecError, Stored};

use crate::model::{Activity, Offer};
use crate::validate::{InvalidActivity, parse_activity_value};

/// The compiled layout this build writes and reads. Bump it with any change to the encoding of
/// [`Activity`] and the types it holds (a test pins the bytes of a sample).
pub const FORMAT: u32 = 1;

/// Deepest JSON nesting decoded from an offer's `data` (ingest refuses deeper records long
/// before; this only stops corrupt bytes from recursing without bound).
const MAX_JSON_DEPTH: usize = 128;

impl Stored for Activity {}

/// Validates an activity definition (an `activity` record as JSON) and compiles it.
pub fn compile(definition: &Value) -> Result<Vec<u8>, InvalidActivity> {
    let activity = parse_activity_value(definition)?;
    Ok(encode(&activity))
}

/// The hook for `vantage_ingest::Options::compile_activity`: validates and compiles an active
/// activity record, or says everything wrong with it (which rejects the record).
pub fn compile_hook(definition: &Value) -> Result<(u32, Vec<u8>), String> {
    compile(definition)
        .map(|plan| (FORMAT, plan))
        .map_err(|e| e.to_string())
}

/// The compiled form of an activity.
pub fn encode(activity: &Activity) -> Vec<u8> {
    // Encoding an in-memory value into a Vec cannot fail.
    codec::encode(activity).unwrap_or_default()
}

/// Decodes a compiled form written in [`FORMAT`].
pub fn decode(plan: &[u8]) -> Result<Activity, CodecError> {
    codec::decode(plan)
}

/// Decodes a stored compiled activity, if it is an active one in this build's format.
pub fn decode_record(record: &CompiledActivity) -> Option<Result<Activity, CodecError>> {
    (record.format == FORMAT && record.status == vantage_model::catalog::DefinitionStatus::Active)
        .then(|| decode(&record.plan))
}

/// The offers of an experience: a slice of [`Offer`] (through `Deref`). Parsed from JSON they
/// are there at once; decoded from a compiled activity they stay encoded until first read.
///
/// Bytes that do not decode read as no offers. They got here inside a record whose codec version
/// and [`FORMAT`] were checked, so only a corrupt store could produce them, and then the
/// experience shows its fallback rather than anything misread.
#[derive(Default)]
pub struct Offers {
    decoded: OnceLock<Vec<Offer>>,
    encoded: Option<Box<[u8]>>,
}

impl Offers {
    fn encoded(bytes: Box<[u8]>) -> Offers {
        Offers {
            decoded: OnceLock::new(),
            encoded: Some(bytes),
        }
    }
}

impl From<Vec<Offer>> for Offers {
    fn from(offers: Vec<Offer>) -> Offers {
        Offers {
            decoded: OnceLock::from(offers),
            encoded: None,
        }
    }
}

impl FromIterator<Offer> for Offers {
    fn from_iter<I: IntoIterator<Item = Offer>>(iter: I) -> Offers {
        Offers::from(iter.into_iter().collect::<Vec<_>>())
    }
}

impl Deref for Offers {
    type Target = [Offer];

    fn deref(&self) -> &[Offer] {
        self.decoded.get_or_init(|| match &self.encoded {
            Some(bytes) => codec::decode_body(bytes).unwrap_or_default(),
            None => Vec::new(),
        })
    }
}

impl Clone for Offers {
    fn clone(&self) -> Offers {
        match (self.decoded.get(), &self.encoded) {
            (None, Some(bytes)) => Offers::encoded(bytes.clone()),
            _ => Offers::from(self.to_vec()),
        }
    }
}

impl PartialEq for Offers {
    fn eq(&self, other: &Offers) -> bool {
        **self == **other
    }
}

impl fmt::Debug for Offers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl Serialize for Offers {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Offers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<Offer>::deserialize(deserializer).map(Offers::from)
    }
}

impl Encode for Offers {
    fn encode<E: Encoder>(&self, e: &mut E) -> Result<(), EncodeError> {
        match (self.decoded.get(), &self.encoded) {
            (None, Some(bytes)) => bytes.encode(e),
            _ => {
                let bytes = bincode::encode_to_vec(&**self, bincode::config::standard())?;
                bytes.encode(e)
            }
        }
    }
}

impl<Context> Decode<Context> for Offers {
    fn decode<D: Decoder<Context = Context>>(d: &mut D) -> Result<Self, DecodeError> {
        let bytes: Vec<u8> = Decode::decode(d)?;
        Ok(Offers::encoded(bytes.into_boxed_slice()))
    }
}
bincode::impl_borrow_decode!(Offers);

impl Encode for Offer {
    fn encode<E: Encoder>(&self, e: &mut E) -> Result<(), EncodeError> {
        self.id.encode(e)?;
        self.name.encode(e)?;
        self.schema.encode(e)?;
        encode_json(&self.data, e)?;
        self.scope.encode(e)?;
        self.caps.encode(e)?;
        self.eligibility.encode(e)?;
        self.categories.encode(e)
    }
}

impl<Context> Decode<Context> for Offer {
    fn decode<D: Decoder<Context = Context>>(d: &mut D) -> Result<Self, DecodeError> {
        Ok(Offer {
            id: Decode::decode(d)?,
            name: Decode::decode(d)?,
            schema: Decode::decode(d)?,
            data: decode_json(d, 0)?,
            scope: Decode::decode(d)?,
            caps: Decode::decode(d)?,
            eligibility: Decode::decode(d)?,
            categories: Decode::decode(d)?,
        })
    }
}
bincode::impl_borrow_decode!(Offer);

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const UNSIGNED: u8 = 3;
const SIGNED: u8 = 4;
const FLOAT: u8 = 5;
const STRING: u8 = 6;
const ARRAY: u8 = 7;
const OBJECT: u8 = 8;

fn encode_json<E: Encoder>(v: &Value, e: &mut E) -> Result<(), EncodeError> {
    match v {
        Value::Null => NULL.encode(e),
        Value::Bool(false) => FALSE.encode(e),
        Value::Bool(true) => TRUE.encode(e),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                UNSIGNED.encode(e)?;
                u.encode(e)
            } else if let Some(i) = n.as_i64() {
                SIGNED.encode(e)?;
                i.encode(e)
            } else {
                FLOAT.encode(e)?;
                n.as_f64().unwrap_or_default().encode(e)
            }
        }
        Value::String(s) => {
            STRING.encode(e)?;
            s.encode(e)
        }
        Value::Array(items) => {
            ARRAY.encode(e)?;
            items.len().encode(e)?;
            items.iter().try_for_each(|x| encode_json(x, e))
        }
        Value::Object(map) => {
            OBJECT.encode(e)?;
            map.len().encode(e)?;
            map.iter().try_for_each(|(k, x)| {
                k.encode(e)?;
                encode_json(x, e)
            })
        }
    }
}

fn decode_json<D: Decoder>(d: &mut D, depth: usize) -> Result<Value, DecodeError> {
    if depth > MAX_JSON_DEPTH {
        return Err(DecodeError::Other("offer data nested too deeply"));
    }
    Ok(match u8::decode(d)? {
        NULL => Value::Null,
        FALSE => Value::Bool(false),
        TRUE => Value::Bool(true),
        UNSIGNED => Value::Number(u64::decode(d)?.into()),
        SIGNED => Value::Number(i64::decode(d)?.into()),
        FLOAT => Number::from_f64(f64::decode(d)?)
            .map(Value::Number)
            .ok_or(DecodeError::Other("non-finite number in offer data"))?,
        STRING => Value::String(String::decode(d)?),
        ARRAY => {
            let len = usize::decode(d)?;
            // Bounds the allocation by the decoder's limit, as bincode's own Vec does.
            d.claim_container_read::<Value>(len)?;
            let mut items = Vec::with_capacity(len);
            for _ in 0..len {
                d.unclaim_bytes_read(size_of::<Value>());
                items.push(decode_json(d, depth + 1)?);
            }
            Value::Array(items)
        }
        OBJECT => {
            let len = usize::decode(d)?;
            d.claim_container_read::<(String, Value)>(len)?;
            let mut map = Map::new();
            for _ in 0..len {
                d.unclaim_bytes_read(size_of::<(String, Value)>());
                let key = String::decode(d)?;
                map.insert(key, decode_json(d, depth + 1)?);
            }
            Value::Object(map)
        }
        tag => {
            return Err(DecodeError::UnexpectedVariant {
                type_name: "offer data",
                allowed: &bincode::error::AllowedEnumVariants::Range { min: 0, max: 8 },
                found: u32::from(tag),
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sample() -> Value {
        json!({"type": "activity", "id": "hero", "name": "Hero", "timestamp": "2026-12-01T10:00:00Z",
            "activityType": "xt", "priority": 3, "scopes": ["__view__", "web://shop.example/"],
            "audience": {"pql": "loyalty.tier = \"gold\""}, "exclusionGroup": "g", "holdout": 5,
            "startDate": "2026-11-01T00:00:00Z",
            "bucketing": {"scheme": "adobe-target", "client": "acme", "salt": "s", "version": 2},
            "experiences": [
                {"id": "0", "name": "A", "allocation": 50, "control": true, "audience": "vip", "offers": [
                    {"id": "o1", "schema": "https://ns.adobe.com/personalization/dom-action",
                     "data": {"type": "setHtml", "selector": "#hero", "content": "<p>é</p>",
                              "n": [1, -2, 2.5, true, null, {"deep": []}]},
                     "caps": [{"count": 3, "per": "day"}], "eligibility": "x = 1",
                     "categories": ["shoes"], "scope": "__view__"}]},
                {"id": "1", "allocation": 50, "offers": [
                    {"id": "o2", "schema": "https://ns.adobe.com/personalization/default-content-item"}]}],
            "fallbacks": {"__view__": {"id": "fb", "schema": "https://ns.adobe.com/personalization/json-content-item",
                "data": {"content": {"big": 18446744073709551615u64}}}},
            "conversionEventType": "commerce.purchases"})
    }

    #[test]
    fn round_trips_every_field() {
        let activity = parse_activity_value(&sample()).unwrap();
        let bytes = compile(&sample()).unwrap();
        assert_eq!(decode(&bytes).unwrap(), activity);
        let (format, plan) = compile_hook(&sample()).unwrap();
        assert_eq!((format, plan), (FORMAT, bytes));
    }

    #[test]
    fn offers_decode_on_first_use() {
        let bytes = compile(&sample()).unwrap();
        let a = decode(&bytes).unwrap();
        let e = &a.experiences[0];
        assert!(e.offers.decoded.get().is_none());
        // A clone of still-encoded offers stays encoded; re-encoding gives the same bytes.
        let copy = a.clone();
        assert!(copy.experiences[0].offers.decoded.get().is_none());
        assert_eq!(encode(&copy), bytes);
        assert_eq!(e.offers[0].id, "o1");
        assert_eq!(e.offers[0].data["n"][2], 2.5);
        assert!(e.offers.decoded.get().is_some());
        assert_eq!(encode(&a), bytes);
        assert_eq!(copy, a);
    }

    #[test]
    fn invalid_definitions_are_refused_with_their_problems() {
        let mut bad = sample();
        bad["bucketing"]["scheme"] = json!("nope");
        bad["experiences"][0]["offers"][0]["caps"] = json!([{"count": 3, "per": "fortnight"}]);
        let err = compile_hook(&bad).unwrap_err();
        assert!(err.contains("per"), "{err}");
    }

    /// Pins the layout: if this fails, the encoding of `Activity` changed, so bump [`FORMAT`]
    /// (stored compiled activities of the old layout are then recompiled from their source) and
    /// update the expected fingerprint.
    #[test]
    fn the_layout_is_pinned_to_the_format() {
        let bytes = compile(&sample()).unwrap();
        let fingerprint = vantage_model::catalog::source_fingerprint(
            &bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        );
        assert_eq!(
            (FORMAT, bytes.len(), fingerprint),
            (1, 530, 1_972_073_232_471_831_806),
            "the compiled layout changed: bump FORMAT"
        );
    }

    #[test]
    fn garbage_and_other_formats_are_errors() {
        let bytes = compile(&sample()).unwrap();
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
        // Any byte set to 0xff: an error or some other value, never a panic.
        let mut wrong_tag = bytes.clone();
        for i in 1..wrong_tag.len() {
            let keep = wrong_tag[i];
            wrong_tag[i] = 0xff;
            let _ = decode(&wrong_tag);
            wrong_tag[i] = keep;
        }
        assert!(matches!(
            decode(&[99, 1, 2]),
            Err(CodecError::UnknownVersion(99))
        ));
        let record = CompiledActivity {
            id: "hero".into(),
            etag: 1,
            source: 0,
            status: vantage_model::catalog::DefinitionStatus::Active,
            format: FORMAT + 1,
            plan: bytes,
        };
        assert!(decode_record(&record).is_none());
    }

    #[test]
    fn deep_data_is_bounded() {
        let mut data = json!(1);
        for _ in 0..200 {
            data = json!([data]);
        }
        let mut v = sample();
        v["experiences"][0]["offers"][0]["data"]["deep"] = data;
        // Validation allows it (ingest's depth limit is what stops such records); the compiled
        // offers refuse to decode past MAX_JSON_DEPTH, so they read as none.
        if let Ok(bytes) = compile(&v) {
            let a = decode(&bytes).unwrap();
            assert!(a.experiences[0].offers.is_empty());
            assert_eq!(a.experiences[1].offers.len(), 1);
        }
    }
}
