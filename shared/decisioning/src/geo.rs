//! The visitor's geography as the CDN in front of the PoP states it in request headers.
//!
//! CDNs geolocate the client IP and pass the result on in headers of their own naming
//! (Cloudflare `cf-ipcountry`, CloudFront `cloudfront-viewer-country`, …). [`GeoHeaders`] says
//! which headers feed which [`Geo`] field; [`Geo::from_headers`] reads them. Per field, the
//! first listed header that holds a valid value wins; values are trimmed, checked and
//! length-bounded, and anything that does not pass is skipped (never an error: a header is not
//! a request the visitor can fix).
//!
//! # The mapping string (`geo_headers`)
//!
//! * empty: the built-in mapping ([`GeoHeaders::default`], every CDN below);
//! * `none`: no geography from headers (a PoP not behind a CDN, where any client could send
//!   them);
//! * otherwise entries separated by `,` (or new lines): `field=header|header|…`, tried in the
//!   order listed, a field named twice keeping both lists in order; `header:key` reads `key`
//!   from a header of `key=value,…` pairs (Akamai's `x-akamai-edgescape`); the entry `defaults`
//!   inserts the built-in mapping at that point, so `country=x-geo-country,defaults` tries
//!   `x-geo-country` first and then the usual headers.
//!
//! Fields: `country`, `region`, `regionName`, `city`, `postalCode`, `latitude`, `longitude`,
//! `metroCode` (alias `dma`), `continent`, `timezone` (case, `_` and `-` are ignored in field
//! names). A string that does not parse is an error naming the entry and what is wrong.
//!
//! # Built-in headers
//!
//! | field | Cloudflare | CloudFront | Vercel | Akamai (`x-akamai-edgescape:`) | Fastly (its example VCL/Compute names) |
//! |---|---|---|---|---|---|
//! | country | `cf-ipcountry` | `cloudfront-viewer-country` | `x-vercel-ip-country` | `country_code` | `client-geo-country` |
//! | region | `cf-region-code` | `cloudfront-viewer-country-region` | `x-vercel-ip-country-region` | `region_code` | |
//! | regionName | `cf-region` | `cloudfront-viewer-country-region-name` | | | |
//! | city | `cf-ipcity` | `cloudfront-viewer-city` | `x-vercel-ip-city` | `city` | |
//! | postalCode | `cf-postal-code` | `cloudfront-viewer-postal-code` | `x-vercel-ip-postal-code` | | |
//! | latitude | `cf-iplatitude` | `cloudfront-viewer-latitude` | `x-vercel-ip-latitude` | `lat` | `client-geo-latitude` |
//! | longitude | `cf-iplongitude` | `cloudfront-viewer-longitude` | `x-vercel-ip-longitude` | `long` | `client-geo-longitude` |
//! | metroCode | `cf-metro-code` | `cloudfront-viewer-metro-code` | | `dma` | |
//! | continent | `cf-ipcontinent` | | `x-vercel-ip-continent` | `continent` | `client-geo-continent` |
//! | timezone | `cf-timezone` | `cloudfront-viewer-time-zone` | `x-vercel-ip-timezone` | | |
//!
//! Fastly sends no geography by default; its documented example forwards `client.geo.*` as the
//! `client-geo-*` headers above. Akamai's `timezone` is an abbreviation and its `zip` a list of
//! ranges, so neither is read by default.
//!
//! # Values
//!
//! `country` and `continent` are two letters or digits, upper-cased (`XX` and `ZZ`, "unknown",
//! read as absent); `region` up to 8 of `A-Z 0-9 -`, upper-cased; `metroCode` up to 8 digits;
//! `latitude`/`longitude` finite numbers within ±90/±180; `postalCode` up to 16 of letters,
//! digits, space and `-`; `timezone` up to 64 of letters, digits and `/ _ + -`; `city` and
//! `regionName` up to 128 bytes without control characters, percent-decoded when they hold
//! `%XX` escapes (Vercel encodes its city header).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use serde_json::Value;

