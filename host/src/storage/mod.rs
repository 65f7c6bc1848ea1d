//! The store: where stored objects and manifests live, through one OpenDAL `Operator`,
//! whatever the backend (a local directory, S3, GCS or Azure Blob).
//!
//! Layout under the store's root, for a backup `NAME` with id `ID`:
//! - `NAME/ID.data`: the stored bytes (the dump after every pipeline stage);
//! - `NAME/ID.manifest.json`: the manifest, written last;
//! - `NAME/ID.verified.json`: written by each successful `verify` (when, by which twgate);
//! - `NAME/ID.drill.json`: the last `drill` of the backup (when, how long, what it found).
//!
//! **Invariant:** listing and resolving look only at manifests, so an object whose push
//! never finished (no manifest) is invisible. Writes go through `DataWriter`, which aborts
//! unless `commit` is called.

#[cfg(feature = "azblob")]
mod azblob;
mod backends;
mod errors;
#[cfg(feature = "gcs")]
mod gcs;
mod location;
mod orphans;
mod plugin_service;
mod s3;
mod s3_uploads;
mod upload;

pub use backends::{ConnectError, PluginConnector, StoreSettings, Transfer};
pub use errors::Op;
pub use location::Location;
pub use orphans::{Orphan, OrphanKind};
pub use upload::{part_size, DataWriter};

use crate::manifest::{Manifest, ManifestError};
use futures::{Stream, StreamExt};
use opendal::{ErrorKind, Operator};
use std::path::PathBuf;

