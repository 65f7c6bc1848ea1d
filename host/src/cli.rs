//! The command line: clap definitions only. Validation beyond syntax happens in `plan`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Stream database dumps through sandboxed WebAssembly plugins (zstd, age, OpenPGP) into a
/// store, and restore them through the same pipeline in reverse.
#[derive(Debug, Parser)]
#[command(
    name = "twgate",
    version,
    propagate_version = true,
    max_term_width = 100
)]
#[command(after_help = "Examples:\n  \
    twgate push mydb -- pg_dump --format=custom --compress=0 mydb\n  \
    pg_dump --format=custom --compress=0 mydb | twgate push mydb\n  \
    twgate pull mydb@latest | pg_restore --clean --if-exists --no-owner -d mydb\n  \
    twgate verify mydb --exec 'pg_restore --list'")]
pub struct Cli {
    /// Where backups live: a directory, fs:///PATH, s3://BUCKET/PREFIX, gs://BUCKET/PREFIX,
    /// azblob://CONTAINER/PREFIX or plugin://NAME/PREFIX [default: $XDG_DATA_HOME/twgate]
    #[arg(
        long,
        global = true,
        env = "TWGATE_STORE",
        value_name = "URL",
        hide_env_values = true
    )]
    pub store: Option<String>,
    /// Configuration file (TOML) [default: $XDG_CONFIG_HOME/twgate/config.toml if it exists]
    #[arg(
        long,
        global = true,
        env = "TWGATE_CONFIG",
        value_name = "FILE",
        hide_env_values = true
    )]
    pub config: Option<PathBuf>,
    /// Print only errors and results: no notices, warnings or progress
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// After push, pull, verify, prune, wal or drill: update this Prometheus text file (for
    /// node_exporter's textfile collector) with the outcome, time and sizes
    #[arg(
        long,
        global = true,
        env = "TWGATE_METRICS_FILE",
        value_name = "PATH",
        hide_env_values = true
    )]
    pub metrics_file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Store a new backup read from stdin, or from the output of COMMAND
    Push(PushArgs),
    /// Restore a backup's original bytes to stdout or a file
    Pull(PullArgs),
    /// List backups, oldest first
    List(ListArgs),
    /// Per name: the newest backup, its age and size, whether it was verified; fail when
    /// one is older than --max-age
    Status(StatusArgs),
    /// Read a backup back through the inverse pipeline and check both checksums
    Verify(VerifyArgs),
    /// Apply retention (--keep-last, --keep-within, --keep-daily...), and remove what
    /// interrupted pushes left behind (--orphans)
    Prune(PruneArgs),
    /// PostgreSQL WAL archiving: archive_command = 'twgate wal push %p', restore_command =
    /// 'twgate wal fetch %f %p'
    #[command(subcommand)]
    Wal(WalCommand),
    /// Prove a backup restores: restore it into a throwaway PostgreSQL, run the checks,
    /// record the result and the restore time beside the backup, remove the cluster
    Drill(DrillArgs),
    /// PostgreSQL: restore a base backup to a point in time; check that WAL archiving works
    #[command(subcommand)]
    Pg(PgCommand),
    /// List the built-in and configured plugins, with what each is granted; fails if a
    /// configured plugin cannot be used (missing, or not the pinned build)
    Plugins(PluginsArgs),
    /// Work with one plugin component
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Write a configuration (store, compression, keys) so backups are encrypted by default:
    /// a fresh age identity, or only a recipient (-r) on a push-only host
    Init(InitArgs),
}

