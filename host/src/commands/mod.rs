//! One module per subcommand; `run` is one `match`. Shared set-up lives in `Context`.

mod drill;
mod init;
mod list;
mod pg;
mod pg_check;
mod pg_restore;
mod plugins;
mod prune;
mod pull;
mod push;
mod status;
mod wal;

pub use wal::Exit;

use crate::cli::{Cli, Command, PluginCommand};
use crate::config::Config;
use crate::metrics::Moved;
use crate::plugin::Catalog;
use crate::runtime::{Limits, Runtime};
use crate::storage::{ConnectError, PluginConnector, Store, StoreSettings};
use anyhow::{Context as _, Result};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What every subcommand needs: global flags, the loaded configuration, and the plugins.
pub struct Context {
    pub store_url: Option<String>,
    pub config: Config,
    pub config_path: Option<PathBuf>,
    pub explicit_config: Option<PathBuf>,
    plugins: Arc<Plugins>,
}

/// The plugins this process may run and the one runtime they all run on (stages and
/// `plugin://` stores alike), built on first use: engines cost tens of milliseconds and
/// a ticker thread, and most commands need none.
struct Plugins {
    catalog: Catalog,
    limits: Limits,
    runtime: Mutex<Option<Arc<Runtime>>>,
}

impl std::fmt::Debug for Plugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugins").finish_non_exhaustive()
    }
}

impl Plugins {
    fn runtime(&self) -> Result<Arc<Runtime>, crate::runtime::RuntimeError> {
        let mut runtime = self.runtime.lock().unwrap();
        if let Some(runtime) = &*runtime {
            return Ok(runtime.clone());
        }
        let made = Arc::new(Runtime::new(
            self.limits,
            crate::runtime::default_cache_dir(),
        )?);
        *runtime = Some(made.clone());
        Ok(made)
    }
}

impl PluginConnector for Plugins {
    fn connect(&self, name: &str) -> Result<crate::runtime::Destination, ConnectError> {
        let find = |e: Box<dyn std::error::Error + Send + Sync>| ConnectError::Find(e);
        let plugin = self.catalog.find(name).map_err(|e| find(e.into()))?;
        let secrets = plugin.read_secrets().map_err(|e| find(e.into()))?;
        let runtime = self.runtime().map_err(|e| find(e.into()))?;
        runtime
            .connect(&plugin.component, &plugin.params, &secrets)
            .map_err(ConnectError::Connect)
    }
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
        StoreSettings::from_config(&self.config, self.plugins.clone())
    }

    fn store_url(&self) -> Option<&str> {
        self.store_url.as_deref().or(self.config.store.as_deref())
    }

    fn new(
        store_url: Option<String>,
        config: Config,
        config_path: Option<PathBuf>,
        explicit_config: Option<PathBuf>,
    ) -> Context {
        let limits = limits(&config);
        let plugins = Arc::new(Plugins {
            catalog: Catalog::new(&config.plugins, limits),
            limits,
            runtime: Mutex::new(None),
        });
        Context {
            store_url,
            config,
            config_path,
            explicit_config,
            plugins,
        }
    }

    /// The process's one plugin runtime.
    pub fn runtime(&self) -> Result<Arc<Runtime>> {
        Ok(self.plugins.runtime()?)
    }

    /// The built-in plugins and those the config names.
    pub fn catalog(&self) -> &Catalog {
        &self.plugins.catalog
    }
}

/// Plugin limits from the config, else the defaults.
fn limits(config: &Config) -> Limits {
    let mut limits = Limits::default();
    if let Some(mib) = config.plugin_memory_mib {
        limits.memory_bytes = mib << 20;
    }
    if let Some(secs) = config.plugin_timeout_secs {
        limits.call_timeout = Duration::from_secs(secs);
    }
    limits
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
                "--metrics-file applies to push, pull, verify, prune, wal and drill, not to this command"
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
                succeeded: result.as_ref().ok().copied(),
                duration: started.elapsed(),
            };
            if let Err(e) = crate::metrics::write(&path, &run) {
                crate::ui::warn(&format!("cannot write metrics to {}: {e}", path.display()));
            }
        }
        result.map(|_moved| ())
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
        Command::Drill(args) => args.json,
        Command::Pg(crate::cli::PgCommand::Check(args)) => args.json,
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
        Command::Drill(args) => ("drill", name_of(&args.backup)),
        Command::Wal(crate::cli::WalCommand::Push { archive, .. }) => ("wal-push", archive.clone()),
        Command::Wal(crate::cli::WalCommand::Fetch { archive, .. }) => {
            ("wal-fetch", archive.clone())
        }
        _ => return None,
    })
}

/// Loads the config and runs one subcommand; returns what it moved.
async fn run_command(cli: Cli) -> Result<Moved> {
    let (config, config_path) = Config::load(cli.config.as_deref())?;
    let ctx = Context::new(cli.store, config, config_path, cli.config);
    let nothing = |result: Result<()>| result.map(|()| Moved::default());
    match cli.command {
        Command::Push(args) => push::push(&ctx, args).await,
        Command::Pull(args) => pull::pull(&ctx, args).await,
        Command::Verify(args) => pull::verify(&ctx, args).await,
        Command::List(args) => nothing(list::list(&ctx, args).await),
        Command::Status(args) => nothing(status::status(&ctx, args).await),
        Command::Wal(command) => wal::wal(&ctx, command).await,
        Command::Drill(args) => drill::drill(&ctx, args).await,
        Command::Pg(command) => pg::pg(&ctx, command).await,
        Command::Prune(args) => nothing(prune::prune(&ctx, args).await),
        Command::Plugins(args) => nothing(plugins::plugins(&ctx, args)),
        Command::Plugin(PluginCommand::Inspect { file }) => nothing(plugins::inspect(&ctx, &file)),
        Command::Init(_) => unreachable!("handled by run"),
    }
}
