//! A restore drill: a backup restored into a throwaway PostgreSQL cluster, checked, and
//! the result recorded beside the backup (`NAME/ID.drill.json`), the cluster removed.
//!
//! What is restored is decided by the restored bytes themselves, not the manifest: a
//! pg_dump custom archive (`PGDMP`) goes to `pg_restore` (streamed, or with `--jobs N`
//! from a file in the drill's directory), a plain SQL dump to `psql`, and a base backup
//! (a tar) is unpacked as the data directory and recovered with the archived WAL to the
//! end of the archive. The WAL is fetched by the drill itself (through the same pipeline
//! as `wal fetch`) into the drill's directory before the server starts: the server runs
//! as another user, who may not read the store's credentials or the keys. The restore time
//! recorded is the restore's own: from the first byte read from the store to the end of
//! `pg_restore`, without the minutes `initdb` and the server's start take.
//!
//! **Invariant:** a drill succeeds only if the restore (both checksums included) and every
//! check succeeded; its record says which failed otherwise.

use crate::backup::{Decoding, Purpose, Restore, Sink};
use crate::metrics::Moved;
use crate::pg::basebackup::{self, RecoveryTarget, Unpacker};
use crate::pg::cluster::{last_lines, Cluster};
use crate::pg::os_user::OsUser;
use crate::pg::programs::Programs;
use crate::storage::BackupRef;
use crate::storage::Store;
use crate::ui;
use anyhow::{anyhow, bail, Context as _, Result};
use bytes::Bytes;
use serde::Serialize;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The WAL archive a base backup recovers from, and how to decode it.
pub struct WalArchive<'a> {
    pub name: String,
    pub decoding: Decoding<'a>,
}

/// How long a base backup's recovery may take once the server runs.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(6 * 3600);

/// What the drill does, beside the backup.
pub struct Plan<'a> {
    pub wal: WalArchive<'a>,
    pub check_sql: Vec<String>,
    pub jobs: usize,
    pub programs: Programs,
    pub user: Option<OsUser>,
    pub work_dir: Option<PathBuf>,
    pub keep: bool,
    pub rto: Option<Duration>,
}

/// What the drill found: recorded beside the backup and printed.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub name: String,
    pub id: String,
    pub drilled_at: jiff::Timestamp,
    pub twgate_version: &'static str,
    pub ok: bool,
    /// What the restored bytes were: `pg_dump custom archive`, `plain SQL dump`...
    pub kind: String,
    /// The restore itself: store → pipeline → pg_restore, without the cluster's set-up.
    pub restore_seconds: f64,
    /// The whole drill, set-up and checks included.
    pub total_seconds: f64,
    pub jobs: usize,
    pub postgresql: u32,
    /// The OS user the throwaway server ran as.
    pub os_user: String,
    pub database: String,
    pub tables: usize,
    pub rows: u64,
    pub row_counts: Vec<TableRows>,
    pub checks: Vec<CheckResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rto_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableRows {
    pub database: String,
    pub schema: String,
    pub table: String,
    pub rows: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub sql: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The drill's outcome: its record (also when it failed), what the restore moved, and the
/// cluster's directory when kept.
pub struct Outcome {
    pub record: Record,
    pub moved: Moved,
    pub kept: Option<(PathBuf, u16)>,
}

/// What the restored bytes are, from their first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Archive,
    Sql { cluster: bool },
    Tar,
}

impl Kind {
    /// How many first bytes decide.
    const SNIFF: usize = 512;

    fn detect(head: &[u8]) -> Result<Kind> {
        if head.is_empty() {
            bail!("the backup is empty: there is nothing to restore");
        }
        if head.starts_with(b"PGDMP") {
            return Ok(Kind::Archive);
        }
        if head.len() >= 262 && &head[257..262] == b"ustar" {
            return Ok(Kind::Tar);
        }
        let text = String::from_utf8_lossy(head);
        if text.contains("PostgreSQL database cluster dump") {
            return Ok(Kind::Sql { cluster: true });
        }
        if text.contains("PostgreSQL database dump") || text.starts_with("--") {
            return Ok(Kind::Sql { cluster: false });
        }
        bail!("the backup is neither a pg_dump archive nor a SQL dump, which is what a drill restores")
    }