#[derive(Debug, Subcommand)]
pub enum WalCommand {
    /// Archive one WAL file (archive_command = 'twgate wal push %p'). Pushing a file that is
    /// already archived with the same content succeeds; with other content it fails.
    Push {
        /// The WAL file (PostgreSQL's %p)
        path: PathBuf,
        /// The backup name WAL files are kept under
        #[arg(long, default_value = "wal", value_name = "NAME")]
        archive: String,
    },
    /// Restore one WAL file (restore_command = 'twgate wal fetch %f %p'). Exit 1: not in the
    /// archive; exit 126 on any other failure, which makes PostgreSQL stop recovery rather
    /// than end it early.
    Fetch {
        /// The WAL file's name (PostgreSQL's %f)
        segment: String,
        /// Where to write it (PostgreSQL's %p); written only once complete and checked
        dest: PathBuf,
        /// The backup name WAL files are kept under
        #[arg(long, default_value = "wal", value_name = "NAME")]
        archive: String,
        #[command(flatten)]
        keys: KeyArgs,
        /// Decode even if a custom plugin's build differs from the one that wrote the WAL
        /// file (or set allow_plugin_change = true in [plugins.NAME] of the config)
        #[arg(long)]
        allow_plugin_change: bool,
    },
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    twgate drill mydb --check-sql 'SELECT count(*) > 0 FROM incidents'\n  \
    twgate drill mydb@latest --jobs 4 --rto 4h --metrics-file /var/lib/node_exporter/textfile/twgate.prom\n  \
    twgate drill base    (a base backup: recovered with the archived WAL to the end of the archive)\n\n\
    Exit status: 0 only if the restore and every check succeeded.")]
pub struct DrillArgs {
    /// NAME, NAME@latest or NAME@ID
    pub backup: String,
    /// A query that must return true in the restored database (repeatable), e.g. 'SELECT
    /// count(*) > 0 FROM incidents'
    #[arg(long = "check-sql", value_name = "SQL")]
    pub check_sql: Vec<String>,
    /// Restore a pg_dump archive with N parallel jobs (pg_restore -j, from a temporary file
    /// in the drill's directory); 1 streams it with no temporary file
    #[arg(long, short = 'j', default_value_t = 1, value_name = "N")]
    pub jobs: usize,
    /// Directory with PostgreSQL's server programs (initdb, pg_ctl, postgres, pg_restore)
    /// [default: PATH, else the newest /usr/lib/postgresql/*/bin]
    #[arg(long, value_name = "DIR")]
    pub pg_bin: Option<PathBuf>,
    /// The OS user the throwaway server runs as when twgate runs as root [default: postgres]
    #[arg(long, value_name = "USER")]
    pub os_user: Option<String>,
    /// Where the drill's cluster directory is made [default: $TMPDIR]
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Leave the cluster running and its files in place, for inspection (prints how to
    /// connect and how to stop it)
    #[arg(long)]
    pub keep: bool,
    /// The recovery time objective: fail when the restore takes longer (e.g. 4h); `status`
    /// shows the last drill's restore time against it
    #[arg(long, value_parser = parse_age, value_name = "TIME")]
    pub rto: Option<std::time::Duration>,
    /// The WAL archive a base backup recovers from
    #[arg(long, default_value = "wal", value_name = "NAME")]
    pub archive: String,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Decode even if a custom plugin's build differs from the one that wrote the backup
    #[arg(long)]
    pub allow_plugin_change: bool,
    /// Print the drill's record as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum PgCommand {
    /// Restore a base backup into an empty data directory, set up recovery (restore_command
    /// through `twgate wal fetch`, the target, recovery.signal); with --start, recover and
    /// promote
    #[command(after_help = "Examples:\n  \
        twgate pg restore --pgdata /var/lib/postgresql/15/main --target-time '2026-11-25 09:41:00+00' --start\n  \
        twgate pg restore --pgdata /srv/pg --base base@20261124T020000Z --latest")]
    Restore(PgRestoreArgs),
    /// Check WAL archiving end to end on a running server (libpq's PG* variables): force a
    /// WAL switch, wait for the file in the archive, fetch it back and compare
    Check(PgCheckArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["target_time", "target_lsn", "target_name", "latest"])))]
pub struct PgRestoreArgs {
    /// The data directory to restore into: empty or absent
    #[arg(long, value_name = "DIR")]
    pub pgdata: PathBuf,
    /// Recover up to this time (recovery_target_time), e.g. '2026-11-25 09:41:00+00'
    #[arg(long, value_name = "TIME")]
    pub target_time: Option<String>,
    /// Recover up to this WAL location (recovery_target_lsn), e.g. 0/3000060
    #[arg(long, value_name = "LSN")]
    pub target_lsn: Option<String>,
    /// Recover up to this restore point (pg_create_restore_point)
    #[arg(long, value_name = "NAME")]
    pub target_name: Option<String>,
    /// Recover to the end of the archived WAL
    #[arg(long)]
    pub latest: bool,
    /// The base backup, NAME[@ID] [default: the newest backup of 'base' that finished before
    /// the target]
    #[arg(long, value_name = "BACKUP")]
    pub base: Option<String>,
    /// The WAL archive restore_command fetches from
    #[arg(long, default_value = "wal", value_name = "NAME")]
    pub archive: String,
    /// Start the server, wait until it reaches the target and promotes, report the WAL
    /// replayed
    #[arg(long)]
    pub start: bool,
    /// Directory with PostgreSQL's server programs, for --start [default: PATH, else the
    /// newest /usr/lib/postgresql/*/bin]
    #[arg(long, value_name = "DIR")]
    pub pg_bin: Option<PathBuf>,
    /// The OS user that owns the data directory and runs the server when twgate runs as
    /// root [default: the directory's owner, else postgres]
    #[arg(long, value_name = "USER")]
    pub os_user: Option<String>,
    /// How long --start waits for recovery to reach the target
    #[arg(long, default_value = "1h", value_parser = parse_age, value_name = "TIME")]
    pub timeout: std::time::Duration,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Decode even if a custom plugin's build differs from the one that wrote the backup
    #[arg(long)]
    pub allow_plugin_change: bool,
}

