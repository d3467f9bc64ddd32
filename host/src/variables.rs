//! Application variables: `[variables]` defaults, `SPIN_VARIABLE_<NAME>` overrides, and the
//! `{{ name }}` templates of component variables, resolved once at startup as Spin does.

use std::collections::BTreeMap;

use anyhow::{Context, bail};

use crate::manifest::VariableDecl;

/// Resolved application variables, with the names of the secret ones.
#[derive(Clone, Default)]
pub struct Variables {
    values: BTreeMap<String, String>,
    secrets: Vec<String>,
}

impl std::fmt::Debug for Variables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets never reach a log line, even through Debug.
        let shown: BTreeMap<&str, &str> = self
            .values
            .iter()
            .map(|(k, v)| {
                let v = if self.secrets.contains(k) {
                    "<secret>"
                } else {
                    v.as_str()
                };
                (k.as_str(), v)
            })
            .collect();
        f.debug_struct("Variables").field("values", &shown).finish()
    }
}

impl Variables {
    /// Resolves every declared variable from `env` (name → value), falling back to defaults.
    /// A required variable without a value is an error naming the variable and how to set it.
    pub fn resolve(
        decls: &BTreeMap<String, VariableDecl>,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
        let mut values = BTreeMap::new();
        let mut secrets = Vec::new();
        let mut missing = Vec::new();
        for (name, decl) in decls {
            let env_name = format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase());
            match env(&env_name).or_else(|| decl.default.clone()) {
                Some(v) => {
                    values.insert(name.clone(), v);
                }
                None if decl.required => missing.push(format!("{name} (set {env_name})")),
                None => {}
            }
            if decl.secret {
                secrets.push(name.clone());
            }
        }
        if !missing.is_empty() {
            bail!("required variables have no value: {}", missing.join(", "));
        }
        Ok(Self { values, secrets })
    }

    /// The value of an application variable.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Renders a component's variables (name → template) against these values.
    pub fn render_component(
        &self,
        templates: &BTreeMap<String, String>,
    ) -> anyhow::Result<BTreeMap<String, String>> {
        templates
            .iter()
            .map(|(k, t)| {
                render(t, |name| self.get(name).map(str::to_owned))
                    .with_context(|| format!("component variable {k:?}"))
                    .map(|v| (k.clone(), v))
            })
            .collect()
    }
}

/// The variable names a template refers to.
pub fn template_refs(template: &str) -> anyhow::Result<Vec<String>> {
    let mut refs = Vec::new();
    render(template, |name| {
        refs.push(name.to_owned());
        Some(String::new())
    })?;
    Ok(refs)
}

/// Expands `{{ name }}` in `template`; `{{` must be closed and name a variable with a value.
fn render(
    template: &str,
    mut lookup: impl FnMut(&str) -> Option<String>,
) -> anyhow::Result<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            bail!("unclosed `{{{{` in {template:?}");
        };
        let name = after[..end].trim();
        crate::manifest::check_variable_name(name)?;
        match lookup(name) {
            Some(v) => out.push_str(&v),
            None => bail!("variable {name:?} has no value"),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decls() -> BTreeMap<String, VariableDecl> {
        let mut d = BTreeMap::new();
        d.insert(
            "admin_token".into(),
            VariableDecl {
                required: true,
                secret: true,
                ..Default::default()
            },
        );
        d.insert(
            "org_id".into(),
            VariableDecl {
                default: Some("ACME@AdobeOrg".into()),
                ..Default::default()
            },
        );
        d
    }

    #[test]
    fn env_overrides_defaults_and_required_is_enforced() {
        let err = Variables::resolve(&decls(), |_| None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("admin_token (set SPIN_VARIABLE_ADMIN_TOKEN)"),
            "{err}"
        );
        let vars = Variables::resolve(&decls(), |k| {
            (k == "SPIN_VARIABLE_ADMIN_TOKEN").then(|| "s3cret".to_owned())
        })
        .unwrap();
        assert_eq!(vars.get("admin_token"), Some("s3cret"));
        assert_eq!(vars.get("org_id"), Some("ACME@AdobeOrg"));
        assert!(!format!("{vars:?}").contains("s3cret"));
    }

    #[test]
    fn templates_render() {
        let vars = Variables::resolve(&decls(), |k| {
            (k == "SPIN_VARIABLE_ADMIN_TOKEN").then(|| "t".to_owned())
        })
        .unwrap();
        let mut t = BTreeMap::new();
        t.insert(
            "auth".to_owned(),
            "Bearer {{ admin_token }}/{{org_id}}".to_owned(),
        );
        assert_eq!(
            vars.render_component(&t).unwrap()["auth"],
            "Bearer t/ACME@AdobeOrg"
        );
        assert_eq!(template_refs("{{ a }}-{{b}}").unwrap(), vec!["a", "b"]);
        assert!(template_refs("{{ a ").is_err());
    }
}
