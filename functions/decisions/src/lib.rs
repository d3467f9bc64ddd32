//! The `decisions` component: `POST /v1/decisions` (propositions in the Web SDK format,
//! notification events, preview), `POST /v1/decisions/explain`, `POST
//! /v1/decisions/preview-token` and `GET /v1/reports/activities/{id}`. All logic is in [`api`]
//! and the modules it uses (native, unit-tested); the wasm32-only glue below only converts the
//! request, reads the tokens, opens the store and writes the reply.

pub mod api;
pub mod input;
pub mod preview_token;

/// One instance serves one request: allocation is a pointer bump (see `vantage-alloc`). A
/// decision allocates thousands of small blocks (the activities it reads, the answer it
/// writes) and frees them all at the end, which the instance's teardown does anyway.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: vantage_alloc::OneRequest = vantage_alloc::OneRequest::new(32 << 20);

#[cfg(target_arch = "wasm32")]
mod component {
    use spin_sdk::http::{IntoResponse, Request, Response};
    use spin_sdk::http_component;
    use vantage_kv::wasi::{WasiKv, variable};

    /// A variable that cannot be read counts as unset (closing the routes a token guards).
    fn var(name: &str) -> Option<String> {
        variable(name).unwrap_or_else(|e| {
            eprintln!("decisions: reading the {name} variable: {e}");
            None
        })
    }

    #[http_component]
    fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
        let api = var("api_token");
        let admin = var("admin_token");
        // Unset: the built-in CDN headers; a value that does not parse answers 500 naming it.
        let geo_headers = var("geo_headers");
        let method = req.method().to_string();
        let names: Vec<(String, &str)> = req
            .headers()
            .filter_map(|(name, value)| Some((name.to_ascii_lowercase(), value.as_str()?)))
            .collect();
        let headers: Vec<(&str, &str)> = names.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        let request = crate::api::Request {
            method: &method,
            path: req.path(),
            authorization: req.header("authorization").and_then(|v| v.as_str()),
            headers: &headers,
            body: req.body(),
        };
        let vars = crate::api::Variables {
            api: api.as_deref(),
            admin: admin.as_deref(),
            geo_headers: geo_headers.as_deref(),
        };
        let open = || WasiKv::open("default").map(Box::new);
        let reply = crate::api::handle(&request, vars, open, now_ms());
        if reply.status >= 500 {
            eprintln!(
                "decisions: {} {}: {}",
                method,
                req.path(),
                String::from_utf8_lossy(&reply.body)
            );
        }
        let mut resp = Response::builder();
        resp.status(reply.status);
        for (name, value) in reply.headers {
            resp.header(name, value);
        }
        // HEAD gets the headers only.
        let body = if method == "HEAD" {
            Vec::new()
        } else {
            reply.body
        };
        Ok(resp.body(body).build())
    }

    /// Wall-clock now in ms (wasi:clocks).
    fn now_ms() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}