    fn describe(self) -> &'static str {
        match self {
            Kind::Archive => "pg_dump custom archive",
            Kind::Sql { cluster: false } => "plain SQL dump",
            Kind::Sql { cluster: true } => "plain SQL cluster dump",
            Kind::Tar => "base backup (tar)",
        }
    }
}

/// The restore worked but the drill says no: a check failed, or the RTO was missed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Verdict(String);

/// Where the restored bytes go once their kind is known.
enum Feed {
    /// The first bytes, until they say what the backup is.
    Sniffing(Vec<u8>),
    /// A program reading stdin (`pg_restore` with one job, `psql`).
    Program {
        child: tokio::process::Child,
        stdin: Option<tokio::process::ChildStdin>,
        errors: tokio::task::JoinHandle<String>,
    },
    /// A file for `pg_restore --jobs N`.
    File(tokio::io::BufWriter<tokio::fs::File>, PathBuf),
    /// A base backup, unpacked as the data directory.
    Tar(Unpacker),
}

/// The drill's sink: sniffs, sets the cluster up, then feeds the restoring program.
struct DrillSink<'a, 'b> {
    cluster: &'a mut Cluster,
    plan: &'a Plan<'b>,
    feed: Feed,
    kind: Option<Kind>,
    database: String,
    /// Time spent setting the cluster up while the restore waited.
    setup: Duration,
}

impl Sink for DrillSink<'_, '_> {
    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        if let Feed::Sniffing(head) = &mut self.feed {
            head.extend_from_slice(&chunk);
            if head.len() < Kind::SNIFF {
                return Ok(());
            }
            let head = std::mem::take(head);
            return self.begin(Bytes::from(head)).await;
        }
        self.feed_bytes(&chunk).await
    }
}