/// Where the visitor is, as far as the CDN (or a server-side caller) says.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Geo {
    /// ISO 3166-1 alpha-2 country code, upper case (`DE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// First-level subdivision code within the country (`BY`, `CA`), upper case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The subdivision's name (`Bavaria`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region_name: Option<String>,
    /// City name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Postal code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// Latitude in degrees, within ±90.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    /// Longitude in degrees, within ±180.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
    /// US metro code (Nielsen DMA).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metro_code: Option<String>,
    /// Two-letter continent code (`EU`, `NA`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continent: Option<String>,
    /// IANA time zone name (`Europe/Berlin`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

/// Coordinates are only ever set from checked, finite values, so equality is reflexive.
impl Eq for Geo {}

/// One field of [`Geo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GeoField {
    /// [`Geo::country`].
    Country,
    /// [`Geo::region`].
    Region,
    /// [`Geo::region_name`].
    RegionName,
    /// [`Geo::city`].
    City,
    /// [`Geo::postal_code`].
    PostalCode,
    /// [`Geo::latitude`].
    Latitude,
    /// [`Geo::longitude`].
    Longitude,
    /// [`Geo::metro_code`].
    MetroCode,
    /// [`Geo::continent`].
    Continent,
    /// [`Geo::timezone`].
    Timezone,
}

impl GeoField {
    /// Every field, in [`Geo`]'s order.
    pub const ALL: [GeoField; 10] = [
        GeoField::Country,
        GeoField::Region,
        GeoField::RegionName,
        GeoField::City,
        GeoField::PostalCode,
        GeoField::Latitude,
        GeoField::Longitude,
        GeoField::MetroCode,
        GeoField::Continent,
        GeoField::Timezone,
    ];

    /// The wire name (as in `environment.geo.<name>` and `context.geo`).
    pub fn name(self) -> &'static str {
        match self {
            GeoField::Country => "country",
            GeoField::Region => "region",
            GeoField::RegionName => "regionName",
            GeoField::City => "city",
            GeoField::PostalCode => "postalCode",
            GeoField::Latitude => "latitude",
            GeoField::Longitude => "longitude",
            GeoField::MetroCode => "metroCode",
            GeoField::Continent => "continent",
            GeoField::Timezone => "timezone",
        }
    }

    /// The field a mapping entry names: the wire name with case, `_` and `-` ignored, or the
    /// alias `dma`.
    pub fn from_name(name: &str) -> Option<GeoField> {
        let folded: String = name
            .chars()
            .filter(|c| !matches!(c, '_' | '-'))
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if folded == "dma" {
            return Some(GeoField::MetroCode);
        }
        Self::ALL
            .into_iter()
            .find(|f| f.name().to_ascii_lowercase() == folded)
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|&f| f == self).unwrap_or(0)
    }
}

/// Where a field's value comes from: a header, or one `key=value` pair of a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderSource {
    /// The header name, lower case.
    pub header: String,
    /// For headers of `key=value,…` pairs, the key to read.
    pub key: Option<String>,
}

impl fmt::Display for HeaderSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "{}:{key}", self.header),
            None => f.write_str(&self.header),
        }
    }
}

/// Which request headers feed which [`Geo`] field (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeoHeaders {
    sources: [Vec<HeaderSource>; 10],
}

/// Longest `geo_headers` string accepted.
pub const MAX_CONFIG_BYTES: usize = 4096;
/// Most headers listed for one field.
pub const MAX_SOURCES_PER_FIELD: usize = 16;

