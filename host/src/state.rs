//! Per-request host state (the `T` of `Store<T>`) and the per-component environment it shares.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::kv::Stores;
use crate::outbound::OutboundPolicy;

/// What one component may use, fixed at startup and shared by all its requests.
pub struct ComponentEnv {
    /// The component id.
    pub id: String,
    /// Every store the host serves.
    pub stores: Stores,
    /// The labels this component's manifest lists.
    pub allowed_stores: Vec<String>,
    /// Its rendered variables, served through `wasi:config/store`.
    pub variables: BTreeMap<String, String>,
    /// Where it may send outbound requests.
    pub outbound: OutboundPolicy,
}

/// The state of one instance, which lives for one request.
pub struct HostState {
    /// Resources handed to the guest.
    pub table: ResourceTable,
    /// WASI context: no preopens, no environment, no arguments.
    pub wasi: WasiCtx,
    /// WASI HTTP context.
    pub http: WasiHttpCtx,
    /// Memory and instance limits.
    pub limits: StoreLimits,
    /// The component's environment.
    pub env: Arc<ComponentEnv>,
    /// Outbound hooks (a per-instance copy of the policy, as the hooks need `&mut`).
    pub hooks: OutboundPolicy,
    /// When the request's wall-clock budget runs out.
    pub deadline: Instant,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}
