//! One stream through one plugin instance: `push`, `finish`, `describe`, each call bounded
//! by the instance's memory limit and its time limit (epoch deadline or watchdog), with
//! errors that name the plugin.
//!
//! **Invariant:** a `Stage` dropped without `finish` produced an incomplete stream; callers
//! must treat that as failure (the pipeline does).

use super::bindings::{self, Direction, Param, PluginError};
use super::output::{Call, Output, OutputCalls};
use super::{Limits, RuntimeError, StageState, EPOCH_TICK};
use wasmtime::component::ResourceAny;
use wasmtime::{ResourceLimiter, Store, Trap};

/// What went wrong in a plugin.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error(transparent)]
    Runtime(RuntimeError),
    #[error("plugin {plugin}: bad configuration: {message}")]
    BadConfig { plugin: String, message: String },
    #[error("plugin {plugin}: {message}")]
    CorruptInput { plugin: String, message: String },
    #[error("plugin {plugin}: wrong key: {message}")]
    WrongKey { plugin: String, message: String },
    #[error("plugin {plugin} failed: {message}")]
    Internal { plugin: String, message: String },
    #[error("plugin {plugin} ran longer than {seconds} s in one call and was stopped")]
    Timeout { plugin: String, seconds: u64 },
    #[error("plugin {plugin} tried to use more than {limit_mib} MiB of memory and was stopped")]
    Memory { plugin: String, limit_mib: usize },
    #[error("plugin {plugin} returned {size} bytes from one call, more than the limit of {limit_mib} MiB")]
    OutputLimit {
        plugin: String,
        size: usize,
        limit_mib: usize,
    },
    #[error("plugin {plugin}: {message}")]
    Denied { plugin: String, message: String },
    #[error(
        "plugin {plugin} returned {produced} bytes from {fed} bytes of input, more than its \
         limit of {ratio} per byte (max_expansion in its config) and was stopped"
    )]
    Expansion {
        plugin: String,
        produced: u64,
        fed: u64,
        ratio: u64,
    },
    #[error(
        "plugin {plugin} is not a {wanted} plugin: `twgate plugin inspect FILE` shows what it is"
    )]
    WrongKind {
        plugin: String,
        wanted: &'static str,
    },
    /// One line: the trap's kind, never its backtrace (`TWGATE_DEBUG=1` prints that).
    #[error("plugin {plugin} crashed: {kind}")]
    Trap { plugin: String, kind: String },
}

impl StageError {
    pub(crate) fn from_plugin(plugin: &str, e: PluginError) -> StageError {
        let plugin = plugin.to_string();
        // A plugin's words are printed: one line, no terminal escapes, bounded.
        let safe = |message: String| crate::ui::untrusted(&message);
        match e {
            PluginError::BadConfig(m) => StageError::BadConfig {
                plugin,
                message: safe(m),
            },
            PluginError::CorruptInput(m) => StageError::CorruptInput {
                plugin,
                message: safe(m),
            },
            PluginError::WrongKey(m) => StageError::WrongKey {
                plugin,
                message: safe(m),
            },
            PluginError::Internal(m) => StageError::Internal {
                plugin,
                message: safe(m),
            },
        }
    }
}

/// Refuses memory growth past a fixed size and remembers that it did.
pub(crate) struct MemoryLimiter {
    max: usize,
    hit: bool,
}

