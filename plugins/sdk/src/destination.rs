//! Destinations in plain Rust: the [`Destination`], [`Connection`], [`Upload`] and
//! [`Download`] traits a store plugin implements, [`ObjectEntry`], the rules the component
//! glue enforces on the host's behalf ([`UploadSlot`], [`DownloadSlot`]), and
//! [`write_object`] / [`read_object`], which drive a connection the way the host does.
//!
//! Nothing here depends on the target: the same rules hold in native tests and in the
//! `wasm32` component.

use crate::{Error, Params};

/// One stored object, as [`Connection::list_objects`] and [`Connection::stat`] report it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectEntry {
    /// The object's path, relative and `/`-separated like every path the host passes.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written, in seconds since the Unix epoch, if the destination knows.
    /// `twgate prune --orphans` leaves objects without it alone.
    pub modified: Option<u64>,
}

/// A store plugin: where backups are kept when no built-in store fits.
///
/// The type itself holds nothing; it names the plugin and opens [`Connection`]s. Paths are
/// relative and `/`-separated (`db/20261125T010203.000Z-a1b2c3.data`). Errors are values:
/// return them with a one-line message that never contains a secret, and never panic (a
/// panic aborts the plugin instance and the whole backup or restore).
pub trait Destination: 'static {
    /// Short lowercase name, e.g. `webdav`.
    const NAME: &'static str;
    /// The plugin's own semantic version, usually `env!("CARGO_PKG_VERSION")`.
    const VERSION: &'static str;
    /// One line for `twgate plugins`, usually `env!("CARGO_PKG_DESCRIPTION")`.
    const SUMMARY: &'static str;

    /// What [`connect`](Destination::connect) returns.
    type Connection: Connection;

    /// Connects with the non-secret `params` (a base URL) and the `secrets` (a password) of
    /// the plugin's configuration. Both are wiped from memory when `connect` returns: keep
    /// what you need. Check here that the destination answers, so that a wrong URL or
    /// password fails before a dump starts. Refuse unknown keys with [`Error::BadConfig`]
    /// (see [`Params::first_unknown`]).
    fn connect(params: &Params, secrets: &Params) -> Result<Self::Connection, Error>;
}

/// A connection to the destination. The host calls it from one thread at a time, and may
/// keep uploads and downloads it created open while it calls it again.
pub trait Connection: 'static {
    /// What [`create`](Connection::create) returns.
    type Upload: Upload;
    /// What [`read`](Connection::read) returns.
    type Download: Download;

    /// Starts writing the object at `path`, replacing any object there once committed.
    /// Nothing may appear at `path` until [`Upload::commit`] succeeds; an upload aborted or
    /// dropped before that leaves the previous state (at worst, a staging object that
    /// [`list_objects`](Connection::list_objects) does not report).
    fn create(&mut self, path: &str) -> Result<Self::Upload, Error>;

    /// Reads `length` bytes of the object at `path`, starting at `offset` (`u64::MAX` or any
    /// length past the end means "to the end"); `Ok(None)` when there is no object at `path`.
    fn read(
        &mut self,
        path: &str,
        offset: u64,
        length: u64,
    ) -> Result<Option<Self::Download>, Error>;

    /// The object at `path`, or `Ok(None)` when there is none.
    fn stat(&mut self, path: &str) -> Result<Option<ObjectEntry>, Error>;

    /// Every committed object whose path starts with `prefix` (`""` for all), at any depth,
    /// in any order. Staging objects of unfinished uploads are not objects.
    fn list_objects(&mut self, prefix: &str) -> Result<Vec<ObjectEntry>, Error>;

    /// Deletes the object at `path`. Deleting an object that does not exist succeeds.
    fn delete(&mut self, path: &str) -> Result<(), Error>;
}

