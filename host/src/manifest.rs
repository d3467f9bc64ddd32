//! Spin manifest v2 (`spin.toml`): the subset Vantage serves, read the way Spin reads it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

/// A parsed and checked `spin.toml`.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Directory the manifest lives in: relative `source` paths and build `workdir`s start here.
    pub base_dir: PathBuf,
    /// `[application]`.
    pub application: Application,
    /// `[variables]`: application variables with their defaults and flags.
    pub variables: BTreeMap<String, VariableDecl>,
    /// `[[trigger.http]]`, in manifest order.
    pub http_triggers: Vec<HttpTrigger>,
    /// `[component.<id>]`.
    pub components: BTreeMap<String, ComponentDecl>,
}

/// `[application]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Application {
    /// Application name.
    pub name: String,
    /// Application version.
    #[serde(default)]
    pub version: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Authors, as Spin lists them.
    #[serde(default)]
    pub authors: Vec<String>,
    /// Trigger-wide settings (`[application.trigger.http] base = "/"`).
    #[serde(default)]
    pub trigger: Option<toml::Table>,
}

/// One `[variables]` entry.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    /// Value used when no provider supplies one.
    #[serde(default)]
    pub default: Option<String>,
    /// Startup fails when no provider supplies a value.
    #[serde(default)]
    pub required: bool,
    /// Never logged or printed.
    #[serde(default)]
    pub secret: bool,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
}

/// One `[[trigger.http]]` entry.
#[derive(Debug, Clone)]
pub struct HttpTrigger {
    /// Optional trigger id.
    pub id: Option<String>,
    /// The route pattern (`/exact`, `/prefix/...`, `/items/:id`), or `None` for a private route.
    pub route: Option<String>,
    /// The component that serves the route.
    pub component: String,
}

/// `[component.<id>]`.
#[derive(Debug, Clone)]
pub struct ComponentDecl {
    /// The component id (the table key).
    pub id: String,
    /// Resolved path of the `.wasm` file.
    pub source: PathBuf,
    /// Store labels the component may open.
    pub key_value_stores: Vec<String>,
    /// Component variables: name → template over application variables.
    pub variables: BTreeMap<String, String>,
    /// Hosts the component may call (`https://api.example.com`, `*://*:*`).
    pub allowed_outbound_hosts: Vec<String>,
    /// `[component.<id>.build]`.
    pub build: Option<BuildDecl>,
}

/// `[component.<id>.build]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildDecl {
    /// Shell command that builds the component.
    pub command: String,
    /// Directory to run it in, relative to the manifest.
    #[serde(default)]
    pub workdir: Option<String>,
    /// Files `spin watch` would watch (accepted, unused here).
    #[serde(default)]
    pub watch: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spin_manifest_version: toml::Value,
    application: Application,
    #[serde(default)]
    variables: BTreeMap<String, VariableDecl>,
    #[serde(default)]
    trigger: BTreeMap<String, Vec<toml::Table>>,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    source: toml::Value,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    build: Option<BuildDecl>,
    #[serde(default)]
    files: Option<toml::Value>,
    #[serde(default)]
    exclude_files: Option<toml::Value>,
    #[serde(default)]
    environment: Option<BTreeMap<String, String>>,
    #[serde(default)]
    dependencies: Option<toml::Table>,
    #[serde(default)]
    sqlite_databases: Vec<String>,
    #[serde(default)]
    ai_models: Vec<String>,
}

impl Manifest {
    /// Reads and checks a manifest file.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading manifest {}", path.display()))?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let base = if base.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            base
        };
        Self::parse(&text, &base).with_context(|| format!("in manifest {}", path.display()))
    }

    /// Parses manifest text; relative paths resolve against `base_dir`.
    pub fn parse(text: &str, base_dir: &Path) -> anyhow::Result<Self> {
        let raw: RawManifest = toml::from_str(text).context("parsing spin.toml")?;
        match raw.spin_manifest_version {
            toml::Value::Integer(2) => {}
            toml::Value::String(ref s) if s == "2" => {}
            other => bail!("unsupported spin_manifest_version {other}: Vantage reads version 2"),
        }
        for name in raw.variables.keys() {
            check_variable_name(name)?;
        }
        for (name, decl) in &raw.variables {
            if decl.required && decl.default.is_some() {
                bail!("variable {name:?} cannot be both required and have a default");
            }
        }

        let mut components = BTreeMap::new();
        for (id, c) in raw.component {
            let source = match c.source {
                toml::Value::String(s) => base_dir.join(s),
                _ => bail!(
                    "component {id:?}: only a local file `source` is supported (no URL or registry sources)"
                ),
            };
            let unsupported = [
                ("files", c.files.is_some()),
                ("exclude_files", c.exclude_files.is_some()),
                ("environment", c.environment.is_some()),
                ("dependencies", c.dependencies.is_some()),
                ("sqlite_databases", !c.sqlite_databases.is_empty()),
                ("ai_models", !c.ai_models.is_empty()),
            ];
            if let Some((field, _)) = unsupported.iter().find(|(_, set)| *set) {
                bail!(
                    "component {id:?}: `{field}` is not supported by Vantage (components get the store and variables only)"
                );
            }
            let _ = c.description;
            for (var, template) in &c.variables {
                check_variable_name(var)
                    .with_context(|| format!("component {id:?} variable {var:?}"))?;
                for referenced in crate::variables::template_refs(template)
                    .with_context(|| format!("component {id:?} variable {var:?}"))?
                {
                    if !raw.variables.contains_key(&referenced) {
                        bail!(
                            "component {id:?} variable {var:?} refers to {{{{ {referenced} }}}}, which [variables] does not declare"
                        );
                    }
                }
            }
            components.insert(
                id.clone(),
                ComponentDecl {
                    id,
                    source,
                    key_value_stores: c.key_value_stores,
                    variables: c.variables,
                    allowed_outbound_hosts: c.allowed_outbound_hosts,
                    build: c.build,
                },
            );
        }

        let mut http_triggers = Vec::new();
        for (kind, triggers) in raw.trigger {
            if kind != "http" {
                bail!("trigger type {kind:?} is not supported: Vantage serves HTTP triggers");
            }
            for t in triggers {
                http_triggers.push(parse_http_trigger(&t, &components)?);
            }
        }
        if http_triggers.is_empty() {
            bail!("the manifest has no [[trigger.http]] entries");
        }

        Ok(Self {
            base_dir: base_dir.to_path_buf(),
            application: raw.application,
            variables: raw.variables,
            http_triggers,
            components,
        })
    }
}

