//! The manifest: the JSON record that makes a backup exist.
//!
//! **Invariant:** a backup exists only once its manifest is written, and the manifest is
//! written last, after the stored object is complete. Manifests never hold secrets:
//! pipeline parameters come from each plugin's `describe`, which lists only public settings,
//! and passwords in the source command's arguments are masked.

use crate::checksum::{Algorithm, Checksum};
use serde::{Deserialize, Serialize};

/// The manifest format this build writes; it reads every version up to this one.
/// Version 3 names each built-in stage's stream format (`format`); version 2 checksums with
/// BLAKE3 (`blake3` fields); version 1 with SHA-256 (`sha256`).
pub const FORMAT_VERSION: u32 = 3;
/// The `format` field's fixed value, to recognise our files.
pub const FORMAT_NAME: &str = "twgate-backup";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub name: String,
    pub id: String,
    pub started_at: jiff::Timestamp,
    pub finished_at: jiff::Timestamp,
    pub twgate_version: String,
    pub source: Source,
    /// The bytes as they came in (the dump).
    pub original: Digest,
    /// The bytes as they are stored (after every stage).
    pub stored: StoredObject,
    /// The stages applied on push, in order; pull applies their inverses in reverse.
    pub pipeline: Vec<StageRecord>,
    /// What the push checked of the original bytes before it committed them (version 3;
    /// absent before, and when pushed with `--no-check`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckRecord>,
}

/// What the built-in check found: the stream's format and that it was complete.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CheckRecord {
    /// `pg_dump custom archive`, `tar archive`, `plain SQL dump (pg_dump)`, `plain SQL
    /// cluster dump (pg_dumpall)`, or `unknown` when the stream is in no format twgate
    /// checks (it was stored as it came).
    pub format: String,
    /// What the check read, e.g. `toc-entries` and `data-blocks` of a pg_dump archive, the
    /// `start-wal-location` of a base backup.
    pub facts: Vec<(String, String)>,
    /// The check plugin's version and sha256, for audit.
    pub version: String,
    pub sha256: String,
}

impl CheckRecord {
    /// One of the facts, by name.
    pub fn fact(&self, key: &str) -> Option<&str> {
        self.facts
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `pg_dump custom archive (toc-entries 20, data-blocks 2)` for people.
    pub fn summary(&self) -> String {
        if self.facts.is_empty() {
            return self.format.clone();
        }
        let facts: Vec<String> = self.facts.iter().map(|(k, v)| format!("{k} {v}")).collect();
        format!("{} ({})", self.format, facts.join(", "))
    }
}

/// Where the bytes came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// `stdin`, or `command` when twgate ran the producer itself.
    pub kind: String,
    /// The producer's argv, with passwords masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<i32>,
}

/// A size and one checksum: `blake3` (version 2) or `sha256` (version 1).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Digest {
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blake3: Option<String>,
}

impl Digest {
    pub fn new(size: u64, checksum: Checksum) -> Digest {
        let (sha256, blake3) = split(checksum);
        Digest {
            size,
            sha256,
            blake3,
        }
    }

