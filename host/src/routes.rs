//! HTTP route matching as Spin does it: exact routes, `/prefix/...` wildcards and `:name`
//! segments, the most specific match wins.

use anyhow::bail;

/// A parsed `route = "..."` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    raw: String,
    segments: Vec<Segment>,
    wildcard: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// The outcome of matching a path against a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// What followed the matched prefix of a wildcard route (`spin-path-info`), `""` otherwise.
    pub path_info: String,
    /// `:name` segments and the values they matched.
    pub params: Vec<(String, String)>,
    /// Ordering key: higher is more specific.
    specificity: (usize, usize, bool),
}

impl RoutePattern {
    /// Parses a route; `/...` alone matches everything.
    pub fn parse(route: &str) -> anyhow::Result<Self> {
        if !route.starts_with('/') {
            bail!("route {route:?} must start with '/'");
        }
        let (body, wildcard) = match route.strip_suffix("/...") {
            Some(prefix) => (prefix, true),
            None if route == "/..." => ("", true),
            None => (route, false),
        };
        let mut segments = Vec::new();
        for seg in body.split('/').filter(|s| !s.is_empty()) {
            if seg == "..." || seg.contains("...") {
                bail!("route {route:?}: `...` may only end a route, as `/...`");
            }
            match seg.strip_prefix(':') {
                Some("") => bail!("route {route:?}: a `:` segment needs a name"),
                Some(name) => segments.push(Segment::Param(name.to_owned())),
                None => segments.push(Segment::Literal(seg.to_owned())),
            }
        }
        Ok(Self {
            raw: route.to_owned(),
            segments,
            wildcard,
        })
    }

    /// The route as written in the manifest.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The literal part of the route before any wildcard (`spin-component-route`).
    pub fn base(&self) -> String {
        let mut out = String::new();
        for s in &self.segments {
            out.push('/');
            match s {
                Segment::Literal(l) => out.push_str(l),
                Segment::Param(p) => {
                    out.push(':');
                    out.push_str(p);
                }
            }
        }
        out
    }

    /// Matches a request path (no query string).
    pub fn matches(&self, path: &str) -> Option<RouteMatch> {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        if parts.len() < self.segments.len()
            || (!self.wildcard && parts.len() != self.segments.len())
        {
            return None;
        }
        let mut params = Vec::new();
        let mut literals = 0;
        for (seg, part) in self.segments.iter().zip(&parts) {
            match seg {
                Segment::Literal(l) if l == part => literals += 1,
                Segment::Literal(_) => return None,
                Segment::Param(name) => params.push((name.clone(), (*part).to_owned())),
            }
        }
        let path_info = if self.wildcard {
            let rest = &parts[self.segments.len()..];
            let mut info: String = rest.iter().map(|p| format!("/{p}")).collect();
            if path.ends_with('/') && !rest.is_empty() {
                info.push('/');
            }
            info
        } else {
            String::new()
        };
        Some(RouteMatch {
            path_info,
            params,
            specificity: (literals, self.segments.len(), !self.wildcard),
        })
    }
}

/// A routing table: patterns in manifest order, each with a target.
#[derive(Debug, Clone)]
pub struct Router<T> {
    routes: Vec<(RoutePattern, T)>,
}

impl<T> Router<T> {
    /// Builds a router; two identical patterns are an error, as in Spin.
    pub fn new(routes: Vec<(RoutePattern, T)>) -> anyhow::Result<Self> {
        for (i, (a, _)) in routes.iter().enumerate() {
            if let Some((b, _)) = routes[..i]
                .iter()
                .find(|(b, _)| b.segments == a.segments && b.wildcard == a.wildcard)
            {
                bail!(
                    "duplicate route: {:?} and {:?} match the same paths",
                    b.as_str(),
                    a.as_str()
                );
            }
        }
        Ok(Self { routes })
    }

    /// The most specific route matching `path`.
    pub fn route(&self, path: &str) -> Option<(&RoutePattern, &T, RouteMatch)> {
        self.routes
            .iter()
            .filter_map(|(p, t)| p.matches(path).map(|m| (p, t, m)))
            .max_by_key(|(_, _, m)| m.specificity)
    }

    /// Every route and its target.
    pub fn iter(&self) -> impl Iterator<Item = (&RoutePattern, &T)> {
        self.routes.iter().map(|(p, t)| (p, t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[&str]) -> Router<String> {
        Router::new(
            routes
                .iter()
                .map(|r| (RoutePattern::parse(r).unwrap(), (*r).to_owned()))
                .collect(),
        )
        .unwrap()
    }

    fn hit(r: &Router<String>, path: &str) -> Option<String> {
        r.route(path).map(|(_, t, _)| t.clone())
    }

    #[test]
    fn most_specific_wins() {
        let r = router(&[
            "/...",
            "/health",
            "/v1/...",
            "/v1/segments/...",
            "/items/:id",
            "/items/new",
        ]);
        assert_eq!(hit(&r, "/health").as_deref(), Some("/health"));
        assert_eq!(hit(&r, "/healthz").as_deref(), Some("/..."));
        assert_eq!(
            hit(&r, "/v1/segments/evaluate").as_deref(),
            Some("/v1/segments/...")
        );
        assert_eq!(hit(&r, "/v1/segments").as_deref(), Some("/v1/segments/..."));
        assert_eq!(hit(&r, "/v1/decisions").as_deref(), Some("/v1/..."));
        assert_eq!(hit(&r, "/items/new").as_deref(), Some("/items/new"));
        assert_eq!(hit(&r, "/items/42").as_deref(), Some("/items/:id"));
        assert_eq!(hit(&r, "/").as_deref(), Some("/..."));
    }

    #[test]
    fn no_match_is_none() {
        let r = router(&["/health", "/v1/..."]);
        assert_eq!(hit(&r, "/"), None);
        assert_eq!(hit(&r, "/health/x"), None);
        assert_eq!(hit(&r, "/v2"), None);
    }

    #[test]
    fn path_info_and_params() {
        let p = RoutePattern::parse("/ee/...").unwrap();
        assert_eq!(
            p.matches("/ee/v1/interact").unwrap().path_info,
            "/v1/interact"
        );
        assert_eq!(p.matches("/ee").unwrap().path_info, "");
        assert_eq!(p.base(), "/ee");
        let p = RoutePattern::parse("/users/:id/...").unwrap();
        let m = p.matches("/users/7/orders").unwrap();
        assert_eq!(m.params, vec![("id".to_owned(), "7".to_owned())]);
        assert_eq!(m.path_info, "/orders");
    }

    #[test]
    fn bad_routes_and_duplicates() {
        assert!(RoutePattern::parse("health").is_err());
        assert!(RoutePattern::parse("/a/.../b").is_err());
        assert!(RoutePattern::parse("/a/:").is_err());
        let dup = Router::new(vec![
            (RoutePattern::parse("/a/...").unwrap(), 1),
            (RoutePattern::parse("/a/...").unwrap(), 2),
        ]);
        assert!(dup.is_err());
    }
}
