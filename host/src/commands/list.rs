//! `twgate list`: the backups that exist (those with a manifest), oldest first, with
//! what their push checked and any stage in a stream format this build cannot read.

use super::Context;
use crate::builtin;
use crate::cli::ListArgs;
use crate::manifest::Manifest;
use crate::storage;
use crate::ui;
use anyhow::Result;

pub async fn list(ctx: &Context, args: ListArgs) -> Result<()> {
    if let Some(name) = &args.name {
        storage::validate_name(name)?;
    }
    let store = ctx.open_store().await?;
    let manifests = store.manifests(args.name.as_deref()).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&manifests)?);
        return Ok(());
    }
    if manifests.is_empty() {
        ui::info(&format!("no backups in {}", store.location()));
        return Ok(());
    }
    println!(
        "{:<20} {:<30} {:<20} {:>10} {:>10}  {:<16} CHECKED",
        "NAME", "ID", "FINISHED (UTC)", "SIZE", "STORED", "PIPELINE"
    );
    for m in &manifests {
        println!(
            "{:<20} {:<30} {:<20} {:>10} {:>10}  {:<16} {}",
            m.name,
            m.id,
            m.finished_at.strftime("%Y-%m-%d %H:%M:%S"),
            ui::bytes(m.original.size),
            ui::bytes(m.stored.size),
            pipeline(m),
            m.check
                .as_ref()
                .map_or_else(|| "-".to_string(), |c| ui::untrusted(&c.format))
        );
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
