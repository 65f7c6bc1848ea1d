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
    /// The last restore drill of any of the name's backups.
    drill: Option<LastDrill>,
}

/// What status shows of a drill record (`twgate drill`).
struct LastDrill {
    id: String,
    drilled_at: Option<jiff::Timestamp>,
    ok: bool,
    restore_seconds: f64,
    /// Failed, or slower than `--rto`.
    alarm: bool,
}

impl LastDrill {
    /// The newest of `records`, judged against `rto`.
    fn newest(
        records: Vec<(String, serde_json::Value)>,
        rto: Option<Duration>,
    ) -> Option<LastDrill> {
        let when = |r: &serde_json::Value| -> Option<jiff::Timestamp> {
            r.get("drilled_at")?.as_str()?.parse().ok()
        };
        let (id, record) = records.into_iter().max_by_key(|(_, r)| when(r))?;
        let ok = record.get("ok").and_then(|v| v.as_bool()).unwrap_or(false);
        let restore_seconds = record
            .get("restore_seconds")
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0);
        let slow = rto.is_some_and(|rto| restore_seconds > rto.as_secs_f64());
        Some(LastDrill {
            id,
            drilled_at: when(&record),
            ok,
            restore_seconds,
            alarm: rto.is_some() && (!ok || slow),
        })
    }

    fn summary(&self, rto: Option<Duration>) -> String {
        let when = self
            .drilled_at
            .map(|t| t.strftime("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default();
        let restore = super::drill::seconds(self.restore_seconds);
        match (self.ok, rto) {
            (false, _) => format!("FAILED {when}"),
            (true, Some(rto)) => format!("ok {when}, restore {restore} (RTO {})", ui::age(rto)),
            (true, None) => format!("ok {when}, restore {restore}"),
        }
    }
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
        let drill = LastDrill::newest(store.drills(name).await?, args.rto);
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
            drill,
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
                    "last_drill": r.drill.as_ref().map(|d| serde_json::json!({
                        "id": d.id,
                        "drilled_at": d.drilled_at,
                        "ok": d.ok,
                        "restore_seconds": d.restore_seconds,
                        "alarm": d.alarm,
                    })),
                })
            })
            .collect();
        crate::outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        crate::outln!(
            "{:<20} {:>7} {:<20} {:>8} {:>10} {:>10}  {:<40}  LAST DRILL",
            "NAME",
            "BACKUPS",
            "NEWEST (UTC)",
            "AGE",
            "SIZE",
            "STORED",
            "VERIFIED"
        )?;
        for r in &rows {
            let verified = match r.verified {
                Some(v) if v.id == r.newest.id => "yes".to_string(),
                Some(v) => format!("no; last verified {}@{}", r.name, v.id),
                None => "never".to_string(),
            };
            let drill = match &r.drill {
                Some(d) => d.summary(args.rto),
                None => "never".to_string(),
            };
            crate::outln!(
                "{:<20} {:>7} {:<20} {:>8} {:>10} {:>10}  {verified:<40}  {drill}",
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
    let drills_failing: Vec<String> = rows
        .iter()
        .filter_map(|r| Some((r.name, r.drill.as_ref().filter(|d| d.alarm)?)))
        .map(|(name, d)| match d.ok {
            false => format!("{name}@{} failed", d.id),
            true => format!(
                "{name}@{} took {}",
                d.id,
                super::drill::seconds(d.restore_seconds)
            ),
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
    if let Some(rto) = args.rto {
        if !drills_failing.is_empty() {
            bail!(
                "last restore drill failed or slower than --rto {}: {}",
                ui::age(rto),
                drills_failing.join(", ")
            );
        }
    }
    Ok(())
}
