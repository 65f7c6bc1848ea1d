//! `twgate plugins`: the built-in plugins and the configured custom ones, as they describe
//! themselves, with where they come from, the stream formats they write and read, and the
//! capabilities they are granted.
//! `twgate plugin inspect FILE`: what a component is, before anyone pins or grants it.

use super::Context;
use crate::builtin::BUILTIN;
use crate::cli::PluginsArgs;
use crate::plugin::{Origin, Plugin};
use crate::ui;
use anyhow::{bail, Context as _, Result};
use std::path::Path;

/// One plugin as `plugins` shows it.
#[derive(serde::Serialize)]
struct Row {
    name: String,
    kind: &'static str,
    version: String,
    sha256: String,
    summary: String,
    /// Where a custom plugin's component is; `None` for a built-in.
    path: Option<String>,
    granted: Vec<String>,
    /// What it does with streams, in a sentence.
    streams: Option<String>,
}

pub fn plugins(ctx: &Context, args: PluginsArgs) -> Result<()> {
    let runtime = ctx.runtime()?;
    let catalog = ctx.catalog();
    let mut plugins: Vec<Plugin> = BUILTIN.iter().map(Plugin::from_builtin).collect();
    let mut broken = Vec::new();
    for name in catalog.custom_names() {
        match catalog.find(name) {
            Ok(plugin) => plugins.push(std::sync::Arc::unwrap_or_clone(plugin)),
            Err(e) => broken.push((name.to_string(), e.to_string())),
        }
    }
    let mut rows = Vec::new();
    for plugin in &plugins {
        rows.push(row(&runtime, plugin)?);
    }
    if args.json {
        let mut all: Vec<serde_json::Value> = rows
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()?;
        all.extend(
            broken
                .iter()
                .map(|(name, error)| serde_json::json!({ "name": name, "error": error })),
        );
        crate::outln!("{}", serde_json::to_string_pretty(&all)?)?;
    } else {
        print_table(&rows)?;
    }
    if !broken.is_empty() {
        let each: Vec<String> = broken.iter().map(|(_, error)| error.clone()).collect();
        bail!(
            "{} configured plugin{} cannot be used: {}",
            broken.len(),
            if broken.len() == 1 { "" } else { "s" },
            each.join("; ")
        );
    }
    Ok(())
}

fn row(runtime: &crate::runtime::Runtime, plugin: &Plugin) -> Result<Row> {
    let info = runtime.info(&plugin.component)?;
    let kind = runtime.shape(&plugin.component)?.kind;
    let streams = match (plugin.builtin(), plugin.writes()) {
        (Some(builtin), Some(writes)) => Some(format!(
            "writes {writes}; decodes {} from any build",
            builtin.reads.join(", ")
        )),
        (Some(_), None) => Some(
            "checks on push that a pg_dump archive, tar or SQL dump is complete; writes nothing"
                .to_string(),
        ),
        _ if kind == crate::runtime::inspect::Kind::Transform => Some(
            "stream format of its own: decodes only what this build (sha256) wrote".to_string(),
        ),
        _ => None,
    };
    // What a custom plugin says of itself is printed safely.
    Ok(Row {
        name: plugin.name().into(),
        kind: kind.as_str(),
        version: ui::untrusted(&info.version),
        sha256: plugin.sha256().into(),
        summary: ui::untrusted(&info.summary),
        path: match &plugin.origin {
            Origin::Builtin(_) => None,
            Origin::File(path) => Some(path.display().to_string()),
        },
        granted: plugin.component.sandbox.describe(),
        streams,
    })
}

fn print_table(rows: &[Row]) -> Result<()> {
    crate::outln!(
        "{:<14} {:<11} {:<9} {:<64}  SUMMARY",
        "NAME",
        "KIND",
        "VERSION",
        "SHA256"
    )?;
    for row in rows {
        let summary = match &row.path {
            None => row.summary.clone(),
            Some(path) => format!("{} ({path})", row.summary),
        };
        crate::outln!(
            "{:<14} {:<11} {:<9} {:<64}  {summary}",
            row.name,
            row.kind,
            row.version,
            row.sha256
        )?;
        match row.granted.is_empty() {
            true => crate::outln!("{:<14} granted nothing", "")?,
            false => crate::outln!("{:<14} granted: {}", "", row.granted.join(", "))?,
        }
        if let Some(streams) = &row.streams {
            crate::outln!("{:<14} {streams}", "")?;
        }
    }
    Ok(())
}

pub fn inspect(ctx: &Context, file: &Path) -> Result<()> {
    let plugin = Plugin::inspect_file(file)
        .with_context(|| format!("cannot read plugin {}", file.display()))?;
    let runtime = ctx.runtime()?;
    let shape = runtime
        .shape(&plugin.component)
        .with_context(|| format!("{} is not a WebAssembly component", file.display()))?;
    crate::outln!("file:     {}", file.display())?;
    crate::outln!("sha256:   {}", plugin.sha256())?;
    crate::outln!("world:    {} ({})", shape.kind.world(), shape.kind.as_str())?;
    // Describing itself runs the plugin, granted nothing, within the default limits.
    let mut name = plugin.name().to_string();
    match runtime.info(&plugin.component) {
        Ok(info) => {
            name = ui::untrusted(&info.name);
            crate::outln!("name:     {name}")?;
            crate::outln!("version:  {}", ui::untrusted(&info.version))?;
            crate::outln!("abi:      {}", info.abi_version)?;
            crate::outln!("summary:  {}", ui::untrusted(&info.summary))?;
        }
        Err(e) => crate::outln!("info:     unavailable: {:#}", anyhow::Error::new(e))?,
    }
    crate::outln!("imports:")?;
    for import in &shape.imports {
        crate::outln!("  {import}")?;
    }
    crate::outln!("exports:")?;
    for export in &shape.exports {
        crate::outln!("  {export}")?;
    }
    let wanted = shape.requested_capabilities();
    if wanted.is_empty() {
        crate::outln!("capabilities: none (it can only compute)")?;
    } else {
        crate::outln!("capabilities it could ask for (each refused unless granted):")?;
        for capability in wanted {
            crate::outln!("  {capability}")?;
        }
    }
    let absolute = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    crate::outln!("to use it, review it, then add to the config:")?;
    crate::outln!("  [plugins.{name}]")?;
    crate::outln!("  path = {:?}", absolute.display().to_string())?;
    crate::outln!("  sha256 = \"{}\"", plugin.sha256())?;
    Ok(())
}
