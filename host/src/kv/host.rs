//! `wasi:keyvalue` draft2 and `wasi:config/store` as guests see them: access checks against
//! the manifest, resources in the instance's table, calls forwarded to the backends.

use wasmtime::component::Resource;

use super::{Backend, KvError};
use crate::bindings::{atomics, batch, config, store};
use crate::state::HostState;

/// An open bucket (the `bucket` resource).
pub struct Bucket {
    backend: Backend,
}

/// A CAS handle (the `cas` resource): the key and the value seen when it was made.
pub struct Cas {
    backend: Backend,
    key: String,
    seen: Option<Vec<u8>>,
}

type Outcome<T> = wasmtime::Result<Result<T, store::Error>>;

impl From<KvError> for store::Error {
    fn from(e: KvError) -> Self {
        match e {
            KvError::NoSuchStore => store::Error::NoSuchStore,
            KvError::AccessDenied => store::Error::AccessDenied,
            KvError::Other(m) => store::Error::Other(m),
        }
    }
}

fn wrap<T>(r: Result<T, KvError>) -> Outcome<T> {
    Ok(r.map_err(Into::into))
}

impl HostState {
    fn bucket(&self, b: &Resource<Bucket>) -> wasmtime::Result<Backend> {
        Ok(self.table.get(b)?.backend.clone())
    }
}

impl store::Host for HostState {
    async fn open(&mut self, identifier: String) -> Outcome<Resource<Bucket>> {
        if !self.env.allowed_stores.contains(&identifier) {
            return Ok(Err(store::Error::AccessDenied));
        }
        let Some(backend) = self.env.stores.get(&identifier).cloned() else {
            return Ok(Err(store::Error::NoSuchStore));
        };
        Ok(Ok(self.table.push(Bucket { backend })?))
    }
}

impl store::HostBucket for HostState {
    async fn get(&mut self, b: Resource<Bucket>, key: String) -> Outcome<Option<Vec<u8>>> {
        wrap(self.bucket(&b)?.get(&key).await)
    }

    async fn set(&mut self, b: Resource<Bucket>, key: String, value: Vec<u8>) -> Outcome<()> {
        wrap(self.bucket(&b)?.set(&key, value).await)
    }

    async fn delete(&mut self, b: Resource<Bucket>, key: String) -> Outcome<()> {
        wrap(self.bucket(&b)?.delete(&key).await)
    }

    async fn exists(&mut self, b: Resource<Bucket>, key: String) -> Outcome<bool> {
        wrap(self.bucket(&b)?.exists(&key).await)
    }

    async fn list_keys(
        &mut self,
        b: Resource<Bucket>,
        cursor: Option<String>,
    ) -> Outcome<store::KeyResponse> {
        wrap(
            self.bucket(&b)?
                .list_keys(cursor)
                .await
                .map(|(keys, cursor)| store::KeyResponse { keys, cursor }),
        )
    }

    async fn drop(&mut self, b: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(b)?;
        Ok(())
    }
}

impl atomics::Host for HostState {
    async fn increment(&mut self, b: Resource<Bucket>, key: String, delta: i64) -> Outcome<i64> {
        wrap(self.bucket(&b)?.increment(&key, delta).await)
    }

    async fn swap(
        &mut self,
        cas: Resource<Cas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let handle = self.table.delete(cas)?;
        match handle
            .backend
            .swap(&handle.key, handle.seen.as_deref(), value)
            .await
        {
            Ok(true) => Ok(Ok(())),
            Ok(false) => {
                // The guest gets the handle back, re-read, so it can retry with what is there now.
                let seen = handle.backend.get(&handle.key).await;
                match seen {
                    Ok(seen) => {
                        let fresh = self.table.push(Cas { seen, ..handle })?;
                        Ok(Err(atomics::CasError::CasFailed(fresh)))
                    }
                    Err(e) => Ok(Err(atomics::CasError::StoreError(e.into()))),
                }
            }
            Err(e) => Ok(Err(atomics::CasError::StoreError(e.into()))),
        }
    }
}

impl atomics::HostCas for HostState {
    async fn new(&mut self, b: Resource<Bucket>, key: String) -> Outcome<Resource<Cas>> {
        let backend = self.bucket(&b)?;
        match backend.get(&key).await {
            Ok(seen) => Ok(Ok(self.table.push(Cas { backend, key, seen })?)),
            Err(e) => wrap(Err(e)),
        }
    }

    async fn current(&mut self, cas: Resource<Cas>) -> Outcome<Option<Vec<u8>>> {
        Ok(Ok(self.table.get(&cas)?.seen.clone()))
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl batch::Host for HostState {
    async fn get_many(
        &mut self,
        b: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Outcome<Vec<(String, Option<Vec<u8>>)>> {
        let values = self.bucket(&b)?.get_many(keys.clone()).await;
        wrap(values.map(|v| keys.into_iter().zip(v).collect()))
    }

    async fn set_many(
        &mut self,
        b: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Outcome<()> {
        wrap(self.bucket(&b)?.set_many(key_values).await)
    }

    async fn delete_many(&mut self, b: Resource<Bucket>, keys: Vec<String>) -> Outcome<()> {
        wrap(self.bucket(&b)?.delete_many(keys).await)
    }
}

impl config::Host for HostState {
    fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<String>, config::Error>> {
        Ok(Ok(self.env.variables.get(&key).cloned()))
    }

    fn get_all(&mut self) -> wasmtime::Result<Result<Vec<(String, String)>, config::Error>> {
        Ok(Ok(self
            .env
            .variables
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()))
    }
}
