//! The activity model: what `projection` publishes as `activity` records and what the engine
//! decides from. Field names are the wire contract (DESIGN.md, "Activity records"); this module
//! only describes shapes, and [`crate::validate`] says whether an activity makes sense.
//!
//! The types also encode with bincode: the compiled form stored at publish time
//! ([`crate::compiled`]). Any change to a field (added, removed, reordered, retyped) changes
//! that layout: bump [`crate::compiled::FORMAT`] with it (a test pins the layout).

use std::collections::BTreeMap;
use std::fmt;

use bincode::{Decode, Encode};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use vantage_bucketing::{Scheme, UnknownScheme};

pub use crate::compiled::Offers;

/// An activity: a campaign that answers some decision scopes with offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Encode, Decode)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    /// Stable id; also hashed into the bucket. Integers are accepted and kept as text.
    #[serde(deserialize_with = "string_or_integer")]
    pub id: String,
    /// Human-readable name, reported in explanations and item `meta`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// When the hub published this version (RFC 3339); projection orders records by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// A/B test, experience targeting or recommendation.
    pub activity_type: ActivityType,
    /// Lifecycle; only `active` activities are decided.
    #[serde(default)]
    pub status: Status,
    /// First moment the activity is live (RFC 3339); none means already started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// Moment the activity stops (RFC 3339, exclusive); none means open-ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    /// Higher wins when activities compete for a scope or an exclusion group.
    #[serde(default)]
    pub priority: i64,
    /// The decision scopes it answers: `__view__`, page surfaces `web://host/path`, named scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Entry condition; `null` lets everyone in.
    #[serde(default)]
    pub audience: Option<Audience>,
    /// Activities sharing a group are mutually exclusive: a visitor gets at most one of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusion_group: Option<String>,
    /// Percentage of entrants held out of every experience (they see default content and
    /// serve as the control for lift).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub holdout: f64,
    /// How visitors are split between experiences.
    #[serde(default)]
    pub bucketing: Bucketing,
    /// The experiences, in allocation order.
    #[serde(default)]
    pub experiences: Vec<Experience>,
    /// Per scope, the offer to show when the chosen experience has nothing eligible for it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fallbacks: BTreeMap<String, Offer>,
    /// Event type counted as a conversion in reports (e.g. `commerce.purchases`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion_event_type: Option<String>,
    /// In a `recommendation`, how many ranked offers a proposition carries (default
    /// [`DEFAULT_MAX_ITEMS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u32>,
}

/// Offers per recommendation proposition when `maxItems` is absent.
pub const DEFAULT_MAX_ITEMS: u32 = 5;

/// The experience id reported for visitors held out of an activity (reserved: no experience
/// may use it).
pub const HOLDOUT_EXPERIENCE_ID: &str = "holdout";

/// Field names of [`Activity`] on the wire, plus the record's `type`; anything else is reported.
pub(crate) const ACTIVITY_FIELDS: &[&str] = &[
    "type",
    "id",
    "name",
    "timestamp",
    "activityType",
    "status",
    "startDate",
    "endDate",
    "priority",
    "scopes",
    "audience",
    "exclusionGroup",
    "holdout",
    "bucketing",
    "experiences",
    "fallbacks",
    "conversionEventType",
    "maxItems",
];

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

/// What kind of decision an activity makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode)]
#[serde(rename_all = "lowercase")]
pub enum ActivityType {
    /// A/B/n test: visitors are split by allocation.
    Ab,
    /// Experience targeting: the first experience whose audience matches wins.
    Xt,
    /// Offers ranked by the profile's category affinity and recent views.
    Recommendation,
}

/// Lifecycle state of an activity.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode,
)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being decided (within its date window).
    #[default]
    Active,
    /// Temporarily off; assignments are kept.
    Paused,
    /// Being edited; never decided.
    Draft,
    /// Gone for good; a `retired` record removes the activity from the catalog.
    Retired,
}

/// Who an activity or experience is for: a published segment, or an inline PQL condition.
///
/// On the wire a plain string that looks like an id (ASCII letters, digits, `_ - . :`) is a
/// segment id and any other string is PQL; `{"segment": "<id>"}` and `{"pql": "<text>"}` say it
/// explicitly. It is written back as a plain string for a segment and `{"pql": …}` for PQL. PQL
/// is kept as text here; the PQL crate parses it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Encode, Decode)]
pub enum Audience {
    /// Members of the segment with this id.
    Segment(String),
    /// Profiles for which this PQL expression is true.
    Pql(String),
}

impl Audience {
    /// Reads a bare string the way the wire format does (see the type docs).
    pub fn from_text(text: &str) -> Audience {
        if is_segment_id(text) {
            Audience::Segment(text.to_owned())
        } else {
            Audience::Pql(text.to_owned())
        }
    }
}

