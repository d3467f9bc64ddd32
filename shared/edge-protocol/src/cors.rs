//! CORS for a credentialed SDK: alloy sends `credentials: "include"`, so every answer must echo
//! the exact `Origin` with `Access-Control-Allow-Credentials: true` (a `*` fails in browsers).
//! alloy's requests are "simple" (text/plain POST) and need no preflight, but other SDKs and
//! server-side pages may send one, so preflights are answered too. `Vary: Origin` keeps a CDN
//! from serving one origin's answer to another.

/// Longest `Origin` echoed.
pub const MAX_ORIGIN_LEN: usize = 2048;
/// How long a browser may cache a preflight answer, seconds.
pub const PREFLIGHT_MAX_AGE: u32 = 600;
/// Methods the edge endpoints accept.
pub const ALLOWED_METHODS: &str = "POST, OPTIONS";
/// Response headers alloy reads and must be allowed to see.
pub const EXPOSED_HEADERS: &str = "x-adobe-edge, Retry-After";

/// Which origins get CORS headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AllowedOrigins {
    /// Any well-formed origin, echoed (the reference platform's behaviour: the routes are public).
    #[default]
    Any,
    /// Only these exact origins (`https://shop.example`).
    List(Vec<String>),
}

impl AllowedOrigins {
    fn allows(&self, origin: &str) -> bool {
        match self {
            Self::Any => true,
            Self::List(list) => list.iter().any(|o| o == origin),
        }
    }
}

/// Whether `origin` is a serialized origin we may echo into a header: `null`, or
/// `scheme://host[:port]` of visible ASCII without path, query or fragment.
pub fn is_valid_origin(origin: &str) -> bool {
    if origin == "null" {
        return true;
    }
    if origin.is_empty() || origin.len() > MAX_ORIGIN_LEN {
        return false;
    }
    let Some((scheme, host)) = origin.split_once("://") else {
        return false;
    };
    !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b'?' | b'#' | b',' | b'"' | b'\\'))
}

/// The CORS headers of an actual (non-preflight) answer. Always `Vary: Origin`; the
/// `Access-Control-*` headers only for an allowed, well-formed origin.
pub fn response_headers(
    origin: Option<&str>,
    allowed: &AllowedOrigins,
) -> Vec<(&'static str, String)> {
    let mut headers = vec![("Vary", "Origin".to_owned())];
    if let Some(origin) = origin.filter(|o| is_valid_origin(o) && allowed.allows(o)) {
        headers.push(("Access-Control-Allow-Origin", origin.to_owned()));
        headers.push(("Access-Control-Allow-Credentials", "true".to_owned()));
        headers.push(("Access-Control-Expose-Headers", EXPOSED_HEADERS.to_owned()));
    }
    headers
}

/// The answer to an `OPTIONS` preflight: always 204; the `Access-Control-*` headers only for
/// an allowed, well-formed origin. Requested headers are echoed when they are a plain token
/// list, otherwise `Content-Type` is allowed.
pub fn preflight(
    origin: Option<&str>,
    request_headers: Option<&str>,
    allowed: &AllowedOrigins,
) -> (u16, Vec<(&'static str, String)>) {
    let mut headers = vec![("Vary", "Origin".to_owned())];
    if let Some(origin) = origin.filter(|o| is_valid_origin(o) && allowed.allows(o)) {
        let allow_headers = request_headers
            .map(str::trim)
            .filter(|h| !h.is_empty() && h.len() <= 1024 && is_token_list(h))
            .unwrap_or("Content-Type");
        headers.extend([
            ("Access-Control-Allow-Origin", origin.to_owned()),
            ("Access-Control-Allow-Credentials", "true".to_owned()),
            ("Access-Control-Allow-Methods", ALLOWED_METHODS.to_owned()),
            ("Access-Control-Allow-Headers", allow_headers.to_owned()),
            ("Access-Control-Max-Age", PREFLIGHT_MAX_AGE.to_string()),
        ]);
    }
    (204, headers)
}

fn is_token_list(text: &str) -> bool {
    text.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_'
                    | b','
                    | b' '
                    | b'.'
                    | b'!'
                    | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'^'
                    | b'`'
                    | b'|'
                    | b'~'
            )
    })
}

