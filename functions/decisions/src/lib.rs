//! The `decisions` component: `POST /v1/decisions` (propositions in the Web SDK format,
//! notification events, preview), `POST /v1/decisions/explain`, `POST
//! /v1/decisions/preview-token` and `GET /v1/reports/activities/{id}`. All logic is in [`api`]
//! and the modules it uses (native, unit-tested); the wasm32-only glue below only converts the
//! request, reads the tokens, opens the store and writes the reply.

pub mod api;
pub mod input;
pub mod preview_token;

#[cfg(target_arch = "wasm32")]
mod component {
    use spin_sdk::http::{IntoResponse, Request, Response};
    use spin_sdk::http_component;
    use vantage_kv::wasi::{WasiKv, variable};

    /// A variable that cannot be read closes its routes (503), like an unset one.
    fn secret(name: &str) -> Option<String> {
        variable(name).unwrap_or_else(|e| {
            eprintln!("decisions: reading the {name} variable: {e}");
            None
        })
    }

    #[http_component]
    fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
        let api = secret("api_token");
        let admin = secret("admin_token");
        let method = req.method().to_string();
        let request = crate::api::Request {
            method: &method,
            path: req.path(),
            authorization: req.header("authorization").and_then(|v| v.as_str()),
            body: req.body(),
        };
        let tokens = crate::api::Tokens {
            api: api.as_deref(),
            admin: admin.as_deref(),
        };
        let open = || WasiKv::open("default").map(Box::new);
        let reply = crate::api::handle(&request, tokens, open, now_ms());
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
