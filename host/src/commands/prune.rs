//! `twgate prune`: retention (`--keep-*`, restic's semantics, see `retention`) and
//! `--orphans` (what interrupted pushes left behind, older than a grace period).
//!
//! Every backup is printed with what happens to it and why, so a `--dry-run` is a full
//! account of a real run.

use super::Context;
use crate::cli::PruneArgs;
use crate::manifest::Manifest;
use crate::retention::{self, Policy};
use crate::storage::{validate_name, Store};
use crate::ui;
use anyhow::{bail, Result};
use std::collections::BTreeMap;

pub async fn prune(ctx: &Context, args: PruneArgs) -> Result<()> {
    let policy = Policy {
        last: args.keep_last,
        within: args.keep_within,
        daily: args.keep_daily,
        weekly: args.keep_weekly,
        monthly: args.keep_monthly,
    };
    if !policy.is_set() && !args.orphans {
        bail!("say what to keep: --keep-last N, --keep-within AGE, --keep-daily/--keep-weekly/--keep-monthly N; or --orphans to remove what interrupted pushes left behind");
    }
    if let Some(name) = &args.name {
        validate_name(name)?;
        if !policy.is_set() {
            bail!("a backup name applies to the --keep-* rules: add one, or drop the name for --orphans");
        }
    }
    let store = ctx.open_store().await?;
    let mut report = Report {
        json: args.json,
        ..Report::default()
    };
    let mut failed = 0;
    if policy.is_set() {
        failed += apply_retention(
            &store,
            &policy,
            args.name.as_deref(),
            args.dry_run,
            &mut report,
        )
        .await?;
    }
    if args.orphans {
        failed += remove_orphans(&store, args.grace, args.dry_run, &mut report).await?;
    }
    if args.json {
        let out = serde_json::json!({
            "dry_run": args.dry_run,
            "backups": report.backups,
            "orphans": report.orphans,
        });
        crate::outln!("{}", serde_json::to_string_pretty(&out)?)?;
    }
    if failed > 0 {
        bail!("{failed} removals failed (see the warnings above); run prune again");
    }
    Ok(())
}

/// What prune did, for `--json`; people get one line per item as it happens.
#[derive(Default)]
struct Report {
    json: bool,
    backups: Vec<serde_json::Value>,
    orphans: Vec<serde_json::Value>,
}

impl Report {
    fn line(&self, text: String) {
        if !self.json {
            // A reader that stopped reading (`prune ... | head`) does not stop the prune
            // halfway: its work is removing, the lines only report it.
            let _ = crate::outln!("{text}");
        }
    }
}

/// Applies `policy` to each name (or to `only`); returns how many removals failed.
async fn apply_retention(
    store: &Store,
    policy: &Policy,
    only: Option<&str>,
    dry_run: bool,
    report: &mut Report,
) -> Result<usize> {
    let mut by_name: BTreeMap<String, Vec<Manifest>> = BTreeMap::new();
    for manifest in store.manifests(only).await? {
        by_name
            .entry(manifest.name.clone())
            .or_default()
            .push(manifest);
    }
    if by_name.is_empty() {
        match only {
            Some(name) => bail!("no backup named '{name}' in store {}", store.location()),
            None => ui::info(&format!("no backups in {}", store.location())),
        }
    }
    let mut failed = 0;
    for (name, manifests) in &by_name {
        let verified = store.verified_ids(name).await?;
        let backups: Vec<retention::Backup> = manifests
            .iter()
            .map(|m| retention::Backup {
                id: m.id.clone(),
                at: m.started_at,
                verified: verified.contains(&m.id),
            })
            .collect();
        for verdict in retention::decide(policy, &backups) {
            let manifest = manifests
                .iter()
                .find(|m| m.id == verdict.id)
                .expect("decided on these");
            let what = format!(
                "{name}@{} ({}, {})",
                manifest.id,
                manifest.started_at.strftime("%Y-%m-%d %H:%M UTC"),
                ui::bytes(manifest.stored.size)
            );
            let action = if verdict.keep() {
                report.line(format!("keep   {what}: {}", verdict.reasons.join(", ")));
                "keep"
            } else if dry_run {
                report.line(format!("would remove {what}"));
                "would remove"
            } else {
                match store.delete_backup(manifest).await {
                    Ok(()) => {
                        report.line(format!("remove {what}"));
                        "removed"
                    }
                    Err(e) => {
                        ui::warn(&format!("cannot remove {name}@{}: {e}", manifest.id));
                        failed += 1;
                        "failed"
                    }
                }
            };
            report.backups.push(serde_json::json!({
                "name": name,
                "id": manifest.id,
                "started_at": manifest.started_at,
                "stored_size": manifest.stored.size,
                "action": action,
                "reasons": verdict.reasons,
            }));
        }
    }
    Ok(failed)
}

/// Removes orphans older than `grace`; returns how many removals failed.
async fn remove_orphans(
    store: &Store,
    grace: std::time::Duration,
    dry_run: bool,
    report: &mut Report,
) -> Result<usize> {
    let orphans = store.orphans(grace).await?;
    if orphans.is_empty() {
        ui::info(&format!(
            "no orphans older than {}s in {}",
            grace.as_secs(),
            store.location()
        ));
        return Ok(0);
    }
    let mut failed = 0;
    for orphan in &orphans {
        let size = orphan.size.map(ui::bytes).unwrap_or_else(|| "-".into());
        let since = orphan
            .modified
            .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|| "-".into());
        let mut verb = if dry_run { "would remove" } else { "removed" };
        if !dry_run {
            if let Err(e) = store.remove_orphan(orphan).await {
                ui::warn(&format!("cannot remove {}: {e}", orphan.path));
                failed += 1;
                verb = "failed";
            }
        }
        report.orphans.push(serde_json::json!({
            "path": orphan.path,
            "kind": orphan.kind.describe(),
            "size": orphan.size,
            "modified": orphan.modified,
            "action": verb,
        }));
        if verb == "failed" {
            continue;
        }
        report.line(format!(
            "{verb} {} ({}, {size}, since {since} UTC)",
            orphan.path,
            orphan.kind.describe()
        ));
    }
    Ok(failed)
}