/// One object being written.
///
/// The SDK guarantees the host's side of the contract: `commit` or `abort` is called at most
/// once and nothing is called after it, and an upload the host drops without either is
/// aborted for you (the error, if any, is ignored). So an implementation needs no `Drop`.
pub trait Upload: 'static {
    /// Appends the next chunk (a few MiB at most). Send or store it before returning; do not
    /// hold the whole object in memory.
    fn write(&mut self, chunk: &[u8]) -> Result<(), Error>;

    /// Makes the object visible at its path, complete. If it fails, the object must not be
    /// visible; clean up what was staged as far as the destination allows (the SDK does not
    /// call `abort` after a failed `commit`).
    fn commit(self) -> Result<(), Error>;

    /// Gives up: removes whatever was staged.
    fn abort(self) -> Result<(), Error>;
}

/// One object being read.
pub trait Download: 'static {
    /// The next bytes (about 1 MiB, at most a few MiB), or an empty vector once the requested
    /// length, or the whole object, has been returned. After an empty vector the SDK answers
    /// every further call with an empty vector itself.
    fn next(&mut self) -> Result<Vec<u8>, Error>;
}

/// An [`Upload`] as the host holds it: spent after `commit` or `abort`, aborted when dropped
/// unspent. The component glue wraps every upload in one.
pub struct UploadSlot<U: Upload> {
    upload: Option<U>,
}

impl<U: Upload> UploadSlot<U> {
    pub fn new(upload: U) -> UploadSlot<U> {
        UploadSlot {
            upload: Some(upload),
        }
    }

    fn spent() -> Error {
        Error::Internal("upload was already committed or aborted".into())
    }

    /// [`Upload::write`], or an error once the upload is spent.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), Error> {
        self.upload.as_mut().ok_or_else(Self::spent)?.write(chunk)
    }

    /// [`Upload::commit`], or an error once the upload is spent. Spends it either way.
    pub fn commit(&mut self) -> Result<(), Error> {
        self.upload.take().ok_or_else(Self::spent)?.commit()
    }

    /// [`Upload::abort`], or an error once the upload is spent. Spends it either way.
    pub fn abort(&mut self) -> Result<(), Error> {
        self.upload.take().ok_or_else(Self::spent)?.abort()
    }
}

impl<U: Upload> Drop for UploadSlot<U> {
    fn drop(&mut self) {
        if let Some(upload) = self.upload.take() {
            // Dropped without commit: the contract says this must act like `abort`. Nobody is
            // left to hear about a failure.
            let _ = upload.abort();
        }
    }
}

/// A [`Download`] as the host holds it: once it has returned an empty vector, or failed,
/// it is dropped and every further call returns an empty vector or the same error.
pub struct DownloadSlot<D: Download> {
    state: DownloadState<D>,
}

enum DownloadState<D> {
    Reading(D),
    Done,
    Failed(Error),
}

impl<D: Download> DownloadSlot<D> {
    pub fn new(download: D) -> DownloadSlot<D> {
        DownloadSlot {
            state: DownloadState::Reading(download),
        }
    }

    /// [`Download::next`] until the download ends or fails. Named after the contract's
    /// `next`; a download is not an iterator (its items are results, its end an empty one).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Vec<u8>, Error> {
        let DownloadState::Reading(download) = &mut self.state else {
            return match &self.state {
                DownloadState::Failed(e) => Err(e.clone()),
                _ => Ok(Vec::new()),
            };
        };
        match download.next() {
            Ok(bytes) if bytes.is_empty() => {
                self.state = DownloadState::Done;
                Ok(bytes)
            }
            Ok(bytes) => Ok(bytes),
            Err(e) => {
                self.state = DownloadState::Failed(e.clone());
                Err(e)
            }
        }
    }
}

/// Writes `data` to `path` through `connection` the way the host does: `create`, `write` in
/// chunks of `chunk_size` bytes, `commit`. For native tests.
pub fn write_object<C: Connection>(
    connection: &mut C,
    path: &str,
    data: &[u8],
    chunk_size: usize,
) -> Result<(), Error> {
    assert!(chunk_size > 0, "chunk_size must be at least 1");
    let mut upload = UploadSlot::new(connection.create(path)?);
    for chunk in data.chunks(chunk_size) {
        upload.write(chunk)?;
    }
    upload.commit()
}