    /// The recorded checksum (a parsed manifest always has one).
    pub fn checksum(&self) -> Checksum {
        joined(&self.sha256, &self.blake3).expect("checked by Manifest::parse")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StoredObject {
    /// Path of the data object, relative to the store's root.
    pub object: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blake3: Option<String>,
}

impl StoredObject {
    pub fn new(object: String, size: u64, checksum: Checksum) -> StoredObject {
        let (sha256, blake3) = split(checksum);
        StoredObject {
            object,
            size,
            sha256,
            blake3,
        }
    }

    /// The recorded checksum (a parsed manifest always has one).
    pub fn checksum(&self) -> Checksum {
        joined(&self.sha256, &self.blake3).expect("checked by Manifest::parse")
    }
}

/// A checksum as the two optional manifest fields.
fn split(checksum: Checksum) -> (Option<String>, Option<String>) {
    match checksum.algorithm {
        Algorithm::Sha256 => (Some(checksum.hex), None),
        Algorithm::Blake3 => (None, Some(checksum.hex)),
    }
}

/// The one checksum the two optional fields hold, if exactly one is there.
fn joined(sha256: &Option<String>, blake3: &Option<String>) -> Option<Checksum> {
    let (algorithm, hex) = match (sha256, blake3) {
        (Some(hex), None) => (Algorithm::Sha256, hex),
        (None, Some(hex)) => (Algorithm::Blake3, hex),
        _ => return None,
    };
    let valid = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then(|| Checksum {
        algorithm,
        hex: hex.to_ascii_lowercase(),
    })
}

/// One stage of the pipeline as it ran.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StageRecord {
    pub plugin: String,
    /// The plugin's own version, as it reported it.
    pub version: String,
    /// The stream format a built-in wrote (e.g. `zstd/rfc8878`), which decides what decodes
    /// it; absent for a custom plugin, which is pinned by `sha256` instead (and in
    /// manifests before version 3, see [`StageRecord::stream_format`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// The sha256 of the component that ran: what decodes a custom plugin's stage, and for
    /// a built-in a record for audit only.
    pub sha256: String,
    /// Public settings as the plugin described them, e.g. `level=3`, `recipient=age1...`.
    pub params: Vec<(String, String)>,
}

impl StageRecord {
    /// The stream format of this stage if a built-in wrote it, in a manifest of version
    /// `manifest_version`; `None` for a custom plugin. Before version 3 a built-in stage
    /// was named by its plugin alone, and each name stood for one format.
    pub fn stream_format(&self, manifest_version: u32) -> Option<&str> {
        if manifest_version >= 3 {
            return self.format.as_deref();
        }
        crate::builtin::format_before_manifest_v3(&self.plugin)
    }
}

/// Whether `name` is a valid backup name (or id): it becomes a path component in every
/// store, so letters, digits, '.', '_' and '-', not starting with '.' or '-', at most 128.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl Manifest {
    /// Parses and checks a manifest read from `path`.
    pub fn parse(bytes: &[u8], path: &str) -> Result<Manifest, ManifestError> {
        // The path comes from the store's listing: printed in errors, so made safe first.
        let path = &crate::ui::untrusted(path);
        let manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|source| ManifestError::Invalid {
                path: path.into(),
                source,
            })?;
        if manifest.format != FORMAT_NAME {
            return Err(ManifestError::NotOurs { path: path.into() });
        }
        // Names and ids are printed by list and status: only what a push could have made.
        let valid = is_valid_name;
        if !valid(&manifest.name) || !valid(&manifest.id) {
            return Err(ManifestError::BadName { path: path.into() });
        }
        if manifest.version > FORMAT_VERSION {
            return Err(ManifestError::TooNew {
                path: path.into(),
                version: manifest.version,
            });
        }
        let original = joined(&manifest.original.sha256, &manifest.original.blake3);
        let stored = joined(&manifest.stored.sha256, &manifest.stored.blake3);
        if original.is_none() || stored.is_none() {
            return Err(ManifestError::NoChecksum { path: path.into() });
        }
        Ok(manifest)
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec_pretty(self).expect("a manifest always serializes");
        json.push(b'\n');
        json
    }

    /// Whether this backup counts as one: a push commits only streams that passed their
    /// check, so only an empty one does not (written before twgate refused empty streams,
    /// or pushed with `--allow-empty`), whatever its format.
    pub fn has_content(&self) -> bool {
        self.original.size > 0
    }

    /// "zstd(level=3) | age(recipients)" for people.
    pub fn pipeline_summary(&self) -> String {
        if self.pipeline.is_empty() {
            return "none".into();
        }
        self.pipeline
            .iter()
            .map(|s| s.plugin.as_str())
            .collect::<Vec<_>>()
            .join("+")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest {path} is unreadable (damaged, or not a twgate manifest)")]
    Invalid {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path} is not a twgate manifest")]
    NotOurs { path: String },
    #[error("manifest {path} is unreadable: its backup name or id is not one twgate writes; it was damaged or edited")]
    BadName { path: String },
    #[error("manifest {path} does not hold exactly one valid checksum (blake3 or sha256) for both the original and the stored bytes; it was damaged or edited")]
    NoChecksum { path: String },
    #[error("manifest {path} has format version {version}, newer than this twgate understands; upgrade twgate")]
    TooNew { path: String, version: u32 },
}

