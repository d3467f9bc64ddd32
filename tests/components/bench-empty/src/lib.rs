//! Benchmark component: answers at once without touching any store, to measure what the host
//! itself costs per request (it also runs under `wasmtime serve`).

#[cfg(target_arch = "wasm32")]
mod component {
    use spin_sdk::http::{IntoResponse, Request, Response};
    use spin_sdk::http_component;

    #[http_component]
    fn handle(_req: Request) -> anyhow::Result<impl IntoResponse> {
        Ok(Response::builder()
            .status(200)
            .header("content-type", "text/plain")
            .body("ok")
            .build())
    }
}
