//! Plugins as the runtime sees them: the built-in ones embedded in this binary, and custom
//! ones that the config file names by path and pins by sha256.
//!
//! **Invariant:** a custom plugin runs only if its file's sha256 equals the one pinned in
//! the config; a mismatch or a missing pin is an error that shows the file's actual sha256
//! (public) so the operator can review and pin it. A custom plugin's stream format is its
//! own, so it decodes only what the same build wrote, unless `--allow-plugin-change` or
//! its config's `allow_plugin_change` says otherwise; built-ins decode by stream format.

use crate::builtin::{self, Builtin};
use crate::config::CustomPlugin;
use crate::runtime::{ComponentSpec, GrantError, Limits, Sandbox, TimeBound};
use sha2::Digest;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// One plugin: the component the runtime runs, and what the catalogue knows of it.
#[derive(Debug, Clone)]
pub struct Plugin {
    /// Its name, sha256 (recorded in every manifest that uses it), bytes, limits and sandbox.
    pub component: ComponentSpec,
    pub origin: Origin,
    /// Whether it may decode what another build of it wrote without `--allow-plugin-change`
    /// (`allow_plugin_change = true` in its config).
    pub allow_other_builds: bool,
    /// `params` from its config: given to every stream (or connection) before any other.
    pub params: Vec<(String, Vec<u8>)>,
    /// `secrets` from its config: where to read each (`env:VAR`, `file:PATH`), not values.
    secret_refs: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub enum Origin {
    /// Embedded in this binary: what the host knows of it is in `builtin::KNOWLEDGE`.
    Builtin(&'static Builtin),
    File(PathBuf),
}

impl Plugin {
    pub fn name(&self) -> &str {
        &self.component.name
    }

    /// The built-in it is, or `None` for a custom plugin.
    pub fn builtin(&self) -> Option<&'static Builtin> {
        match self.origin {
            Origin::Builtin(builtin) => Some(builtin),
            Origin::File(_) => None,
        }
    }

    /// The stream format it writes (recorded in manifests): a built-in's; `None` for a
    /// custom plugin, whose format is its own, and for the check, which writes no stream.
    pub fn writes(&self) -> Option<&'static str> {
        self.builtin().and_then(|b| b.writes)
    }

    /// Hex sha256 of its component.
    pub fn sha256(&self) -> &str {
        &self.component.sha256
    }

    pub fn from_builtin(plugin: &'static Builtin) -> Plugin {
        Plugin {
            component: ComponentSpec {
                name: plugin.name.into(),
                sha256: builtin::sha256(plugin).into(),
                bytes: Cow::Borrowed(plugin.bytes),
                limits: None,
                // The built-ins run without interruption checks (see `runtime::watchdog`).
                time_bound: TimeBound::EndProcess,
                sandbox: Arc::new(Sandbox::none(plugin.name)),
            },
            origin: Origin::Builtin(plugin),
            allow_other_builds: false,
            params: Vec::new(),
            secret_refs: BTreeMap::new(),
        }
    }

    /// A component file as it is, unpinned and granted nothing: for `plugin inspect`.
    pub fn inspect_file(path: &std::path::Path) -> std::io::Result<Plugin> {
        let bytes = std::fs::read(path)?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "plugin".into());
        Ok(Plugin {
            component: ComponentSpec {
                sandbox: Arc::new(Sandbox::none(&name)),
                name,
                sha256: hex::encode(sha2::Sha256::digest(&bytes)),
                bytes: Cow::Owned(bytes),
                limits: None,
                time_bound: TimeBound::Interrupt,
            },
            origin: Origin::File(path.to_path_buf()),
            allow_other_builds: false,
            params: Vec::new(),
            secret_refs: BTreeMap::new(),
        })
    }

    /// Reads the secrets its config names, now; the values go to the plugin only.
    pub fn read_secrets(&self) -> Result<Vec<(String, Vec<u8>)>, CatalogError> {
        let mut secrets = Vec::new();
        for (key, reference) in &self.secret_refs {
            let missing = |what: String| CatalogError::Secret {
                name: self.name().into(),
                key: key.clone(),
                what,
            };
            let value = if let Some(var) = reference.strip_prefix("env:") {
                std::env::var(var)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| missing(format!("environment variable {var} is not set")))?
                    .into_bytes()
            } else if let Some(path) = reference.strip_prefix("file:") {
                let mut bytes =
                    std::fs::read(path).map_err(|e| missing(format!("cannot read {path}: {e}")))?;
                // A trailing newline from `echo secret > file` is not part of the secret.
                while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    bytes.pop();
                }
                bytes
            } else {
                return Err(missing(
                    "it must be env:VARIABLE or file:PATH, so the config file holds no secret"
                        .into(),
                ));
            };
            secrets.push((key.clone(), value));
        }
        Ok(secrets)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("plugin '{name}' is neither built in ({builtin}) nor configured: add [plugins.{name}] with path and sha256 to the config")]
    Unknown { name: String, builtin: String },
    #[error("[plugins.{name}] in the config cannot replace the built-in plugin '{name}': choose another name")]
    ShadowsBuiltin { name: String },
    #[error("cannot read plugin '{name}' from {path}: {error}")]
    Read {
        name: String,
        path: String,
        error: std::io::Error,
    },
    #[error("plugin '{name}' at {path} has sha256 {actual}, but the config pins {pinned}: review the new build, then update sha256 in [plugins.{name}]")]
    PinMismatch {
        name: String,
        path: String,
        actual: String,
        pinned: String,
    },
    #[error("[plugins.{name}] has no sha256: after reviewing {path}, add sha256 = \"{actual}\"")]
    Unpinned {
        name: String,
        path: String,
        actual: String,
    },
    #[error(transparent)]
    Grant(#[from] GrantError),
    #[error("secret '{key}' of [plugins.{name}]: {what}")]
    Secret {
        name: String,
        key: String,
        what: String,
    },
}

