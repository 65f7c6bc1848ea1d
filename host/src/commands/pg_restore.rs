//! `twgate pg restore`: the runbook's six recovery steps as one command. The base backup
//! (chosen by target, or `--base`) is streamed into an empty data directory (no temporary
//! file), then `restore_command` (this twgate, `wal fetch`, the same store and config), the
//! target and `recovery.signal` are written; with `--start`, the server is started and
//! watched until it reaches the target and promotes.

use super::Context;
use crate::backup::{Purpose, Restore, Sink};
use crate::cli::PgRestoreArgs;
use crate::manifest::Manifest;
use crate::metrics::Moved;
use crate::pg::basebackup::{self, RecoveryTarget, Target, Unpacker};
use crate::pg::os_user::{is_root, OsUser};
use crate::pg::programs::Programs;
use crate::storage::{validate_name, Store};
use crate::ui;
use anyhow::{bail, Context as _, Result};
use std::path::Path;
use std::time::{Duration, Instant};

/// The backup name base backups are pushed under by default (`twgate push base -- pg_basebackup ...`).
const DEFAULT_BASE_NAME: &str = "base";

/// Feeds the unpacking thread.
struct UnpackSink(Unpacker);

impl Sink for UnpackSink {
    async fn write(&mut self, chunk: bytes::Bytes) -> Result<()> {
        self.0.write(chunk).await
    }
}

pub async fn restore(ctx: &Context, args: PgRestoreArgs) -> Result<Moved> {
    validate_name(&args.archive)?;
    let target = match (&args.target_time, &args.target_lsn, &args.target_name) {
        (Some(t), _, _) => RecoveryTarget::Time(t.clone()),
        (_, Some(l), _) => RecoveryTarget::Lsn(l.clone()),
        (_, _, Some(n)) => RecoveryTarget::Name(n.clone()),
        _ => RecoveryTarget::Latest,
    };
    let deadline_time = match &target {
        RecoveryTarget::Time(t) => Some(parse_time(t)?),
        _ => None,
    };
    let pgdata = std::path::absolute(&args.pgdata)?;
    // As root, the files belong to the user that runs the server: the directory's owner
    // if it exists and is not root's, else --os-user or postgres.
    let owner = match is_root() {
        false => None,
        true => match (&args.os_user, pgdata.exists()) {
            (Some(name), _) => Some(OsUser::lookup(name)?),
            (None, true) => Some(OsUser::owner_of(&pgdata)?).filter(|o| o.uid != 0),
            (None, false) => None,
        }
        .map(Ok)
        .unwrap_or_else(|| OsUser::lookup("postgres"))
        .map(Some)?,
    };
    let store = ctx.open_store().await?;
    let base = match &args.base {
        Some(spec) => spec.clone(),
        None => choose_base(&store, deadline_time).await?,
    };
    let (store, mut restore) =
        super::pull::open(ctx, &base, &args.keys, args.allow_plugin_change, false).await?;
    drop(store);
    let store = ctx.open_store().await?;
    let manifest = restore.manifest.clone();
    let what = format!("{}@{}", manifest.name, manifest.id);
    if let Some(check) = &manifest.check {
        if check.format != "tar archive" {
            bail!(
                "{what} is a {}, not a base backup (pg_basebackup --format=tar): restore it with `twgate pull {what} | pg_restore ...`",
                check.format
            );
        }
    }
    let dir = Target::prepare(&pgdata, owner.as_ref())?;
    ui::info(&format!(
        "restoring base backup {what} into {}",
        pgdata.display()
    ));
    let unpacked = unpack_into(&store, &mut restore, &dir).await;
    let (moved, unpacked) = match unpacked {
        Ok(done) => done,
        Err(e) => {
            dir.discard();
            return Err(e);
        }
    };
    if let Some(owner) = &owner {
        owner.chown_tree(&pgdata)?;
    }
    let command = restore_command(ctx, &args)?;
    let note = format!(
        "twgate pg restore of {what} ({}), WAL from archive '{}'",
        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M:%S UTC"),
        args.archive
    );
    basebackup::write_recovery(&pgdata, &command, &target, owner.as_ref(), &note)?;
    let start_wal = manifest
        .check
        .as_ref()
        .and_then(|c| c.fact("start-wal-file"))
        .unwrap_or("(not recorded)")
        .to_string();
    ui::info(&format!(
        "restored {what}: {} files, {}; recovery set up (restore_command through `twgate wal fetch`, {}); first WAL file needed: {start_wal}",
        unpacked.entries,
        ui::bytes(unpacked.bytes),
        describe(&target),
    ));
    if !args.start {
        crate::outln!(
            "ok {what} restored into {}: start PostgreSQL on it to recover ({})",
            pgdata.display(),
            describe(&target)
        )?;
        return Ok(moved);
    }
    let programs = Programs::find(args.pg_bin.as_deref())?;
    start_and_watch(
        &pgdata,
        &programs,
        owner.as_ref(),
        args.timeout,
        &what,
        &start_wal,
    )
    .await?;
    Ok(moved)
}