const MANIFEST_SUFFIX: &str = ".manifest.json";
const DATA_SUFFIX: &str = ".data";
/// A backup that `verify` restored completely gets this marker beside its manifest.
const VERIFIED_SUFFIX: &str = ".verified.json";
/// The record of the last restore drill of a backup, beside its manifest.
const DRILL_SUFFIX: &str = ".drill.json";
/// How many manifests `manifests` reads at once.
const MANIFEST_READS_IN_FLIGHT: usize = 16;
/// Where the fs service stages writes before renaming them into place.
const TMP_DIR: &str = ".twgate-tmp";

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(transparent)]
    BadUrl(#[from] location::BadUrl),
    #[error(transparent)]
    Setup(#[from] backends::SetupError),
    #[error("no store given and no home directory to put the default store in: pass --store or set TWGATE_STORE")]
    NoDefault,
    #[error("cannot {action} {path} in store {store}: {hint}")]
    Io {
        action: Op,
        path: String,
        store: String,
        hint: String,
        /// Kept for debugging; the hint already says what matters, so it is not a `source`.
        cause: Box<opendal::Error>,
    },
    #[error("cannot create store directory {store}: {error}")]
    Create {
        store: String,
        error: std::io::Error,
    },
    #[error("store {store} does not exist: check --store or TWGATE_STORE")]
    Missing { store: String },
    #[error("reading {path} from store {store} failed")]
    Read {
        path: String,
        store: String,
        #[source]
        source: std::io::Error,
    },
    #[error("store {store} did not keep {path}: {what}")]
    NotKept {
        path: String,
        store: String,
        what: String,
    },
    #[error("no backup named '{name}' in store {store}")]
    UnknownName { name: String, store: String },
    #[error("no backup '{name}@{id}' in store {store}: `twgate list {name}` shows the ids")]
    UnknownId {
        name: String,
        id: String,
        store: String,
    },
    #[error("backup id '{id}' matches several backups of '{name}': give more of it")]
    AmbiguousId { name: String, id: String },
    #[error("'{name}' is not a valid backup name: use letters, digits, '.', '_' and '-', not starting with '.' or '-'")]
    BadName { name: String },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The plugin of a `plugin://` store cannot be found or set up (its own words).
    #[error(transparent)]
    Plugin(Box<dyn std::error::Error + Send + Sync>),
    #[error("store {store}: {error}")]
    PluginConnect {
        store: String,
        error: crate::runtime::StageError,
    },
}

/// A manifest in the store that could not be parsed.
struct Unreadable {
    /// The backup id its object name gives.
    id: String,
    error: ManifestError,
}

/// A reference to one backup: `NAME`, `NAME@latest` or `NAME@ID` (or a unique id prefix).
#[derive(Debug, Clone, PartialEq)]
pub struct BackupRef {
    pub name: String,
    pub id: Option<String>,
}

impl BackupRef {
    pub fn parse(spec: &str) -> Result<BackupRef, StorageError> {
        let (name, id) = match spec.split_once('@') {
            Some((name, "latest")) => (name, None),
            Some((name, id)) => (name, Some(id.to_string())),
            None => (spec, None),
        };
        validate_name(name)?;
        Ok(BackupRef {
            name: name.into(),
            id,
        })
    }
}

/// Checks a backup name: it becomes a path component in every store.
pub fn validate_name(name: &str) -> Result<(), StorageError> {
    if crate::manifest::is_valid_name(name) {
        Ok(())
    } else {
        Err(StorageError::BadName {
            name: crate::ui::untrusted(name),
        })
    }
}

/// A new, sortable backup id: UTC time to the millisecond and a random suffix.
pub fn new_id(at: jiff::Timestamp) -> String {
    let mut random = [0u8; 3];
    getrandom::fill(&mut random).expect("the OS random source works");
    format!(
        "{}-{}",
        at.strftime("%Y%m%dT%H%M%S%.3fZ"),
        hex::encode(random)
    )
}

/// A store, opened.
pub struct Store {
    op: Operator,
    place: Location,
    /// How to name this store in messages (never holds credentials).
    location: String,
    transfer: Transfer,
    /// For S3 only: lists and aborts unfinished multipart uploads.
    s3_uploads: Option<s3_uploads::S3Uploads>,
}

impl Store {
    /// Opens the store named by `url`, or the default store when `None`. A local store's
    /// directory is created when `create` is set (for writing), and must exist otherwise;
    /// a bucket or container is never created.
    pub async fn open(
        url: Option<&str>,
        settings: &StoreSettings,
        create: bool,
    ) -> Result<Store, StorageError> {
        let place = match url {
            None => Location::Fs {
                root: crate::paths::default_store().ok_or(StorageError::NoDefault)?,
            },
            Some(url) => Location::parse(url)?,
        };
        let transfer = Transfer::from_config(&settings.transfer);
        let root: PathBuf = match &place {
            Location::Fs { root } => root.clone(),
            Location::Plugin { name, .. } => {
                let op = plugin_operator(&place, name, settings).await?;
                return Ok(Store {
                    op,
                    s3_uploads: None,
                    location: place.to_string(),
                    place,
                    transfer,
                });
            }
            remote => {
                let (op, s3_uploads) =
                    backends::remote_operator(remote, settings, &transfer).await?;
                return Ok(Store {
                    op,
                    s3_uploads,
                    location: remote.to_string(),
                    place: remote.clone(),
                    transfer,
                });
            }
        };
        let root = std::path::absolute(&root).unwrap_or(root);
        let root_str = root.to_string_lossy().to_string();
        if create {
            std::fs::create_dir_all(&root).map_err(|source| StorageError::Create {
                store: root_str.clone(),
                error: source,
            })?;
        } else if !root.is_dir() {
            return Err(StorageError::Missing { store: root_str });
        }
        let builder = opendal::services::Fs::default()
            .root(&root_str)
            .atomic_write_dir(&root.join(TMP_DIR).to_string_lossy());
        let place = Location::Fs { root: root.clone() };
        let op = Operator::new(builder)
            .map_err(|source| io_error(Op::Open, &root_str, &place, source))?;
        Ok(Store {
            op,
            location: root_str,
            place,
            transfer,
            s3_uploads: None,
        })
    }

    /// How this store is named in messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn err(&self, action: Op, path: &str, source: opendal::Error) -> StorageError {
        io_error(action, path, &self.place, source)
    }

    /// Fails early, before a dump starts, if the store cannot be written.
    pub async fn check_writable(&self) -> Result<(), StorageError> {
        let probe = format!("{TMP_DIR}/probe-{}", new_id(jiff::Timestamp::now()));
        self.op
            .write(&probe, Vec::<u8>::new())
            .await
            .map_err(|e| self.err(Op::Write, &probe, e))?;
        let _ = self.op.delete(&probe).await;
        Ok(())
    }

    /// Starts writing the data object of backup `name`/`id`.
    pub async fn data_writer(&self, name: &str, id: &str) -> Result<DataWriter, StorageError> {
        let path = data_path(name, id);
        let mut write = self.op.writer_with(&path);
        let mut part_base = None;
        if !self.place.is_local() {
            write = write.concurrent(self.transfer.concurrency);
            part_base = Some(self.transfer.part_size);
        }
        if matches!(self.place, Location::Gcs { .. }) {
            // GCS streams through a resumable upload (the JSON API) only for conditional
            // writes; its default, the XML multipart API, is missing from emulators. A new
            // backup id never exists, so the condition costs nothing.
            write = write.if_not_exists(true);
        }
        let writer = write.await.map_err(|e| self.err(Op::Write, &path, e))?;
        Ok(DataWriter::new(writer, path, part_base))
    }

    /// Writes a manifest; this is what makes the backup exist.
    pub async fn put_manifest(&self, manifest: &Manifest) -> Result<(), StorageError> {
        let path = manifest_path(&manifest.name, &manifest.id);
        let json = manifest.to_json();
        self.op
            .write(&path, json.clone())
            .await
            .map_err(|e| self.err(Op::Write, &path, e))?;
        // Read back: a store that says "written" is not taken at its word.
        match self.op.read(&path).await {
            Ok(back) if back.to_vec() == json => Ok(()),
            Ok(_) => Err(self.not_kept(&path, "it reads back other bytes than were written")),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                Err(self.not_kept(&path, "it is not there once written"))
            }
            Err(e) => Err(self.err(Op::ReadBack, &path, e)),
        }
    }

    /// Checks that a data object just committed is there, whole: `size` bytes. A store
    /// (above all a destination plugin) that says "committed" is not taken at its word.
    pub async fn check_committed(&self, path: &str, size: u64) -> Result<(), StorageError> {
        match self.op.stat(path).await {
            Ok(meta) if meta.content_length() == size => Ok(()),
            Ok(meta) => Err(self.not_kept(
                path,
                &format!(
                    "it holds {} bytes once committed, not the {size} written",
                    meta.content_length()
                ),
            )),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                Err(self.not_kept(path, "it is not there once committed"))
            }
            Err(e) => Err(self.err(Op::Check, path, e)),
        }
    }

    fn not_kept(&self, path: &str, what: &str) -> StorageError {
        StorageError::NotKept {
            path: path.to_string(),
            store: self.location.clone(),
            what: what.to_string(),
        }
    }

    /// Records that `verify` restored `manifest`'s backup completely, now.
    pub async fn put_verified(
        &self,
        manifest: &Manifest,
        with_command: bool,
    ) -> Result<(), StorageError> {
        let path = verified_path(&manifest.name, &manifest.id);
        let record = serde_json::json!({
            "verified_at": jiff::Timestamp::now(),
            "twgate_version": env!("CARGO_PKG_VERSION"),
            "original": manifest.original,
            "checked_by_command": with_command,
        });
        self.op
            .write(&path, serde_json::to_vec_pretty(&record).expect("JSON"))
            .await
            .map_err(|e| self.err(Op::Write, &path, e))?;
        Ok(())
    }

    /// Records a restore drill of `manifest`'s backup (replacing the previous one).
    pub async fn put_drill(
        &self,
        manifest: &Manifest,
        record: &serde_json::Value,
    ) -> Result<(), StorageError> {
        let path = drill_path(&manifest.name, &manifest.id);
        self.op
            .write(&path, serde_json::to_vec_pretty(record).expect("JSON"))
            .await
            .map_err(|e| self.err(Op::Write, &path, e))?;
        Ok(())
    }

    /// The drill records of `name`'s backups, by backup id. A record that cannot be read
    /// or parsed is skipped with a warning: it never hides the others.
    pub async fn drills(
        &self,
        name: &str,
    ) -> Result<Vec<(String, serde_json::Value)>, StorageError> {
        let dir = format!("{name}/");
        let entries = match self.op.list(&dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(self.err(Op::List, &dir, e)),
        };
        let mut records = Vec::new();
        for entry in entries {
            let Some(id) = entry.name().strip_suffix(DRILL_SUFFIX) else {
                continue;
            };
            let path = entry.path().to_string();
            let parsed = match self.op.read(&path).await {
                Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes.to_vec())
                    .map_err(|e| e.to_string()),
                Err(e) => Err(self.err(Op::Read, &path, e).to_string()),
            };
            match parsed {
                Ok(record) => records.push((id.to_string(), record)),
                Err(e) => crate::ui::warn(&format!(
                    "skipping drill record {}: {}",
                    crate::ui::untrusted(&path),
                    crate::ui::untrusted(&e)
                )),
            }
        }
        Ok(records)
    }

    /// The ids of `name`'s backups that have been verified.
    pub async fn verified_ids(
        &self,
        name: &str,
    ) -> Result<std::collections::HashSet<String>, StorageError> {
        let dir = format!("{name}/");
        let entries = match self.op.list(&dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(self.err(Op::List, &dir, e)),
        };
        Ok(entries
            .iter()
            .filter_map(|e| e.name().strip_suffix(VERIFIED_SUFFIX))
            .map(str::to_string)
            .collect())
    }

    /// Deletes a backup: its manifest first (from then on it does not exist), then its
    /// data and verify marker. A failure after the manifest leaves data that
    /// `prune --orphans` removes.
    pub async fn delete_backup(&self, manifest: &Manifest) -> Result<(), StorageError> {
        self.delete(&manifest_path(&manifest.name, &manifest.id))
            .await?;
        self.delete(&manifest.stored.object).await?;
        self.delete(&verified_path(&manifest.name, &manifest.id))
            .await?;
        self.delete(&drill_path(&manifest.name, &manifest.id)).await
    }

    /// Deletes one object, e.g. the data of a push that failed after writing it.
    pub async fn delete(&self, path: &str) -> Result<(), StorageError> {
        self.op
            .delete(path)
            .await
            .map_err(|e| self.err(Op::Delete, path, e))
    }

    /// Every valid manifest, optionally of one name, oldest first. Unreadable manifests
    /// are reported as warnings and skipped.
    pub async fn manifests(&self, name: Option<&str>) -> Result<Vec<Manifest>, StorageError> {
        let (manifests, unreadable) = self.read_manifests(name).await?;
        for broken in &unreadable {
            crate::ui::warn(&format!("skipping {}", broken.error));
        }
        Ok(manifests)
    }

    /// Every manifest (of `name`, or of all), sorted by name and id, and apart those that
    /// could not be parsed: a broken manifest never hides the others.
    async fn read_manifests(
        &self,
        name: Option<&str>,
    ) -> Result<(Vec<Manifest>, Vec<Unreadable>), StorageError> {
        let dir = match name {
            Some(name) => format!("{name}/"),
            None => "/".to_string(),
        };
        let entries = match self.op.list_with(&dir).recursive(true).await {
            Ok(entries) => entries,
            // A local store lists a missing directory as NotFound; an object store lists
            // a missing prefix as empty, so NotFound there means the bucket is missing.
            Err(e) if e.kind() == ErrorKind::NotFound && self.place.is_local() => Vec::new(),
            Err(e) => return Err(self.err(Op::List, &dir, e)),
        };
        let paths: Vec<String> = entries
            .iter()
            .map(|entry| entry.path())
            .filter(|path| path.ends_with(MANIFEST_SUFFIX) && !path.starts_with(TMP_DIR))
            .map(str::to_string)
            .collect();
        // Manifests are small: fetch several at once, so listing a remote store with many
        // backups costs a few round trips, not one per backup.
        let fetched: Vec<(String, Result<opendal::Buffer, opendal::Error>)> =
            futures::stream::iter(paths)
                .map(|path| async move {
                    let bytes = self.op.read(&path).await;
                    (path, bytes)
                })
                .buffer_unordered(MANIFEST_READS_IN_FLIGHT)
                .collect()
                .await;
        let mut manifests = Vec::new();
        let mut unreadable = Vec::new();
        for (path, bytes) in fetched {
            let bytes = match bytes {
                Ok(bytes) => bytes,
                // Deleted since it was listed (a prune running alongside): gone, not broken.
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(self.err(Op::Read, &path, e)),
            };
            match Manifest::parse(&bytes.to_vec(), &path) {
                Ok(m) => manifests.push(m),
                Err(error) => unreadable.push(Unreadable {
                    id: path
                        .rsplit('/')
                        .next()
                        .and_then(|file| file.strip_suffix(MANIFEST_SUFFIX))
                        .unwrap_or_default()
                        .to_string(),
                    error,
                }),
            }
        }
        manifests.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        Ok((manifests, unreadable))
    }

    /// The manifest of backup `name`@`id` exactly, read directly (no listing); `None`
    /// when there is none.
    pub async fn manifest(&self, name: &str, id: &str) -> Result<Option<Manifest>, StorageError> {
        let path = manifest_path(name, id);
        match self.op.read(&path).await {
            Ok(bytes) => Ok(Some(Manifest::parse(&bytes.to_vec(), &path)?)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err(Op::Read, &path, e)),
        }
    }

    /// Finds the manifest a reference names; `@latest` (or no id) is the newest.
    pub async fn resolve(&self, backup: &BackupRef) -> Result<Manifest, StorageError> {
        // A whole id is read directly: one request, however many backups there are.
        if let Some(id) = &backup.id {
            if validate_name(id).is_ok() {
                if let Some(manifest) = self.manifest(&backup.name, id).await? {
                    return Ok(manifest);
                }
            }
        }
        let (all, unreadable) = self.read_manifests(Some(&backup.name)).await?;
        let unknown_name = || StorageError::UnknownName {
            name: backup.name.clone(),
            store: self.location.clone(),
        };
        // A backup whose manifest cannot be read is still one: `@latest` never quietly
        // means an older backup, and an id never quietly means "no such backup".
        let blocking = unreadable
            .into_iter()
            .filter(|broken| match &backup.id {
                None => all.iter().all(|m| m.id < broken.id),
                Some(id) => broken.id.starts_with(id.as_str()),
            })
            .max_by(|a, b| a.id.cmp(&b.id));
        if let Some(broken) = blocking {
            return Err(StorageError::Manifest(broken.error));
        }
        match &backup.id {
            None => all
                .into_iter()
                .max_by(|a, b| a.id.cmp(&b.id))
                .ok_or_else(unknown_name),
            Some(id) => {
                if all.is_empty() {
                    return Err(unknown_name());
                }
                let mut matching: Vec<Manifest> = all
                    .into_iter()
                    .filter(|m| m.id.starts_with(id.as_str()))
                    .collect();
                match matching.len() {
                    0 => Err(StorageError::UnknownId {
                        name: backup.name.clone(),
                        id: crate::ui::untrusted(id),
                        store: self.location.clone(),
                    }),
                    1 => Ok(matching.remove(0)),
                    _ => match matching.iter().position(|m| &m.id == id) {
                        Some(exact) => Ok(matching.remove(exact)),
                        None => Err(StorageError::AmbiguousId {
                            name: backup.name.clone(),
                            id: crate::ui::untrusted(id),
                        }),
                    },
                }
            }
        }
    }

    /// Streams the stored object of a backup.
    pub async fn data_stream(
        &self,
        manifest: &Manifest,
    ) -> Result<
        impl Stream<Item = Result<bytes::Bytes, StorageError>> + Send + Unpin + use<>,
        StorageError,
    > {
        let path = manifest.stored.object.clone();
        let mut read = self.op.reader_with(&path);
        if self.place.is_local() {
            read = read.chunk(4 << 20);
        } else {
            // Read ahead: several ranged GETs in flight, so a pull is not latency-bound.
            read = read
                .chunk(self.transfer.part_size)
                .concurrent(self.transfer.concurrency);
        }
        let reader = read.await.map_err(|e| self.err(Op::Read, &path, e))?;
        let stream = reader
            .into_bytes_stream(0..manifest.stored.size)
            .await
            .map_err(|e| self.err(Op::Read, &path, e))?;
        let store = self.location.clone();
        let place = self.place.clone();
        Ok(stream.map(move |item| {
            item.map_err(|source| {
                // OpenDAL's error rides inside the io::Error; its Display holds the
                // request URI, so it becomes a hint instead.
                match source
                    .into_inner()
                    .map(|inner| inner.downcast::<opendal::Error>())
                {
                    Some(Ok(err)) => io_error(Op::Read, &path, &place, *err),
                    Some(Err(other)) => StorageError::Read {
                        path: path.clone(),
                        store: store.clone(),
                        source: std::io::Error::other(other),
                    },
                    None => StorageError::Read {
                        path: path.clone(),
                        store: store.clone(),
                        source: std::io::Error::other("read failed"),
                    },
                }
            })
        }))
    }
}

