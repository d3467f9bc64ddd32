//! The `projection` component: `POST /v1/projection` ingests what the hub projects to the edge,
//! `GET`/`DELETE /v1/profiles/{namespace}/{id}` read and forget a profile. All logic is in
//! [`api`] (native, unit-tested); the wasm32-only glue below only converts the request,
//! reads `admin_token`, opens the store and writes the reply.

pub mod api;

#[cfg(target_arch = "wasm32")]
mod component {
    use spin_sdk::http::{IntoResponse, Request, Response};
    use spin_sdk::http_component;
    use vantage_kv::wasi::{WasiKv, variable};

    #[http_component]
    fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
        // A token that cannot be read closes the admin routes (503), like an unset one.
        let token = variable("admin_token").unwrap_or_else(|e| {
            eprintln!("projection: reading the admin_token variable: {e}");
            None
        });
        let method = req.method().to_string();
        let header = |name: &str| req.header(name).and_then(|v| v.as_str());
        let request = crate::api::Request {
            method: &method,
            path: req.path(),
            authorization: header("authorization"),
            content_type: header("content-type"),
            body: req.body(),
        };
        let open = || WasiKv::open("default").map(Box::new);
        let reply = crate::api::handle(&request, token.as_deref(), open, now_ms());
        if reply.status >= 500 {
            eprintln!(
                "projection: {} {}: {}",
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
        Ok(resp.body(reply.body).build())
    }

    /// Wall-clock now in ms (wasi:clocks); timestamps in records decide order, this only
    /// stamps creation, expiry and tombstone lifetimes.
    fn now_ms() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}
