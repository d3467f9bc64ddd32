//! Benchmark component: `GET` does one store read and a small JSON answer, the shape of a
//! typical edge lookup (the native baseline in `vantage bench native` does exactly the same
//! work); `POST` increments a counter, to measure the store's write path.

#[cfg(target_arch = "wasm32")]
mod component {
    use spin_sdk::http::{IntoResponse, Method, Request, Response};
    use spin_sdk::http_component;
    use vantage_kv::Kv;
    use vantage_kv::wasi::WasiKv;

    #[http_component]
    fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
        let kv = WasiKv::open("default")?;
        if *req.method() == Method::Post {
            let n = kv.increment("bench:hits", 1)?;
            return Ok(Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(format!(r#"{{"hits":{n}}}"#))
                .build());
        }
        let value = match kv.get("bench:greeting")? {
            Some(v) => v,
            None => {
                kv.set("bench:greeting", b"hello from the edge")?;
                b"hello from the edge".to_vec()
            }
        };
        let body = format!(
            r#"{{"greeting":"{}","ok":true}}"#,
            String::from_utf8_lossy(&value)
        );
        Ok(Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(body)
            .build())
    }
}
