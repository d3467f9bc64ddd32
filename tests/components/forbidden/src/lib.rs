//! Test component: imports Spin's own key-value interface (`fermyon:spin`), which is outside
//! the vantage:edge world, so the host must refuse it at start and name the import.

#[cfg(target_arch = "wasm32")]
mod component {
    use spin_sdk::http::{IntoResponse, Request, Response};
    use spin_sdk::http_component;

    #[http_component]
    fn handle(_req: Request) -> anyhow::Result<impl IntoResponse> {
        let store = spin_sdk::key_value::Store::open_default()?;
        let hits = store.get("hits")?.map(|v| v.len()).unwrap_or(0);
        Ok(Response::new(200, hits.to_string()))
    }
}
