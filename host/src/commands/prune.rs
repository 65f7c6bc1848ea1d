//! `twgate prune`: retention (`--keep-*`, restic's semantics, see `retention`) and
//! `--orphans` (what interrupted pushes left behind, older than a grace period).
//!
//! WAL retention follows the base backups. A name whose every id is a WAL file name
//! (`wal_names`) is a WAL archive: its files that a kept base backup needs stay whatever the
//! keep rules say (`retention::wal_keep_reason`), and `--wal NAME`, given with the base
//! backups' rules, also removes the WAL files of archive NAME that no kept base backup
//! needs. A base backup is a backup whose manifest records `start-wal-file` (the check
//! reads it from `backup_label`), any other backup of a name that has one, and any backup
//! of the name pruned with `--wal`; one without `start-wal-file` keeps the WAL archived
//! since it started (`retention::Start::Unknown`). Kept means not removed by this run, so
//! base backups are pruned first and a failed removal keeps its WAL.
//!
//! Every backup is printed with what happens to it and why, so a `--dry-run` is a full
//! account of a real run.

use super::Context;
use crate::cli::PruneArgs;
use crate::manifest::Manifest;
use crate::retention::{self, Policy, Start, Verdict};
use crate::storage::{validate_name, Store};
use crate::ui;
use crate::wal_names::{self, Kind, Position};
use anyhow::{bail, Result};
use std::collections::{BTreeMap, HashMap, HashSet};

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
    if let Some(archive) = &args.wal {
        validate_name(archive)?;
        match &args.name {
            None => bail!("--wal goes with the base backups' name and its --keep-* rules, e.g. twgate prune base --keep-last 2 --wal {archive}"),
            Some(name) if name == archive => bail!("'{name}' is both the name to prune and --wal's: give the base backups' name, and the WAL archive to --wal, e.g. twgate prune base --keep-last 2 --wal wal"),
            Some(_) => {}
        }
    }
    let store = ctx.open_store().await?;
    let mut report = Report {
        json: args.json,
        ..Report::default()
    };
    let mut failed = 0;
    if policy.is_set() {
        failed += apply_retention(&store, &policy, &args, &mut report).await?;
    }
    if args.orphans {
        failed += remove_orphans(&store, args.grace, args.dry_run, &mut report).await?;
    }
    if args.json {
        let mut out = serde_json::json!({
            "dry_run": args.dry_run,
            "backups": report.backups,
            "orphans": report.orphans,
        });
        if let Some(wal) = report.wal {
            out["wal"] = wal;
        }
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
    /// `--wal`: the archive and the base backups whose WAL it keeps.
    wal: Option<serde_json::Value>,
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

/// The store's manifests by name.
type ByName = BTreeMap<String, Vec<Manifest>>;

fn by_name(manifests: Vec<Manifest>) -> ByName {
    let mut by_name = ByName::new();
    for manifest in manifests {
        by_name
            .entry(manifest.name.clone())
            .or_default()
            .push(manifest);
    }
    by_name
}

/// Whether a name's backups are WAL files (`wal push`): every id is a WAL file name.
fn is_wal_archive(manifests: &[Manifest]) -> bool {
    !manifests.is_empty() && manifests.iter().all(|m| wal_names::parse(&m.id).is_some())
}

/// Applies `policy` to each name (or to `args.name`), then `--wal`; returns how many
/// removals failed.
async fn apply_retention(
    store: &Store,
    policy: &Policy,
    args: &PruneArgs,
    report: &mut Report,
) -> Result<usize> {
    let only = args.name.as_deref();
    let mut all = by_name(store.manifests(only).await?);
    if all.is_empty() {
        match only {
            Some(name) => bail!("no backup named '{name}' in store {}", store.location()),
            None => ui::info(&format!("no backups in {}", store.location())),
        }
    }
    // Which WAL files a base backup needs is a question about the whole store.
    if only.is_some() && (args.wal.is_some() || all.values().any(|m| is_wal_archive(m))) {
        all = by_name(store.manifests(None).await?);
    }
    if let Some(archive) = &args.wal {
        check_wal_archive(store, &all, archive, only)?;
    }
    let (archives, others): (Vec<&String>, Vec<&String>) = all
        .keys()
        .filter(|name| only.is_none_or(|only| only == name.as_str()))
        .partition(|name| is_wal_archive(&all[*name]));
    let mut run = Run {
        store,
        dry_run: args.dry_run,
        report,
        failed: 0,
        removed: HashSet::new(),
    };
    // Base backups first: which WAL files stay depends on which of them do.
    for name in others {
        let verdicts = decide(store, policy, name, &all[name]).await?;
        run.apply(name, &all[name], verdicts).await;
    }
    let kept = kept_bases(&all, &run.removed, args.wal.as_deref().and(only));
    let bases: Vec<retention::Base<Position>> = kept.iter().map(|m| base(m)).collect();
    for name in archives {
        if bases.is_empty() {
            ui::warn(&format!(
                "no base backup in store {} records where its WAL starts: the keep rules alone decide which WAL files of '{name}' go",
                store.location()
            ));
        }
        let manifests = &all[name];
        let files = by_id(manifests);
        let mut verdicts = decide(store, policy, name, manifests).await?;
        for verdict in &mut verdicts {
            let file = wal_file(files[verdict.id.as_str()]);
            verdict
                .reasons
                .extend(retention::wal_keep_reason(&bases, &file));
        }
        run.apply(name, manifests, verdicts).await;
    }
    if let Some(archive) = &args.wal {
        remove_unneeded_wal(&mut run, archive, &all[archive], &kept, &bases).await;
    }
    Ok(run.failed)
}

/// `--wal ARCHIVE` must name a WAL archive, and the pruned name must not be one.
fn check_wal_archive(store: &Store, all: &ByName, archive: &str, only: Option<&str>) -> Result<()> {
    let Some(files) = all.get(archive) else {
        bail!(
            "no WAL archive '{archive}' in store {}: --wal takes the name WAL files are archived under (`wal push --archive`, `wal` by default); `twgate list` shows the names",
            store.location()
        );
    };
    if let Some(other) = files.iter().find(|m| wal_names::parse(&m.id).is_none()) {
        bail!(
            "'{archive}' is not a WAL archive ({archive}@{} is not a WAL file): --wal takes the name WAL files are archived under (`wal push --archive`, `wal` by default)",
            ui::untrusted(&other.id)
        );
    }
    let is_archive = |name: &&str| all.get(*name).is_some_and(|m| is_wal_archive(m));
    if let Some(name) = only.filter(is_archive) {
        bail!("'{name}' is a WAL archive: with --wal {archive}, give the base backups' name, e.g. twgate prune base --keep-last 2 --wal {archive}");
    }
    Ok(())
}

/// The keep rules' verdicts on one name's backups, newest first.
async fn decide(
    store: &Store,
    policy: &Policy,
    name: &str,
    manifests: &[Manifest],
) -> Result<Vec<Verdict>> {
    let verified = store.verified_ids(name).await?;
    let backups: Vec<retention::Backup> = manifests
        .iter()
        .map(|m| retention::Backup {
            id: m.id.clone(),
            at: m.started_at,
            verified: verified.contains(&m.id),
        })
        .collect();
    Ok(retention::decide(policy, &backups))
}

fn by_id(manifests: &[Manifest]) -> HashMap<&str, &Manifest> {
    manifests.iter().map(|m| (m.id.as_str(), m)).collect()
}

/// A base backup's `start-wal-file` fact, if its manifest records one.
fn start_wal_file(manifest: &Manifest) -> Option<&str> {
    manifest.check.as_ref()?.fact("start-wal-file")
}

/// The base backups this run keeps (every one it does not remove), oldest first. `also`
/// names base backups whether or not any of them records its start (`--wal`'s name).
fn kept_bases<'a>(
    all: &'a ByName,
    removed: &HashSet<(String, String)>,
    also: Option<&str>,
) -> Vec<&'a Manifest> {
    let is_base_name = |name: &str, manifests: &[Manifest]| {
        let records_start = manifests.iter().any(|m| start_wal_file(m).is_some());
        (also == Some(name) || records_start) && !is_wal_archive(manifests)
    };
    let mut kept: Vec<&Manifest> = all
        .iter()
        .filter(|(name, manifests)| is_base_name(name, manifests))
        .flat_map(|(_, manifests)| manifests)
        .filter(|m| m.has_content() && !removed.contains(&(m.name.clone(), m.id.clone())))
        .collect();
    kept.sort_by_key(|m| (m.started_at, &m.name, &m.id));
    kept
}