/// Whether a string can be a segment id (and so is read as one when bare). `true` and `false`
/// are PQL literals, not ids.
pub fn is_segment_id(s: &str) -> bool {
    !s.is_empty()
        && s != "true"
        && s != "false"
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

impl Serialize for Audience {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Audience::Segment(id) if is_segment_id(id) => serializer.serialize_str(id),
            Audience::Segment(id) => single_entry(serializer, "segment", id),
            Audience::Pql(text) => single_entry(serializer, "pql", text),
        }
    }
}

fn single_entry<S: Serializer>(serializer: S, key: &str, value: &str) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = serializer.serialize_map(Some(1))?;
    map.serialize_entry(key, value)?;
    map.end()
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        const EXPECTED: &str =
            r#"an audience: a segment id, {"segment": "<id>"} or {"pql": "<expression>"}"#;
        match Value::deserialize(deserializer)? {
            Value::String(text) => Ok(Audience::from_text(&text)),
            Value::Object(map) if map.len() == 1 => match map.into_iter().next() {
                Some((key, Value::String(v))) if key == "segment" => Ok(Audience::Segment(v)),
                Some((key, Value::String(v))) if key == "pql" => Ok(Audience::Pql(v)),
                _ => Err(D::Error::custom(format!("expected {EXPECTED}"))),
            },
            _ => Err(D::Error::custom(format!("expected {EXPECTED}"))),
        }
    }
}

/// How an activity buckets visitors (see `vantage-bucketing`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct Bucketing {
    /// Scheme name; kept as text so an unknown name is a validation problem, not a parse error.
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// Adobe client code (first part of the Target key).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client: String,
    /// Salt; absent means the scheme's default ([`Bucketing::effective_salt`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// Bucket version: sticky assignments made under another version are discarded, so bumping
    /// it reshuffles visitors after a weight edit.
    #[serde(default = "default_version")]
    pub version: u32,
}

/// Field names of [`Bucketing`] on the wire.
pub(crate) const BUCKETING_FIELDS: &[&str] = &["scheme", "client", "salt", "version"];

fn default_scheme() -> String {
    Scheme::default().name().to_owned()
}

fn default_version() -> u32 {
    1
}

impl Default for Bucketing {
    fn default() -> Self {
        Bucketing {
            scheme: default_scheme(),
            client: String::new(),
            salt: None,
            version: default_version(),
        }
    }
}

impl Bucketing {
    /// The parsed scheme.
    pub fn scheme(&self) -> Result<Scheme, UnknownScheme> {
        Scheme::from_name(&self.scheme)
    }

    /// The salt to hash with: the given one, else `"0"` for Adobe Target (its campaign salt)
    /// and empty for the others, which then seed with the activity id. A shared default seed
    /// would correlate every GrowthBook or Unleash activity, so they get none.
    pub fn effective_salt(&self, scheme: Scheme) -> &str {
        match (&self.salt, scheme) {
            (Some(salt), _) => salt,
            (None, Scheme::AdobeTarget) => vantage_bucketing::adobe::DEFAULT_SALT,
            (None, _) => "",
        }
    }
}

/// One experience of an activity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Encode, Decode)]
pub struct Experience {
    /// Id, unique within the activity (Target uses "0", "1", …). Integers are kept as text.
    #[serde(deserialize_with = "string_or_integer")]
    pub id: String,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Share of traffic in percent (required in `ab`; in `xt`, of the matching audience).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation: Option<f64>,
    /// In `xt`, who gets this experience (first match wins; none matches everyone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<Audience>,
    /// What the experience shows.
    #[serde(default)]
    pub offers: Offers,
    /// The baseline that reports measure lift against (else the first experience).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub control: bool,
}

/// Field names of [`Experience`] on the wire.
pub(crate) const EXPERIENCE_FIELDS: &[&str] =
    &["id", "name", "allocation", "audience", "offers", "control"];

/// A content item to show, in one of the Web SDK schemas. (Its bincode encoding is written by
/// hand in [`crate::compiled`]: `data` is arbitrary JSON.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    /// Id; becomes the proposition item's `id`. Integers are kept as text.
    #[serde(deserialize_with = "string_or_integer")]
    pub id: String,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Item schema URL (see [`OfferSchema`]); text, so an unknown one is a validation problem.
    pub schema: String,
    /// Schema-specific payload (`type`/`selector`/`content` for dom-action, …).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub data: Value,
    /// The activity scope this offer answers; none means every scope of the activity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Frequency caps per profile; all must allow another display.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caps: Vec<Cap>,
    /// Extra PQL condition the profile must meet for this offer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eligibility: Option<String>,
    /// Categories for `recommendation` ranking by affinity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
}

/// Field names of [`Offer`] on the wire.
pub(crate) const OFFER_FIELDS: &[&str] = &[
    "id",
    "name",
    "schema",
    "data",
    "scope",
    "caps",
    "eligibility",
    "categories",
];

/// A frequency cap: at most `count` displays per profile per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct Cap {
    /// Displays allowed in the window.
    pub count: u32,
    /// The window.
    pub per: CapPeriod,
}