/// Connects to the destination plugin `name` (through the caller's connector) and wraps
/// it as an operator.
async fn plugin_operator(
    place: &Location,
    name: &str,
    settings: &StoreSettings,
) -> Result<Operator, StorageError> {
    let connector = settings.plugins.clone().ok_or_else(|| {
        StorageError::Plugin(
            format!("{place} is a plugin store, but this command has no plugins").into(),
        )
    })?;
    let name = name.to_string();
    let destination = tokio::task::spawn_blocking(move || connector.connect(&name))
        .await
        .expect("connecting to a plugin does not panic")
        .map_err(|error| match error {
            ConnectError::Find(error) => StorageError::Plugin(error),
            ConnectError::Connect(error) => StorageError::PluginConnect {
                store: place.to_string(),
                error,
            },
        })?;
    let builder = plugin_service::PluginBuilder::new(destination, &place.root());
    Operator::new(builder).map_err(|source| io_error(Op::Open, &place.to_string(), place, source))
}

pub fn data_path(name: &str, id: &str) -> String {
    format!("{name}/{id}{DATA_SUFFIX}")
}

pub fn manifest_path(name: &str, id: &str) -> String {
    format!("{name}/{id}{MANIFEST_SUFFIX}")
}

pub fn verified_path(name: &str, id: &str) -> String {
    format!("{name}/{id}{VERIFIED_SUFFIX}")
}

pub fn drill_path(name: &str, id: &str) -> String {
    format!("{name}/{id}{DRILL_SUFFIX}")
}

fn io_error(action: Op, path: &str, place: &Location, source: opendal::Error) -> StorageError {
    StorageError::Io {
        action,
        path: path.into(),
        store: place.to_string(),
        hint: errors::hint(&source, place, action),
        cause: Box::new(source),
    }
}
