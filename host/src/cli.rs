//! The command line: clap definitions only. Validation beyond syntax happens in `plan`.

use clap::{Args, Parser, Subcommand, ValueEnum};
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
    pg_dump --format=custom mydb | twgate push mydb\n  \
    twgate push mydb -- pg_dump --format=custom mydb\n  \
    twgate pull mydb@latest | pg_restore --clean --if-exists --no-owner -d mydb\n  \
    twgate verify mydb --exec 'pg_restore --list'")]
pub struct Cli {
    /// Where backups live: a directory, fs:///PATH, s3://BUCKET/PREFIX, gs://BUCKET/PREFIX,
    /// azblob://CONTAINER/PREFIX or plugin://NAME/PREFIX [default: $XDG_DATA_HOME/twgate]
    #[arg(long, global = true, env = "TWGATE_STORE", value_name = "URL")]
    pub store: Option<String>,
    /// Configuration file (TOML) [default: $XDG_CONFIG_HOME/twgate/config.toml if it exists]
    #[arg(long, global = true, env = "TWGATE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print only errors and results: no notices, warnings or progress
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// After push, pull, verify, prune or wal: update this Prometheus text file (for
    /// node_exporter's textfile collector) with the outcome, time and sizes
    #[arg(long, global = true, env = "TWGATE_METRICS_FILE", value_name = "PATH")]
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
    /// Remove what interrupted pushes left behind: partial objects, unfinished uploads
    Prune(PruneArgs),
    /// PostgreSQL WAL archiving: archive_command = 'twgate wal push %p', restore_command =
    /// 'twgate wal fetch %f %p'
    #[command(subcommand)]
    Wal(WalCommand),
    /// List the built-in and configured plugins, with what each is granted
    Plugins,
    /// Work with one plugin component
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Write a configuration with a fresh age identity, so backups are encrypted by default
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

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Show what a component is before trusting it: world, version, imports, the
    /// capabilities it could ask for, and its sha256 to pin in the config
    Inspect {
        /// The component (.wasm)
        file: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EncryptWith {
    None,
    Age,
    Openpgp,
}

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
    pub encrypt: Option<EncryptWith>,
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
    (or no --max-age is given), 1 otherwise: an RPO alarm for cron or a Kubernetes probe."
)]
pub struct StatusArgs {
    /// Only this backup name [default: every name in the store]
    pub name: Option<String>,
    /// Fail when a name's newest backup is older than this (e.g. 26h)
    #[arg(long, value_parser = parse_age, value_name = "AGE")]
    pub max_age: Option<std::time::Duration>,
    /// One JSON array, one object per name
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
    /// Also pipe the restored bytes into this shell command (e.g. 'pg_restore --list'); fail if it fails
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,
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

/// `90s`, `30m`, `6h`, `2d` (a bare number is seconds).
fn parse_age(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not an age: use e.g. 30m, 6h or 2d"))?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("unknown unit in '{text}': use s, m, h or d")),
    };
    Ok(std::time::Duration::from_secs(
        number.saturating_mul(seconds),
    ))
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Overwrite an existing configuration file (an existing identity is never overwritten)
    #[arg(long)]
    pub force: bool,
}

/// Parses the process's arguments.
pub fn parse() -> Cli {
    Cli::parse()
}
