//! `vantage`: a wasmtime host that serves a Spin manifest's `wasi:http` components at a PoP,
//! with `wasi:keyvalue` over embedded SQLite or Redis and `wasi:config` variables.

pub mod bench;
pub mod bindings;
pub mod build;
pub mod demo;
pub mod devcert;
pub mod engine;
pub mod kv;
pub mod manifest;
pub mod outbound;
pub mod push;
pub mod routes;
pub mod runtime_config;
pub mod server;
pub mod state;
pub mod variables;
