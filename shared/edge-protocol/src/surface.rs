//! Personalization surfaces: `web://host/path` (a page) and `webapp://app/…`, with an optional
//! `#fragment` naming a part of the page. alloy checks them against
//! `^(web|webapp)://authority(/path)?(#fragment)?$` before sending; the same check here lets
//! the edge ignore anything else, and tells page surfaces (auto-rendered) from fragments.

/// A well-formed surface, borrowed from the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Surface<'a> {
    /// `web` or `webapp`.
    pub scheme: &'a str,
    /// The host (and port) or app id.
    pub authority: &'a str,
    /// The path, with its leading `/`, or `""`.
    pub path: &'a str,
    /// The fragment without `#`, if any.
    pub fragment: Option<&'a str>,
}

impl<'a> Surface<'a> {
    /// Parses `text`; `None` if it is not a surface.
    pub fn parse(text: &'a str) -> Option<Self> {
        let (scheme, rest) = text.split_once("://")?;
        if scheme != "web" && scheme != "webapp" {
            return None;
        }
        let (rest, fragment) = match rest.split_once('#') {
            Some((r, f)) => (r, Some(f)),
            None => (rest, None),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let clean = |s: &str| s.chars().all(|c| !c.is_whitespace() && !c.is_control());
        let valid = !authority.is_empty()
            && clean(authority)
            && clean(path)
            && fragment.is_none_or(|f| !f.is_empty() && clean(f) && !f.contains('#'));
        valid.then_some(Self {
            scheme,
            authority,
            path,
            fragment,
        })
    }

    /// Whether alloy renders propositions for this surface automatically (a page, not a
    /// `#fragment`).
    pub fn is_page(&self) -> bool {
        self.fragment.is_none()
    }
}

/// The page surface alloy asks for on a page at `url` (`https://host/path?q` →
/// `web://host/path`); `None` if `url` is not http(s).
pub fn page_surface(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let rest = &rest[..end];
    let (host, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    (!host.is_empty()).then(|| format!("web://{}{path}", host.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_surfaces() {
        let s = Surface::parse("web://localhost/").unwrap();
        assert_eq!((s.authority, s.path, s.fragment), ("localhost", "/", None));
        assert!(s.is_page());
        let s = Surface::parse("web://shop.example/cart#hero").unwrap();
        assert_eq!((s.path, s.fragment), ("/cart", Some("hero")));
        assert!(!s.is_page());
        assert!(Surface::parse("webapp://com.example.app").is_some());
        for bad in [
            "",
            "web://",
            "http://x/",
            "web:///path",
            "web://a b/",
            "web://a/#",
            "web://a/#b#c",
            "__view__",
        ] {
            assert_eq!(Surface::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn page_surfaces_from_urls() {
        assert_eq!(
            page_surface("https://localhost/").as_deref(),
            Some("web://localhost/")
        );
        assert_eq!(
            page_surface("https://Shop.example/a/b?x=1#f").as_deref(),
            Some("web://shop.example/a/b")
        );
        assert_eq!(page_surface("http://h").as_deref(), Some("web://h/"));
        assert_eq!(page_surface("ftp://h/"), None);
        assert_eq!(page_surface("https:///x"), None);
    }
}