fn parse_http_trigger(
    t: &toml::Table,
    components: &BTreeMap<String, ComponentDecl>,
) -> anyhow::Result<HttpTrigger> {
    for key in t.keys() {
        if !matches!(key.as_str(), "id" | "route" | "component" | "executor") {
            bail!("[[trigger.http]]: unknown field `{key}`");
        }
    }
    let component = match t.get("component") {
        Some(toml::Value::String(s)) => s.clone(),
        Some(_) => {
            bail!("[[trigger.http]]: inline components are not supported; name a [component.<id>]")
        }
        None => bail!("[[trigger.http]]: missing `component`"),
    };
    if !components.contains_key(&component) {
        bail!("[[trigger.http]] names component {component:?}, which is not defined");
    }
    if let Some(exec) = t.get("executor") {
        let kind = exec.get("type").and_then(toml::Value::as_str);
        if kind != Some("spin") && kind != Some("wasi") {
            bail!("[[trigger.http]] for {component:?}: executor {exec} is not supported");
        }
    }
    let route = match t.get("route") {
        Some(toml::Value::String(s)) => {
            crate::routes::RoutePattern::parse(s)
                .with_context(|| format!("route of component {component:?}"))?;
            Some(s.clone())
        }
        Some(toml::Value::Table(tab))
            if tab.get("private").and_then(toml::Value::as_bool) == Some(true) =>
        {
            None
        }
        _ => bail!(
            "[[trigger.http]] for {component:?}: `route` must be a string or {{ private = true }}"
        ),
    };
    let id = t.get("id").and_then(toml::Value::as_str).map(str::to_owned);
    Ok(HttpTrigger {
        id,
        route,
        component,
    })
}

/// Spin's rule: lower-case ASCII letters, digits and underscores, starting with a letter.
pub fn check_variable_name(name: &str) -> anyhow::Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        bail!(
            "invalid variable name {name:?}: use lower-case letters, digits and underscores, starting with a letter"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
spin_manifest_version = 2

[application]
name = "demo"
version = "0.1.0"

[variables]
admin_token = { required = true, secret = true }
org_id = { default = "ACME@AdobeOrg" }

[[trigger.http]]
route = "/health"
component = "health"

[[trigger.http]]
route = "/v1/..."
component = "api"

[component.health]
source = "target/health.wasm"
key_value_stores = ["default"]

[component.api]
source = "api.wasm"
allowed_outbound_hosts = []
[component.api.variables]
token = "Bearer {{ admin_token }}"
org = "{{org_id}}"
[component.api.build]
command = "cargo build"
"#;

    #[test]
    fn parses_the_subset() {
        let m = Manifest::parse(GOOD, Path::new("/app")).unwrap();
        assert_eq!(m.application.name, "demo");
        assert_eq!(m.http_triggers.len(), 2);
        assert_eq!(
            m.components["health"].source,
            Path::new("/app/target/health.wasm")
        );
        assert_eq!(m.components["health"].key_value_stores, vec!["default"]);
        assert!(m.variables["admin_token"].secret);
        assert_eq!(
            m.components["api"].build.as_ref().unwrap().command,
            "cargo build"
        );
    }

    #[test]
    fn rejects_what_it_cannot_serve() {
        let cases = [
            (
                GOOD.replace("spin_manifest_version = 2", "spin_manifest_version = 1"),
                "unsupported spin_manifest_version",
            ),
            (
                GOOD.replace("component = \"api\"", "component = \"nope\""),
                "not defined",
            ),
            (
                GOOD.replace("{{org_id}}", "{{ missing }}"),
                "does not declare",
            ),
            (
                GOOD.replace(
                    "[[trigger.http]]\nroute = \"/health\"",
                    "[[trigger.redis]]\nroute = \"/health\"",
                ),
                "not supported",
            ),
            (
                GOOD.replace("org_id = {", "Org = {"),
                "invalid variable name",
            ),
            (
                GOOD.replace("allowed_outbound_hosts = []", "files = [\"a\"]"),
                "`files` is not supported",
            ),
        ];
        for (text, needle) in cases {
            let err = format!("{:#}", Manifest::parse(&text, Path::new(".")).unwrap_err());
            assert!(err.contains(needle), "{err} should mention {needle}");
        }
    }
}
