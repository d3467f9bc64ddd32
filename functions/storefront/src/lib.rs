//! The demo storefront: the files of `site/dist/` (the page and its bundle with the Adobe Web
//! SDK, built from npm by `site/build.mjs`) embedded at compile time, so the component needs no
//! file system under `spin up` or `vantage up`; and `/config.js`, the page's settings from the
//! application's variables (`org_id`). Routed at `/...`: the more specific `/ee/...` and
//! `/v1/...` routes stay with their components.
//!
//! Every answer carries an ETag (`If-None-Match` gets a 304) and `Cache-Control: no-cache`
//! (the file names carry no content hash, so browsers revalidate); an unknown path is a 404
//! `application/problem+json`.

use std::borrow::Cow;

/// One embedded file.
#[derive(Debug)]
pub struct File {
    /// Its URL path (`/index.html`).
    pub path: &'static str,
    /// Its media type.
    pub content_type: &'static str,
    /// A strong ETag of its bytes (quoted).
    pub etag: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

mod generated {
    use super::File;
    include!(concat!(env!("OUT_DIR"), "/files.rs"));
}

pub use generated::FILES;

/// What `/config.js` tells the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteConfig {
    /// The org id alloy builds its cookie names from (`kndctr_<org>_identity`); must be the
    /// one `collect` uses.
    pub org_id: String,
}

/// The org id of spin.toml's `[variables]`, used when the variable is unset.
pub const DEFAULT_ORG_ID: &str = "53A16ACB5CC1D3760A495C99@AdobeOrg";

/// An answer.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body (empty for HEAD and 304).
    pub body: Cow<'static, [u8]>,
}

/// The embedded file at `path`, if any.
pub fn find(path: &str) -> Option<&'static File> {
    FILES
        .binary_search_by(|f| f.path.cmp(path))
        .ok()
        .map(|i| &FILES[i])
}

/// `/config.js`: sets `window.vantageConfig` (JSON, so any org id is safely quoted).
pub fn config_js(config: &SiteConfig) -> String {
    let json = format!(
        "{{\"orgId\":{},\"datastreamId\":\"vantage-demo\"}}",
        json_string(&config.org_id)
    );
    format!("window.vantageConfig = {json};\n")
}

/// A JSON string literal; `<` is escaped too so the text can never close a script element.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '<' => out.push_str("\\u003c"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// FNV-1a, 64 bits (the same as build.rs): the ETag of generated content.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Whether an `If-None-Match` value names `etag` (`*`, a list, weak forms compared weakly).
pub fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let want = bare(etag);
    if_none_match
        .split(',')
        .any(|t| t.trim() == "*" || bare(t) == want)
}

fn problem(status: u16, title: &str, detail: &str) -> Reply {
    let body = format!(
        "{{\"type\":\"about:blank\",\"title\":{},\"status\":{status},\"detail\":{}}}",
        json_string(title),
        json_string(detail)
    );
    Reply {
        status,
        headers: vec![
            ("content-type", "application/problem+json".to_owned()),
            ("cache-control", "no-store".to_owned()),
        ],
        body: Cow::Owned(body.into_bytes()),
    }
}

/// Serves one request. `path` has no query string.
pub fn serve(method: &str, path: &str, if_none_match: Option<&str>, config: &SiteConfig) -> Reply {
    let head = method.eq_ignore_ascii_case("HEAD");
    if !head && !method.eq_ignore_ascii_case("GET") {
        let mut reply = problem(
            405,
            "Method Not Allowed",
            &format!("{method} is not allowed here: the storefront serves files"),
        );
        reply.headers.push(("allow", "GET, HEAD".to_owned()));
        return reply;
    }
    let path = if path.is_empty() || path == "/" {
        "/index.html"
    } else {
        path
    };
    let (content_type, etag, body): (&str, String, Cow<'static, [u8]>) = if path == "/config.js" {
        let text = config_js(config);
        let etag = format!("\"{:016x}\"", fnv1a(text.as_bytes()));
        (
            "text/javascript; charset=utf-8",
            etag,
            Cow::Owned(text.into_bytes()),
        )
    } else if let Some(file) = find(path) {
        (
            file.content_type,
            file.etag.to_owned(),
            Cow::Borrowed(file.body),
        )
    } else {
        return problem(404, "Not Found", &format!("no file at {path}"));
    };
    let mut headers = vec![
        ("etag", etag.clone()),
        ("cache-control", "no-cache".to_owned()),
        ("x-content-type-options", "nosniff".to_owned()),
    ];
    if if_none_match.is_some_and(|v| etag_matches(v, &etag)) {
        return Reply {
            status: 304,
            headers,
            body: Cow::Borrowed(&[]),
        };
    }
    headers.push(("content-type", content_type.to_owned()));
    Reply {
        status: 200,
        headers,
        body: if head { Cow::Borrowed(&[]) } else { body },
    }
}

