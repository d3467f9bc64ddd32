//! `allowed_outbound_hosts`: which outbound requests a component may make, checked per request.

use anyhow::bail;
use wasmtime_wasi_http::{WasiBody, WasiHttpHooks};

/// One `allowed_outbound_hosts` entry: `scheme://host:port`, each part may be `*`, the host may
/// be `*.suffix`; a missing port means the scheme's default.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostPattern {
    scheme: Option<String>,
    host: HostMatch,
    port: Option<u16>,
    any_port: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Any,
    Exact(String),
    Suffix(String),
}

/// The outbound policy of one component; empty denies everything.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    patterns: Vec<HostPattern>,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl OutboundPolicy {
    /// Parses the manifest entries.
    pub fn parse(entries: &[String]) -> anyhow::Result<Self> {
        let mut patterns = Vec::new();
        for e in entries {
            let Some((scheme, rest)) = e.split_once("://") else {
                bail!(
                    "allowed_outbound_hosts entry {e:?} needs a scheme, like https://api.example.com"
                );
            };
            let rest = rest.trim_end_matches('/');
            if rest.contains('/') {
                bail!("allowed_outbound_hosts entry {e:?}: paths are not allowed");
            }
            let (host, port) = match rest.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            };
            let host = match host {
                "*" => HostMatch::Any,
                h if h.starts_with("*.") => HostMatch::Suffix(h[1..].to_ascii_lowercase()),
                h if !h.is_empty() && !h.contains('*') => HostMatch::Exact(h.to_ascii_lowercase()),
                _ => bail!("allowed_outbound_hosts entry {e:?}: invalid host"),
            };
            let (port, any_port) = match port {
                Some("*") => (None, true),
                Some(p) => (
                    Some(p.parse().map_err(|_| {
                        anyhow::anyhow!("allowed_outbound_hosts entry {e:?}: invalid port")
                    })?),
                    false,
                ),
                None => (
                    if scheme == "*" {
                        None
                    } else {
                        default_port(scheme)
                    },
                    scheme == "*",
                ),
            };
            patterns.push(HostPattern {
                scheme: (scheme != "*").then(|| scheme.to_ascii_lowercase()),
                host,
                port,
                any_port,
            });
        }
        Ok(Self { patterns })
    }

    /// Whether a request to `scheme://host:port` is allowed.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let host = host.to_ascii_lowercase();
        let port = port.or_else(|| default_port(scheme));
        self.patterns.iter().any(|p| {
            p.scheme.as_deref().is_none_or(|s| s == scheme)
                && match &p.host {
                    HostMatch::Any => true,
                    HostMatch::Exact(h) => *h == host,
                    HostMatch::Suffix(s) => host.ends_with(s.as_str()),
                }
                && (p.any_port || p.port == port)
        })
    }
}

impl WasiHttpHooks for OutboundPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("https").to_owned();
        let host = uri.host().unwrap_or_default().to_owned();
        let allowed = self.allows(&scheme, &host, uri.port_u16());
        if !allowed {
            tracing::warn!(%scheme, %host, "outbound request denied by allowed_outbound_hosts");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        let mut default = DefaultHooks;
        default.send_request(request, options, fut)
    }
}

/// The crate's default behaviour, for requests the policy allows.
struct DefaultHooks;
impl WasiHttpHooks for DefaultHooks {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let p = OutboundPolicy::parse(&[
            "https://api.example.com".into(),
            "http://localhost:3000".into(),
            "https://*.cdn.test".into(),
        ])
        .unwrap();
        assert!(p.allows("https", "api.example.com", None));
        assert!(p.allows("https", "API.example.com", Some(443)));
        assert!(!p.allows("http", "api.example.com", None));
        assert!(!p.allows("https", "api.example.com", Some(8443)));
        assert!(p.allows("http", "localhost", Some(3000)));
        assert!(p.allows("https", "img.cdn.test", None));
        assert!(!p.allows("https", "cdn.test.evil", None));
        assert!(OutboundPolicy::default().patterns.is_empty());
        assert!(!OutboundPolicy::default().allows("https", "x", None));
        let any = OutboundPolicy::parse(&["*://*:*".into()]).unwrap();
        assert!(any.allows("http", "x", Some(1)));
    }

    #[test]
    fn bad_entries() {
        for e in [
            "api.example.com",
            "https://a/b",
            "https://a:x",
            "https://a*b",
        ] {
            assert!(OutboundPolicy::parse(&[e.to_owned()]).is_err(), "{e}");
        }
    }
}