/// A base backup as WAL retention sees it: where its WAL starts, if it says.
fn base(manifest: &Manifest) -> retention::Base<Position> {
    let label = format!("{}@{}", manifest.name, manifest.id);
    let recorded = start_wal_file(manifest);
    let start = match recorded.and_then(wal_names::parse) {
        Some(name) if name.kind == Kind::Segment => name.position.map(Start::At),
        _ => None,
    };
    if let (Some(fact), None) = (recorded, &start) {
        ui::warn(&format!(
            "{label} records start-wal-file '{}', which is not a WAL segment's name: keeping the WAL archived since it started instead",
            ui::untrusted(fact)
        ));
    }
    retention::Base {
        label,
        start: start.unwrap_or(Start::Unknown {
            started_at: manifest.started_at,
        }),
    }
}

/// A WAL file as WAL retention sees it.
fn wal_file(manifest: &Manifest) -> retention::WalFile<Position> {
    retention::WalFile {
        // A WAL archive's ids all parse; only a timeline history file has no position.
        position: wal_names::parse(&manifest.id).and_then(|name| name.position),
        finished_at: manifest.finished_at,
    }
}

/// Where a kept base backup's WAL starts, for people.
fn start_text(manifest: &Manifest) -> String {
    match start_wal_file(manifest) {
        Some(file) => format!("WAL file {}", ui::untrusted(file)),
        None => format!(
            "the WAL archived since {} (an hour before it started; its start WAL file is not recorded)",
            manifest
                .started_at
                .saturating_sub(retention::CLOCK_SLACK)
                .unwrap_or(jiff::Timestamp::MIN)
                .strftime("%Y-%m-%d %H:%M UTC")
        ),
    }
}

