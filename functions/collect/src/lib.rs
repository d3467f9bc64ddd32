//! The `collect` component: the Web SDK edge (`/ee/...`: identity, consent, events and
//! same-page personalization in one round trip) and the outbox to the hub (`/v1/outbox`). All
//! logic is in [`api`], [`edge`], [`pipeline`], [`outbox`] and [`visitor`] (native,
//! unit-tested); the wasm32-only glue below converts the request, reads the variables, opens
//! the store and writes the reply.

pub mod api;
pub mod edge;
pub mod outbox;
pub mod pipeline;
pub mod visitor;

/// One instance serves one request: allocation is a pointer bump (see `vantage-alloc`).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: vantage_alloc::OneRequest = vantage_alloc::OneRequest::new(32 << 20);

#[cfg(target_arch = "wasm32")]
mod component {
    use spin_sdk::http::{IntoResponse, Request, Response};
    use spin_sdk::http_component;
    use vantage_kv::wasi::{WasiKv, variable};

    /// A variable that cannot be read counts as unset.
    fn var(name: &str) -> Option<String> {
        variable(name).unwrap_or_else(|e| {
            eprintln!("collect: reading the {name} variable: {e}");
            None
        })
    }

    #[http_component]
    fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
        let config = match crate::api::Config::from_variables(var) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("collect: {e}");
                let reply = crate::api::problem(500, &format!("server misconfigured: {e}"));
                return Ok(respond(reply, false));
            }
        };
        let method = req.method().to_string();
        let (path, query) = match req.uri().split_once('?') {
            Some((p, q)) => (p.to_owned(), q.to_owned()),
            None => (req.path().to_owned(), String::new()),
        };
        let path = path
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_owned()))
            .unwrap_or(path);
        let headers: Vec<(String, String)> = req
            .headers()
            .filter_map(|(n, v)| Some((n.to_ascii_lowercase(), v.as_str()?.to_owned())))
            .collect();
        let request = crate::api::Request {
            method: &method,
            path: &path,
            query: &query,
            headers: &headers,
            body: req.body(),
        };
        let mut rng = |buf: &mut [u8]| {
            if getrandom::fill(buf).is_err() {
                // No entropy source is a host defect; ids must still differ.
                let seed = now_ms().to_le_bytes();
                for (i, b) in buf.iter_mut().enumerate() {
                    *b = seed[i % 8] ^ (i as u8).wrapping_mul(151);
                }
            }
        };
        let env = crate::api::Env {
            open_store: || WasiKv::open("default").map(Box::new),
            rng: &mut rng,
            clock: &now_ms,
        };
        let reply = crate::api::handle(&request, &config, env);
        Ok(respond(reply, method == "HEAD"))
    }

    fn respond(reply: crate::api::Reply, head: bool) -> Response {
        let mut resp = Response::builder();
        resp.status(reply.status);
        for (name, value) in reply.headers {
            resp.header(name, value);
        }
        resp.body(if head { Vec::new() } else { reply.body })
            .build()
    }

    /// Wall-clock now in ms (wasi:clocks).
    fn now_ms() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}
