//! `vantage build` / `up --build`: runs each component's `[component.<id>.build] command`, as
//! `spin build` does.

use std::process::Command;

use anyhow::{Context, bail};

use crate::manifest::Manifest;

/// Runs every component's build command in manifest order, stopping at the first failure.
pub fn build_all(manifest: &Manifest) -> anyhow::Result<()> {
    for (id, c) in &manifest.components {
        let Some(build) = &c.build else {
            eprintln!("{id}: no build command; using {}", c.source.display());
            continue;
        };
        let dir = match &build.workdir {
            Some(w) => manifest.base_dir.join(w),
            None => manifest.base_dir.clone(),
        };
        eprintln!("Building component {id} with `{}`", build.command);
        let status = Command::new("sh")
            .arg("-c")
            .arg(&build.command)
            .current_dir(&dir)
            .status()
            .with_context(|| format!("running the build command of {id:?}"))?;
        if !status.success() {
            bail!("build command for component {id:?} failed ({status})");
        }
    }
    eprintln!("Finished building all components");
    Ok(())
}
