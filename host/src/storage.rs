//! The store: where stored objects and manifests live, through one OpenDAL `Operator`.
//!
//! Layout under the store's root, for a backup `NAME` with id `ID`:
//! - `NAME/ID.data`: the stored bytes (the dump after every pipeline stage);
//! - `NAME/ID.manifest.json`: the manifest, written last.
//!
//! **Invariant:** listing and resolving look only at manifests, so an object whose push
//! never finished (no manifest) is invisible. Writes go through `DataWriter`, which aborts
//! unless `commit` is called.

use crate::manifest::{Manifest, ManifestError};
use futures::{Stream, StreamExt};
use opendal::{ErrorKind, Operator};
use std::path::{Path, PathBuf};

const MANIFEST_SUFFIX: &str = ".manifest.json";
const DATA_SUFFIX: &str = ".data";
/// Where the fs service stages writes before renaming them into place.
const TMP_DIR: &str = ".twgate-tmp";

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("store URL '{url}' is not supported: use a directory path or fs:///absolute/path")]
    UnsupportedUrl { url: String },
    #[error("no store given and no home directory to put the default store in: pass --store or set TWGATE_STORE")]
    NoDefault,
    #[error("cannot {action} {path} in store {store}: {hint}")]
    Io {
        action: &'static str,
        path: String,
        store: String,
        hint: String,
        /// Kept for debugging; the hint already says what matters, so it is not a `source`.
        cause: opendal::Error,
    },
    #[error("cannot create store directory {store}: {source}")]
    Create {
        store: String,
        source: std::io::Error,
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
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(StorageError::BadName { name: name.into() })
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
    /// How to name this store in messages (never holds credentials).
    location: String,
}

impl Store {
    /// Opens the store named by `url`, or the default store when `None`. A local store's
    /// directory is created when `create` is set (for writing), and must exist otherwise.
    pub fn open(url: Option<&str>, create: bool) -> Result<Store, StorageError> {
        let root: PathBuf = match url {
            None => crate::paths::default_store().ok_or(StorageError::NoDefault)?,
            Some(url) => parse_fs_url(url)?,
        };
        let root = std::path::absolute(&root).unwrap_or(root);
        let root_str = root.to_string_lossy().to_string();
        if create {
            std::fs::create_dir_all(&root).map_err(|source| StorageError::Create {
                store: root_str.clone(),
                source,
            })?;
        } else if !root.is_dir() {
            return Err(StorageError::Missing { store: root_str });
        }
        let builder = opendal::services::Fs::default()
            .root(&root_str)
            .atomic_write_dir(&root.join(TMP_DIR).to_string_lossy());
        let op = Operator::new(builder)
            .map_err(|source| io_error("open", &root_str, &root_str, source))?;
        Ok(Store {
            op,
            location: root_str,
        })
    }