/// Streams the backup into the directory; both checksums checked before it counts.
async fn unpack_into(
    store: &Store,
    restore: &mut Restore,
    dir: &Target,
) -> Result<(Moved, basebackup::Unpacked)> {
    let mut sink = UnpackSink(Unpacker::start(dir.dir.clone()));
    let moved = restore.run(store, &mut sink, Purpose::Pull).await;
    let unpacked = sink.0.finish().await;
    let moved = moved?;
    Ok((moved, unpacked?))
}

/// The newest base backup that finished before the target time (the newest of all
/// without one): recovery can only start from a backup that was consistent before the
/// target.
async fn choose_base(store: &Store, before: Option<jiff::Timestamp>) -> Result<String> {
    let manifests = store.manifests(Some(DEFAULT_BASE_NAME)).await?;
    let is_base = |m: &&Manifest| m.check.as_ref().is_none_or(|c| c.format == "tar archive");
    let chosen = manifests
        .iter()
        .filter(is_base)
        .filter(|m| before.is_none_or(|t| m.finished_at < t))
        .max_by_key(|m| m.finished_at);
    match chosen {
        Some(m) => Ok(format!("{}@{}", m.name, m.id)),
        None if manifests.is_empty() => bail!(
            "no base backups under '{DEFAULT_BASE_NAME}': push one (twgate push {DEFAULT_BASE_NAME} -- pg_basebackup --format=tar --wal-method=fetch -D -) or name one with --base"
        ),
        None => bail!(
            "no base backup under '{DEFAULT_BASE_NAME}' finished before the target time: recovery cannot reach an earlier point; pick a later target or name a backup with --base"
        ),
    }
}

/// `restore_command`: this twgate, with the store and config this restore used, so the
/// server fetches WAL from the same place with the same keys.
fn restore_command(ctx: &Context, args: &PgRestoreArgs) -> Result<String> {
    let exe = std::env::current_exe().context("cannot find this twgate's path")?;
    let mut words = vec![shell_word(&exe.to_string_lossy()), "--quiet".to_string()];
    if let Some(config) = &ctx.explicit_config {
        words.push("--config".into());
        words.push(shell_word(&std::path::absolute(config)?.to_string_lossy()));
    }
    if let Some(store) = &ctx.store_url {
        words.push("--store".into());
        words.push(shell_word(store));
    }
    words.extend(["wal", "fetch", "%f", "%p", "--archive"].map(String::from));
    words.push(shell_word(&args.archive));
    for identity in &args.keys.identities {
        words.push("-i".into());
        words.push(shell_word(
            &std::path::absolute(identity)?.to_string_lossy(),
        ));
    }
    if let Some(var) = &args.keys.passphrase_env {
        words.push("--passphrase-env".into());
        words.push(shell_word(var));
    }
    Ok(words.join(" "))
}

/// A word for `sh -c` (PostgreSQL runs restore_command through the shell).
fn shell_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@=,".contains(c))
    {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', "'\\''"))
}

fn describe(target: &RecoveryTarget) -> String {
    match target {
        RecoveryTarget::Time(t) => format!("to time {}", ui::untrusted(t)),
        RecoveryTarget::Lsn(l) => format!("to WAL location {}", ui::untrusted(l)),
        RecoveryTarget::Name(n) => format!("to restore point {}", ui::untrusted(n)),
        RecoveryTarget::Latest => "to the end of the archived WAL".into(),
    }
}

/// A `--target-time` as PostgreSQL would read it, for choosing the base backup: RFC 3339
/// or `YYYY-MM-DD HH:MM:SS[.fff]+ZZ`; without a zone it is refused (the server's zone may
/// not be this machine's).
fn parse_time(text: &str) -> Result<jiff::Timestamp> {
    let normalized = text.trim().replacen(' ', "T", 1);
    let mut candidates = vec![normalized.clone()];
    // `+00` → `+00:00`
    if let Some(pos) = normalized.rfind(['+', '-']) {
        let zone = &normalized[pos + 1..];
        if zone.len() == 2 && zone.chars().all(|c| c.is_ascii_digit()) {
            candidates.push(format!("{normalized}:00"));
        }
    }
    for candidate in &candidates {
        if let Ok(t) = candidate.parse::<jiff::Timestamp>() {
            return Ok(t);
        }
    }
    bail!(
        "--target-time '{}' is not a time with a zone: write it as '2026-11-25 09:41:00+00'",
        ui::untrusted(text)
    )
}

