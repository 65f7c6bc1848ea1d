//! The plugin runtime: two wasmtime engines (one compiling interruption checks into
//! plugins, one not: see `watchdog`), compiled components cached on disk, and a sandboxed
//! `Store` per stage and stream.
//!
//! **Invariant:** a plugin gets no capability unless its configuration grants it (see
//! `sandbox`): no files, no environment, no arguments, no network, no stdio. It gets
//! randomness (encryption needs it) and clocks. Every call into a plugin is bounded by a
//! memory limit and a time limit (an epoch deadline, or the watchdog).

mod bindings;
mod cache;
mod cfb;
mod crypto;
mod destination;
mod http;
pub mod inspect;
mod output;
mod sandbox;
mod sha1_thread;
mod stage;
mod watchdog;

pub use bindings::{Direction, ObjectEntry, PluginInfo};
pub use destination::{Destination, DownloadHandle, UploadHandle};
pub use http::HttpPolicy;
pub use sandbox::{GrantError, Grants, Sandbox};
pub use stage::{Stage, StageError};
pub use watchdog::{set_exit_code as set_timeout_exit_code, TimeBound};

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::component::{InstancePre, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// How often the epoch advances; deadlines are counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(50);

/// Resource bounds applied to every plugin instance.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest linear memory a plugin may grow to, in bytes.
    pub memory_bytes: usize,
    /// Longest a single call (`open`, `push`, `finish`) may run.
    pub call_timeout: Duration,
    /// Most bytes one call may return.
    pub output_bytes: usize,
    /// Most bytes one stream may return per byte it was given, beyond `output_bytes`: a
    /// stage that returns without end (a `drain` that never empties) is stopped.
    pub expansion: u64,
}

/// The default expansion limit. zstd's greatest, 32 768 to 1 (a 128 KiB block of one byte
/// repeated, stored in 4 bytes), is half of it; deflate's (OpenPGP) is about 1 032 to 1.
pub const DEFAULT_EXPANSION: u64 = 65_536;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 512 << 20,
            call_timeout: Duration::from_secs(120),
            output_bytes: 64 << 20,
            expansion: DEFAULT_EXPANSION,
        }
    }
}

/// One component as the runtime runs it, and all the runtime knows of it: its bytes, its
/// identity, its bounds and what it may touch. Where it came from (built in, a config
/// entry, a file to inspect) is the catalogue's business (`plugin.rs`).
#[derive(Debug, Clone)]
pub struct ComponentSpec {
    /// The name errors and the watchdog use.
    pub name: String,
    /// Hex sha256 of `bytes`: the key of the compiled-component cache.
    pub sha256: String,
    pub bytes: Cow<'static, [u8]>,
    /// Limits that replace the runtime's defaults for this component.
    pub limits: Option<Limits>,
    /// How a call past its time limit is stopped (see `watchdog`).
    pub time_bound: TimeBound,
    /// What it may touch.
    pub sandbox: Arc<Sandbox>,
}

/// Errors loading or instantiating a plugin.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("could not set up the WebAssembly engine")]
    Engine(#[source] wasmtime::Error),
    #[error("plugin {plugin} could not be compiled")]
    Compile {
        plugin: String,
        #[source]
        source: wasmtime::Error,
    },
    #[error("plugin {plugin} could not be instantiated")]
    Instantiate {
        plugin: String,
        #[source]
        source: wasmtime::Error,
    },
}

/// Per-instance host state: the WASI context the plugin's grants allow, its HTTP policy,
/// and the memory limiter.
pub(crate) struct StageState {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    hooks: http::HttpHooks,
    limiter: stage::MemoryLimiter,
    crypto: crypto::Resources,
    /// The watchdog's view of this instance: its only time bound without epoch checks,
    /// the backstop of its epoch deadline with them.
    clock: Option<Arc<watchdog::CallClock>>,
    /// Keeps the ticker (epoch and watchdog) running while this instance lives.
    _ticking: Arc<Ticking>,
}

impl WasiHttpView for StageState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl WasiView for StageState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A compiled plugin ready to instantiate.
struct Loaded {
    pre: InstancePre<StageState>,
    shape: inspect::Shape,
    name: String,
    sha256: String,
}

/// One engine and the linker over it.
struct Lane {
    engine: Engine,
    linker: Linker<StageState>,
}

impl Lane {
    /// An engine that compiles epoch checks into plugins when `bound` asks for them.
    fn new(bound: TimeBound) -> Result<Lane, RuntimeError> {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(bound == TimeBound::Interrupt);
        if std::env::var_os("TWGATE_PERFMAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config).map_err(RuntimeError::Engine)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(RuntimeError::Engine)?;
        // Always linked, so a plugin that can speak HTTP loads; each request is checked
        // against the plugin's `http` grant, and without one is refused.
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker)
            .map_err(RuntimeError::Engine)?;
        // Pure computation, no capability: linked for every plugin (see `crypto`).
        bindings::crypto::add_to_linker::<StageState, wasmtime::component::HasSelf<StageState>>(
            &mut linker,
            |state| state,
        )
        .map_err(RuntimeError::Engine)?;
        Ok(Lane { engine, linker })
    }
}

