//! `twgate plugins`: the built-in plugins and the configured custom ones, as they describe
//! themselves, with where they come from and the capabilities they are granted.

use super::Context;
use crate::builtin::BUILTIN;
use crate::plugin::{Origin, Plugin};
use crate::ui;
use anyhow::Result;

pub fn plugins(ctx: &Context) -> Result<()> {
    let runtime = ctx.runtime()?;
    let catalog = ctx.catalog();
    let mut plugins: Vec<Plugin> = BUILTIN.iter().map(Plugin::builtin).collect();
    for name in catalog.custom_names() {
        match catalog.find(name) {
            Ok(plugin) => plugins.push(std::sync::Arc::unwrap_or_clone(plugin)),
            Err(e) => ui::warn(&e.to_string()),
        }
    }
    println!(
        "{:<14} {:<9} {:<64}  {:<12} SUMMARY",
        "NAME", "VERSION", "SHA256", "GRANTED"
    );
    for plugin in &plugins {
        let info = runtime.info(plugin)?;
        let summary = match &plugin.origin {
            Origin::Builtin => info.summary,
            Origin::File(path) => format!("{} ({})", info.summary, path.display()),
        };
        // No plugin is granted anything yet: no files, network or environment.
        println!(
            "{:<14} {:<9} {:<64}  {:<12} {}",
            plugin.name, info.version, plugin.sha256, "nothing", summary
        );
    }
    Ok(())
}
