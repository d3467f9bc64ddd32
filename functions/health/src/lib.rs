//! `GET /health`: the version and whether the default store answers, for load-balancer probes.

use serde_json::json;

/// What a probe learns: healthy (200) when the store answers a read, degraded (503) otherwise.
pub fn report(store: Result<(), String>) -> (u16, serde_json::Value) {
    let (status, store_status) = match &store {
        Ok(()) => (200, json!({"default": "ok"})),
        Err(e) => (503, json!({"default": {"error": e}})),
    };
    let body = json!({
        "status": if status == 200 { "ok" } else { "degraded" },
        "service": "vantage",
        "version": env!("CARGO_PKG_VERSION"),
        "stores": store_status,
    });
    (status, body)
}

#[cfg(target_arch = "wasm32")]
mod component {
    use spin_sdk::http::{IntoResponse, Method, Request, Response};
    use spin_sdk::http_component;
    use vantage_kv::Kv;
    use vantage_kv::wasi::WasiKv;

    #[http_component]
    fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
        if !matches!(req.method(), Method::Get | Method::Head) {
            return Ok(Response::builder()
                .status(405)
                .header("allow", "GET, HEAD")
                .header("content-type", "application/problem+json")
                .body(r#"{"type":"about:blank","title":"Method Not Allowed","status":405}"#)
                .build());
        }
        let store = WasiKv::open("default")
            .and_then(|kv| kv.get("health:probe").map(|_| ()))
            .map_err(|e| e.to_string());
        let (status, body) = super::report(store);
        Ok(Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .header("cache-control", "no-store")
            .body(body.to_string())
            .build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_and_degraded() {
        let (s, b) = report(Ok(()));
        assert_eq!(s, 200);
        assert_eq!(b["status"], "ok");
        assert_eq!(b["version"], env!("CARGO_PKG_VERSION"));
        let (s, b) = report(Err("boom".into()));
        assert_eq!(s, 503);
        assert_eq!(b["stores"]["default"]["error"], "boom");
    }
}
