//! One module per subcommand; `run` is one `match`. Shared set-up lives in `Context`.

mod init;
mod list;
mod plugins;
mod prune;
mod pull;
mod push;
mod status;
mod wal;

pub use wal::Exit;

use crate::cli::{Cli, Command, PluginCommand};
use crate::config::Config;
use crate::plugin::Catalog;
use crate::runtime::{Limits, Runtime};
use crate::storage::{Store, StoreSettings};
use anyhow::{Context as _, Result};
use std::path::PathBuf;
use std::time::Duration;

/// What every subcommand needs: global flags and the loaded configuration.
pub struct Context {
    pub store_url: Option<String>,
    pub config: Config,
    pub config_path: Option<PathBuf>,
    pub explicit_config: Option<PathBuf>,
}

impl Context {
    /// Opens the store for reading: it must exist.
    pub async fn open_store(&self) -> Result<Store> {
        Ok(Store::open(self.store_url(), &self.store_settings(), false).await?)
    }

    /// Opens the store for writing, creating a local store's directory.
    pub async fn create_store(&self) -> Result<Store> {
        Ok(Store::open(self.store_url(), &self.store_settings(), true).await?)
    }

    fn store_settings(&self) -> StoreSettings {
        StoreSettings::from_config(&self.config, self.catalog())
    }

    fn store_url(&self) -> Option<&str> {
        self.store_url.as_deref().or(self.config.store.as_deref())
    }

    /// Plugin limits from the config, else the defaults.
    fn limits(&self) -> Limits {
        let mut limits = Limits::default();
        if let Some(mib) = self.config.plugin_memory_mib {
            limits.memory_bytes = mib << 20;
        }
        if let Some(secs) = self.config.plugin_timeout_secs {
            limits.call_timeout = Duration::from_secs(secs);
        }
        limits
    }

    pub fn runtime(&self) -> Result<Runtime> {
        Ok(Runtime::new(
            self.limits(),
            crate::runtime::default_cache_dir(),
        )?)
    }

    /// The built-in plugins and those the config names.
    pub fn catalog(&self) -> Catalog {
        Catalog::new(&self.config.plugins, self.limits())
    }
}

/// Runs one subcommand to completion.
pub fn run(cli: Cli) -> Result<()> {
    crate::ui::set_quiet(cli.quiet);
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    let result = tokio.block_on(async move {
        if let Command::Init(args) = &cli.command {
            return init::init(cli.config.as_deref(), cli.store.as_deref(), args);
        }
        let metrics = match (&cli.metrics_file, metrics_target(&cli.command)) {
            (None, _) => None,
            (Some(path), Some((command, name))) => Some((path.clone(), command, name)),
            (Some(_), None) => anyhow::bail!(
                "--metrics-file applies to push, pull, verify, prune and wal, not to this command"
            ),
        };
        let started = std::time::Instant::now();
        let json = wants_json(&cli.command);
        let result = run_command(cli).await;
        if let Err(e) = &result {
            if json && !crate::stdout::written() && !crate::stdout::closed(e) {
                // Best effort: the error goes to stderr as well, and the exit is non-zero.
                let _ = crate::outln!("{}", serde_json::json!({ "error": format!("{e:#}") }));
            }
        }
        if let Some((path, command, name)) = metrics {
            let run = crate::metrics::Run {
                command,
                name: &name,
                success: result.is_ok(),
                duration: started.elapsed(),
            };
            if let Err(e) = crate::metrics::write(&path, &run) {
                crate::ui::warn(&format!("cannot write metrics to {}: {e}", path.display()));
            }
        }
        result
    });
    // Everything that matters has finished inside `block_on`. What may remain is a blocking
    // read of stdin that never returns while a producer keeps the pipe open (after a
    // SIGTERM, say): do not wait for it.
    ENDING.store(true, std::sync::atomic::Ordering::SeqCst);
    tokio.shutdown_timeout(Duration::from_millis(200));
    result
}

/// Set once the command is over and the async runtime shuts down.
static ENDING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the process is ending: a thread still blocked in a plugin's host call (after a
/// SIGTERM, say) may then panic on the runtime it waited on, which says nothing useful.
pub fn ending() -> bool {
    ENDING.load(std::sync::atomic::Ordering::SeqCst)
}

/// Whether the command was asked for JSON: then stdout holds JSON whatever happens, an
/// error included (`{"error": "..."}`).
fn wants_json(command: &Command) -> bool {
    match command {
        Command::List(args) => args.json,
        Command::Status(args) => args.json,
        Command::Verify(args) => args.json,
        Command::Prune(args) => args.json,
        Command::Plugins(args) => args.json,
        _ => false,
    }
}

/// The metrics labels of a command: which command, for which backup name.
fn metrics_target(command: &Command) -> Option<(&'static str, String)> {
    let name_of = |spec: &str| spec.split('@').next().unwrap_or(spec).to_string();
    Some(match command {
        Command::Push(args) => ("push", args.name.clone()),
        Command::Pull(args) => ("pull", name_of(&args.backup)),
        Command::Verify(args) => ("verify", name_of(&args.backup)),
        Command::Prune(args) => ("prune", args.name.clone().unwrap_or_else(|| "*".into())),
        Command::Wal(crate::cli::WalCommand::Push { archive, .. }) => ("wal-push", archive.clone()),
        Command::Wal(crate::cli::WalCommand::Fetch { archive, .. }) => {
            ("wal-fetch", archive.clone())
        }
        _ => return None,
    })
}

/// Loads the config and runs one subcommand.
async fn run_command(cli: Cli) -> Result<()> {
    {
        let (config, config_path) = Config::load(cli.config.as_deref())?;
        let ctx = Context {
            store_url: cli.store,
            config,
            config_path,
            explicit_config: cli.config,
        };
        match cli.command {
            Command::Push(args) => push::push(&ctx, args).await,
            Command::Pull(args) => pull::pull(&ctx, args).await,
            Command::Verify(args) => pull::verify(&ctx, args).await,
            Command::List(args) => list::list(&ctx, args).await,
            Command::Status(args) => status::status(&ctx, args).await,
            Command::Wal(command) => wal::wal(&ctx, command).await,
            Command::Prune(args) => prune::prune(&ctx, args).await,
            Command::Plugins(args) => plugins::plugins(&ctx, args),
            Command::Plugin(PluginCommand::Inspect { file }) => plugins::inspect(&ctx, &file),
            Command::Init(_) => unreachable!("handled by run"),
        }
    }
}