/// Masks passwords in a command line before it is recorded: `postgresql://u:secret@h`
/// becomes `postgresql://u:***@h`, `password=secret` (also `PGPASSWORD=`, `sslpassword=`,
/// `--password=`) becomes `password=***`, and the value of `--password X`, `-p X` and `-pX`
/// becomes `***`; except `-p` after a PostgreSQL tool (`pg_dump -p 5432`), where it is the
/// port.
pub fn mask_secrets(argv: &[String]) -> Vec<String> {
    let mut masked = Vec::with_capacity(argv.len());
    let mut after_postgres_tool = false;
    let mut value_is_secret = false;
    for arg in argv {
        if std::mem::take(&mut value_is_secret) {
            masked.push("***".to_string());
            continue;
        }
        let program = arg.rsplit('/').next().unwrap_or(arg);
        after_postgres_tool |= POSTGRES_TOOLS.contains(&program);
        let password_flag = PASSWORD_FLAGS.contains(&arg.as_str());
        let short_p = arg.starts_with("-p") && !arg.starts_with("--") && !after_postgres_tool;
        if password_flag || (short_p && arg == "-p") {
            value_is_secret = true;
            masked.push(arg.clone());
        } else if short_p {
            masked.push("-p***".to_string());
        } else {
            masked.push(mask_arg(arg));
        }
    }
    masked
}

/// Flags whose next argument is a password (MySQL's and others' client tools).
const PASSWORD_FLAGS: &[&str] = &["--password", "--passwd", "--pass", "-password"];

/// Programs whose `-p` is a port, not a password.
const POSTGRES_TOOLS: &[&str] = &[
    "pg_dump",
    "pg_dumpall",
    "pg_basebackup",
    "pg_receivewal",
    "pg_restore",
    "psql",
];

fn mask_arg(arg: &str) -> String {
    let mut out = arg.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest = &out[scheme_end + 3..];
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            if let Some(colon) = rest[..at].find(':') {
                let start = scheme_end + 3 + colon + 1;
                let end = scheme_end + 3 + at;
                out.replace_range(start..end, "***");
            }
        }
    }
    // libpq key=value strings and query parameters.
    for key in ["password=", "PGPASSWORD=", "secret=", "token="] {
        let mut search_from = 0;
        while let Some(pos) = out[search_from..]
            .to_ascii_lowercase()
            .find(&key.to_ascii_lowercase())
        {
            let start = search_from + pos + key.len();
            let end = out[start..]
                .find([' ', '&', ';'])
                .map_or(out.len(), |e| start + e);
            out.replace_range(start..end, "***");
            search_from = start + 3;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_url_passwords_and_keywords() {
        let argv: Vec<String> = [
            "pg_dump",
            "postgresql://app:s3cret@db:5432/x?sslmode=require",
            "host=db password=hunter2 user=a",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let masked = mask_secrets(&argv);
        assert_eq!(masked[1], "postgresql://app:***@db:5432/x?sslmode=require");
        assert_eq!(masked[2], "host=db password=*** user=a");
        assert!(!masked.join(" ").contains("s3cret"));
        assert!(!masked.join(" ").contains("hunter2"));
    }

    fn masked(argv: &[&str]) -> String {
        mask_secrets(&argv.iter().map(|s| s.to_string()).collect::<Vec<_>>()).join(" ")
    }

    #[test]
    fn masks_password_flags_but_not_a_postgres_port() {
        assert_eq!(
            masked(&["mysqldump", "-pSECRET", "-u", "root", "db"]),
            "mysqldump -p*** -u root db"
        );
        assert_eq!(masked(&["mysqldump", "-p", "SECRET"]), "mysqldump -p ***");
        assert_eq!(
            masked(&[
                "tool",
                "--password",
                "SECRET",
                "--password=SECRET",
                "PASSWORD=SECRET"
            ]),
            "tool --password *** --password=*** PASSWORD=***"
        );
        assert_eq!(
            masked(&[
                "pg_dump",
                "-p",
                "5433",
                "-p5434",
                "host=h sslpassword=SECRET"
            ]),
            "pg_dump -p 5433 -p5434 host=h sslpassword=***"
        );
        assert_eq!(
            masked(&["docker", "exec", "pg", "/usr/bin/pg_dump", "-p", "5432"]),
            "docker exec pg /usr/bin/pg_dump -p 5432"
        );
    }
}