impl DrillSink<'_, '_> {
    /// The kind is known from `head`: set the cluster up and start the restoring program.
    async fn begin(&mut self, head: Bytes) -> Result<()> {
        let kind = Kind::detect(&head)?;
        self.kind = Some(kind);
        if kind == Kind::Tar {
            let data = &self.cluster.data;
            std::fs::create_dir(data)?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o700))?;
            self.database = "postgres".into();
            self.feed = Feed::Tar(Unpacker::start(data.clone()));
            return self.feed_bytes(&head).await;
        }
        let started = Instant::now();
        self.cluster.initdb().await?;
        self.cluster.configure("")?;
        self.cluster.start().await?;
        if let Kind::Sql { cluster: true } = kind {
            self.database = "postgres".into();
        } else {
            let client = self.cluster.connect("postgres").await?;
            client
                .batch_execute(&format!(
                    "CREATE DATABASE {} TEMPLATE template0",
                    quote_ident(&self.database)
                ))
                .await
                .context("cannot create the drill's database")?;
        }
        self.setup = started.elapsed();
        self.feed = match (kind, self.plan.jobs) {
            (Kind::Archive, jobs) if jobs > 1 => {
                let path = self.cluster.dir().join("backup.dump");
                let file = tokio::fs::File::create(&path)
                    .await
                    .with_context(|| format!("cannot create {}", path.display()))?;
                Feed::File(tokio::io::BufWriter::with_capacity(1 << 20, file), path)
            }
            (Kind::Archive, _) => self.spawn(restore_args(&self.database, None, 1))?,
            (Kind::Sql { cluster }, _) => self.spawn(psql_args(&self.database, cluster))?,
            (Kind::Tar, _) => unreachable!("refused above"),
        };
        self.feed_bytes(&head).await
    }

    fn spawn(&self, (program, args): (&'static str, Vec<String>)) -> Result<Feed> {
        let mut child = self
            .cluster
            .command(program)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {program}"))?;
        let stdin = child.stdin.take();
        let errors = tokio::spawn(tail(child.stderr.take()));
        Ok(Feed::Program {
            child,
            stdin,
            errors,
        })
    }

    async fn feed_bytes(&mut self, chunk: &[u8]) -> Result<()> {
        match &mut self.feed {
            Feed::Sniffing(_) => unreachable!("sniffed before feeding"),
            Feed::Program { stdin, .. } => {
                if let Some(pipe) = stdin {
                    if let Err(e) = pipe.write_all(chunk).await {
                        if e.kind() != std::io::ErrorKind::BrokenPipe {
                            return Err(e.into());
                        }
                        // The program stopped reading: its exit status says why; the
                        // rest is still read and hashed.
                        *stdin = None;
                    }
                }
                Ok(())
            }
            Feed::File(file, path) => file
                .write_all(chunk)
                .await
                .with_context(|| format!("cannot write {}", path.display())),
            Feed::Tar(unpacker) => unpacker.write(Bytes::copy_from_slice(chunk)).await,
        }
    }

    /// The restore's end: hands over the rest, waits for the restoring program.
    async fn finish(&mut self) -> Result<()> {
        if let Feed::Sniffing(head) = &mut self.feed {
            let head = std::mem::take(head);
            self.begin(Bytes::from(head)).await?;
        }
        let feed = std::mem::replace(&mut self.feed, Feed::Sniffing(Vec::new()));
        match feed {
            Feed::Sniffing(_) => unreachable!("begun above"),
            Feed::Program {
                mut child,
                stdin,
                errors,
            } => {
                drop(stdin);
                let status = child.wait().await?;
                let errors = errors.await.unwrap_or_default();
                if self.kind == Some(Kind::Sql { cluster: true }) {
                    // A cluster dump creates every role, the drill's own superuser too:
                    // that one error is expected, any other is not.
                    let unexpected: Vec<&str> = errors
                        .lines()
                        .filter(|l| l.contains("ERROR:"))
                        .filter(|l| !l.contains("role \"postgres\" already exists"))
                        .collect();
                    if !unexpected.is_empty() {
                        bail!(
                            "the restore into PostgreSQL failed: {} errors; the first: {}",
                            unexpected.len(),
                            ui::untrusted(unexpected[0])
                        );
                    }
                }
                if !status.success() {
                    bail!(
                        "the restore into PostgreSQL failed ({status}): {}",
                        last_lines(&errors, 6)
                    );
                }
                Ok(())
            }
            Feed::Tar(mut unpacker) => {
                unpacker.finish().await?;
                if let Some(user) = self.cluster.user() {
                    user.chown_tree(&self.cluster.data)?;
                }
                Ok(())
            }
            Feed::File(mut file, path) => {
                file.flush().await?;
                drop(file);
                if let Some(user) = self.cluster.user() {
                    user.chown(&path)?;
                }
                let (program, args) = restore_args(&self.database, Some(&path), self.plan.jobs);
                let out = self
                    .cluster
                    .command(program)
                    .args(&args)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .output()
                    .await
                    .context("cannot run pg_restore")?;
                let _ = std::fs::remove_file(&path);
                if !out.status.success() {
                    bail!(
                        "the restore into PostgreSQL failed ({}): {}",
                        out.status,
                        last_lines(&String::from_utf8_lossy(&out.stderr), 6)
                    );
                }
                Ok(())
            }
        }
    }
}

/// `pg_restore` into `database`: no owners or privileges (the drill's cluster has only its
/// superuser), every error reported (it goes on after one, and exits 1).
fn restore_args(
    database: &str,
    file: Option<&std::path::Path>,
    jobs: usize,
) -> (&'static str, Vec<String>) {
    let mut args = vec![
        "--no-owner".to_string(),
        "--no-privileges".to_string(),
        "-d".to_string(),
        database.to_string(),
    ];
    if let Some(file) = file {
        args.push(format!("--jobs={jobs}"));
        args.push(file.to_string_lossy().into_owned());
    }
    ("pg_restore", args)
}

