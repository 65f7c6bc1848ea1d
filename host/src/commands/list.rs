//! `twgate list`: the backups that exist (those with a manifest), oldest first.

use super::Context;
use crate::cli::ListArgs;
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
        "{:<20} {:<30} {:<20} {:>10} {:>10}  PIPELINE",
        "NAME", "ID", "FINISHED (UTC)", "SIZE", "STORED"
    );
    for m in &manifests {
        println!(
            "{:<20} {:<30} {:<20} {:>10} {:>10}  {}",
            m.name,
            m.id,
            m.finished_at.strftime("%Y-%m-%d %H:%M:%S"),
            ui::bytes(m.original.size),
            ui::bytes(m.stored.size),
            m.pipeline_summary()
        );
    }
    Ok(())
}
