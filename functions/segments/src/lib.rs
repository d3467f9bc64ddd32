//! The `segments` component: `POST /v1/segments/evaluate`, `POST /v1/segments/validate` and
//! `GET /v1/segments/profiles/{namespace}/{id}`. All logic is in [`api`] (native, unit-tested);
//! the wasm32-only glue below converts the request, reads `api_token`, opens the store and
//! writes the reply.

pub mod api;

#[cfg(target_arch = "wasm32")]
mod component {
    use spin_sdk::http::{IntoResponse, Request, Response};
    use spin_sdk::http_component;
    use vantage_kv::wasi::{WasiKv, variable};

    #[http_component]
    fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
        // A token that cannot be read closes the protected routes (503), like an unset one.
        let token = variable("api_token").unwrap_or_else(|e| {
            eprintln!("segments: reading the api_token variable: {e}");
            None
        });
        let method = req.method().to_string();
        let request = crate::api::Request {
            method: &method,
            path: req.path(),
            authorization: req.header("authorization").and_then(|v| v.as_str()),
            body: req.body(),
        };
        let open = || WasiKv::open("default").map(Box::new);
        let reply = crate::api::handle(&request, token.as_deref(), open, now_ms());
        if reply.status >= 500 {
            eprintln!(
                "segments: {method} {}: {}",
                req.path(),
                String::from_utf8_lossy(&reply.body)
            );
        }
        let mut resp = Response::builder();
        resp.status(reply.status);
        for (name, value) in reply.headers {
            resp.header(name, value);
        }
        Ok(resp.body(reply.body).build())
    }

    /// Wall-clock now in ms (wasi:clocks): the evaluation instant.
    fn now_ms() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}
