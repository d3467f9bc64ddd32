//! Tests of the environment attributes, on real User-Agent strings.

use super::*;

/// (User-Agent, device, browser, major version, OS).
const UAS: &[(&str, DeviceType, Browser, Option<u32>, Os)] = &[
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        DeviceType::Desktop,
        Browser::Chrome,
        Some(120),
        Os::Windows,
    ),
    // The four browser cases of Adobe's on-device decisioning test suite.
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_3) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.130 Safari/537.36",
        DeviceType::Desktop,
        Browser::Chrome,
        Some(79),
        Os::MacOs,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:73.0) Gecko/20100101 Firefox/73.0",
        DeviceType::Desktop,
        Browser::Firefox,
        Some(73),
        Os::MacOs,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_3) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.0.5 Safari/605.1.15",
        DeviceType::Desktop,
        Browser::Safari,
        Some(13),
        Os::MacOs,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Trident/7.0; rv:11.0) like Gecko",
        DeviceType::Desktop,
        Browser::InternetExplorer,
        Some(11),
        Os::Windows,
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
        DeviceType::Mobile,
        Browser::Chrome,
        Some(120),
        Os::Android,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
        DeviceType::Mobile,
        Browser::Chrome,
        Some(120),
        Os::IOs,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
        DeviceType::Mobile,
        Browser::Safari,
        Some(17),
        Os::IOs,
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
        DeviceType::Tablet,
        Browser::Safari,
        Some(16),
        Os::IOs,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
        DeviceType::Desktop,
        Browser::Firefox,
        Some(121),
        Os::Windows,
    ),
    (
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        DeviceType::Desktop,
        Browser::Firefox,
        Some(121),
        Os::Linux,
    ),
    (
        "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0",
        DeviceType::Mobile,
        Browser::Firefox,
        Some(121),
        Os::Android,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/121.0 Mobile/15E148 Safari/605.1.15",
        DeviceType::Mobile,
        Browser::Firefox,
        Some(121),
        Os::IOs,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
        DeviceType::Desktop,
        Browser::Edge,
        Some(120),
        Os::Windows,
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36 EdgA/120.0.2210.115",
        DeviceType::Mobile,
        Browser::Edge,
        Some(120),
        Os::Android,
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-S901B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
        DeviceType::Mobile,
        Browser::Samsung,
        Some(23),
        Os::Android,
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Safari/537.36",
        DeviceType::Tablet,
        Browser::Samsung,
        Some(23),
        Os::Android,
    ),
    (
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        DeviceType::Desktop,
        Browser::Chrome,
        Some(120),
        Os::ChromeOs,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0",
        DeviceType::Desktop,
        Browser::Opera,
        Some(106),
        Os::Windows,
    ),
    (
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        DeviceType::Bot,
        Browser::Other,
        None,
        Os::Other,
    ),
    (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.71 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        DeviceType::Bot,
        Browser::Chrome,
        Some(120),
        Os::Android,
    ),
    (
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        DeviceType::Bot,
        Browser::Other,
        None,
        Os::Other,
    ),
    (
        "curl/8.4.0",
        DeviceType::Bot,
        Browser::Other,
        None,
        Os::Other,
    ),
    ("", DeviceType::Desktop, Browser::Other, None, Os::Other),
];

#[test]
fn user_agents() {
    for &(ua, device, browser, version, os) in UAS {
        let got = parse_user_agent(ua);
        assert_eq!(
            (got.device_type, got.browser, got.browser_version, got.os),
            (device, browser, version, os),
            "{ua}"
        );
        assert_eq!(got.bot, device == DeviceType::Bot, "{ua}");
    }
}