/// The built-in mapping: `(field, headers)` in the order they are tried.
const DEFAULTS: &[(GeoField, &[&str])] = &[
    (
        GeoField::Country,
        &[
            "cf-ipcountry",
            "cloudfront-viewer-country",
            "x-vercel-ip-country",
            "x-akamai-edgescape:country_code",
            "client-geo-country",
        ],
    ),
    (
        GeoField::Region,
        &[
            "cf-region-code",
            "cloudfront-viewer-country-region",
            "x-vercel-ip-country-region",
            "x-akamai-edgescape:region_code",
        ],
    ),
    (
        GeoField::RegionName,
        &["cf-region", "cloudfront-viewer-country-region-name"],
    ),
    (
        GeoField::City,
        &[
            "cf-ipcity",
            "cloudfront-viewer-city",
            "x-vercel-ip-city",
            "x-akamai-edgescape:city",
        ],
    ),
    (
        GeoField::PostalCode,
        &[
            "cf-postal-code",
            "cloudfront-viewer-postal-code",
            "x-vercel-ip-postal-code",
        ],
    ),
    (
        GeoField::Latitude,
        &[
            "cf-iplatitude",
            "cloudfront-viewer-latitude",
            "x-vercel-ip-latitude",
            "x-akamai-edgescape:lat",
            "client-geo-latitude",
        ],
    ),
    (
        GeoField::Longitude,
        &[
            "cf-iplongitude",
            "cloudfront-viewer-longitude",
            "x-vercel-ip-longitude",
            "x-akamai-edgescape:long",
            "client-geo-longitude",
        ],
    ),
    (
        GeoField::MetroCode,
        &[
            "cf-metro-code",
            "cloudfront-viewer-metro-code",
            "x-akamai-edgescape:dma",
        ],
    ),
    (
        GeoField::Continent,
        &[
            "cf-ipcontinent",
            "x-vercel-ip-continent",
            "x-akamai-edgescape:continent",
            "client-geo-continent",
        ],
    ),
    (
        GeoField::Timezone,
        &[
            "cf-timezone",
            "cloudfront-viewer-time-zone",
            "x-vercel-ip-timezone",
        ],
    ),
];

/// Why a `geo_headers` string does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("geo_headers: {message}")]
pub struct GeoConfigError {
    /// What is wrong, naming the entry.
    pub message: String,
}

fn config_error(entry: &str, message: impl fmt::Display) -> GeoConfigError {
    let entry: String = entry.chars().take(64).collect();
    GeoConfigError {
        message: format!("entry {entry:?}: {message}"),
    }
}

/// A header name as RFC 9110 allows it (a token).
fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'~'
                )
        })
}