impl MemoryLimiter {
    pub(crate) fn new(max: usize) -> Self {
        MemoryLimiter { max, hit: false }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max {
            self.hit = true;
            wasmtime::bail!("memory limit reached");
        }
        Ok(true)
    }
    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

pub(crate) fn set_deadline(store: &mut Store<StageState>, limits: Limits) {
    let ticks = (limits.call_timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
    store.set_epoch_deadline(ticks);
}

/// Runs one call into a plugin with a fresh deadline, mapping traps to clear errors. A
/// capability refused during the call is the error, whatever the plugin did about it.
pub(crate) fn guarded<R>(
    store: &mut Store<StageState>,
    plugin: &str,
    limits: Limits,
    call: impl FnOnce(&mut Store<StageState>) -> wasmtime::Result<R>,
) -> Result<R, StageError> {
    set_deadline(store, limits);
    store.data().hooks.denials.lock().unwrap().clear();
    let clock = store.data().clock.clone();
    let result = off_async_workers(|| {
        let _running = clock.as_ref().map(|clock| clock.start());
        call(store)
    });
    result.map_err(|source| {
        if let Some(denied) = take_denial(store, plugin) {
            return denied;
        }
        let plugin = plugin.to_string();
        if store.data().limiter.hit {
            StageError::Memory {
                plugin,
                limit_mib: limits.memory_bytes >> 20,
            }
        } else if source.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            StageError::Timeout {
                plugin,
                seconds: limits.call_timeout.as_secs(),
            }
        } else {
            if std::env::var_os("TWGATE_DEBUG").is_some() {
                eprintln!("twgate: debug: plugin {plugin} crashed: {source:?}");
            }
            let kind = match source.downcast_ref::<Trap>() {
                Some(trap) => trap.to_string(),
                None => source.root_cause().to_string(),
            };
            StageError::Trap {
                kind: crate::ui::untrusted(kind.lines().next().unwrap_or("unknown")),
                plugin,
            }
        }
    })
}

/// Runs `f`, which may block (a plugin waiting on HTTP blocks on tokio), so that it never
/// blocks an async worker thread: on one, tokio is told to move its other work elsewhere.
fn off_async_workers<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// As `guarded`, for calls that return the plugin's own `result`: its error becomes a
/// `StageError` too.
pub(crate) fn guarded_result<R>(
    store: &mut Store<StageState>,
    plugin: &str,
    limits: Limits,
    call: impl FnOnce(&mut Store<StageState>) -> wasmtime::Result<Result<R, PluginError>>,
) -> Result<R, StageError> {
    guarded(store, plugin, limits, call)?.map_err(|e| {
        take_denial(store, plugin).unwrap_or_else(|| StageError::from_plugin(plugin, e))
    })
}

/// The first capability refused during the last call, if any.
fn take_denial(store: &mut Store<StageState>, plugin: &str) -> Option<StageError> {
    let mut denials = store.data().hooks.denials.lock().unwrap();
    let message = denials.drain(..).next()?;
    Some(StageError::Denied {
        plugin: plugin.into(),
        message,
    })
}

/// A plugin instance holding one open stream.
pub struct Stage {
    store: Store<StageState>,
    bindings: bindings::TransformPlugin,
    calls: OutputCalls,
    resource: ResourceAny,
    plugin: String,
    version: String,
    sha256: String,
    limits: Limits,
    /// Bytes given to and returned by the current stream, for the expansion limit.
    fed: u64,
    produced: u64,
    /// How the stream was opened, to start the next one on the same instance (`restart`).
    direction: Direction,
    params: Vec<Param>,
}

/// A transform plugin instantiated in its sandbox, with no stream open yet.
pub(crate) struct Instance {
    pub store: Store<StageState>,
    pub bindings: bindings::TransformPlugin,
    pub calls: OutputCalls,
    pub plugin: String,
    pub sha256: String,
    pub limits: Limits,
}

impl Stage {
    /// Opens one stream on `instance`.
    pub(crate) fn open(
        instance: Instance,
        direction: Direction,
        params: &[(String, Vec<u8>)],
        secrets: &[(String, Vec<u8>)],
    ) -> Result<Stage, StageError> {
        let Instance {
            mut store,
            bindings,
            calls,
            plugin,
            sha256,
            limits,
        } = instance;
        let plugin = plugin.as_str();
        let (params, secrets) = (to_wit(params), to_wit(secrets));
        let info = guarded(&mut store, plugin, limits, |store| {
            bindings.twgate_plugin_transform().call_info(store)
        })?;
        let resource = guarded_result(&mut store, plugin, limits, |store| {
            bindings
                .twgate_plugin_transform()
                .call_open(store, direction, &params, &secrets)
        })?;
        Ok(Stage {
            store,
            bindings,
            calls,
            resource,
            plugin: plugin.into(),
            version: info.version,
            sha256,
            limits,
            fed: 0,
            produced: 0,
            direction,
            params,
        })
    }

