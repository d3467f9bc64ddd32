//! Engine policy in one place: compilation, the pooling allocator, epoch interruption, the
//! linker of our world, and the check that refuses components importing anything else.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::bail;
use wasmtime::component::{Component, HasSelf, Linker, types::ComponentItem};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::state::HostState;

/// How often the epoch advances: the granularity of request deadlines and of yielding.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Engine-wide limits, from the command line.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Instances alive at once (the pool size, and the bound on concurrent requests).
    pub max_instances: u32,
    /// Linear memory one instance may grow to.
    pub max_memory_bytes: usize,
    /// Use the pooling allocator (off for tests that start many hosts on a small machine).
    pub pooling: bool,
    /// Cache compiled components on disk between runs.
    pub compile_cache: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            max_instances: 256,
            max_memory_bytes: 128 << 20,
            pooling: true,
            compile_cache: true,
        }
    }
}

/// `anyhow`-style context for `wasmtime::Error`, which is not a `std::error::Error`.
pub trait WasmContext<T> {
    /// Wraps the error with a message saying what was being done.
    fn wasm_context(self, f: impl FnOnce() -> String) -> anyhow::Result<T>;
}

impl<T> WasmContext<T> for wasmtime::Result<T> {
    fn wasm_context(self, f: impl FnOnce() -> String) -> anyhow::Result<T> {
        self.map_err(|e| anyhow::Error::msg(format!("{e:#}")).context(f()))
    }
}

/// Builds the engine.
pub fn build_engine(opts: &EngineOptions) -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.memory_init_cow(true);
    if opts.compile_cache {
        match wasmtime::Cache::from_file(None) {
            Ok(cache) => {
                config.cache(Some(cache));
            }
            Err(e) => {
                tracing::warn!(error = %e, "compiled-component cache unavailable; compiling every start")
            }
        }
    }
    if opts.pooling {
        let n = opts.max_instances;
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(n)
            // A wasip2 component is a few core instances (the program plus shims).
            .total_core_instances(n * 8)
            .total_memories(n * 2)
            .total_tables(n * 4)
            .total_stacks(n)
            .max_memory_size(opts.max_memory_bytes)
            .max_memories_per_component(4)
            .max_tables_per_component(8)
            .max_component_instance_size(1 << 20)
            .max_core_instance_size(1 << 20)
            .table_elements(100_000)
            // Reset freed slots in place instead of unmapping them: with PAGEMAP_SCAN (Linux 6.7+)
            // only the pages a request dirtied are restored by memcpy/memset, so the next
            // request on the slot starts without page faults and without the madvise + TLB
            // shootdown that otherwise dominates the per-request cost under concurrency.
            .pagemap_scan(wasmtime::Enabled::Auto)
            .linear_memory_keep_resident(8 << 20)
            .table_keep_resident(1 << 20)
            .async_stack_keep_resident(1 << 20)
            // What must still be decommitted goes in batches: fewer madvise calls and IPIs.
            .decommit_batch_size(32);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    Engine::new(&config).wasm_context(|| "creating the wasmtime engine".into())
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    /// Starts the ticker thread.
    pub fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.clone();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("vantage-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch thread");
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The linker for our world: WASI, `wasi:http`, `wasi:keyvalue` and `wasi:config`.
pub fn linker(engine: &Engine) -> anyhow::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).wasm_context(|| "linking WASI".into())?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
        .wasm_context(|| "linking wasi:http".into())?;
    crate::bindings::Imports::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)
        .wasm_context(|| "linking wasi:keyvalue and wasi:config".into())?;
    Ok(linker)
}

/// The interfaces of `vantage:edge/edge` (wit/world.wit) a component may import, and the
/// version line each must be on. `wasi:http/proxy` brings http, io, clocks, random and the
/// standard streams; `std-runtime` adds what Rust's standard library imports everywhere.
const ALLOWED_IMPORTS: &[(&str, &str)] = &[
    ("wasi:cli/environment", "0.2."),
    ("wasi:cli/exit", "0.2."),
    ("wasi:cli/terminal-input", "0.2."),
    ("wasi:cli/terminal-output", "0.2."),
    ("wasi:cli/terminal-stdin", "0.2."),
    ("wasi:cli/terminal-stdout", "0.2."),
    ("wasi:cli/terminal-stderr", "0.2."),
    ("wasi:random/insecure-seed", "0.2."),
    ("wasi:http/types", "0.2."),
    ("wasi:http/outgoing-handler", "0.2."),
    ("wasi:io/error", "0.2."),
    ("wasi:io/poll", "0.2."),
    ("wasi:io/streams", "0.2."),
    ("wasi:clocks/monotonic-clock", "0.2."),
    ("wasi:clocks/wall-clock", "0.2."),
    ("wasi:random/random", "0.2."),
    ("wasi:cli/stdin", "0.2."),
    ("wasi:cli/stdout", "0.2."),
    ("wasi:cli/stderr", "0.2."),
    ("wasi:keyvalue/store", "0.2.0-draft2"),
    ("wasi:keyvalue/atomics", "0.2.0-draft2"),
    ("wasi:keyvalue/batch", "0.2.0-draft2"),
    ("wasi:config/store", "0.2.0-draft-2024-09-27"),
];

/// Whether an import name (`wasi:http/types@0.2.0`) is in our world.
pub fn import_allowed(name: &str) -> bool {
    let (iface, version) = name.split_once('@').unwrap_or((name, ""));
    ALLOWED_IMPORTS.iter().any(|(allowed, line)| {
        *allowed == iface
            && if line.ends_with('.') {
                version.starts_with(line)
            } else {
                version == *line
            }
    })
}

/// Refuses a component that imports anything outside our world, naming every such import.
pub fn check_imports(engine: &Engine, component: &Component, id: &str) -> anyhow::Result<()> {
    let ty = component.component_type();
    let bad: Vec<String> = ty
        .imports(engine)
        .filter(|(name, item)| {
            !(import_allowed(name) && matches!(item.ty, ComponentItem::ComponentInstance(_)))
        })
        .map(|(name, _)| name.to_owned())
        .collect();
    if !bad.is_empty() {
        bail!(
            "component {id:?} imports {} outside the vantage:edge world \
             (wasi:http/proxy + wasi:keyvalue + wasi:config): {}",
            if bad.len() == 1 {
                "an interface"
            } else {
                "interfaces"
            },
            bad.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_imports() {
        assert!(import_allowed("wasi:http/types@0.2.0"));
        assert!(import_allowed("wasi:http/types@0.2.6"));
        assert!(import_allowed("wasi:keyvalue/atomics@0.2.0-draft2"));
        assert!(!import_allowed("wasi:keyvalue/atomics@0.2.0-draft"));
        assert!(!import_allowed("wasi:http/types@0.3.0-rc-2026-01-06"));
        assert!(!import_allowed("fermyon:spin/key-value@2.0.0"));
        assert!(!import_allowed("wasi:filesystem/types@0.2.0"));
        assert!(!import_allowed("wasi:sockets/tcp@0.2.0"));
    }
}