/// The engines, linkers and compiled plugins, shared by every stage of a process.
pub struct Runtime {
    /// For plugins bound by [`TimeBound::Interrupt`].
    interrupting: Lane,
    /// For plugins bound by [`TimeBound::EndProcess`].
    unchecked: Lane,
    watchdog: Arc<watchdog::Watchdog>,
    limits: Limits,
    cache_dir: Option<PathBuf>,
    loaded: Mutex<HashMap<(String, TimeBound), Arc<Loaded>>>,
    /// Keeps the ticker running; every store holds a clone, so the ticker lives on while
    /// stages do, even after the runtime is dropped.
    ticking: Arc<Ticking>,
}

/// The ticker's lifetime token: it stops once no runtime or store holds one.
struct Ticking;

impl Runtime {
    /// Builds the engines. `cache_dir` holds compiled components; `None` disables caching.
    pub fn new(limits: Limits, cache_dir: Option<PathBuf>) -> Result<Runtime, RuntimeError> {
        let (interrupting, unchecked) = (
            Lane::new(TimeBound::Interrupt)?,
            Lane::new(TimeBound::EndProcess)?,
        );
        let watchdog = Arc::new(watchdog::Watchdog::default());
        let ticking = Arc::new(Ticking);
        let (ticking_engine, dog, stop) = (
            interrupting.engine.clone(),
            watchdog.clone(),
            Arc::downgrade(&ticking),
        );
        std::thread::Builder::new()
            .name("twgate-epoch".into())
            .spawn(move || {
                while stop.strong_count() > 0 {
                    std::thread::sleep(EPOCH_TICK);
                    ticking_engine.increment_epoch();
                    dog.check();
                }
            })
            .map_err(|e| RuntimeError::Engine(e.into()))?;
        Ok(Runtime {
            interrupting,
            unchecked,
            watchdog,
            limits,
            cache_dir,
            loaded: Mutex::default(),
            ticking,
        })
    }

    /// The engine and linker `plugin` runs on.
    fn lane(&self, plugin: &ComponentSpec) -> &Lane {
        match plugin.time_bound {
            TimeBound::Interrupt => &self.interrupting,
            TimeBound::EndProcess => &self.unchecked,
        }
    }

    /// Compiles (or loads from the cache) a plugin, once per process.
    fn load(&self, plugin: &ComponentSpec) -> Result<Arc<Loaded>, RuntimeError> {
        let key = (plugin.sha256.clone(), plugin.time_bound);
        if let Some(loaded) = self.loaded.lock().unwrap().get(&key) {
            return Ok(loaded.clone());
        }
        let lane = self.lane(plugin);
        let component = self.compile(plugin)?;
        let shape = inspect::Shape::of(&lane.engine, &component);
        let pre = lane.linker.instantiate_pre(&component).map_err(|source| {
            RuntimeError::Instantiate {
                plugin: plugin.name.clone(),
                source: inspect::explain_link_error(&lane.engine, &component, source),
            }
        })?;
        let loaded = Arc::new(Loaded {
            pre,
            shape,
            name: plugin.name.clone(),
            sha256: plugin.sha256.clone(),
        });
        self.loaded.lock().unwrap().insert(key, loaded.clone());
        Ok(loaded)
    }

    /// What a plugin's component is: its world, imports and exports.
    pub fn shape(&self, plugin: &ComponentSpec) -> Result<inspect::Shape, RuntimeError> {
        match self.load(plugin) {
            Ok(loaded) => Ok(loaded.shape.clone()),
            // Not linkable here, but its type can still be read.
            Err(RuntimeError::Instantiate { .. }) => {
                let component = self.compile(plugin)?;
                Ok(inspect::Shape::of(&self.lane(plugin).engine, &component))
            }
            Err(e) => Err(e),
        }
    }

    /// The compiled component, from the disk cache when possible.
    fn compile(
        &self,
        plugin: &ComponentSpec,
    ) -> Result<wasmtime::component::Component, RuntimeError> {
        cache::load_or_compile(
            &self.lane(plugin).engine,
            self.cache_dir.as_deref(),
            &plugin.name,
            &plugin.sha256,
            &plugin.bytes,
        )
        .map_err(|source| RuntimeError::Compile {
            plugin: plugin.name.clone(),
            source,
        })
    }