/// `--wal ARCHIVE`: removes the WAL files of `archive` that no kept base backup needs (never
/// a timeline history file; nothing when no base backup is kept).
async fn remove_unneeded_wal(
    run: &mut Run<'_>,
    archive: &str,
    files: &[Manifest],
    kept: &[&Manifest],
    bases: &[retention::Base<Position>],
) {
    let labels: Vec<&str> = bases.iter().map(|b| b.label.as_str()).collect();
    run.report.wal = Some(serde_json::json!({
        "archive": archive,
        "kept_bases": labels,
        "oldest_start_wal_file": kept.first().and_then(|m| start_wal_file(m)),
    }));
    let Some(oldest) = kept.first() else {
        ui::warn(&format!(
            "no base backup would remain: removing no WAL file of '{archive}'"
        ));
        return;
    };
    run.report.line(format!(
        "WAL archive {archive}: keeping what the kept base backups need, from {}@{}'s start, {}",
        oldest.name,
        oldest.id,
        start_text(oldest)
    ));
    let mut newest_first: Vec<&Manifest> = files.iter().collect();
    newest_first.sort_by(|a, b| (b.started_at, &b.id).cmp(&(a.started_at, &a.id)));
    let verdicts = newest_first
        .iter()
        .map(|m| Verdict {
            id: m.id.clone(),
            reasons: retention::wal_keep_reason(bases, &wal_file(m))
                .into_iter()
                .collect(),
        })
        .collect();
    run.apply(archive, files, verdicts).await;
}

/// One retention run: carries out verdicts and remembers what it removed.
struct Run<'a> {
    store: &'a Store,
    dry_run: bool,
    report: &'a mut Report,
    failed: usize,
    /// `(name, id)` of each backup removed (or, in a dry run, that would be).
    removed: HashSet<(String, String)>,
}

impl Run<'_> {
    /// Keeps or removes each backup of `name` as its verdict says, and reports it.
    async fn apply(&mut self, name: &str, manifests: &[Manifest], verdicts: Vec<Verdict>) {
        let manifests = by_id(manifests);
        for verdict in verdicts {
            let manifest = manifests[verdict.id.as_str()];
            let what = format!(
                "{name}@{} ({}, {})",
                ui::untrusted(&manifest.id),
                manifest.started_at.strftime("%Y-%m-%d %H:%M UTC"),
                ui::bytes(manifest.stored.size)
            );
            let action = if verdict.keep() {
                self.report
                    .line(format!("keep   {what}: {}", verdict.reasons.join(", ")));
                "keep"
            } else if self.dry_run {
                self.report.line(format!("would remove {what}"));
                "would remove"
            } else {
                match self.store.delete_backup(manifest).await {
                    Ok(()) => {
                        self.report.line(format!("remove {what}"));
                        "removed"
                    }
                    Err(e) => {
                        ui::warn(&format!("cannot remove {name}@{}: {e}", manifest.id));
                        self.failed += 1;
                        "failed"
                    }
                }
            };
            if matches!(action, "would remove" | "removed") {
                self.removed.insert((name.to_string(), manifest.id.clone()));
            }
            self.report.backups.push(serde_json::json!({
                "name": name,
                "id": manifest.id,
                "started_at": manifest.started_at,
                "stored_size": manifest.stored.size,
                "action": action,
                "reasons": verdict.reasons,
            }));
        }
    }
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