#[cfg(target_arch = "wasm32")]
mod component {
    use spin_sdk::http::{IntoResponse, Request, Response};
    use spin_sdk::http_component;

    #[http_component]
    fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
        let org_id = vantage_kv::wasi::variable("org_id")
            .unwrap_or_else(|e| {
                eprintln!("storefront: reading the org_id variable: {e}");
                None
            })
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| super::DEFAULT_ORG_ID.to_owned());
        let path = req.path().split('?').next().unwrap_or("/").to_owned();
        let if_none_match = req
            .header("if-none-match")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        let reply = super::serve(
            &req.method().to_string(),
            &path,
            if_none_match.as_deref(),
            &super::SiteConfig { org_id },
        );
        let mut resp = Response::builder();
        resp.status(reply.status);
        for (name, value) in reply.headers {
            resp.header(name, value);
        }
        Ok(resp.body(reply.body.into_owned()).build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SiteConfig {
        SiteConfig {
            org_id: "ABC@AdobeOrg".into(),
        }
    }

    fn header<'a>(r: &'a Reply, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn files_are_sorted_and_the_page_is_embedded() {
        assert!(FILES.windows(2).all(|w| w[0].path < w[1].path));
        for path in ["/index.html", "/app.js", "/style.css", "/favicon.svg"] {
            assert!(find(path).is_some(), "{path} is not embedded");
        }
        let html = std::str::from_utf8(find("/index.html").unwrap().body).unwrap();
        assert!(html.contains("/config.js") && html.contains("/app.js"));
        // The bundle is alloy itself, not a loader pointing at a CDN.
        let js = std::str::from_utf8(find("/app.js").unwrap().body).unwrap();
        assert!(js.contains("https://ns.adobe.com/experience/alloy") && js.contains("kndctr_"));
        assert!(!js.contains("launch.adobe.com") && !js.contains("cdn.jsdelivr"));
    }

    #[test]
    fn root_serves_the_page_with_its_type_and_etag() {
        let r = serve("GET", "/", None, &config());
        assert_eq!(r.status, 200);
        assert_eq!(header(&r, "content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(header(&r, "etag"), Some(find("/index.html").unwrap().etag));
        assert_eq!(r.body.as_ref(), find("/index.html").unwrap().body);
        let r = serve("GET", "/app.js", None, &config());
        assert_eq!(
            header(&r, "content-type"),
            Some("text/javascript; charset=utf-8")
        );
        let r = serve("HEAD", "/style.css", None, &config());
        assert_eq!(r.status, 200);
        assert_eq!(header(&r, "content-type"), Some("text/css; charset=utf-8"));
        assert!(r.body.is_empty());
    }

    #[test]
    fn if_none_match_gets_304() {
        let etag = find("/app.js").unwrap().etag;
        let r = serve("GET", "/app.js", Some(etag), &config());
        assert_eq!(r.status, 304);
        assert!(r.body.is_empty());
        assert_eq!(header(&r, "etag"), Some(etag));
        let listed = format!("\"nope\", W/{etag}");
        assert_eq!(
            serve("GET", "/app.js", Some(&listed), &config()).status,
            304
        );
        assert_eq!(serve("GET", "/app.js", Some("*"), &config()).status, 304);
        assert_eq!(
            serve("GET", "/app.js", Some("\"other\""), &config()).status,
            200
        );
    }

    #[test]
    fn config_js_carries_the_org_id_safely() {
        let r = serve("GET", "/config.js", None, &config());
        assert_eq!(r.status, 200);
        let text = std::str::from_utf8(&r.body).unwrap();
        assert_eq!(
            text,
            "window.vantageConfig = {\"orgId\":\"ABC@AdobeOrg\",\"datastreamId\":\"vantage-demo\"};\n"
        );
        let etag = header(&r, "etag").unwrap().to_owned();
        assert_eq!(
            serve("GET", "/config.js", Some(&etag), &config()).status,
            304
        );
        let odd = SiteConfig {
            org_id: "a\"</script>\\".into(),
        };
        let text = config_js(&odd);
        assert!(text.contains(r#""a\"\u003c/script>\\""#), "{text}");
    }

    #[test]
    fn unknown_paths_and_methods_are_problems() {
        let r = serve("GET", "/nope.html", None, &config());
        assert_eq!(r.status, 404);
        assert_eq!(header(&r, "content-type"), Some("application/problem+json"));
        let body = std::str::from_utf8(&r.body).unwrap();
        assert!(body.contains("\"status\":404") && body.contains("/nope.html"));
        assert_eq!(serve("GET", "/../Cargo.toml", None, &config()).status, 404);
        let r = serve("POST", "/", None, &config());
        assert_eq!(r.status, 405);
        assert_eq!(header(&r, "allow"), Some("GET, HEAD"));
    }
}
