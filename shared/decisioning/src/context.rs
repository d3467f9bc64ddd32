//! Environmental attributes that conditions read: device, browser and OS from the User-Agent,
//! the page and referrer URLs, the visitor's local hour and day of week, and geography
//! ([`Geo`], from CDN headers or the caller; see [`crate::geo`]).
//!
//! The User-Agent rules are deliberately few and ordered (tokens that imply others come first:
//! Samsung and Edge before Chrome, Chrome before Safari, iPad before Mac, Android before Linux).
//! Known limit: iPadOS 13+ Safari sends a Mac User-Agent by default, so it reads as a desktop Mac;
//! only client hints or script can tell.

use serde::Serialize;

pub use crate::geo::{Geo, GeoConfigError, GeoField, GeoHeaders, GeoValueError};
use crate::time::civil_from_days;

/// Kind of device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceType {
    /// Desktop or laptop.
    Desktop,
    /// Phone.
    Mobile,
    /// Tablet.
    Tablet,
    /// Crawler, monitor or script.
    Bot,
}

/// Browser family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Browser {
    /// Google Chrome (and unbranded Chromium), any platform.
    Chrome,
    /// Apple Safari.
    Safari,
    /// Mozilla Firefox, any platform.
    Firefox,
    /// Microsoft Edge (Chromium or legacy).
    Edge,
    /// Samsung Internet.
    Samsung,
    /// Opera.
    Opera,
    /// Internet Explorer.
    #[serde(rename = "ie")]
    InternetExplorer,
    /// Anything else.
    Other,
}

/// Operating system family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    /// Microsoft Windows.
    Windows,
    /// Apple macOS.
    #[serde(rename = "macos")]
    MacOs,
    /// Apple iOS and iPadOS (when it says so).
    #[serde(rename = "ios")]
    IOs,
    /// Android.
    Android,
    /// ChromeOS.
    #[serde(rename = "chromeos")]
    ChromeOs,
    /// Desktop Linux and other Unix-likes with X11.
    Linux,
    /// Anything else.
    Other,
}

/// What a User-Agent string says about the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserAgent {
    /// Device kind.
    pub device_type: DeviceType,
    /// Browser family.
    pub browser: Browser,
    /// Browser major version, when the UA states it.
    pub browser_version: Option<u32>,
    /// OS family.
    pub os: Os,
    /// Whether this is a crawler or script.
    pub bot: bool,
}

/// Substrings (lower case) that mark automated clients.
const BOT_MARKERS: &[&str] = &[
    "bot",
    "crawler",
    "spider",
    "slurp",
    "facebookexternalhit",
    "headlesschrome",
    "lighthouse",
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "go-http-client",
    "okhttp",
    "java/",
];

/// The major version following `token` (e.g. `Chrome/` in `Chrome/120.0.0.0`).
fn major_after(ua: &str, token: &str) -> Option<u32> {
    let start = ua.find(token)? + token.len();
    let digits: &str = &ua[start..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// Parses a User-Agent header. Empty or unrecognised strings give desktop / other / other.
pub fn parse_user_agent(ua: &str) -> UserAgent {
    let lower = ua.to_ascii_lowercase();
    let bot = BOT_MARKERS.iter().any(|m| lower.contains(m));
    let has = |token: &str| ua.contains(token);

    let os = if has("Windows NT") || has("Windows Phone") {
        Os::Windows
    } else if has("iPhone") || has("iPad") || has("iPod") {
        Os::IOs
    } else if has("Android") {
        Os::Android
    } else if has("CrOS") {
        Os::ChromeOs
    } else if has("Macintosh") || has("Mac OS X") {
        Os::MacOs
    } else if has("Linux") || has("X11") {
        Os::Linux
    } else {
        Os::Other
    };

    // First matching token wins; the order encodes which brands embed which tokens.
    const BROWSERS: &[(&str, Browser)] = &[
        ("SamsungBrowser/", Browser::Samsung),
        ("Edg/", Browser::Edge),
        ("EdgA/", Browser::Edge),
        ("EdgiOS/", Browser::Edge),
        ("Edge/", Browser::Edge),
        ("OPR/", Browser::Opera),
        ("OPiOS/", Browser::Opera),
        ("Firefox/", Browser::Firefox),
        ("FxiOS/", Browser::Firefox),
        ("CriOS/", Browser::Chrome),
        ("Chrome/", Browser::Chrome),
        ("Chromium/", Browser::Chrome),
        ("MSIE ", Browser::InternetExplorer),
        ("Trident/", Browser::InternetExplorer),
    ];
    let (browser, browser_version) = match BROWSERS.iter().find(|(token, _)| has(token)) {
        Some((_, Browser::InternetExplorer)) => (
            Browser::InternetExplorer,
            major_after(ua, "MSIE ").or_else(|| major_after(ua, "rv:")),
        ),
        Some((token, browser)) => (*browser, major_after(ua, token)),
        None if has("Safari/") && has("Version/") => (Browser::Safari, major_after(ua, "Version/")),
        None => (Browser::Other, None),
    };

    let device_type = if bot {
        DeviceType::Bot
    } else if has("iPad") || has("Tablet") || (os == Os::Android && !has("Mobile")) {
        DeviceType::Tablet
    } else if has("Mobi") || has("iPhone") || has("iPod") || has("Windows Phone") {
        DeviceType::Mobile
    } else {
        DeviceType::Desktop
    };

    UserAgent {
        device_type,
        browser,
        browser_version,
        os,
        bot,
    }
}

/// The parts of a page or referrer URL that conditions use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Url {
    /// The whole URL as given.
    pub url: String,
    /// Lower-case scheme (`https`).
    pub scheme: String,
    /// Lower-case host without port, user info or a trailing dot.
    pub host: String,
    /// Explicit port, if any.
    pub port: Option<u16>,
    /// Path as sent (still percent-encoded); `/` when empty.
    pub path: String,
    /// Query parameters in order, percent-decoded (`+` is a space); repeated names repeat.
    pub query: Vec<(String, String)>,
    /// Fragment without `#`, as sent.
    pub fragment: String,
}

impl Url {
    /// The first value of a query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses an absolute URL (`scheme://host[:port][/path][?query][#fragment]`); `None` otherwise.
pub fn parse_url(input: &str) -> Option<Url> {
    let url = input.trim();
    let (scheme, rest) = url.split_once("://")?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return None;
    }
    let (before_fragment, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (before_query, query) = before_fragment
        .split_once('?')
        .unwrap_or((before_fragment, ""));
    let (authority, path) = match before_query.find('/') {
        Some(i) => before_query.split_at(i),
        None => (before_query, ""),
    };
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        (format!("[{h}]"), after.strip_prefix(':'))
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (host_port.to_owned(), None),
        }
    };
    let port = match port {
        Some("") | None => None,
        Some(p) => Some(p.parse().ok()?),
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() || host.chars().any(|c| c.is_whitespace()) {
        return None;
    }
    Some(Url {
        url: url.to_owned(),
        scheme: scheme.to_ascii_lowercase(),
        host,
        port,
        path: if path.is_empty() {
            "/".into()
        } else {
            path.to_owned()
        },
        query: parse_query(query),
        fragment: fragment.to_owned(),
    })
}

/// Splits and decodes an `application/x-www-form-urlencoded` query string.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_component(k), decode_component(v))
        })
        .collect()
}