fn parse_source(entry: &str, text: &str) -> Result<HeaderSource, GeoConfigError> {
    let text = text.trim();
    let (header, key) = match text.split_once(':') {
        Some((h, k)) => (h.trim(), Some(k.trim())),
        None => (text, None),
    };
    if !is_header_name(header) {
        return Err(config_error(
            entry,
            format!("{header:?} is not a header name"),
        ));
    }
    if let Some(k) = key
        && (k.is_empty()
            || k.len() > 64
            || !k
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')))
    {
        return Err(config_error(
            entry,
            format!("{k:?} is not a key (letters, digits, `_ - .`)"),
        ));
    }
    Ok(HeaderSource {
        header: header.to_ascii_lowercase(),
        key: key.map(str::to_ascii_lowercase),
    })
}

impl Default for GeoHeaders {
    /// The built-in mapping (the module docs' table).
    fn default() -> Self {
        let mut mapping = GeoHeaders::none();
        mapping.add_defaults();
        mapping
    }
}

impl GeoHeaders {
    /// No geography from headers at all.
    pub fn none() -> Self {
        GeoHeaders {
            sources: Default::default(),
        }
    }

    /// Parses a mapping string (see the module docs); empty gives the built-in mapping.
    pub fn parse(config: &str) -> Result<Self, GeoConfigError> {
        if config.len() > MAX_CONFIG_BYTES {
            return Err(GeoConfigError {
                message: format!(
                    "{} bytes, over the limit of {MAX_CONFIG_BYTES}",
                    config.len()
                ),
            });
        }
        let entries: Vec<&str> = config
            .split([',', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        if entries.is_empty() {
            return Ok(GeoHeaders::default());
        }
        if entries.iter().any(|e| e.eq_ignore_ascii_case("none")) {
            if entries.len() > 1 {
                return Err(config_error(
                    "none",
                    "`none` turns header geography off and cannot be combined with other entries",
                ));
            }
            return Ok(GeoHeaders::none());
        }
        let mut mapping = GeoHeaders::none();
        for entry in entries {
            if entry.eq_ignore_ascii_case("defaults") || entry.eq_ignore_ascii_case("default") {
                mapping.add_defaults();
                continue;
            }
            let Some((name, headers)) = entry.split_once('=') else {
                return Err(config_error(
                    entry,
                    "expected `field=header[|header…]`, `defaults` or `none`",
                ));
            };
            let field = GeoField::from_name(name.trim()).ok_or_else(|| {
                let names: Vec<&str> = GeoField::ALL.iter().map(|f| f.name()).collect();
                config_error(
                    entry,
                    format!(
                        "unknown field {:?} (fields: {})",
                        name.trim(),
                        names.join(", ")
                    ),
                )
            })?;
            for text in headers.split('|') {
                let source = parse_source(entry, text)?;
                mapping
                    .push(field, source)
                    .map_err(|m| config_error(entry, m))?;
            }
        }
        Ok(mapping)
    }

    fn add_defaults(&mut self) {
        for (field, headers) in DEFAULTS {
            for text in *headers {
                // The built-in names are valid and within the per-field bound.
                if let Ok(source) = parse_source(text, text) {
                    let _ = self.push(*field, source);
                }
            }
        }
    }

    fn push(&mut self, field: GeoField, source: HeaderSource) -> Result<(), String> {
        let list = &mut self.sources[field.index()];
        if list.contains(&source) {
            return Ok(());
        }
        if list.len() >= MAX_SOURCES_PER_FIELD {
            return Err(format!(
                "more than {MAX_SOURCES_PER_FIELD} headers for {}",
                field.name()
            ));
        }
        list.push(source);
        Ok(())
    }

    /// The headers `field` is read from, in order.
    pub fn sources(&self, field: GeoField) -> &[HeaderSource] {
        &self.sources[field.index()]
    }

    /// Whether no field is read from any header.
    pub fn is_none(&self) -> bool {
        self.sources.iter().all(Vec::is_empty)
    }
}

impl FromStr for GeoHeaders {
    type Err = GeoConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GeoHeaders::parse(s)
    }
}

impl fmt::Display for GeoHeaders {
    /// The mapping as a string [`GeoHeaders::parse`] reads back (`none` when empty).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_none() {
            return f.write_str("none");
        }
        let mut first = true;
        for field in GeoField::ALL {
            let list = self.sources(field);
            if list.is_empty() {
                continue;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{}=", field.name())?;
            for (i, s) in list.iter().enumerate() {
                if i > 0 {
                    f.write_str("|")?;
                }
                write!(f, "{s}")?;
            }
        }
        Ok(())
    }
}

/// The value of `key` in a header of `key=value,…` pairs (keys compared ignoring case).
fn pair_value<'v>(header: &'v str, key: &str) -> Option<&'v str> {
    header.split(',').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.trim().eq_ignore_ascii_case(key).then_some(v)
    })
}