    /// Asks a plugin to describe itself.
    pub fn info(&self, plugin: &ComponentSpec) -> Result<PluginInfo, StageError> {
        let limits = self.limits_for(plugin);
        let loaded = self.load(plugin).map_err(StageError::Runtime)?;
        let mut store = self.new_store(plugin, limits)?;
        if let Ok(pre) = bindings::DestinationPluginPre::new(loaded.pre.clone()) {
            let bindings = instantiate(&loaded, &mut store, |store| pre.instantiate(store))?;
            return stage::guarded(&mut store, &loaded.name, limits, |store| {
                bindings.twgate_plugin_destination().call_info(store)
            });
        }
        let (bindings, _) = self.transform(&loaded, &mut store)?;
        stage::guarded(&mut store, &loaded.name, limits, |store| {
            bindings.twgate_plugin_transform().call_info(store)
        })
    }

    /// Starts one stream through `plugin` in `direction`.
    pub fn open(
        &self,
        plugin: &ComponentSpec,
        direction: Direction,
        params: &[(String, Vec<u8>)],
        secrets: &[(String, Vec<u8>)],
    ) -> Result<Stage, StageError> {
        let limits = self.limits_for(plugin);
        let loaded = self.load(plugin).map_err(StageError::Runtime)?;
        let mut store = self.new_store(plugin, limits)?;
        let (bindings, calls) = self.transform(&loaded, &mut store)?;
        let instance = stage::Instance {
            store,
            bindings,
            calls,
            plugin: loaded.name.clone(),
            sha256: loaded.sha256.clone(),
            limits,
        };
        Stage::open(instance, direction, params, secrets)
    }

    /// Connects to a destination plugin with its configured params and secrets.
    pub fn connect(
        &self,
        plugin: &ComponentSpec,
        params: &[(String, Vec<u8>)],
        secrets: &[(String, Vec<u8>)],
    ) -> Result<Destination, StageError> {
        let limits = self.limits_for(plugin);
        let loaded = self.load(plugin).map_err(StageError::Runtime)?;
        let mut store = self.new_store(plugin, limits)?;
        let pre = bindings::DestinationPluginPre::new(loaded.pre.clone()).map_err(|_| {
            StageError::WrongKind {
                plugin: loaded.name.clone(),
                wanted: "destination",
            }
        })?;
        let bindings = instantiate(&loaded, &mut store, |store| pre.instantiate(store))?;
        Destination::connect(store, bindings, &loaded.name, limits, params, secrets)
    }

    /// The plugin's own limits (set in its config), else the runtime's.
    fn limits_for(&self, plugin: &ComponentSpec) -> Limits {
        plugin.limits.unwrap_or(self.limits)
    }

    /// A store holding exactly what `plugin` is granted.
    fn new_store(
        &self,
        plugin: &ComponentSpec,
        limits: Limits,
    ) -> Result<Store<StageState>, StageError> {
        let wasi = plugin.sandbox.wasi_ctx().map_err(|source| {
            StageError::Runtime(RuntimeError::Instantiate {
                plugin: plugin.name.clone(),
                source,
            })
        })?;
        let state = StageState {
            wasi,
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            hooks: http::HttpHooks::new(plugin.sandbox.http.clone()),
            limiter: stage::MemoryLimiter::new(limits.memory_bytes),
            crypto: crypto::Resources::default(),
            clock: Some(self.watchdog.clock(
                &plugin.name,
                limits.call_timeout,
                plugin.time_bound == TimeBound::Interrupt,
            )),
            _ticking: self.ticking.clone(),
        };
        let mut store = Store::new(&self.lane(plugin).engine, state);
        store.limiter(|s| &mut s.limiter);
        store.epoch_deadline_trap();
        stage::set_deadline(&mut store, limits);
        Ok(store)
    }

    /// Instantiates a transform plugin, or says that it is not one: its bindings, and the
    /// calls that return output (see `output`).
    fn transform(
        &self,
        loaded: &Loaded,
        store: &mut Store<StageState>,
    ) -> Result<(bindings::TransformPlugin, output::OutputCalls), StageError> {
        bindings::TransformPluginPre::new(loaded.pre.clone()).map_err(|_| {
            StageError::WrongKind {
                plugin: loaded.name.clone(),
                wanted: "transform",
            }
        })?;
        instantiate(loaded, store, |store| {
            let instance = loaded.pre.instantiate(&mut *store)?;
            let bindings = bindings::TransformPlugin::new(&mut *store, &instance)?;
            Ok((bindings, output::OutputCalls::new(store, &instance)?))
        })
    }
}

fn instantiate<B>(
    loaded: &Loaded,
    store: &mut Store<StageState>,
    make: impl FnOnce(&mut Store<StageState>) -> wasmtime::Result<B>,
) -> Result<B, StageError> {
    make(store).map_err(|source| {
        StageError::Runtime(RuntimeError::Instantiate {
            plugin: loaded.name.clone(),
            source,
        })
    })
}

/// The default place for compiled components: `$XDG_CACHE_HOME/twgate/components`.
pub fn default_cache_dir() -> Option<PathBuf> {
    crate::paths::cache_home().map(|d| d.join("twgate").join("components"))
}
