//! `twgate status`: per backup name, the newest backup with content, its age and size,
//! what its push checked, and whether it (or which older one) was verified. With
//! `--max-age`, the exit status is an RPO alarm, which an empty backup never silences.

use super::Context;
use crate::cli::StatusArgs;
use crate::manifest::Manifest;
use crate::storage;
use crate::ui;
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::time::Duration;

/// One name's state.
struct NameStatus<'a> {
    name: &'a str,
    newest: &'a Manifest,
    age: Duration,
    count: usize,
    /// Backups without content among `count`: never the newest unless all are.
    empty: usize,
    /// The newest verified backup, if any.
    verified: Option<&'a Manifest>,
    stale: bool,
}

pub async fn status(ctx: &Context, args: StatusArgs) -> Result<()> {
    if let Some(name) = &args.name {
        storage::validate_name(name)?;
    }
    let store = ctx.open_store().await?;
    let manifests = store.manifests(args.name.as_deref()).await?;
    let mut by_name: BTreeMap<&str, Vec<&Manifest>> = BTreeMap::new();
    for m in &manifests {
        by_name.entry(m.name.as_str()).or_default().push(m);
    }
    if by_name.is_empty() {
        match &args.name {
            Some(name) => bail!(
                "no backup named '{name}' in store {}: nothing has been pushed yet",
                store.location()
            ),
            None if args.max_age.is_some() => {
                bail!(
                    "no backups in store {}: nothing has been pushed yet",
                    store.location()
                )
            }
            None => {
                ui::info(&format!("no backups in {}", store.location()));
                return Ok(());
            }
        }
    }
    let now = jiff::Timestamp::now();
    let mut rows = Vec::new();
    for (name, backups) in &by_name {
        let verified_ids = store.verified_ids(name).await?;
        // Freshness counts backups with content: an empty one (an older twgate committed
        // what a failed `pg_basebackup | twgate push` sent) is no recovery point.
        let counted = backups.iter().filter(|m| m.has_content());
        let newest_counted = counted.clone().max_by(|a, b| a.id.cmp(&b.id));
        let newest = newest_counted
            .or_else(|| backups.iter().max_by(|a, b| a.id.cmp(&b.id)))
            .expect("non-empty");
        let verified = backups
            .iter()
            .filter(|m| verified_ids.contains(&m.id))
            .max_by(|a, b| a.id.cmp(&b.id))
            .copied();
        let age = Duration::try_from(now.duration_since(newest.finished_at)).unwrap_or_default();
        rows.push(NameStatus {
            name,
            newest,
            age,
            count: backups.len(),
            empty: backups.len() - counted.count(),
            verified,
            stale: args
                .max_age
                .is_some_and(|max| age > max || newest_counted.is_none()),
        });
    }
    if args.json {
        let report: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "name": r.name,
                    "backups": r.count,
                    "newest_id": r.newest.id,
                    "newest_finished_at": r.newest.finished_at,
                    "age_seconds": r.age.as_secs(),
                    "original_size": r.newest.original.size,
                    "stored_size": r.newest.stored.size,
                    "newest_verified": r.verified.is_some_and(|v| v.id == r.newest.id),
                    "last_verified_id": r.verified.map(|v| &v.id),
                    "stale": r.stale,
                    "empty_backups": r.empty,
                    "newest_check": r.newest.check,
                })
            })
            .collect();
        crate::outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        crate::outln!(
            "{:<20} {:>7} {:<20} {:>8} {:>10} {:>10}  VERIFIED",
            "NAME",
            "BACKUPS",
            "NEWEST (UTC)",
            "AGE",
            "SIZE",
            "STORED"
        )?;
        for r in &rows {
            let verified = match r.verified {
                Some(v) if v.id == r.newest.id => "yes".to_string(),
                Some(v) => format!("no; last verified {}@{}", r.name, v.id),
                None => "never".to_string(),
            };
            crate::outln!(
                "{:<20} {:>7} {:<20} {:>8} {:>10} {:>10}  {verified}",
                r.name,
                r.count,
                r.newest.finished_at.strftime("%Y-%m-%d %H:%M:%S"),
                ui::age(r.age),
                ui::bytes(r.newest.original.size),
                ui::bytes(r.newest.stored.size),
            )?;
        }
    }
    let stale: Vec<String> = rows
        .iter()
        .filter(|r| r.stale)
        .map(|r| match r.newest.has_content() {
            true => format!("{} ({} old)", r.name, ui::age(r.age)),
            false => format!("{} (no backup with content)", r.name),
        })
        .collect();
    if let Some(max) = args.max_age {
        if !stale.is_empty() {
            bail!(
                "newest backup older than --max-age {}: {}",
                ui::age(max),
                stale.join(", ")
            );
        }
    }
    Ok(())
}