    /// How this store is named in messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn err(&self, action: &'static str, path: &str, source: opendal::Error) -> StorageError {
        io_error(action, path, &self.location, source)
    }

    /// Fails early, before a dump starts, if the store cannot be written.
    pub async fn check_writable(&self) -> Result<(), StorageError> {
        let probe = format!("{TMP_DIR}/probe-{}", std::process::id());
        self.op
            .write(&probe, Vec::<u8>::new())
            .await
            .map_err(|e| self.err("write", "", e))?;
        let _ = self.op.delete(&probe).await;
        Ok(())
    }

    /// Starts writing the data object of backup `name`/`id`.
    pub async fn data_writer(&self, name: &str, id: &str) -> Result<DataWriter, StorageError> {
        let path = data_path(name, id);
        let writer = self
            .op
            .writer(&path)
            .await
            .map_err(|e| self.err("write", &path, e))?;
        Ok(DataWriter {
            writer: Some(writer),
            path,
        })
    }

    /// Writes a manifest; this is what makes the backup exist.
    pub async fn put_manifest(&self, manifest: &Manifest) -> Result<(), StorageError> {
        let path = manifest_path(&manifest.name, &manifest.id);
        self.op
            .write(&path, manifest.to_json())
            .await
            .map_err(|e| self.err("write", &path, e))?;
        Ok(())
    }

    /// Deletes one object, e.g. the data of a push that failed after writing it.
    pub async fn delete(&self, path: &str) -> Result<(), StorageError> {
        self.op
            .delete(path)
            .await
            .map_err(|e| self.err("delete", path, e))
    }

    /// Every valid manifest, optionally of one name, oldest first. Unreadable manifests
    /// are reported as warnings and skipped.
    pub async fn manifests(&self, name: Option<&str>) -> Result<Vec<Manifest>, StorageError> {
        let dir = match name {
            Some(name) => format!("{name}/"),
            None => "/".to_string(),
        };
        let entries = match self.op.list_with(&dir).recursive(true).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(self.err("list", &dir, e)),
        };
        let mut manifests = Vec::new();
        for entry in entries {
            let path = entry.path();
            if !path.ends_with(MANIFEST_SUFFIX) || path.starts_with(TMP_DIR) {
                continue;
            }
            let bytes = self
                .op
                .read(path)
                .await
                .map_err(|e| self.err("read", path, e))?;
            match Manifest::parse(&bytes.to_vec(), path) {
                Ok(m) => manifests.push(m),
                Err(e) => crate::ui::warn(&format!("skipping {e}")),
            }
        }
        manifests.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        Ok(manifests)
    }

    /// Finds the manifest a reference names; `@latest` (or no id) is the newest.
    pub async fn resolve(&self, backup: &BackupRef) -> Result<Manifest, StorageError> {
        let all = self.manifests(Some(&backup.name)).await?;
        let unknown_name = || StorageError::UnknownName {
            name: backup.name.clone(),
            store: self.location.clone(),
        };
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
                        id: id.clone(),
                        store: self.location.clone(),
                    }),
                    1 => Ok(matching.remove(0)),
                    _ => match matching.iter().position(|m| &m.id == id) {
                        Some(exact) => Ok(matching.remove(exact)),
                        None => Err(StorageError::AmbiguousId {
                            name: backup.name.clone(),
                            id: id.clone(),
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
        let reader = self
            .op
            .reader_with(&path)
            .chunk(4 << 20)
            .await
            .map_err(|e| self.err("read", &path, e))?;
        let stream = reader
            .into_bytes_stream(..)
            .await
            .map_err(|e| self.err("read", &path, e))?;
        let store = self.location.clone();
        Ok(stream.map(move |item| {
            item.map_err(|source| StorageError::Read {
                path: path.clone(),
                store: store.clone(),
                source,
            })
        }))
    }
}

/// The data object being written by a push. Dropping it without `commit` leaves only an
/// invisible partial object (no manifest points at it); `abort` also removes that.
pub struct DataWriter {
    writer: Option<opendal::Writer>,
    path: String,
}

impl DataWriter {
    pub async fn write(&mut self, store: &Store, chunk: bytes::Bytes) -> Result<(), StorageError> {
        let writer = self.writer.as_mut().expect("write after commit or abort");
        writer
            .write(chunk)
            .await
            .map_err(|e| store.err("write", &self.path, e))
    }

    /// Completes the object. It is still invisible until its manifest is written.
    pub async fn commit(mut self, store: &Store) -> Result<(), StorageError> {
        let mut writer = self.writer.take().expect("commit once");
        writer
            .close()
            .await
            .map_err(|e| store.err("write", &self.path, e))?;
        Ok(())
    }

    /// Discards the object.
    pub async fn abort(mut self) {
        if let Some(mut writer) = self.writer.take() {
            let _ = writer.abort().await;
        }
    }
}

pub fn data_path(name: &str, id: &str) -> String {
    format!("{name}/{id}{DATA_SUFFIX}")
}

pub fn manifest_path(name: &str, id: &str) -> String {
    format!("{name}/{id}{MANIFEST_SUFFIX}")
}

fn parse_fs_url(url: &str) -> Result<PathBuf, StorageError> {
    if let Some(path) = url.strip_prefix("fs://") {
        if path.starts_with('/') {
            return Ok(PathBuf::from(path));
        }
        return Err(StorageError::UnsupportedUrl { url: url.into() });
    }
    if url.contains("://") {
        return Err(StorageError::UnsupportedUrl { url: url.into() });
    }
    Ok(Path::new(url).to_path_buf())
}

fn io_error(action: &'static str, path: &str, store: &str, source: opendal::Error) -> StorageError {
    let hint = match source.kind() {
        ErrorKind::PermissionDenied => {
            "permission denied; check the owner and mode of the store, or choose another --store"
                .to_string()
        }
        ErrorKind::NotFound => "not found".to_string(),
        ErrorKind::ConfigInvalid => "the store's configuration is invalid".to_string(),
        _ => first_line(&source.to_string()),
    };
    StorageError::Io {
        action,
        path: path.into(),
        store: store.into(),
        hint,
        cause: source,
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).to_string()
}