/// What to do with a request method on an edge endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodCheck {
    /// `POST`: handle it.
    Handle,
    /// `OPTIONS`: answer with [`preflight`].
    Preflight,
    /// Anything else: 405 with `Allow: POST, OPTIONS`.
    NotAllowed,
}

/// Classifies a request method (case-sensitive, as HTTP methods are).
pub fn check_method(method: &str) -> MethodCheck {
    match method {
        "POST" => MethodCheck::Handle,
        "OPTIONS" => MethodCheck::Preflight,
        _ => MethodCheck::NotAllowed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(headers: &'a [(&str, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn echoes_the_exact_origin_with_credentials_never_star() {
        let h = response_headers(Some("https://localhost"), &AllowedOrigins::Any);
        assert_eq!(
            get(&h, "Access-Control-Allow-Origin"),
            Some("https://localhost")
        );
        assert_eq!(get(&h, "Access-Control-Allow-Credentials"), Some("true"));
        assert_eq!(
            get(&h, "Access-Control-Expose-Headers"),
            Some(EXPOSED_HEADERS)
        );
        assert_eq!(get(&h, "Vary"), Some("Origin"));
        let h = response_headers(Some("http://shop.example:8080"), &AllowedOrigins::Any);
        assert_eq!(
            get(&h, "Access-Control-Allow-Origin"),
            Some("http://shop.example:8080")
        );
        let h = response_headers(None, &AllowedOrigins::Any);
        assert_eq!(get(&h, "Access-Control-Allow-Origin"), None);
        assert!(h.iter().all(|(_, v)| v != "*"));
    }

    #[test]
    fn refuses_malformed_or_unlisted_origins() {
        for bad in [
            "*",
            "",
            "https://a/b",
            "https://a\r\nX: y",
            "localhost",
            "https://",
            "https://a b",
        ] {
            let h = response_headers(Some(bad), &AllowedOrigins::Any);
            assert_eq!(get(&h, "Access-Control-Allow-Origin"), None, "{bad:?}");
        }
        let list = AllowedOrigins::List(vec!["https://shop.example".into()]);
        assert!(
            get(
                &response_headers(Some("https://shop.example"), &list),
                "Access-Control-Allow-Origin"
            )
            .is_some()
        );
        assert!(
            get(
                &response_headers(Some("https://evil.example"), &list),
                "Access-Control-Allow-Origin"
            )
            .is_none()
        );
    }

    #[test]
    fn answers_preflights() {
        let (status, h) = preflight(
            Some("https://localhost"),
            Some("content-type, x-custom"),
            &AllowedOrigins::Any,
        );
        assert_eq!(status, 204);
        assert_eq!(
            get(&h, "Access-Control-Allow-Origin"),
            Some("https://localhost")
        );
        assert_eq!(
            get(&h, "Access-Control-Allow-Methods"),
            Some("POST, OPTIONS")
        );
        assert_eq!(
            get(&h, "Access-Control-Allow-Headers"),
            Some("content-type, x-custom")
        );
        assert_eq!(get(&h, "Access-Control-Max-Age"), Some("600"));
        let (_, h) = preflight(
            Some("https://localhost"),
            Some("a\nb"),
            &AllowedOrigins::Any,
        );
        assert_eq!(
            get(&h, "Access-Control-Allow-Headers"),
            Some("Content-Type")
        );
        let (status, h) = preflight(None, None, &AllowedOrigins::Any);
        assert_eq!((status, h.len()), (204, 1));
    }

    #[test]
    fn methods() {
        assert_eq!(check_method("POST"), MethodCheck::Handle);
        assert_eq!(check_method("OPTIONS"), MethodCheck::Preflight);
        assert_eq!(check_method("GET"), MethodCheck::NotAllowed);
        assert_eq!(check_method("post"), MethodCheck::NotAllowed);
    }
}