#[derive(Debug, Args)]
pub struct PgCheckArgs {
    /// The WAL archive archive_command writes to
    #[arg(long, default_value = "wal", value_name = "NAME")]
    pub archive: String,
    /// How long to wait for the switched WAL file to arrive in the archive (and, at most,
    /// for the server to answer the connection)
    #[arg(long, default_value = "60s", value_parser = parse_age, value_name = "TIME")]
    pub timeout: std::time::Duration,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Show what a component is before trusting it: world, version, imports, the
    /// capabilities it could ask for, and its sha256 to pin in the config
    Inspect {
        /// The component (.wasm)
        file: PathBuf,
    },
}

pub use crate::builtin::Encryption;

#[derive(Debug, Args)]
pub struct KeyArgs {
    /// An age identity file or OpenPGP secret key file to decrypt with (repeatable)
    #[arg(long = "identity", short = 'i', value_name = "FILE")]
    pub identities: Vec<PathBuf>,
    /// Read the passphrase from this environment variable (never from argv)
    #[arg(long, value_name = "VAR")]
    pub passphrase_env: Option<String>,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The backup's name, e.g. the database's
    pub name: String,
    /// Run a custom plugin first (configured in [plugins.NAME]); NAME or NAME:KEY=VALUE,... (repeatable)
    #[arg(long = "transform", value_name = "NAME")]
    pub transforms: Vec<String>,
    /// Compression: zstd[:LEVEL] or none [default: zstd:3]
    #[arg(long, value_name = "ALGO")]
    pub compress: Option<String>,
    /// Encryption [default: none, or what the configuration says]
    #[arg(long, value_enum)]
    pub encrypt: Option<Encryption>,
    /// Recipient: an age1... key, an age recipients file, or an OpenPGP certificate file (repeatable)
    #[arg(long = "recipient", short = 'r', value_name = "R")]
    pub recipients: Vec<String>,
    /// Encrypt with a passphrase read from this environment variable
    #[arg(long, value_name = "VAR")]
    pub passphrase_env: Option<String>,
    /// Store an empty stream (refused otherwise: a producer that failed before writing
    /// anything is not a backup)
    #[arg(long)]
    pub allow_empty: bool,
    /// Store the stream without checking that a pg_dump archive, tar or SQL dump in it is
    /// complete (checked otherwise, and refused if cut short)
    #[arg(long)]
    pub no_check: bool,
    /// Run this command and store its stdout; commit only if it exits 0
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// NAME, NAME@latest or NAME@ID (an id prefix is enough when unique)
    pub backup: String,
    /// Write to FILE (atomically, on success only) instead of stdout
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write the stored bytes undecoded (to decode with stock tools: zstd -d, age -d, gpg -d)
    #[arg(long)]
    pub raw: bool,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Decode even if a custom plugin's build differs from the one that wrote the backup
    /// (built-in stages are decoded by stream format, whatever build wrote them)
    #[arg(long)]
    pub allow_plugin_change: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 if every name's newest backup is younger than --max-age \
    (or no --max-age is given) and every last drill passed within --rto, 1 otherwise: an RPO \
    and RTO alarm for cron or a Kubernetes probe."
)]
pub struct StatusArgs {
    /// Only this backup name [default: every name in the store]
    pub name: Option<String>,
    /// Fail when a name's newest backup is older than this (e.g. 26h)
    #[arg(long, value_parser = parse_age, value_name = "AGE")]
    pub max_age: Option<std::time::Duration>,
    /// Fail when a name's last restore drill failed or its restore took longer than this
    /// (e.g. 4h); names never drilled are shown, not failed
    #[arg(long, value_parser = parse_age, value_name = "TIME")]
    pub rto: Option<std::time::Duration>,
    /// One JSON array, one object per name
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PluginsArgs {
    /// One JSON array, one object per plugin
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only backups with this name
    pub name: Option<String>,
    /// One JSON array of manifests
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// NAME, NAME@latest or NAME@ID
    pub backup: String,
    /// Also pipe the restored bytes into this shell command (e.g. 'pg_restore --list'); fail
    /// if it fails. Its output goes to stdout (to stderr with --json)
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,
    /// Check only the stored object's size and checksum, without decrypting or decoding:
    /// for hosts that hold no identity (push hosts)
    #[arg(long, conflicts_with_all = ["exec", "identities", "passphrase_env", "allow_plugin_change"])]
    pub stored_only: bool,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Decode even if a custom plugin's build differs from the one that wrote the backup
    /// (built-in stages are decoded by stream format, whatever build wrote them)
    #[arg(long)]
    pub allow_plugin_change: bool,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    twgate prune db --keep-within 30d --dry-run\n  \
    twgate prune --keep-daily 7 --keep-weekly 4 --keep-monthly 12\n  \
    twgate prune --orphans")]
pub struct PruneArgs {
    /// Apply the keep rules to this backup name only [default: every name in the store]
    pub name: Option<String>,
    /// Keep the N newest backups
    #[arg(long, value_name = "N")]
    pub keep_last: Option<usize>,
    /// Keep every backup started within AGE of the newest one (e.g. 30d)
    #[arg(long, value_parser = parse_age, value_name = "AGE")]
    pub keep_within: Option<std::time::Duration>,
    /// Keep the newest backup of each of the N newest days that have one (UTC)
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<usize>,
    /// Keep the newest backup of each of the N newest ISO weeks that have one
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<usize>,
    /// Keep the newest backup of each of the N newest months that have one
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<usize>,
    /// Also remove the WAL files of archive NAME that no kept base backup needs (those
    /// before the oldest kept one's start); with the base backups' name, e.g. `prune base
    /// --keep-last 2 --wal wal`
    #[arg(long, value_name = "NAME")]
    pub wal: Option<String>,
    /// Remove data no manifest points at, staging files and unfinished S3 multipart uploads
    #[arg(long)]
    pub orphans: bool,
    /// Only what is older than this, so a running push is never touched (e.g. 30m, 6h, 2d)
    #[arg(long, default_value = "24h", value_parser = parse_age, value_name = "AGE")]
    pub grace: std::time::Duration,
    /// Show what would be removed; remove nothing
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// One JSON object: every backup and orphan with what happened to it and why
    #[arg(long)]
    pub json: bool,
}

/// An age or a period with its unit: `90s`, `30m`, `26h`, `30d`, `2w`. A bare number is an
/// error: read as seconds, `--keep-within 30` (meant as days, as `find -mtime +30`) kept 30
/// seconds of backups.
pub fn parse_age(text: &str) -> Result<std::time::Duration, String> {
    let forms = "use a number and a unit: 90s, 30m, 26h, 30d or 2w";
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let shown = crate::ui::untrusted(text);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("'{shown}' is not a duration: {forms}"))?;
    let seconds = match unit {
        "" => return Err(format!("'{shown}' has no unit: {forms}")),
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        _ => return Err(format!("unknown unit in '{shown}': {forms}")),
    };
    Ok(std::time::Duration::from_secs(
        number.saturating_mul(seconds),
    ))
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    twgate init --store s3://backups/db1              (a host that pushes and restores)\n  \
    twgate init --store s3://backups/db1 -r age1...   (a push-only host: no identity on it)")]
pub struct InitArgs {
    /// Replace an existing configuration file (an existing identity file is kept and used,
    /// never overwritten)
    #[arg(long)]
    pub force: bool,
    /// Encrypt to this age recipient (age1...) or recipients file instead of a new identity:
    /// a push-only host, which holds no key that decrypts (repeatable)
    #[arg(long = "recipient", short = 'r', value_name = "R")]
    pub recipients: Vec<String>,
    /// Compression to write in the config: zstd[:LEVEL] or none [default: zstd:3]
    #[arg(long, value_name = "ALGO")]
    pub compress: Option<String>,
}

/// Parses the process's arguments.
pub fn parse() -> Cli {
    Cli::parse()
}

#[cfg(test)]
mod tests {
    use super::parse_age;
    use std::time::Duration;

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_age("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_age("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_age("26h"), Ok(Duration::from_secs(26 * 3600)));
        assert_eq!(parse_age("30d"), Ok(Duration::from_secs(30 * 86400)));
        assert_eq!(parse_age("2w"), Ok(Duration::from_secs(14 * 86400)));
        let bare = parse_age("30").unwrap_err();
        assert!(
            bare.contains("'30' has no unit") && bare.contains("30d"),
            "{bare}"
        );
        assert!(parse_age("30 days").unwrap_err().contains("unknown unit"));
        assert!(parse_age("d").unwrap_err().contains("not a duration"));
        assert!(parse_age("-1d").unwrap_err().contains("not a duration"));
    }
}