/// `pg_ctl start`, then waits until recovery ends (the target reached, the server
/// promoted), printing the WAL location replayed.
async fn start_and_watch(
    pgdata: &Path,
    programs: &Programs,
    owner: Option<&OsUser>,
    timeout: Duration,
    what: &str,
    start_wal: &str,
) -> Result<()> {
    if !pgdata.join("postgresql.conf").exists() {
        bail!(
            "{} has no postgresql.conf (Debian keeps it in /etc/postgresql): start the server the usual way (pg_ctlcluster 15 main start) and it recovers by itself",
            pgdata.display()
        );
    }
    let log = pgdata.join("twgate-recovery.log");
    let mut command = tokio::process::Command::new(programs.program("pg_ctl"));
    if let Some(owner) = owner {
        owner.apply(&mut command);
    }
    let out = command
        .arg("-D")
        .arg(pgdata)
        .arg("-l")
        .arg(&log)
        .args(["-w", "-t", &timeout.as_secs().to_string(), "start"])
        .current_dir(pgdata)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .context("cannot run pg_ctl")?;
    let log_tail = || {
        std::fs::read(&log)
            .map(|b| crate::pg::cluster::last_lines(&String::from_utf8_lossy(&b), 6))
            .unwrap_or_default()
    };
    if !out.status.success() {
        bail!(
            "PostgreSQL did not start on {}; its log ends: {}",
            pgdata.display(),
            log_tail()
        );
    }
    let client = connect_to(pgdata, owner).await?;
    let began = Instant::now();
    let mut progress = ui::Progress::new("recover");
    loop {
        let row = client
            .query_one(
                "SELECT pg_is_in_recovery(), coalesce(pg_last_wal_replay_lsn()::text, '')",
                &[],
            )
            .await;
        let row = match row {
            Ok(row) => row,
            Err(e) => bail!(
                "PostgreSQL stopped during recovery ({e}); its log ends: {}",
                log_tail()
            ),
        };
        let (in_recovery, replayed): (bool, String) = (row.get(0), row.get(1));
        if !in_recovery {
            progress.done();
            let timeline: i32 = client
                .query_one("SELECT timeline_id FROM pg_control_checkpoint()", &[])
                .await?
                .get(0);
            crate::outln!(
                "ok {what} recovered into {}: WAL replayed from {start_wal} to {replayed}, promoted on timeline {timeline} in {}",
                pgdata.display(),
                super::drill::seconds(began.elapsed().as_secs_f64())
            )?;
            return Ok(());
        }
        if began.elapsed() > timeout {
            bail!(
                "recovery has not reached its target after {} (replayed up to {replayed}): the server keeps running; see {}",
                ui::age(timeout),
                log.display()
            );
        }
        ui::info(&format!("recovering: WAL replayed up to {replayed}"));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Connects to the started server through what its postmaster.pid says (port, socket
/// directory), as the data directory's owner (or PGUSER).
async fn connect_to(pgdata: &Path, owner: Option<&OsUser>) -> Result<tokio_postgres::Client> {
    let pid = std::fs::read_to_string(pgdata.join("postmaster.pid"))
        .context("the server started but wrote no postmaster.pid")?;
    let lines: Vec<&str> = pid.lines().collect();
    let port: u16 = lines
        .get(3)
        .and_then(|p| p.trim().parse().ok())
        .context("postmaster.pid names no port")?;
    let socket_dir = lines
        .get(4)
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .unwrap_or("/var/run/postgresql");
    let user = std::env::var("PGUSER").ok().unwrap_or_else(|| {
        owner
            .map(|o| o.name.clone())
            .unwrap_or_else(|| "postgres".to_string())
    });
    let mut config = tokio_postgres::Config::new();
    config
        .host_path(socket_dir)
        .port(port)
        .user(&user)
        .dbname("postgres")
        .application_name("twgate pg restore")
        .connect_timeout(Duration::from_secs(30));
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .with_context(|| format!("cannot connect to the recovering server (socket {socket_dir}, port {port}, user {user})"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::{parse_time, shell_word};

    #[test]
    fn target_times_need_a_zone() {
        assert!(parse_time("2026-11-25 09:41:00+00").is_ok());
        assert!(parse_time("2026-11-25 09:41:00.123456+00").is_ok());
        assert!(parse_time("2026-11-25T09:41:00Z").is_ok());
        assert!(parse_time("2026-11-25 09:41:00+05:30").is_ok());
        assert!(parse_time("2026-11-25 09:41:00").is_err());
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_word("/usr/bin/twgate"), "/usr/bin/twgate");
        assert_eq!(shell_word("s3://b/p"), "s3://b/p");
        assert_eq!(shell_word("a b'c"), "'a b'\\''c'");
    }
}