/// Percent-decodes `%XX` escapes when the result is UTF-8; the text as given otherwise.
fn percent_decoded(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('%') {
        return std::borrow::Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |j: usize| bytes.get(j).and_then(|c| (*c as char).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    match String::from_utf8(out) {
        Ok(text) => std::borrow::Cow::Owned(text),
        Err(_) => std::borrow::Cow::Borrowed(s),
    }
}

fn code(value: &str, max: usize, ok: impl Fn(u8) -> bool) -> Option<String> {
    let v = value.trim();
    (!v.is_empty() && v.len() <= max && v.bytes().all(ok)).then(|| v.to_ascii_uppercase())
}

fn text(value: &str, max: usize) -> Option<String> {
    let decoded = percent_decoded(value.trim());
    let v = decoded.trim();
    (!v.is_empty() && v.len() <= max && !v.chars().any(char::is_control)).then(|| v.to_owned())
}

fn coordinate(value: &str, limit: f64) -> Option<f64> {
    let v = value.trim();
    if v.is_empty() || v.len() > 32 {
        return None;
    }
    v.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && x.abs() <= limit)
}

/// The checked value of `field` from a raw string, or `None` when it does not pass (see the
/// module docs for the rules).
fn checked(field: GeoField, raw: &str) -> Option<Checked> {
    use GeoField::*;
    let s = |v: Option<String>| v.map(Checked::Text);
    match field {
        Country | Continent => s(code(raw, 2, |b| b.is_ascii_alphanumeric())
            .filter(|c| c.len() == 2 && c != "XX" && c != "ZZ")),
        Region => s(code(raw, 8, |b| b.is_ascii_alphanumeric() || b == b'-')),
        MetroCode => s(code(raw, 8, |b| b.is_ascii_digit())),
        RegionName | City => s(text(raw, 128)),
        PostalCode => {
            let v = raw.trim();
            s((!v.is_empty()
                && v.len() <= 16
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b' ' | b'-')))
            .then(|| v.to_owned()))
        }
        Timezone => {
            let v = raw.trim();
            s((!v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'+' | b'-')))
            .then(|| v.to_owned()))
        }
        Latitude => coordinate(raw, 90.0).map(Checked::Number),
        Longitude => coordinate(raw, 180.0).map(Checked::Number),
    }
}

enum Checked {
    Text(String),
    Number(f64),
}

/// Why a `context.geo` object is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("geo{path}: {message}")]
pub struct GeoValueError {
    /// `.field`, or empty for the object itself.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl Geo {
    /// Reads the geography from request headers through `mapping`: per field, the first listed
    /// header holding a valid value. `header` returns a header's value by its lower-case name.
    pub fn from_headers<'h>(mapping: &GeoHeaders, header: impl Fn(&str) -> Option<&'h str>) -> Geo {
        let mut geo = Geo::default();
        for field in GeoField::ALL {
            let value = mapping.sources(field).iter().find_map(|source| {
                let raw = header(&source.header)?;
                let raw = match &source.key {
                    Some(key) => pair_value(raw, key)?,
                    None => raw,
                };
                checked(field, raw)
            });
            if let Some(v) = value {
                geo.set(field, v);
            }
        }
        geo
    }

    /// Reads a `context.geo` object (the field names of [`Geo`]; coordinates as numbers or
    /// numeric strings; `null` for absent), with the same checks as headers. Unlike headers, a
    /// value that does not pass is an error: the caller sent it and can fix it.
    pub fn from_json(value: &Value) -> Result<Geo, GeoValueError> {
        let Value::Object(map) = value else {
            return Err(GeoValueError {
                path: String::new(),
                message: "expected an object".into(),
            });
        };
        let mut geo = Geo::default();
        for (key, v) in map {
            let err = |message: String| GeoValueError {
                path: format!(".{key}"),
                message,
            };
            let field = GeoField::ALL
                .into_iter()
                .find(|f| f.name() == key)
                .ok_or_else(|| {
                    let names: Vec<&str> = GeoField::ALL.iter().map(|f| f.name()).collect();
                    err(format!("unknown field (fields: {})", names.join(", ")))
                })?;
            let raw = match v {
                Value::Null => continue,
                Value::String(s) => s.clone(),
                Value::Number(n) if matches!(field, GeoField::Latitude | GeoField::Longitude) => {
                    n.to_string()
                }
                _ => return Err(err("expected a string".into())),
            };
            let checked = checked(field, &raw).ok_or_else(|| err(rule(field).into()))?;
            geo.set(field, checked);
        }
        Ok(geo)
    }

    fn set(&mut self, field: GeoField, value: Checked) {
        use GeoField::*;
        match (field, value) {
            (Latitude, Checked::Number(x)) => self.latitude = Some(x),
            (Longitude, Checked::Number(x)) => self.longitude = Some(x),
            (field, Checked::Text(t)) => {
                let slot = match field {
                    Country => &mut self.country,
                    Region => &mut self.region,
                    RegionName => &mut self.region_name,
                    City => &mut self.city,
                    PostalCode => &mut self.postal_code,
                    MetroCode => &mut self.metro_code,
                    Continent => &mut self.continent,
                    Timezone => &mut self.timezone,
                    Latitude | Longitude => return,
                };
                *slot = Some(t);
            }
            _ => {}
        }
    }

    /// Whether nothing is known.
    pub fn is_empty(&self) -> bool {
        *self == Geo::default()
    }
}

