//! What one plugin may touch: its grants from `[plugins.NAME.grants]`, checked when the
//! config is read, and turned into the WASI context of each instance.
//!
//! **Invariant:** an empty `Sandbox` grants nothing: no files, no environment, no
//! arguments, no stdio, no sockets, no HTTP. Randomness and clocks are always there
//! (encryption needs them).

use super::http::{BadEndpoint, HttpPolicy};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use wasmtime_wasi::{FsPerms, WasiCtx};

/// The capabilities a plugin is given, as plain data (the config file's
/// `[plugins.NAME.grants]` deserializes into it). A plugin gets none of them by default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// Outgoing HTTP(S) through `wasi:http`, to these exact `host:port` entries only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<String>,
    /// Let allowed host names resolve to loopback, private or link-local addresses. Off by
    /// default, so a name on the list cannot be pointed (by DNS) at the metadata service or
    /// the local network. An allowed entry written as an IP address is always reachable.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub private_addresses: bool,
    /// Host directories the plugin may read and write: `HOST_DIR` (seen at the same path)
    /// or `HOST_DIR::GUEST_DIR`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dirs: Vec<String>,
    /// Environment variables the plugin may read, by name; only those that are set pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
}

impl Grants {
    pub fn is_empty(&self) -> bool {
        *self == Grants::default()
    }
}

/// The capabilities granted to one plugin, checked.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub(crate) http: Arc<HttpPolicy>,
    /// Preopened directories: host path, and the path the plugin sees.
    dirs: Vec<(PathBuf, String)>,
    /// Environment variables the plugin may read.
    env: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error(transparent)]
    Http(#[from] BadEndpoint),
    #[error("[plugins.{plugin}.grants] dirs entry '{entry}' is not valid: use an absolute HOST_DIR or HOST_DIR::GUEST_DIR")]
    BadDir { plugin: String, entry: String },
    #[error("[plugins.{plugin}.grants] grants directory {dir}, which is not a directory: create it or fix the entry")]
    MissingDir { plugin: String, dir: String },
    #[error("[plugins.{plugin}.grants] env entry '{entry}' is not a variable name")]
    BadEnv { plugin: String, entry: String },
}

impl Sandbox {
    /// Grants nothing.
    pub fn none(plugin: &str) -> Sandbox {
        Sandbox {
            http: Arc::new(HttpPolicy::deny_all(plugin)),
            dirs: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Checks a plugin's grants: each entry must be well formed, each directory must exist.
    pub fn from_grants(plugin: &str, grants: &Grants) -> Result<Sandbox, GrantError> {
        let http = HttpPolicy::new(plugin, &grants.http, grants.private_addresses)?;
        let mut dirs = Vec::new();
        for entry in &grants.dirs {
            let bad = || GrantError::BadDir {
                plugin: plugin.into(),
                entry: entry.clone(),
            };
            let (host, guest) = entry.split_once("::").unwrap_or((entry, entry));
            if !host.starts_with('/') || !guest.starts_with('/') {
                return Err(bad());
            }
            let host = PathBuf::from(host);
            if !host.is_dir() {
                return Err(GrantError::MissingDir {
                    plugin: plugin.into(),
                    dir: host.display().to_string(),
                });
            }
            dirs.push((host, guest.to_string()));
        }
        for name in &grants.env {
            let valid = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(GrantError::BadEnv {
                    plugin: plugin.into(),
                    entry: name.clone(),
                });
            }
        }
        Ok(Sandbox {
            http: Arc::new(http),
            dirs,
            env: grants.env.clone(),
        })
    }

    /// One line per capability, for `twgate plugins`; empty when nothing is granted.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = self.http.describe();
        for (host, guest) in &self.dirs {
            if host.to_str() == Some(guest) {
                lines.push(format!("dir {guest}"));
            } else {
                lines.push(format!("dir {} as {guest}", host.display()));
            }
        }
        lines.extend(self.env.iter().map(|name| format!("env {name}")));
        lines
    }

    /// The WASI context for one instance: exactly the granted directories and variables.
    /// Sockets stay closed even with an HTTP grant: HTTP goes through `wasi:http` only.
    pub(crate) fn wasi_ctx(&self) -> wasmtime::Result<WasiCtx> {
        let mut builder = WasiCtx::builder();
        builder
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        for (host, guest) in &self.dirs {
            builder.preopened_dir(host, guest, FsPerms::ReadWrite)?;
        }
        for name in &self.env {
            if let Ok(value) = std::env::var(name) {
                builder.env(name, value);
            }
        }
        Ok(builder.build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_granted_describes_as_nothing() {
        assert!(Sandbox::none("p").describe().is_empty());
        assert!(Sandbox::from_grants("p", &Grants::default())
            .unwrap()
            .describe()
            .is_empty());
    }

    #[test]
    fn grants_are_checked_and_described() {
        let dir = tempfile::tempdir().unwrap();
        let grants = Grants {
            http: vec!["dav.example.com:443".into()],
            private_addresses: false,
            dirs: vec![format!("{}::/spool", dir.path().display())],
            env: vec!["TZ".into()],
        };
        let sandbox = Sandbox::from_grants("p", &grants).unwrap();
        assert_eq!(
            sandbox.describe(),
            vec![
                "http dav.example.com:443".to_string(),
                format!("dir {} as /spool", dir.path().display()),
                "env TZ".to_string(),
            ]
        );
        let relative = Grants {
            dirs: vec!["spool".into()],
            ..Grants::default()
        };
        assert!(matches!(
            Sandbox::from_grants("p", &relative),
            Err(GrantError::BadDir { .. })
        ));
        let missing = Grants {
            dirs: vec!["/no/such/twgate/dir".into()],
            ..Grants::default()
        };
        assert!(matches!(
            Sandbox::from_grants("p", &missing),
            Err(GrantError::MissingDir { .. })
        ));
        let bad_env = Grants {
            env: vec!["A=B".into()],
            ..Grants::default()
        };
        assert!(Sandbox::from_grants("p", &bad_env).is_err());
    }
}
