//! Tests of the collect component's request logic over an in-memory store.
