//! Test component: every store and variable operation over HTTP, so host tests can drive
//! `wasi:keyvalue` and `wasi:config` through the real guest API (`vantage-kv`).
//!
//! Contract: 2xx on success with the result in the body; 404 for a missing key or variable;
//! 403/404/500 with the store error's name for `open` failures; 409 when a CAS update gave up.

#[cfg(target_arch = "wasm32")]
mod component {
    use spin_sdk::http::{IntoResponse, Method, Request, Response};
    use spin_sdk::http_component;
    use vantage_kv::wasi::{WasiKv, variable};
    use vantage_kv::{Error, Kv};

    fn reply(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response::builder().status(status).body(body.into()).build()
    }

    fn store_error(e: &Error) -> Response {
        let status = match e {
            Error::AccessDenied => 403,
            Error::NoSuchStore => 404,
            Error::Contended { .. } => 409,
            Error::Other(_) => 500,
        };
        reply(status, format!("{e:?}"))
    }

    fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    #[http_component]
    fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
        // Under a wildcard route the operation is what follows the route's prefix.
        let path = req
            .header("spin-path-info")
            .and_then(|v| v.as_str())
            .filter(|p| !p.is_empty())
            .unwrap_or(req.path())
            .to_owned();
        let parts: Vec<&str> = path.trim_start_matches('/').splitn(3, '/').collect();
        let (op, store, key) = match parts.as_slice() {
            [op, store, key] => (*op, *store, *key),
            [op, store] => (*op, *store, ""),
            _ => return Ok(reply(400, "usage: /{op}/{store}/{key}")),
        };
        if op == "var" {
            return Ok(match variable(store) {
                Ok(Some(v)) => reply(200, v),
                Ok(None) => reply(404, "no such variable"),
                Err(e) => store_error(&e),
            });
        }
        let kv = match WasiKv::open(store) {
            Ok(kv) => kv,
            Err(e) => return Ok(store_error(&e)),
        };
        let result: Result<Response, Error> = (|| {
            Ok(match (req.method(), op) {
                (Method::Get, "open") => reply(200, "ok"),
                (Method::Get, "kv") => match kv.get(key)? {
                    Some(v) => reply(200, v),
                    None => reply(404, "absent"),
                },
                (Method::Put, "kv") => {
                    kv.set(key, req.body())?;
                    reply(204, "")
                }
                (Method::Delete, "kv") => {
                    kv.delete(key)?;
                    reply(204, "")
                }
                (Method::Get, "exists") => reply(200, kv.exists(key)?.to_string()),
                (Method::Post, "incr") => {
                    let by = query_param(req.query(), "by")
                        .and_then(|b| b.parse().ok())
                        .unwrap_or(1);
                    reply(200, kv.increment(key, by)?.to_string())
                }
                (Method::Post, "update") => {
                    // Read-modify-write of a decimal counter through CAS with bounded retries.
                    let mut attempts = 0u32;
                    let wrote = vantage_kv::update::<_, _, Error>(&kv, key, 64, |cur| {
                        attempts += 1;
                        let n: u64 = match cur {
                            None => 0,
                            Some(b) => std::str::from_utf8(b)
                                .ok()
                                .and_then(|s| s.parse().ok())
                                .ok_or_else(|| Error::Other("not a decimal counter".into()))?,
                        };
                        Ok(Some((n + 1).to_string().into_bytes()))
                    })?;
                    let body = serde_json::json!({
                        "value": String::from_utf8_lossy(&wrote.unwrap_or_default()),
                        "attempts": attempts,
                    });
                    reply(200, body.to_string())
                }
                (Method::Post, "cas-conflict") => {
                    // A write between cas::new and swap must make the swap fail.
                    let (cas, _) = kv.cas_read(key)?;
                    kv.set(key, b"intervening")?;
                    let swapped = kv.cas_write(cas, b"stale")?;
                    reply(
                        200,
                        if swapped {
                            "swapped"
                        } else {
                            "conflict-detected"
                        },
                    )
                }
                (Method::Post, "batch") => {
                    let body: serde_json::Value = serde_json::from_slice(req.body())
                        .map_err(|e| Error::Other(e.to_string()))?;
                    if let Some(set) = body["set"].as_object() {
                        let entries: Vec<(&str, &[u8])> = set
                            .iter()
                            .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default().as_bytes()))
                            .collect();
                        kv.set_many(&entries)?;
                    }
                    if let Some(del) = body["delete"].as_array() {
                        let keys: Vec<&str> = del.iter().filter_map(|k| k.as_str()).collect();
                        kv.delete_many(&keys)?;
                    }
                    let keys: Vec<&str> = body["get"]
                        .as_array()
                        .map(|a| a.iter().filter_map(|k| k.as_str()).collect())
                        .unwrap_or_default();
                    let values: Vec<serde_json::Value> = kv
                        .get_many(&keys)?
                        .into_iter()
                        .map(|v| match v {
                            Some(b) => String::from_utf8_lossy(&b).into_owned().into(),
                            None => serde_json::Value::Null,
                        })
                        .collect();
                    reply(200, serde_json::Value::from(values).to_string())
                }
                (Method::Get, "keys") => {
                    let prefix = query_param(req.query(), "prefix").unwrap_or("");
                    let mut keys = kv.keys_with_prefix(prefix)?;
                    keys.sort();
                    keys.dedup();
                    reply(200, serde_json::json!(keys).to_string())
                }
                _ => reply(405, "unknown operation"),
            })
        })();
        Ok(result.unwrap_or_else(|e| store_error(&e)))
    }
}
