//! The component backend: [`Kv`] over the host's `wasi:keyvalue` draft2, plus application
//! variables over `wasi:config/store`, both bound once here from `wit/world.wit`.

#[allow(
    unsafe_code,
    missing_docs,
    reason = "wit-bindgen generated code needs unsafe glue"
)]
mod bindings {
    wit_bindgen::generate!({
        world: "vantage:edge/imports@0.1.0",
        path: "../../wit",
        generate_all,
    });
}

use bindings::wasi::config::store as config;
use bindings::wasi::keyvalue::{atomics, batch, store};

use crate::{Error, KeyPage, Kv, Result};

impl From<store::Error> for Error {
    fn from(e: store::Error) -> Self {
        match e {
            store::Error::NoSuchStore => Error::NoSuchStore,
            store::Error::AccessDenied => Error::AccessDenied,
            store::Error::Other(msg) => Error::Other(msg),
        }
    }
}

/// An open `wasi:keyvalue` bucket.
pub struct WasiKv {
    bucket: store::Bucket,
}

impl WasiKv {
    /// Opens the store the manifest names (`key_value_stores = ["default"]`).
    pub fn open(name: &str) -> Result<Self> {
        Ok(Self {
            bucket: store::open(name)?,
        })
    }
}

impl Kv for WasiKv {
    type Cas = atomics::Cas;

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.bucket.get(key)?)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        Ok(self.bucket.set(key, value)?)
    }

    fn delete(&self, key: &str) -> Result<()> {
        Ok(self.bucket.delete(key)?)
    }

    fn exists(&self, key: &str) -> Result<bool> {
        Ok(self.bucket.exists(key)?)
    }

    fn list_keys(&self, cursor: Option<&str>) -> Result<KeyPage> {
        let page = self.bucket.list_keys(cursor)?;
        Ok(KeyPage {
            keys: page.keys,
            cursor: page.cursor,
        })
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64> {
        Ok(atomics::increment(&self.bucket, key, delta)?)
    }

    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        let owned: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        let found = batch::get_many(&self.bucket, &owned)?;
        // The host answers key by key; match by key so order never matters.
        let mut map: std::collections::HashMap<String, Option<Vec<u8>>> =
            found.into_iter().collect();
        Ok(keys.iter().map(|k| map.remove(*k).flatten()).collect())
    }

    fn set_many(&self, entries: &[(&str, &[u8])]) -> Result<()> {
        let owned: Vec<(String, Vec<u8>)> = entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
            .collect();
        Ok(batch::set_many(&self.bucket, &owned)?)
    }

    fn delete_many(&self, keys: &[&str]) -> Result<()> {
        let owned: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        Ok(batch::delete_many(&self.bucket, &owned)?)
    }

    fn cas_read(&self, key: &str) -> Result<(Self::Cas, Option<Vec<u8>>)> {
        let cas = atomics::Cas::new(&self.bucket, key)?;
        let current = cas.current()?;
        Ok((cas, current))
    }

    fn cas_write(&self, cas: Self::Cas, value: &[u8]) -> Result<bool> {
        match atomics::swap(cas, value) {
            Ok(()) => Ok(true),
            Err(atomics::CasError::CasFailed(_)) => Ok(false),
            Err(atomics::CasError::StoreError(e)) => Err(e.into()),
        }
    }
}

/// An application variable (`[variables]` in spin.toml, exposed through `wasi:config/store`).
pub fn variable(name: &str) -> Result<Option<String>> {
    config::get(name).map_err(|e| match e {
        config::Error::Upstream(m) | config::Error::Io(m) => Error::Other(m),
    })
}
