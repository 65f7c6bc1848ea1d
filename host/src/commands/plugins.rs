//! `twgate plugins`: the built-in plugins and the configured custom ones, as they describe
//! themselves, with where they come from, the stream formats they write and read, and the
//! capabilities they are granted.
//! `twgate plugin inspect FILE`: what a component is, before anyone pins or grants it.

use super::Context;
use crate::builtin::BUILTIN;
use crate::plugin::{Origin, Plugin};
use crate::ui;
use anyhow::{Context as _, Result};
use std::path::Path;

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
        "{:<14} {:<11} {:<9} {:<64}  SUMMARY",
        "NAME", "KIND", "VERSION", "SHA256"
    );
    for plugin in &plugins {
        let info = runtime.info(plugin)?;
        let kind = runtime.shape(plugin)?.kind;
        // What a custom plugin says of itself is printed safely.
        let summary = match &plugin.origin {
            Origin::Builtin => info.summary,
            Origin::File(path) => format!("{} ({})", ui::untrusted(&info.summary), path.display()),
        };
        println!(
            "{:<14} {:<11} {:<9} {:<64}  {}",
            plugin.name,
            kind.as_str(),
            ui::untrusted(&info.version),
            plugin.sha256,
            summary
        );
        let granted = plugin.sandbox.describe();
        if granted.is_empty() {
            println!("{:<14} granted nothing", "");
        } else {
            println!("{:<14} granted: {}", "", granted.join(", "));
        }
        match (&plugin.origin, plugin.writes) {
            (Origin::Builtin, Some(writes)) => {
                let reads = crate::builtin::find(&plugin.name).map_or(&[][..], |b| b.reads);
                println!(
                    "{:<14} writes {writes}; decodes {} from any build",
                    "",
                    reads.join(", ")
                );
            }
            (Origin::Builtin, None) => println!(
                "{:<14} checks on push that a pg_dump archive, tar or SQL dump is complete; \
                 writes nothing",
                ""
            ),
            _ if kind == crate::runtime::inspect::Kind::Transform => println!(
                "{:<14} stream format of its own: decodes only what this build (sha256) wrote",
                ""
            ),
            _ => {}
        }
    }
    Ok(())
}

pub fn inspect(ctx: &Context, file: &Path) -> Result<()> {
    let plugin = Plugin::inspect_file(file)
        .with_context(|| format!("cannot read plugin {}", file.display()))?;
    let runtime = ctx.runtime()?;
    let shape = runtime
        .shape(&plugin)
        .with_context(|| format!("{} is not a WebAssembly component", file.display()))?;
    println!("file:     {}", file.display());
    println!("sha256:   {}", plugin.sha256);
    println!("world:    {} ({})", shape.kind.world(), shape.kind.as_str());
    // Describing itself runs the plugin, granted nothing, within the default limits.
    let mut name = plugin.name.clone();
    match runtime.info(&plugin) {
        Ok(info) => {
            name = ui::untrusted(&info.name);
            println!("name:     {name}");
            println!("version:  {}", ui::untrusted(&info.version));
            println!("abi:      {}", info.abi_version);
            println!("summary:  {}", ui::untrusted(&info.summary));
        }
        Err(e) => println!("info:     unavailable: {:#}", anyhow::Error::new(e)),
    }
    println!("imports:");
    for import in &shape.imports {
        println!("  {import}");
    }
    println!("exports:");
    for export in &shape.exports {
        println!("  {export}");
    }
    let wanted = shape.requested_capabilities();
    if wanted.is_empty() {
        println!("capabilities: none (it can only compute)");
    } else {
        println!("capabilities it could ask for (each refused unless granted):");
        for capability in wanted {
            println!("  {capability}");
        }
    }
    let absolute = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    println!("to use it, review it, then add to the config:");
    println!("  [plugins.{name}]");
    println!("  path = {:?}", absolute.display().to_string());
    println!("  sha256 = \"{}\"", plugin.sha256);
    Ok(())
}
