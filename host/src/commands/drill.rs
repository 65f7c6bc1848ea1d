//! `twgate drill`: finds the server programs and the user to run them as, opens the
//! backup as `pull` does, runs [`crate::drill::run`] (stopped cleanly by Ctrl-C or
//! SIGTERM), and prints the record.

use super::Context;
use crate::backup::Decoding;
use crate::cli::DrillArgs;
use crate::drill::{self, Plan, WalArchive};
use crate::metrics::Moved;
use crate::pg::os_user::OsUser;
use crate::pg::programs::Programs;
use crate::storage::validate_name;
use crate::ui;
use anyhow::{bail, Result};

pub async fn drill(ctx: &Context, args: DrillArgs) -> Result<Moved> {
    if args.jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    let programs = Programs::find(args.pg_bin.as_deref())?;
    let user = OsUser::for_server(args.os_user.as_deref())?;
    let (store, restore) = super::pull::open(
        ctx,
        &args.backup,
        &args.keys,
        args.allow_plugin_change,
        false,
    )
    .await?;
    let what = format!("{}@{}", restore.manifest.name, restore.manifest.id);
    ui::info(&format!(
        "drill {what}: restoring into a throwaway PostgreSQL {} ({})",
        programs.major,
        programs.dir.display()
    ));
    validate_name(&args.archive)?;
    let secrets = super::pull::secrets(ctx, &args.keys)?;
    let runtime = ctx.runtime()?;
    let wal = WalArchive {
        name: args.archive.clone(),
        decoding: Decoding {
            catalog: ctx.catalog(),
            runtime: &runtime,
            secrets: &secrets,
            allow_plugin_change: args.allow_plugin_change,
        },
    };
    let plan = Plan {
        wal,
        check_sql: args.check_sql,
        jobs: args.jobs,
        programs,
        user,
        work_dir: args.work_dir,
        keep: args.keep,
        rto: args.rto,
    };
    // Ending on a signal drops the drill, which stops its server and removes its files.
    let terminated = crate::signals::listen();
    let outcome = tokio::select! {
        outcome = drill::run(&store, restore, plan) => outcome?,
        signal = terminated => bail!("drill {what} interrupted by {signal}: its cluster was stopped and removed"),
    };
    let record = &outcome.record;
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(record)?)?;
    } else if record.ok {
        crate::outln!(
            "ok drill {what}: {} restored in {} ({} tables, {} rows{}){}",
            record.kind,
            seconds(record.restore_seconds),
            record.tables,
            record.rows,
            match record.checks.len() {
                0 => String::new(),
                1 => ", 1 check passed".to_string(),
                n => format!(", {n} checks passed"),
            },
            args.rto
                .map(|rto| format!("; RTO {}", ui::age(rto)))
                .unwrap_or_default()
        )?;
    }
    if let Some((dir, port)) = &outcome.kept {
        ui::info(&format!(
            "kept: connect with `psql -h {dir} -p {port} -U postgres {db}`; stop and remove with \
             `pg_ctl -D {dir}/data stop && rm -rf {dir}`",
            dir = dir.display(),
            db = record.database
        ));
    }
    match &record.error {
        None => Ok(outcome.moved),
        Some(error) if error.starts_with("drill ") => bail!("{error}"),
        Some(error) => bail!("drill {what} failed: {error}"),
    }
}

/// `12.3 s`, `4 min 5 s`.
pub fn seconds(s: f64) -> String {
    if s < 10.0 {
        return format!("{s:.2} s");
    }
    if s < 60.0 {
        return format!("{s:.1} s");
    }
    let whole = s.round() as u64;
    format!("{} min {} s", whole / 60, whole % 60)
}
