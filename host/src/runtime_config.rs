//! `runtime-config.toml`: which backend serves each key-value store label, in Spin's format.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

/// Where a store label lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// Embedded SQLite in Spin's layout (`type = "spin"`).
    Sqlite {
        /// The database file.
        path: PathBuf,
    },
    /// A Redis server (`type = "redis"`), for stores shared by PoP replicas.
    Redis {
        /// `redis://host:port/db`.
        url: String,
    },
}

/// The parsed runtime config: store label → backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Every configured store, `default` always among them.
    pub stores: BTreeMap<String, StoreConfig>,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    key_value_store: BTreeMap<String, RawStore>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: Option<PathBuf>,
    #[serde(default)]
    url: Option<String>,
}

/// The file Spin keeps the default store in, under the state directory.
pub const DEFAULT_SQLITE_FILE: &str = "sqlite_key_value.db";

impl RuntimeConfig {
    /// The default: one `default` store in `<state_dir>/sqlite_key_value.db`.
    pub fn default_for(state_dir: &Path) -> Self {
        let mut stores = BTreeMap::new();
        stores.insert(
            "default".to_owned(),
            StoreConfig::Sqlite {
                path: state_dir.join(DEFAULT_SQLITE_FILE),
            },
        );
        Self { stores }
    }

    /// Reads a runtime config file. Relative SQLite paths resolve against the file's directory,
    /// as Spin resolves them; a `spin` store without `path` uses the default file.
    pub fn from_file(path: &Path, state_dir: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading runtime config {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base, state_dir)
            .with_context(|| format!("in runtime config {}", path.display()))
    }

    /// Parses runtime-config text.
    pub fn parse(text: &str, base: &Path, state_dir: &Path) -> anyhow::Result<Self> {
        let raw: Raw = toml::from_str(text).context("parsing runtime config")?;
        let mut config = Self::default_for(state_dir);
        for (label, s) in raw.key_value_store {
            let store = match s.kind.as_str() {
                "spin" => {
                    if s.url.is_some() {
                        bail!("store {label:?}: `url` is for redis stores");
                    }
                    let path = match s.path {
                        Some(p) if p.is_absolute() => p,
                        Some(p) => base.join(p),
                        None => state_dir.join(DEFAULT_SQLITE_FILE),
                    };
                    StoreConfig::Sqlite { path }
                }
                "redis" => {
                    let Some(url) = s.url else {
                        bail!("store {label:?}: a redis store needs `url`");
                    };
                    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                        bail!("store {label:?}: redis url must start with redis:// or rediss://");
                    }
                    StoreConfig::Redis { url }
                }
                other => bail!(
                    "store {label:?}: type {other:?} is not supported (use \"spin\" or \"redis\")"
                ),
            };
            config.stores.insert(label, store);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_sqlite_in_state_dir() {
        let c = RuntimeConfig::default_for(Path::new(".spin"));
        assert_eq!(
            c.stores["default"],
            StoreConfig::Sqlite {
                path: PathBuf::from(".spin/sqlite_key_value.db")
            }
        );
    }

    #[test]
    fn redis_and_sqlite_entries() {
        let c = RuntimeConfig::parse(
            r#"
[key_value_store.default]
type = "redis"
url = "redis://127.0.0.1:6379"

[key_value_store.archive]
type = "spin"
path = "archive.db"
"#,
            Path::new("/etc/vantage"),
            Path::new(".spin"),
        )
        .unwrap();
        assert_eq!(
            c.stores["default"],
            StoreConfig::Redis {
                url: "redis://127.0.0.1:6379".into()
            }
        );
        assert_eq!(
            c.stores["archive"],
            StoreConfig::Sqlite {
                path: PathBuf::from("/etc/vantage/archive.db")
            }
        );
    }

    #[test]
    fn bad_entries_are_errors() {
        for text in [
            "[key_value_store.x]\ntype = \"azure_cosmos\"",
            "[key_value_store.x]\ntype = \"redis\"",
            "[key_value_store.x]\ntype = \"redis\"\nurl = \"http://x\"",
        ] {
            assert!(
                RuntimeConfig::parse(text, Path::new("."), Path::new(".")).is_err(),
                "{text}"
            );
        }
    }
}