/// Field names of [`Cap`] on the wire.
pub(crate) const CAP_FIELDS: &[&str] = &["count", "per"];

/// The window a frequency cap counts over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode)]
#[serde(rename_all = "lowercase")]
pub enum CapPeriod {
    /// A rolling hour.
    Hour,
    /// A rolling day.
    Day,
    /// A rolling week.
    Week,
    /// The profile's lifetime.
    Lifetime,
}

impl CapPeriod {
    /// The window length in milliseconds, or `None` for a lifetime cap.
    pub fn window_ms(self) -> Option<i64> {
        match self {
            CapPeriod::Hour => Some(3_600_000),
            CapPeriod::Day => Some(86_400_000),
            CapPeriod::Week => Some(7 * 86_400_000),
            CapPeriod::Lifetime => None,
        }
    }
}

/// The Web SDK item schemas an offer can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OfferSchema {
    /// A DOM change (`type`, `selector`, `content`) that alloy renders itself.
    DomAction,
    /// An HTML fragment; rendered by alloy only with `selector` and `type`.
    HtmlContent,
    /// JSON handed to the page, never rendered.
    JsonContent,
    /// Navigate to `content`.
    Redirect,
    /// The control: nothing is rendered but a display is still reported.
    DefaultContent,
}

/// Prefix shared by every schema URL.
pub const SCHEMA_PREFIX: &str = "https://ns.adobe.com/personalization/";

impl OfferSchema {
    /// Every schema.
    pub const ALL: [OfferSchema; 5] = [
        OfferSchema::DomAction,
        OfferSchema::HtmlContent,
        OfferSchema::JsonContent,
        OfferSchema::Redirect,
        OfferSchema::DefaultContent,
    ];

    /// The schema URL as it appears in offers and proposition items.
    pub fn url(self) -> &'static str {
        match self {
            OfferSchema::DomAction => "https://ns.adobe.com/personalization/dom-action",
            OfferSchema::HtmlContent => "https://ns.adobe.com/personalization/html-content-item",
            OfferSchema::JsonContent => "https://ns.adobe.com/personalization/json-content-item",
            OfferSchema::Redirect => "https://ns.adobe.com/personalization/redirect-item",
            OfferSchema::DefaultContent => {
                "https://ns.adobe.com/personalization/default-content-item"
            }
        }
    }

    /// The schema for a URL, if it is one of ours.
    pub fn from_url(url: &str) -> Option<OfferSchema> {
        Self::ALL.into_iter().find(|s| s.url() == url)
    }

    /// The last path segment (`dom-action`, `html-content-item`, …).
    pub fn short_name(self) -> &'static str {
        &self.url()[SCHEMA_PREFIX.len()..]
    }
}

impl fmt::Display for OfferSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url())
    }
}

impl Offer {
    /// The offer's schema, if known.
    pub fn offer_schema(&self) -> Option<OfferSchema> {
        OfferSchema::from_url(&self.schema)
    }
}

impl Activity {
    /// Finds an experience by id.
    pub fn experience(&self, id: &str) -> Option<&Experience> {
        self.experiences.iter().find(|e| e.id == id)
    }

    /// The index of the control experience: the one flagged `control`, else the first.
    pub fn control_index(&self) -> usize {
        self.experiences.iter().position(|e| e.control).unwrap_or(0)
    }

    /// Allocations in experience order, missing ones as 0 (what `vantage-bucketing` takes).
    pub fn allocations(&self) -> Vec<f64> {
        self.experiences
            .iter()
            .map(|e| e.allocation.unwrap_or(0.0))
            .collect()
    }

    /// The live window in milliseconds since the epoch: `(start, end)`, each `None` when open.
    /// Fails on a date that is not RFC 3339.
    pub fn window_ms(&self) -> Result<(Option<i64>, Option<i64>), crate::time::TimestampError> {
        let parse = |d: &Option<String>| d.as_deref().map(crate::time::parse_rfc3339).transpose();
        Ok((parse(&self.start_date)?, parse(&self.end_date)?))
    }

    /// Whether the activity is decided at `now_ms`: active and inside its window (start
    /// inclusive, end exclusive). An unparseable date makes it not live.
    pub fn is_live_at(&self, now_ms: i64) -> bool {
        self.status == Status::Active
            && self.window_ms().is_ok_and(|(start, end)| {
                start.is_none_or(|s| now_ms >= s) && end.is_none_or(|e| now_ms < e)
            })
    }
}

/// Accepts an id written as a string or an integer (Target's numeric ids) and keeps it as text.
fn string_or_integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    use serde::de::Error;
    match Value::deserialize(deserializer)? {
        Value::String(s) => Ok(s),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        Value::Number(n) => Err(D::Error::custom(format!(
            "expected an id (string or integer), found {n}"
        ))),
        _ => Err(D::Error::custom("expected an id (string or integer)")),
    }
}
