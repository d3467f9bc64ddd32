//! Test component: a guest that behaves badly on request (traps, loops, exhausts memory,
//! calls out), so host tests can check isolation; plus echo routes for body and header tests.

#[cfg(target_arch = "wasm32")]
mod component {
    use spin_sdk::http::{IntoResponse, Method, Request, Response};
    use spin_sdk::http_component;

    #[http_component]
    async fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
        let path = req.path().to_owned();
        Ok(match path.as_str() {
            "/misbehave/ok" => Response::new(200, "fine"),
            "/misbehave/panic" => panic!("this component panics on purpose"),
            "/misbehave/loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "/misbehave/sleep" => {
                // Blocks in a host call (a clock subscription), not in guest code.
                std::thread::sleep(std::time::Duration::from_secs(3600));
                Response::new(200, "woke up")
            }
            "/misbehave/oom" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 16 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "/misbehave/echo" => {
                let len = req.body().len();
                Response::builder()
                    .status(200)
                    .header("x-body-length", len.to_string())
                    .body(req.into_body())
                    .build()
            }
            "/misbehave/headers" => {
                let map: serde_json::Map<String, serde_json::Value> = req
                    .headers()
                    .map(|(k, v)| (k.to_owned(), v.as_str().unwrap_or_default().into()))
                    .collect();
                Response::new(200, serde_json::Value::Object(map).to_string())
            }
            "/misbehave/outbound" => {
                let url = req
                    .query()
                    .strip_prefix("url=")
                    .unwrap_or("http://127.0.0.1:9/")
                    .to_owned();
                let out = Request::builder().method(Method::Get).uri(url).build();
                match spin_sdk::http::send::<_, Response>(out).await {
                    Ok(r) => Response::new(200, format!("upstream status {}", r.status())),
                    Err(e) => Response::new(502, format!("outbound failed: {e}")),
                }
            }
            _ => Response::new(404, "unknown"),
        })
    }
}
