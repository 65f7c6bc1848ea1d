//! The configuration file: TOML holding everything the flags can say.
//!
//! Flags override the file; the file overrides built-in defaults. Unknown keys are errors,
//! so a typo never silently changes what a backup does.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Store URL, as `--store`.
    pub store: Option<String>,
    /// `zstd[:LEVEL]` or `none`, as `--compress`.
    pub compress: Option<String>,
    /// `none`, `age` or `openpgp`, as `--encrypt`.
    pub encrypt: Option<String>,
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
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
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
            source,
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
        Ok((config, Some(path)))
    }
}
