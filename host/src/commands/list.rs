//! `twgate list`: the backups that exist (those with a manifest), oldest first, with
//! what their push checked and any stage in a stream format this build cannot read.

use super::Context;
use crate::builtin;
use crate::cli::ListArgs;
use crate::manifest::Manifest;
use crate::storage;
use crate::ui;
use anyhow::Result;
use std::collections::{BTreeSet, HashSet};

pub async fn list(ctx: &Context, args: ListArgs) -> Result<()> {
    if let Some(name) = &args.name {
        storage::validate_name(name)?;
    }
    let store = ctx.open_store().await?;
    let manifests = store.manifests(args.name.as_deref()).await?;
    let mut verified = HashSet::new();
    let names: BTreeSet<&str> = manifests.iter().map(|m| m.name.as_str()).collect();
    for name in names {
        for id in store.verified_ids(name).await? {
            verified.insert((name.to_string(), id));
        }
    }
    let is_verified = |m: &Manifest| verified.contains(&(m.name.clone(), m.id.clone()));
    if args.json {
        // Each manifest as stored, with whether a verify passed on it.
        let mut all = Vec::new();
        for m in &manifests {
            let mut value = serde_json::to_value(m)?;
            if let Some(object) = value.as_object_mut() {
                object.insert("verified".into(), is_verified(m).into());
            }
            all.push(value);
        }
        crate::outln!("{}", serde_json::to_string_pretty(&all)?)?;
        return Ok(());
    }
    if manifests.is_empty() {
        ui::info(&format!("no backups in {}", store.location()));
        return Ok(());
    }
    let rows: Vec<[String; 8]> = manifests
        .iter()
        .map(|m| {
            [
                m.name.clone(),
                m.id.clone(),
                m.finished_at.strftime("%Y-%m-%d %H:%M:%S").to_string(),
                ui::bytes(m.original.size),
                ui::bytes(m.stored.size),
                pipeline(m),
                if is_verified(m) { "yes" } else { "-" }.to_string(),
                m.check
                    .as_ref()
                    .map_or_else(|| "-".to_string(), |c| ui::untrusted(&c.format)),
            ]
        })
        .collect();
    let header = [
        "NAME",
        "ID",
        "FINISHED (UTC)",
        "SIZE",
        "STORED",
        "PIPELINE",
        "VERIFIED",
        "CHECKED",
    ];
    // Columns as wide as their widest entry (WAL files' ids are longer than a push's).
    let width = |column: usize| {
        rows.iter()
            .map(|row| row[column].chars().count())
            .chain([header[column].len()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..header.len()).map(width).collect();
    let line = |cells: [&str; 8]| {
        let mut text = String::new();
        for (column, cell) in cells.iter().enumerate() {
            let w = widths[column];
            match column {
                3 | 4 => text.push_str(&format!("{cell:>w$}  ")),
                7 => text.push_str(cell),
                _ => text.push_str(&format!("{cell:<w$}  ")),
            }
        }
        text
    };
    crate::outln!("{}", line(header))?;
    for row in &rows {
        crate::outln!("{}", line(std::array::from_fn(|i| row[i].as_str())))?;
    }
    Ok(())
}

/// `zstd+age`, with a stage whose format this build does not read marked as needing a
/// newer twgate.
fn pipeline(manifest: &Manifest) -> String {
    if manifest.pipeline.is_empty() {
        return "none".into();
    }
    let stages: Vec<String> = manifest
        .pipeline
        .iter()
        .map(|stage| {
            let plugin = ui::untrusted(&stage.plugin);
            match stage.stream_format(manifest.version) {
                Some(format) if builtin::reader_of(format).is_none() => {
                    format!("{plugin}({}: needs a newer twgate)", ui::untrusted(format))
                }
                _ => plugin,
            }
        })
        .collect();
    stages.join("+")
}