#[test]
fn urls() {
    let u = parse_url("HTTPS://User:pw@Shop.Example.:8443/cart/items?utm_source=news+letter&q=caf%C3%A9&q=2&flag#top")
        .expect("parses");
    assert_eq!(u.scheme, "https");
    assert_eq!(u.host, "shop.example");
    assert_eq!(u.port, Some(8443));
    assert_eq!(u.path, "/cart/items");
    assert_eq!(u.param("utm_source"), Some("news letter"));
    assert_eq!(u.param("q"), Some("café"));
    assert_eq!(u.param("flag"), Some(""));
    assert_eq!(u.param("missing"), None);
    assert_eq!(u.query.len(), 4);
    assert_eq!(u.fragment, "top");

    let bare = parse_url("https://shop.example").unwrap();
    assert_eq!(
        (bare.path.as_str(), bare.port, bare.query.len()),
        ("/", None, 0)
    );
    let v6 = parse_url("http://[::1]:8080/x").unwrap();
    assert_eq!((v6.host.as_str(), v6.port), ("[::1]", Some(8080)));
    let odd = parse_url("https://a.example/?x=%zz&y=%E2%82&z=100%").unwrap();
    assert_eq!(odd.param("x"), Some("%zz"));
    assert_eq!(odd.param("y"), Some("\u{fffd}"));
    assert_eq!(odd.param("z"), Some("100%"));
    for bad in [
        "",
        "/relative/path",
        "shop.example",
        "https://",
        "https://:80/",
        "1http://x",
        "https://a:port/",
        "https://a b/",
    ] {
        assert_eq!(parse_url(bad), None, "{bad:?}");
    }
    assert_eq!(
        referrer_host("https://www.Google.com/search?q=x"),
        Some("www.google.com".into())
    );
    assert_eq!(referrer_host(""), None);
}

#[test]
fn local_time_and_weekday() {
    // 2026-12-01T10:00:00Z is a Tuesday.
    let t = crate::time::parse_rfc3339("2026-12-01T10:00:00Z").unwrap();
    let utc = local_time(t, 0);
    assert_eq!(
        (utc.date, utc.hour, utc.minute, utc.day_of_week),
        ((2026, 12, 1), 10, 0, Weekday::Tuesday)
    );
    let tokyo = local_time(t, 9 * 60);
    assert_eq!((tokyo.hour, tokyo.day_of_week), (19, Weekday::Tuesday));
    let hawaii = local_time(t, -10 * 60);
    assert_eq!(
        (hawaii.date, hawaii.hour, hawaii.day_of_week),
        ((2026, 12, 1), 0, Weekday::Tuesday)
    );
    let minus_10_30 = local_time(t, -10 * 60 - 30);
    assert_eq!(
        (
            minus_10_30.date,
            minus_10_30.hour,
            minus_10_30.minute,
            minus_10_30.day_of_week
        ),
        ((2026, 11, 30), 23, 30, Weekday::Monday)
    );
    let kathmandu = local_time(t, 5 * 60 + 45);
    assert_eq!((kathmandu.hour, kathmandu.minute), (15, 45));
    assert_eq!(local_time(0, 0).day_of_week, Weekday::Thursday);
    assert_eq!(local_time(-1, 0).day_of_week, Weekday::Wednesday);
    assert_eq!(Weekday::Monday.iso_number(), 1);
    assert_eq!(Weekday::Sunday.iso_number(), 7);
    // Extreme inputs do not panic.
    let _ = local_time(i64::MAX, i32::MAX);
    let _ = local_time(i64::MIN, i32::MIN);
}

#[test]
fn environment_serializes_for_conditions() {
    let t = crate::time::parse_rfc3339("2026-12-05T18:30:00Z").unwrap();
    let env = Environment::new(
        Some("https://shop.example/p/42?color=red"),
        Some("https://www.google.com/"),
        UAS[0].0,
        t,
        60,
    );
    let v = serde_json::to_value(&env).unwrap();
    assert_eq!(v["page"]["host"], "shop.example");
    assert_eq!(v["page"]["query"][0], serde_json::json!(["color", "red"]));
    assert_eq!(v["referrer"]["host"], "www.google.com");
    assert_eq!(v["device"]["deviceType"], "desktop");
    assert_eq!(v["device"]["browser"], "chrome");
    assert_eq!(v["device"]["os"], "windows");
    assert_eq!(v["time"]["hour"], 19);
    assert_eq!(v["time"]["dayOfWeek"], "saturday");
    let none = Environment::new(None, Some("not a url"), "", t, 0);
    assert!(none.page.is_none() && none.referrer.is_none());
}