/// `psql` for a plain SQL dump, without `.psqlrc`: a database's dump stops at the first
/// error; a cluster dump goes on (its errors are read from stderr, see `finish`).
fn psql_args(database: &str, cluster: bool) -> (&'static str, Vec<String>) {
    let stop = match cluster {
        true => "ON_ERROR_STOP=0",
        false => "ON_ERROR_STOP=1",
    };
    let args = ["-X", "-q", "-v", stop, "-d", database, "-f", "-"];
    ("psql", args.iter().map(|s| s.to_string()).collect())
}

/// The last 16 KiB a program wrote to stderr.
async fn tail(stderr: Option<tokio::process::ChildStderr>) -> String {
    const KEEP: usize = 16 << 10;
    let Some(mut stderr) = stderr else {
        return String::new();
    };
    let mut kept: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 8192];
    while let Ok(n) = stderr.read(&mut buf).await {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > 2 * KEEP {
            kept.drain(..kept.len() - KEEP);
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// An identifier in double quotes.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Runs the drill: restore into a throwaway cluster, count and check, record.
pub async fn run(store: &Store, mut restore: Restore, plan: Plan<'_>) -> Result<Outcome> {
    let began = Instant::now();
    let manifest = restore.manifest.clone();
    let database = manifest
        .check
        .as_ref()
        .and_then(|c| c.fact("dbname"))
        .filter(|d| !d.is_empty() && d.len() < 64)
        .unwrap_or("drill")
        .to_string();
    if let Some(check) = &manifest.check {
        plan.programs.check_at_least(check.fact("server-version"))?;
    }
    let mut cluster = Cluster::prepare(
        plan.programs.clone(),
        plan.user.clone(),
        plan.work_dir.as_deref(),
    )?;
    let mut record = Record {
        name: manifest.name.clone(),
        id: manifest.id.clone(),
        drilled_at: jiff::Timestamp::now(),
        twgate_version: env!("CARGO_PKG_VERSION"),
        ok: false,
        kind: String::new(),
        restore_seconds: 0.0,
        total_seconds: 0.0,
        jobs: plan.jobs,
        postgresql: plan.programs.major,
        os_user: match &plan.user {
            Some(user) => user.name.clone(),
            None => crate::pg::os_user::current_user_name().unwrap_or_default(),
        },
        database: database.clone(),
        tables: 0,
        rows: 0,
        row_counts: Vec::new(),
        checks: Vec::new(),
        rto_seconds: plan.rto.map(|d| d.as_secs()),
        error: None,
    };
    let result = async {
        let restore_began = Instant::now();
        let mut sink = DrillSink {
            cluster: &mut cluster,
            plan: &plan,
            feed: Feed::Sniffing(Vec::with_capacity(Kind::SNIFF)),
            kind: None,
            database: database.clone(),
            setup: Duration::ZERO,
        };
        let pulled = restore.run(store, &mut sink, Purpose::Drill).await;
        let finished = match pulled {
            Ok(moved) => sink.finish().await.map(|()| moved),
            Err(e) => Err(e),
        };
        record.kind = sink.kind.map(Kind::describe).unwrap_or("unknown").into();
        record.database = sink.database.clone();
        let setup = sink.setup;
        let moved = finished?;
        if record.kind == Kind::Tar.describe() {
            let start = manifest.check.as_ref().and_then(|c| c.fact("start-wal-file"));
            recover(&mut cluster, store, &plan.wal, start).await?;
        }
        record.restore_seconds = (restore_began.elapsed() - setup).as_secs_f64();
        let client = cluster.connect(&record.database).await?;
        let databases = match record.kind == Kind::Tar.describe() {
            true => client
                .query(
                    "SELECT datname::text FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1",
                    &[],
                )
                .await?
                .iter()
                .map(|r| r.get::<_, String>(0))
                .collect(),
            false => vec![record.database.clone()],
        };
        for database in &databases {
            let each = match database == &record.database {
                true => None,
                false => Some(cluster.connect(database).await?),
            };
            let counted = row_counts(each.as_ref().unwrap_or(&client), database).await?;
            record.row_counts.extend(counted);
        }
        record.tables = record.row_counts.len();
        record.rows = record.row_counts.iter().map(|t| t.rows.max(0) as u64).sum();
        for sql in &plan.check_sql {
            record.checks.push(check(&client, sql).await);
        }
        let failed: Vec<&CheckResult> = record.checks.iter().filter(|c| !c.ok).collect();
        if let Some(first) = failed.first() {
            return Err(anyhow::Error::new(Verdict(format!(
                "{} of {} checks failed; the first: `{}`{}",
                failed.len(),
                record.checks.len(),
                ui::untrusted(&first.sql),
                first
                    .error
                    .as_ref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_else(|| " returned false".into())
            ))));
        }
        if let Some(rto) = plan.rto {
            if record.restore_seconds > rto.as_secs_f64() {
                return Err(anyhow::Error::new(Verdict(format!(
                    "the restore took {}, over the RTO of {}",
                    ui::age(Duration::from_secs_f64(record.restore_seconds)),
                    ui::age(rto)
                ))));
            }
        }
        anyhow::Ok(moved)
    }
    .await;
    record.total_seconds = began.elapsed().as_secs_f64();
    let moved = match result {
        Ok(moved) => {
            record.ok = true;
            moved
        }
        Err(e) => {
            let mut message = format!("{e:#}");
            // A restore that failed may be explained by the server; a check that said
            // no, or a slow restore, is not.
            if !message.contains("log ends") && e.downcast_ref::<Verdict>().is_none() {
                message.push_str(&format!("; the server log ends: {}", cluster.log_tail(5)));
            }
            record.error = Some(ui::untrusted(&message));
            Moved::default()
        }
    };
    if let Err(e) = store
        .put_drill(&manifest, &serde_json::to_value(&record)?)
        .await
    {
        ui::warn(&format!("could not record the drill in the store: {e}"));
    }
    let kept = match plan.keep {
        true => {
            let port = cluster.port;
            Some((cluster.keep(), port))
        }
        false => {
            drop(cluster);
            None
        }
    };
    Ok(Outcome {
        record,
        moved,
        kept,
    })
}

/// A base backup, unpacked: the archived WAL from its start on fetched into the drill's
/// directory, recovery to the end of it, then promotion.
async fn recover(
    cluster: &mut Cluster,
    store: &Store,
    wal: &WalArchive<'_>,
    start: Option<&str>,
) -> Result<()> {
    let from = start
        .and_then(crate::wal_names::parse)
        .and_then(|w| w.position);
    let wal_dir = cluster.dir().join("wal");
    std::fs::create_dir(&wal_dir)?;
    let archived = store.manifests(Some(&wal.name)).await?;
    let mut fetched = 0usize;
    for manifest in &archived {
        let Some(name) = crate::wal_names::parse(&manifest.id) else {
            continue;
        };
        let needed = match (name.position, from) {
            (None, _) | (_, None) => true, // history files; everything without a start
            (Some(at), Some(from)) => at >= from,
        };
        if !needed {
            continue;
        }
        let decoding = Decoding {
            catalog: wal.decoding.catalog,
            runtime: wal.decoding.runtime,
            secrets: wal.decoding.secrets,
            allow_plugin_change: wal.decoding.allow_plugin_change,
        };
        let backup = BackupRef {
            name: wal.name.clone(),
            id: Some(manifest.id.clone()),
        };
        let mut restore = Restore::open(store, &backup, Some(decoding)).await?;
        let path = wal_dir.join(&manifest.id);
        let file = tokio::fs::File::create(&path).await?;
        let mut sink = FileSink(tokio::io::BufWriter::new(file));
        restore.run(store, &mut sink, Purpose::Drill).await?;
        sink.0.flush().await?;
        fetched += 1;
    }
    if fetched == 0 {
        ui::warn(&format!(
            "no WAL in the archive '{}' from the base backup's start on: recovery uses only the WAL inside the backup",
            wal.name
        ));
    }
    if let Some(user) = cluster.user() {
        user.chown_tree(&wal_dir)?;
    }
    // A shell command; write_recovery quotes it for postgresql.conf.
    let command = format!(
        "cp '{}'/%f %p",
        wal_dir.to_string_lossy().replace('\'', "'\\''")
    );
    cluster.configure("")?;
    basebackup::write_recovery(
        &cluster.data,
        &command,
        &RecoveryTarget::Latest,
        cluster.user(),
        "twgate drill: recovery to the end of the archived WAL",
    )?;
    cluster.start().await?;
    let client = cluster.connect("postgres").await?;
    let began = Instant::now();
    loop {
        let in_recovery: bool = client
            .query_one("SELECT pg_is_in_recovery()", &[])
            .await
            .with_context(|| {
                format!(
                    "the server stopped during recovery; its log ends: {}",
                    cluster.log_tail(6)
                )
            })?
            .get(0);
        if !in_recovery {
            return Ok(());
        }
        if began.elapsed() > RECOVERY_TIMEOUT {
            bail!(
                "recovery did not end within {}; the server log ends: {}",
                ui::age(RECOVERY_TIMEOUT),
                cluster.log_tail(6)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Writes a fetched WAL file.
struct FileSink(tokio::io::BufWriter<tokio::fs::File>);

impl Sink for FileSink {
    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        Ok(self.0.write_all(&chunk).await?)
    }
}

/// Rows of every user table of `database` (partitions counted in their parent).
async fn row_counts(client: &tokio_postgres::Client, database: &str) -> Result<Vec<TableRows>> {
    let tables = client
        .query(
            "SELECT n.nspname::text, c.relname::text, \
                    format('SELECT count(*) FROM %I.%I', n.nspname, c.relname) \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition \
               AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
               AND n.nspname NOT LIKE 'pg_toast%' \
             ORDER BY 1, 2",
            &[],
        )
        .await
        .context("cannot list the restored tables")?;
    let mut counts = Vec::new();
    for table in tables {
        let (schema, name, query): (String, String, String) =
            (table.get(0), table.get(1), table.get(2));
        let rows: i64 = client
            .query_one(query.as_str(), &[])
            .await
            .with_context(|| {
                format!(
                    "cannot count the rows of {}.{}",
                    ui::untrusted(&schema),
                    ui::untrusted(&name)
                )
            })?
            .get(0);
        counts.push(TableRows {
            database: database.to_string(),
            schema,
            table: name,
            rows,
        });
    }
    Ok(counts)
}

/// One `--check-sql`: it must return one row whose first column is true.
async fn check(client: &tokio_postgres::Client, sql: &str) -> CheckResult {
    let result = async {
        let rows = client.query(sql, &[]).await?;
        let [row] = rows.as_slice() else {
            return Err(anyhow!("returned {} rows, not one", rows.len()));
        };
        let value: Option<bool> = row
            .try_get(0)
            .map_err(|_| anyhow!("does not return a boolean (write it as `SELECT ... > 0`)"))?;
        Ok(value == Some(true))
    }
    .await;
    match result {
        Ok(ok) => CheckResult {
            sql: sql.to_string(),
            ok,
            error: None,
        },
        Err(e) => CheckResult {
            sql: sql.to_string(),
            ok: false,
            error: Some(ui::untrusted(&format!("{e:#}"))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::{quote_ident, Kind};

    #[test]
    fn kinds_from_first_bytes() {
        assert_eq!(Kind::detect(b"PGDMP\x01\x0e").unwrap(), Kind::Archive);
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(Kind::detect(&tar).unwrap(), Kind::Tar);
        assert_eq!(
            Kind::detect(b"--\n-- PostgreSQL database dump\n--\n").unwrap(),
            Kind::Sql { cluster: false }
        );
        assert_eq!(
            Kind::detect(b"--\n-- PostgreSQL database cluster dump\n--\n").unwrap(),
            Kind::Sql { cluster: true }
        );
        assert!(Kind::detect(b"").unwrap_err().to_string().contains("empty"));
        assert!(Kind::detect(b"\x28\xb5\x2f\xfd").is_err());
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