/// Reads `length` bytes of `path` from `offset` through `connection` the way the host does:
/// `read`, then `next` until it returns nothing. `Ok(None)` when there is no object. For
/// native tests.
pub fn read_object<C: Connection>(
    connection: &mut C,
    path: &str,
    offset: u64,
    length: u64,
) -> Result<Option<Vec<u8>>, Error> {
    let Some(download) = connection.read(path, offset, length)? else {
        return Ok(None);
    };
    let mut download = DownloadSlot::new(download);
    let mut out = Vec::new();
    loop {
        let bytes = download.next()?;
        if bytes.is_empty() {
            return Ok(Some(out));
        }
        out.extend_from_slice(&bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::rc::Rc;

    /// Objects by path, shared by a connection and its uploads.
    type Store = Rc<RefCell<BTreeMap<String, Vec<u8>>>>;

    /// An in-memory destination that also records what happened to its uploads.
    struct Memory;

    struct MemoryConnection {
        store: Store,
        log: Rc<RefCell<Vec<String>>>,
    }

    struct MemoryUpload {
        store: Store,
        log: Rc<RefCell<Vec<String>>>,
        path: String,
        staged: Vec<u8>,
    }

    /// Returns the rest of an object in 2-byte pieces.
    struct MemoryDownload {
        rest: Vec<u8>,
        calls_after_end: Rc<RefCell<u32>>,
    }

    impl Destination for Memory {
        const NAME: &'static str = "memory";
        const VERSION: &'static str = "0.0.0";
        const SUMMARY: &'static str = "test";
        type Connection = MemoryConnection;
        fn connect(params: &Params, _secrets: &Params) -> Result<MemoryConnection, Error> {
            if let Some(key) = params.first_unknown(&[]) {
                return Err(Error::BadConfig(format!("unknown parameter '{key}'")));
            }
            Ok(MemoryConnection {
                store: Store::default(),
                log: Rc::default(),
            })
        }
    }

    impl Connection for MemoryConnection {
        type Upload = MemoryUpload;
        type Download = MemoryDownload;
        fn create(&mut self, path: &str) -> Result<MemoryUpload, Error> {
            Ok(MemoryUpload {
                store: self.store.clone(),
                log: self.log.clone(),
                path: path.into(),
                staged: Vec::new(),
            })
        }
        fn read(
            &mut self,
            path: &str,
            offset: u64,
            length: u64,
        ) -> Result<Option<MemoryDownload>, Error> {
            Ok(self.store.borrow().get(path).map(|data| {
                let start = (offset as usize).min(data.len());
                let end = start
                    .saturating_add(length.min(usize::MAX as u64) as usize)
                    .min(data.len());
                MemoryDownload {
                    rest: data[start..end].to_vec(),
                    calls_after_end: Rc::default(),
                }
            }))
        }
        fn stat(&mut self, path: &str) -> Result<Option<ObjectEntry>, Error> {
            Ok(self.store.borrow().get(path).map(|data| ObjectEntry {
                path: path.into(),
                size: data.len() as u64,
                modified: None,
            }))
        }
        fn list_objects(&mut self, prefix: &str) -> Result<Vec<ObjectEntry>, Error> {
            let store = self.store.borrow();
            Ok(store
                .iter()
                .filter(|(path, _)| path.starts_with(prefix))
                .map(|(path, data)| ObjectEntry {
                    path: path.clone(),
                    size: data.len() as u64,
                    modified: None,
                })
                .collect())
        }
        fn delete(&mut self, path: &str) -> Result<(), Error> {
            self.store.borrow_mut().remove(path);
            Ok(())
        }
    }

    impl Upload for MemoryUpload {
        fn write(&mut self, chunk: &[u8]) -> Result<(), Error> {
            self.staged.extend_from_slice(chunk);
            Ok(())
        }
        fn commit(self) -> Result<(), Error> {
            self.log.borrow_mut().push(format!("commit {}", self.path));
            self.store.borrow_mut().insert(self.path, self.staged);
            Ok(())
        }
        fn abort(self) -> Result<(), Error> {
            self.log.borrow_mut().push(format!("abort {}", self.path));
            Ok(())
        }
    }

    impl Download for MemoryDownload {
        fn next(&mut self) -> Result<Vec<u8>, Error> {
            if self.rest.is_empty() {
                *self.calls_after_end.borrow_mut() += 1;
            }
            let n = self.rest.len().min(2);
            Ok(self.rest.drain(..n).collect())
        }
    }

    crate::export_destination!(Memory);

    fn connect() -> MemoryConnection {
        Memory::connect(&Params::new(), &Params::new()).unwrap()
    }

    #[test]
    fn connect_refuses_unknown_params() {
        let params = Params::new().with("colour", "blue");
        assert!(matches!(
            Memory::connect(&params, &Params::new()),
            Err(Error::BadConfig(m)) if m.contains("colour")
        ));
    }

    #[test]
    fn objects_round_trip_through_the_helpers() {
        let mut conn = connect();
        let data: Vec<u8> = (0..=255).collect();
        write_object(&mut conn, "db/a", &data, 7).unwrap();
        assert_eq!(
            read_object(&mut conn, "db/a", 0, u64::MAX).unwrap(),
            Some(data.clone())
        );
        assert_eq!(
            read_object(&mut conn, "db/a", 10, 5).unwrap(),
            Some(data[10..15].to_vec())
        );
        assert_eq!(read_object(&mut conn, "db/b", 0, 1).unwrap(), None);
        assert_eq!(conn.list_objects("db/").unwrap().len(), 1);
        assert_eq!(*conn.log.borrow(), ["commit db/a"]);
    }

    #[test]
    fn an_upload_dropped_unspent_is_aborted_once() {
        let mut conn = connect();
        let mut slot = UploadSlot::new(conn.create("x").unwrap());
        slot.write(b"abc").unwrap();
        drop(slot);
        assert_eq!(*conn.log.borrow(), ["abort x"]);
        assert_eq!(conn.stat("x").unwrap(), None);
    }

    #[test]
    fn a_spent_upload_refuses_everything_and_is_not_aborted_on_drop() {
        let mut conn = connect();
        let mut slot = UploadSlot::new(conn.create("x").unwrap());
        slot.commit().unwrap();
        assert!(matches!(slot.write(b"more"), Err(Error::Internal(_))));
        assert!(matches!(slot.commit(), Err(Error::Internal(_))));
        assert!(matches!(slot.abort(), Err(Error::Internal(_))));
        drop(slot);
        assert_eq!(*conn.log.borrow(), ["commit x"]);

        let mut slot = UploadSlot::new(conn.create("y").unwrap());
        slot.abort().unwrap();
        drop(slot);
        assert_eq!(*conn.log.borrow(), ["commit x", "abort y"]);
    }

    #[test]
    fn a_finished_download_is_not_called_again() {
        let mut conn = connect();
        write_object(&mut conn, "x", b"abc", 3).unwrap();
        let download = conn.read("x", 0, 3).unwrap().unwrap();
        let calls_after_end = download.calls_after_end.clone();
        let mut slot = DownloadSlot::new(download);
        assert_eq!(slot.next().unwrap(), b"ab");
        assert_eq!(slot.next().unwrap(), b"c");
        assert_eq!(slot.next().unwrap(), b"");
        assert_eq!(slot.next().unwrap(), b"");
        assert_eq!(*calls_after_end.borrow(), 1);
    }

    /// Fails on its second call.
    struct Flaky(u32);

    impl Download for Flaky {
        fn next(&mut self) -> Result<Vec<u8>, Error> {
            self.0 += 1;
            match self.0 {
                1 => Ok(b"a".to_vec()),
                2 => Err(Error::Internal("connection reset".into())),
                _ => panic!("called after failing"),
            }
        }
    }

    #[test]
    fn a_failed_download_keeps_failing() {
        let mut slot = DownloadSlot::new(Flaky(0));
        assert_eq!(slot.next().unwrap(), b"a");
        let err = Error::Internal("connection reset".into());
        assert_eq!(slot.next(), Err(err.clone()));
        assert_eq!(slot.next(), Err(err));
    }
}