/// Every plugin this process may use: the built-in ones and those configured.
#[derive(Debug, Clone)]
pub struct Catalog {
    custom: BTreeMap<String, CustomPlugin>,
    defaults: Limits,
}

impl Catalog {
    pub fn new(custom: &BTreeMap<String, CustomPlugin>, defaults: Limits) -> Catalog {
        Catalog {
            custom: custom.clone(),
            defaults,
        }
    }

    /// Finds a plugin by name; a custom one is read and its pin checked now.
    pub fn find(&self, name: &str) -> Result<Arc<Plugin>, CatalogError> {
        if let Some(builtin) = builtin::find(name) {
            if self.custom.contains_key(name) {
                return Err(CatalogError::ShadowsBuiltin { name: name.into() });
            }
            return Ok(Arc::new(Plugin::from_builtin(builtin)));
        }
        let Some(config) = self.custom.get(name) else {
            return Err(CatalogError::Unknown {
                name: name.into(),
                builtin: builtin::names(),
            });
        };
        let path = config.path.display().to_string();
        let bytes = std::fs::read(&config.path).map_err(|source| CatalogError::Read {
            name: name.into(),
            path: path.clone(),
            error: source,
        })?;
        let actual = hex::encode(sha2::Sha256::digest(&bytes));
        match &config.sha256 {
            None => {
                return Err(CatalogError::Unpinned {
                    name: name.into(),
                    path,
                    actual,
                })
            }
            Some(pinned) if !pinned.eq_ignore_ascii_case(&actual) => {
                return Err(CatalogError::PinMismatch {
                    name: name.into(),
                    path,
                    actual,
                    pinned: pinned.clone(),
                })
            }
            Some(_) => {}
        }
        let mut limits = self.defaults;
        if let Some(mib) = config.memory_mib {
            limits.memory_bytes = mib << 20;
        }
        if let Some(secs) = config.timeout_secs {
            limits.call_timeout = Duration::from_secs(secs.max(1));
        }
        if let Some(mib) = config.max_output_mib {
            limits.output_bytes = mib << 20;
        }
        if let Some(ratio) = config.max_expansion {
            limits.expansion = ratio.max(1);
        }
        let sandbox = Sandbox::from_grants(name, &config.grants)?;
        Ok(Arc::new(Plugin {
            component: ComponentSpec {
                name: name.into(),
                sha256: actual,
                bytes: Cow::Owned(bytes),
                limits: Some(limits),
                time_bound: match config.interruptible {
                    Some(false) => TimeBound::EndProcess,
                    _ => TimeBound::Interrupt,
                },
                sandbox: Arc::new(sandbox),
            },
            origin: Origin::File(config.path.clone()),
            allow_other_builds: config.allow_plugin_change.unwrap_or(false),
            params: config
                .params
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
                .collect(),
            secret_refs: config.secrets.clone(),
        }))
    }

    /// The configured custom plugins' names.
    pub fn custom_names(&self) -> impl Iterator<Item = &str> {
        self.custom.keys().map(String::as_str)
    }
}
