//! `twgate prune --orphans`: removes what interrupted pushes left behind, older than a
//! grace period. (Retention of finished backups is not here yet.)

use super::Context;
use crate::cli::PruneArgs;
use crate::ui;
use anyhow::{bail, Result};

pub async fn prune(ctx: &Context, args: PruneArgs) -> Result<()> {
    if !args.orphans {
        bail!("say what to prune: --orphans removes what interrupted pushes left behind (retention rules are not implemented yet)");
    }
    let store = ctx.open_store().await?;
    let orphans = store.orphans(args.grace).await?;
    if orphans.is_empty() {
        ui::info(&format!(
            "no orphans older than {}s in {}",
            args.grace.as_secs(),
            store.location()
        ));
        return Ok(());
    }
    let mut failed = 0;
    for orphan in &orphans {
        let size = orphan.size.map(ui::bytes).unwrap_or_else(|| "-".into());
        let since = orphan
            .modified
            .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|| "-".into());
        let verb = if args.dry_run {
            "would remove"
        } else {
            "removed"
        };
        if !args.dry_run {
            if let Err(e) = store.remove_orphan(orphan).await {
                ui::warn(&format!("cannot remove {}: {e}", orphan.path));
                failed += 1;
                continue;
            }
        }
        println!(
            "{verb} {} ({}, {size}, since {since} UTC)",
            orphan.path,
            orphan.kind.describe()
        );
    }
    if failed > 0 {
        bail!("{failed} of {} orphans could not be removed", orphans.len());
    }
    Ok(())
}
