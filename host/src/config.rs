//! The configuration file: TOML holding everything the flags can say.
//!
//! Flags override the file; the file overrides built-in defaults. Unknown keys are errors,
//! so a typo never silently changes what a backup does.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Store URL, as `--store`.
    pub store: Option<String>,
    /// `zstd[:LEVEL]` or `none`, as `--compress`.
    pub compress: Option<String>,
    /// `none`, `age` or `openpgp`, as `--encrypt`.
    pub encrypt: Option<crate::builtin::Encryption>,
    /// As `--recipient`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
    /// As `--identity`; relative paths are relative to this file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identities: Vec<PathBuf>,
    /// As `--passphrase-env`.
    pub passphrase_env: Option<String>,
    /// Memory limit per plugin instance, MiB.
    pub plugin_memory_mib: Option<usize>,
    /// Time limit per plugin call, seconds.
    pub plugin_timeout_secs: Option<u64>,
    /// `false` keeps a producer command's arguments out of manifests (they are recorded,
    /// with passwords masked, by default).
    pub record_command: Option<bool>,
    /// Custom transform plugins every push runs first, by name, as `--transform`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transforms: Vec<String>,
    /// Custom plugins by name: `[plugins.NAME]` with `path` and a pinned `sha256`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plugins: BTreeMap<String, CustomPlugin>,
    /// S3 and S3-compatible stores (`s3://`); unset keys fall back to the AWS environment.
    #[serde(default, skip_serializing_if = "S3Config::is_empty")]
    pub s3: S3Config,
    /// Google Cloud Storage (`gs://`); unset keys fall back to the Google environment.
    #[serde(default, skip_serializing_if = "GcsConfig::is_empty")]
    pub gcs: GcsConfig,
    /// Azure Blob Storage (`azblob://`); unset keys fall back to the Azure environment.
    #[serde(default, skip_serializing_if = "AzblobConfig::is_empty")]
    pub azblob: AzblobConfig,
    /// How data moves to and from object stores.
    #[serde(default, skip_serializing_if = "TransferConfig::is_empty")]
    pub transfer: TransferConfig,
}

/// `[plugins.NAME]`: a plugin component outside this binary, and its limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomPlugin {
    /// The component (`.wasm`); relative paths are relative to the config file.
    pub path: PathBuf,
    /// Hex sha256 of the file; twgate refuses to run any other build.
    pub sha256: Option<String>,
    /// `true` decodes backups that another build of this plugin wrote, as
    /// `--allow-plugin-change` does for one command: for `wal fetch` run as PostgreSQL's
    /// restore_command, which takes no extra flag. Set it only once you know this build
    /// reads what the earlier one wrote.
    pub allow_plugin_change: Option<bool>,
    /// Memory limit, MiB (default: `plugin_memory_mib`, else 512).
    pub memory_mib: Option<usize>,
    /// Time limit per call, seconds (default: `plugin_timeout_secs`, else 120).
    pub timeout_secs: Option<u64>,
    /// Most bytes one call may return, MiB (default 64).
    pub max_output_mib: Option<usize>,
    /// Most bytes one stream may return per byte it is given, beyond `max_output_mib`
    /// (default 65 536, twice zstd's greatest ratio).
    pub max_expansion: Option<u64>,
    /// `false` compiles the plugin without interruption checks, as the built-ins are: its
    /// loops run faster (10–17% for zstd), and a call past `timeout_secs` then ends twgate
    /// itself instead of failing alone. Only for plugins you trust not to spin.
    pub interruptible: Option<bool>,
    /// Settings handed to the plugin (`--transform` values are added after these); a
    /// destination plugin gets them in `connect`. Never secret: they may be printed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// Secrets handed to the plugin, each named by where to read it: `env:VAR` or
    /// `file:PATH`, so the config file itself holds none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
    /// What the plugin may touch beyond its own memory; nothing unless listed.
    #[serde(default, skip_serializing_if = "Grants::is_empty")]
    pub grants: Grants,
}

/// `[plugins.NAME.grants]`: the runtime's own description of a sandbox, read as is.
pub use crate::runtime::Grants;

/// A credential read from the config file: usable, never shown (`Debug` prints a mask).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// `[s3]`: as `AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`, `AWS_PROFILE`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret>,
    pub session_token: Option<Secret>,
    pub profile: Option<String>,
    /// Address buckets as `BUCKET.endpoint` instead of `endpoint/BUCKET`.
    #[serde(default)]
    pub virtual_host_style: bool,
}

/// `[gcs]`: as `GOOGLE_APPLICATION_CREDENTIALS` and `STORAGE_EMULATOR_HOST`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcsConfig {
    pub endpoint: Option<String>,
    pub credential_path: Option<PathBuf>,
    /// Send unsigned requests (emulators only).
    #[serde(default)]
    pub anonymous: bool,
}

/// `[azblob]`: as `AZURE_STORAGE_CONNECTION_STRING`, or `AZURE_STORAGE_ACCOUNT` +
/// `AZURE_STORAGE_KEY` (+ `AZURE_STORAGE_ENDPOINT`), or `AZURE_STORAGE_SAS_TOKEN`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzblobConfig {
    pub connection_string: Option<Secret>,
    pub account: Option<String>,
    pub key: Option<Secret>,
    pub sas_token: Option<Secret>,
    pub endpoint: Option<String>,
}

/// `[transfer]`: part sizes, concurrency, retries and timeouts for object stores.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferConfig {
    /// First part size in MiB (default 8, 5 to 4000); parts grow as a stream grows.
    pub part_size_mib: Option<u64>,
    /// Parts uploaded (or ranges read ahead) at once (default 4).
    pub concurrency: Option<usize>,
    /// Retries of a temporary failure per request (default 4).
    pub retries: Option<usize>,
    /// Seconds a request may make no progress before it is retried (default 60).
    pub timeout_secs: Option<u64>,
}

macro_rules! impl_is_empty {
    ($($t:ty),*) => {$(
        impl $t {
            pub fn is_empty(&self) -> bool {
                *self == <$t>::default()
            }
        }
    )*};
}
impl_is_empty!(S3Config, GcsConfig, AzblobConfig, TransferConfig);

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("config file {path} is not valid: {message}")]
    Invalid { path: String, message: String },
}

impl Config {
    /// Loads `explicit`, else the default file if it exists, else an empty config.
    pub fn load(explicit: Option<&Path>) -> Result<(Config, Option<PathBuf>), ConfigError> {
        let path = match explicit {
            Some(path) => path.to_path_buf(),
            None => match crate::paths::default_config() {
                Some(path) if path.exists() => path,
                _ => return Ok((Config::default(), None)),
            },
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            error: source,
        })?;
        let mut config: Config = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.display().to_string(),
            message: e.message().to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for identity in &mut config.identities {
            if identity.is_relative() {
                *identity = base.join(&*identity);
            }
        }
        for plugin in config.plugins.values_mut() {
            if plugin.path.is_relative() {
                plugin.path = base.join(&plugin.path);
            }
        }
        if let Some(path) = &mut config.gcs.credential_path {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
        Ok((config, Some(path)))
    }
}