/// Percent-decodes a query component (`+` is a space); invalid escapes stay as they are and
/// invalid UTF-8 becomes U+FFFD.
fn decode_component(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// The host of a referrer URL (lower case), if it is an absolute URL.
pub fn referrer_host(referrer: &str) -> Option<String> {
    parse_url(referrer).map(|u| u.host)
}

/// Day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    /// Monday (ISO day 1).
    Monday,
    /// Tuesday.
    Tuesday,
    /// Wednesday.
    Wednesday,
    /// Thursday.
    Thursday,
    /// Friday.
    Friday,
    /// Saturday.
    Saturday,
    /// Sunday (ISO day 7).
    Sunday,
}

impl Weekday {
    const ALL: [Weekday; 7] = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ];

    /// ISO 8601 number: Monday 1 … Sunday 7.
    pub fn iso_number(self) -> u8 {
        // Position in ALL, which is at most 6.
        Self::ALL
            .iter()
            .position(|&d| d == self)
            .map_or(1, |i| i as u8 + 1)
    }
}

/// The visitor's wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalTime {
    /// Local date as `(year, month, day)`.
    pub date: (i64, u32, u32),
    /// Hour of the day, 0–23.
    pub hour: u8,
    /// Minute of the hour, 0–59.
    pub minute: u8,
    /// Day of the week.
    pub day_of_week: Weekday,
}

/// Local time from a UTC instant (ms since the epoch) and the visitor's offset from UTC in
/// minutes (east positive: +60 for CET; note JavaScript's `getTimezoneOffset()` has the opposite
/// sign).
pub fn local_time(utc_ms: i64, offset_minutes: i32) -> LocalTime {
    let local_ms = utc_ms.saturating_add(i64::from(offset_minutes) * 60_000);
    let days = local_ms.div_euclid(86_400_000);
    let minute_of_day = local_ms.rem_euclid(86_400_000) / 60_000;
    // 1970-01-01 was a Thursday (index 3 from Monday).
    let weekday = Weekday::ALL[(days + 3).rem_euclid(7) as usize];
    LocalTime {
        date: civil_from_days(days),
        // Both below 60 / 24 by construction.
        hour: (minute_of_day / 60) as u8,
        minute: (minute_of_day % 60) as u8,
        day_of_week: weekday,
    }
}

/// Everything about the request environment that conditions can read, as one serializable value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Environment {
    /// The page being decided for.
    pub page: Option<Url>,
    /// The referring page.
    pub referrer: Option<Url>,
    /// Device, browser and OS.
    pub device: UserAgent,
    /// The visitor's local time.
    pub time: LocalTime,
    /// Where the visitor is (empty when nothing says).
    pub geo: Geo,
}

impl Environment {
    /// Derives the environment of one request.
    pub fn new(
        page_url: Option<&str>,
        referrer: Option<&str>,
        user_agent: &str,
        utc_ms: i64,
        offset_minutes: i32,
    ) -> Self {
        Environment {
            page: page_url.and_then(parse_url),
            referrer: referrer.and_then(parse_url),
            device: parse_user_agent(user_agent),
            time: local_time(utc_ms, offset_minutes),
            geo: Geo::default(),
        }
    }

    /// The same environment with the visitor's geography.
    pub fn with_geo(mut self, geo: Geo) -> Self {
        self.geo = geo;
        self
    }
}

#[cfg(test)]
#[path = "context_tests.rs"]
mod tests;
