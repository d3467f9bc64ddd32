//! Host bindings for the store and variables interfaces, generated once from `wit/`.

#[expect(missing_docs, reason = "bindgen-generated code")]
mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "vantage:edge/imports",
        imports: {
            "wasi:config": trappable,
            default: async | trappable,
        },
        with: {
            "wasi:keyvalue/store.bucket": crate::kv::host::Bucket,
            "wasi:keyvalue/atomics.cas": crate::kv::host::Cas,
        },
    });
}

pub use generated::Imports;
pub use generated::wasi::config::store as config;
pub use generated::wasi::keyvalue::{atomics, batch, store};