/// What a field's value must look like, for error messages.
fn rule(field: GeoField) -> &'static str {
    use GeoField::*;
    match field {
        Country => "expected a two-letter ISO 3166-1 country code",
        Continent => "expected a two-letter continent code",
        Region => "expected a subdivision code (up to 8 of A-Z, 0-9, -)",
        MetroCode => "expected a metro code (up to 8 digits)",
        RegionName | City => "expected 1 to 128 bytes of text without control characters",
        PostalCode => "expected a postal code (up to 16 of letters, digits, space, -)",
        Timezone => "expected an IANA time zone name",
        Latitude => "expected a number between -90 and 90",
        Longitude => "expected a number between -180 and 180",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn headers<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }

    #[test]
    fn cloudflare_headers_with_the_default_mapping() {
        let h = [
            ("cf-ipcountry", " de "),
            ("cf-region-code", "by"),
            ("cf-region", "Bavaria"),
            ("cf-ipcity", "Munich"),
            ("cf-postal-code", "80331"),
            ("cf-iplatitude", "48.13743"),
            ("cf-iplongitude", "11.57549"),
            ("cf-ipcontinent", "EU"),
            ("cf-timezone", "Europe/Berlin"),
        ];
        let geo = Geo::from_headers(&GeoHeaders::default(), headers(&h));
        assert_eq!(
            geo,
            Geo {
                country: Some("DE".into()),
                region: Some("BY".into()),
                region_name: Some("Bavaria".into()),
                city: Some("Munich".into()),
                postal_code: Some("80331".into()),
                latitude: Some(48.13743),
                longitude: Some(11.57549),
                metro_code: None,
                continent: Some("EU".into()),
                timezone: Some("Europe/Berlin".into()),
            }
        );
        assert_eq!(
            serde_json::to_value(&geo).unwrap(),
            json!({"country": "DE", "region": "BY", "regionName": "Bavaria", "city": "Munich",
                "postalCode": "80331", "latitude": 48.13743, "longitude": 11.57549,
                "continent": "EU", "timezone": "Europe/Berlin"})
        );
    }

    #[test]
    fn cloudfront_vercel_akamai_and_fastly() {
        let cloudfront = [
            ("cloudfront-viewer-country", "US"),
            ("cloudfront-viewer-country-region", "MI"),
            ("cloudfront-viewer-country-region-name", "Michigan"),
            ("cloudfront-viewer-city", "Ann Arbor"),
            ("cloudfront-viewer-postal-code", "48105"),
            ("cloudfront-viewer-time-zone", "America/Detroit"),
            ("cloudfront-viewer-latitude", "42.30680"),
            ("cloudfront-viewer-longitude", "-83.70590"),
            ("cloudfront-viewer-metro-code", "505"),
        ];
        let geo = Geo::from_headers(&GeoHeaders::default(), headers(&cloudfront));
        assert_eq!(geo.country.as_deref(), Some("US"));
        assert_eq!(geo.region.as_deref(), Some("MI"));
        assert_eq!(geo.region_name.as_deref(), Some("Michigan"));
        assert_eq!(geo.city.as_deref(), Some("Ann Arbor"));
        assert_eq!(geo.metro_code.as_deref(), Some("505"));
        assert_eq!(geo.longitude, Some(-83.7059));
        assert_eq!(geo.timezone.as_deref(), Some("America/Detroit"));

        let vercel = [
            ("x-vercel-ip-country", "BR"),
            ("x-vercel-ip-city", "S%C3%A3o%20Paulo"),
            ("x-vercel-ip-country-region", "SP"),
            ("x-vercel-ip-continent", "SA"),
        ];
        let geo = Geo::from_headers(&GeoHeaders::default(), headers(&vercel));
        assert_eq!(geo.city.as_deref(), Some("São Paulo"));
        assert_eq!(geo.continent.as_deref(), Some("SA"));

        let akamai = [(
            "x-akamai-edgescape",
            "georegion=246,country_code=US,region_code=CA,city=SANJOSE,dma=807,pmsa=7400,\
             areacode=408,county=SANTACLARA,fips=06085,lat=37.3353,long=-121.8938,timezone=PST,\
             zip=95101-95103+95106,continent=NA,throughput=vhigh,asnum=7922",
        )];
        let geo = Geo::from_headers(&GeoHeaders::default(), headers(&akamai));
        assert_eq!(geo.country.as_deref(), Some("US"));
        assert_eq!(geo.region.as_deref(), Some("CA"));
        assert_eq!(geo.city.as_deref(), Some("SANJOSE"));
        assert_eq!(geo.metro_code.as_deref(), Some("807"));
        assert_eq!(geo.latitude, Some(37.3353));
        assert_eq!(geo.longitude, Some(-121.8938));
        assert_eq!(geo.continent.as_deref(), Some("NA"));
        assert_eq!((geo.timezone, geo.postal_code), (None, None));

        let fastly = [("client-geo-country", "jp"), ("client-geo-continent", "AS")];
        let geo = Geo::from_headers(&GeoHeaders::default(), headers(&fastly));
        assert_eq!(geo.country.as_deref(), Some("JP"));
        assert_eq!(geo.continent.as_deref(), Some("AS"));
    }

    #[test]
    fn first_valid_header_wins_and_bad_values_are_skipped() {
        let h = [
            ("cf-ipcountry", "XX"),
            ("cloudfront-viewer-country", "FR"),
            ("x-vercel-ip-country", "IT"),
            ("cf-iplatitude", "91"),
            ("cloudfront-viewer-latitude", "NaN"),
            ("x-vercel-ip-latitude", "45.5"),
            ("cf-ipcity", "Evil\u{7}City"),
            ("cloudfront-viewer-city", "Lyon"),
            ("cf-metro-code", "12a"),
            ("cf-timezone", "Europe/Paris; drop"),
        ];
        let geo = Geo::from_headers(&GeoHeaders::default(), headers(&h));
        assert_eq!(geo.country.as_deref(), Some("FR"));
        assert_eq!(geo.latitude, Some(45.5));
        assert_eq!(geo.city.as_deref(), Some("Lyon"));
        assert_eq!(geo.metro_code, None);
        assert_eq!(geo.timezone, None);
        let long = "x".repeat(129);
        let h = [("cf-ipcity", long.as_str()), ("cf-ipcountry", "DEU")];
        let geo = Geo::from_headers(&GeoHeaders::default(), headers(&h));
        assert!(geo.is_empty());
        assert!(Geo::from_headers(&GeoHeaders::default(), |_| None).is_empty());
    }

    #[test]
    fn parses_mapping_strings() {
        assert_eq!(GeoHeaders::parse("").unwrap(), GeoHeaders::default());
        assert_eq!(GeoHeaders::parse("  \n ").unwrap(), GeoHeaders::default());
        let none = GeoHeaders::parse("none").unwrap();
        assert!(none.is_none());
        let h = [("cf-ipcountry", "DE")];
        assert!(Geo::from_headers(&none, headers(&h)).is_empty());

        let m = GeoHeaders::parse(
            "country=X-Geo-Country|cf-ipcountry, postal_code = x-zip,\n dma=x-edge:DMA,city=a,city=b",
        )
        .unwrap();
        let names = |f| {
            m.sources(f)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(names(GeoField::Country), ["x-geo-country", "cf-ipcountry"]);
        assert_eq!(names(GeoField::PostalCode), ["x-zip"]);
        assert_eq!(names(GeoField::MetroCode), ["x-edge:dma"]);
        assert_eq!(names(GeoField::City), ["a", "b"]);
        assert!(m.sources(GeoField::Region).is_empty());
        let h = [
            ("x-geo-country", "at"),
            ("cf-ipcountry", "DE"),
            ("x-edge", "dma=501,x=1"),
        ];
        let geo = Geo::from_headers(&m, headers(&h));
        assert_eq!(geo.country.as_deref(), Some("AT"));
        assert_eq!(geo.metro_code.as_deref(), Some("501"));
        assert_eq!(geo.region, None);

        // `defaults` inserts the built-in list where it stands.
        let m = GeoHeaders::parse("country=x-geo-country,defaults").unwrap();
        assert_eq!(m.sources(GeoField::Country)[0].header, "x-geo-country");
        assert_eq!(m.sources(GeoField::Country)[1].header, "cf-ipcountry");
        assert_eq!(
            m.sources(GeoField::City),
            GeoHeaders::default().sources(GeoField::City)
        );

        // Display reads back.
        let d = GeoHeaders::default();
        assert_eq!(GeoHeaders::parse(&d.to_string()).unwrap(), d);
        assert_eq!(GeoHeaders::none().to_string(), "none");
    }

    #[test]
    fn bad_mapping_strings_are_clear_errors() {
        let err = |s: &str| GeoHeaders::parse(s).unwrap_err().to_string();
        assert!(
            err("cuntry=cf-ipcountry").contains("unknown field \"cuntry\" (fields: country,"),
            "{}",
            err("cuntry=cf-ipcountry")
        );
        assert!(err("country").contains("expected `field=header"));
        assert!(err("country=").contains("is not a header name"));
        assert!(err("country=a b").contains("\"a b\" is not a header name"));
        assert!(err("country=a:").contains("is not a key"));
        assert!(err("none,country=a").contains("cannot be combined"));
        assert!(err(&"x".repeat(5000)).contains("over the limit"));
        let many: Vec<String> = (0..17).map(|i| format!("h{i}")).collect();
        assert!(err(&format!("city={}", many.join("|"))).contains("more than 16"));
    }

    #[test]
    fn json_objects_are_checked() {
        let geo = Geo::from_json(&json!({"country": "de", "city": "Köln", "latitude": 50.94,
            "longitude": "6.96", "postalCode": null}))
        .unwrap();
        assert_eq!(geo.country.as_deref(), Some("DE"));
        assert_eq!(geo.city.as_deref(), Some("Köln"));
        assert_eq!(geo.latitude, Some(50.94));
        assert_eq!(geo.longitude, Some(6.96));
        assert_eq!(geo.postal_code, None);
        let err = |v: Value| Geo::from_json(&v).unwrap_err().to_string();
        assert_eq!(
            err(json!({"country": "Germany"})),
            "geo.country: expected a two-letter ISO 3166-1 country code"
        );
        assert!(err(json!({"latitude": 100})).starts_with("geo.latitude:"));
        assert!(err(json!({"county": "x"})).contains("unknown field"));
        assert!(err(json!({"city": 5})).contains("expected a string"));
        assert_eq!(err(json!("DE")), "geo: expected an object");
    }

    #[test]
    fn field_names_and_aliases() {
        assert_eq!(
            GeoField::from_name("postal-code"),
            Some(GeoField::PostalCode)
        );
        assert_eq!(
            GeoField::from_name("RegionName"),
            Some(GeoField::RegionName)
        );
        assert_eq!(GeoField::from_name("metro_code"), Some(GeoField::MetroCode));
        assert_eq!(GeoField::from_name("DMA"), Some(GeoField::MetroCode));
        assert_eq!(GeoField::from_name("zip"), None);
    }
}