    /// Drops the finished stream and opens a new one on the same (warm) instance, with the
    /// same direction and params and no secrets: for stages that need none, such as a
    /// compressor writing one independent frame per block.
    pub fn restart(&mut self) -> Result<(), StageError> {
        let (bindings, direction, params) = (&self.bindings, self.direction, &self.params);
        let old = self.resource;
        guarded(&mut self.store, &self.plugin, self.limits, |store| {
            old.resource_drop(store)
        })?;
        self.resource = guarded_result(&mut self.store, &self.plugin, self.limits, |store| {
            bindings
                .twgate_plugin_transform()
                .call_open(store, direction, params, &[])
        })?;
        (self.fed, self.produced) = (0, 0);
        Ok(())
    }

    /// The plugin's name.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// The plugin's own version, as it reports it.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Which way this stage runs.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The sha256 of the plugin's component.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Feeds one chunk; returns the output that is ready. Call `drain` until it returns
    /// nothing before the next `push` or `finish`.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, StageError> {
        self.fed += chunk.len() as u64;
        self.output_call(Call::Push(chunk))
    }

    /// Output the plugin held back from the last call; empty when there is none.
    pub fn drain(&mut self) -> Result<Vec<u8>, StageError> {
        self.output_call(Call::Drain)
    }

    /// Ends the stream; returns the last output (then `drain` until empty).
    pub fn finish(&mut self) -> Result<Vec<u8>, StageError> {
        self.output_call(Call::Finish)
    }

    /// One guarded call that returns output: maps the plugin's error and enforces the
    /// per-call output limit.
    fn output_call(&mut self, call: Call<'_>) -> Result<Vec<u8>, StageError> {
        let (calls, resource) = (&self.calls, self.resource);
        let Output(out) = guarded_result(&mut self.store, &self.plugin, self.limits, |store| {
            calls.call(store, resource, call)
        })?;
        if out.len() > self.limits.output_bytes {
            return Err(StageError::OutputLimit {
                plugin: self.plugin.clone(),
                size: out.len(),
                limit_mib: self.limits.output_bytes >> 20,
            });
        }
        self.produced += out.len() as u64;
        let allowed = self
            .fed
            .saturating_mul(self.limits.expansion)
            .saturating_add(self.limits.output_bytes as u64);
        if self.produced > allowed {
            return Err(StageError::Expansion {
                plugin: self.plugin.clone(),
                produced: self.produced,
                fed: self.fed,
                ratio: self.limits.expansion,
            });
        }
        Ok(out)
    }

    /// The non-secret settings in use, for the manifest: at most [`DESCRIBE_MAX_ENTRIES`]
    /// entries and [`DESCRIBE_MAX_BYTES`] bytes (more is refused: a manifest stays small),
    /// each made safe to print.
    pub fn describe(&mut self) -> Result<Vec<(String, String)>, StageError> {
        let (bindings, resource) = (&self.bindings, self.resource);
        let described = guarded(&mut self.store, &self.plugin, self.limits, |store| {
            bindings
                .twgate_plugin_transform()
                .stage()
                .call_describe(store, resource)
        })?;
        let bytes: usize = described.iter().map(|(k, v)| k.len() + v.len()).sum();
        if described.len() > DESCRIBE_MAX_ENTRIES || bytes > DESCRIBE_MAX_BYTES {
            return Err(StageError::Internal {
                plugin: self.plugin.clone(),
                message: format!(
                    "described its settings in {} entries and {bytes} bytes, more than the \
                     {DESCRIBE_MAX_ENTRIES} entries and {DESCRIBE_MAX_BYTES} bytes a manifest takes",
                    described.len()
                ),
            });
        }
        Ok(described
            .into_iter()
            .map(|(k, v)| (crate::ui::untrusted(&k), crate::ui::untrusted(&v)))
            .collect())
    }
}

/// The most entries a stage's `describe` may return.
pub const DESCRIBE_MAX_ENTRIES: usize = 64;
/// The most bytes (keys and values) a stage's `describe` may return.
pub const DESCRIBE_MAX_BYTES: usize = 16 << 10;

/// Parameters as the contract passes them.
pub(crate) fn to_wit(list: &[(String, Vec<u8>)]) -> Vec<Param> {
    list.iter()
        .map(|(key, value)| Param {
            key: key.clone(),
            value: value.clone(),
        })
        .collect()
}
