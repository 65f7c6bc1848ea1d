//! A destination plugin as one more OpenDAL service, so a `plugin://NAME/PREFIX` store
//! behaves like every other store: the same manifest protocol, listing, reading, pruning.
//!
//! Each operation runs on a blocking thread, one call into the plugin at a time. Writes
//! reach the plugin in chunks of at most `CHUNK` bytes; reads come back as the plugin
//! streams them.
//!
//! **Invariant:** the plugin sees paths under its store's prefix only, and an upload
//! that is not committed is aborted (by `abort`, or when its writer is dropped).

use crate::runtime::{Destination, ObjectEntry, StageError};
use opendal::raw::oio;
use opendal::raw::*;
use opendal::{
    Buffer, BytesRange, Capability, Error, ErrorKind, Metadata, MetadataBuilder, OperationContext,
    Result,
};
use std::sync::{Arc, Mutex};

/// Largest chunk handed to one `write`.
const CHUNK: usize = 1 << 20;
const SCHEME: &str = "plugin";

/// Builds the service around a connected destination.
#[derive(Default)]
pub struct PluginBuilder {
    core: Option<Arc<Core>>,
}

impl std::fmt::Debug for PluginBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginBuilder").finish_non_exhaustive()
    }
}

impl PluginBuilder {
    /// `root` is the store's prefix as an OpenDAL root (`/` or `/a/b/`). The connected
    /// `destination` keeps its runtime's deadlines ticking while it lives.
    pub fn new(destination: Destination, root: &str) -> PluginBuilder {
        PluginBuilder {
            core: Some(Arc::new(Core {
                plugin: destination.plugin().to_string(),
                destination: Mutex::new(destination),
                root: normalize_root(root),
            })),
        }
    }
}

impl opendal::Builder for PluginBuilder {
    type Config = ();

    fn build(self) -> Result<impl Service> {
        let core = self.core.ok_or_else(|| {
            Error::new(
                ErrorKind::ConfigInvalid,
                "a plugin store needs a connected plugin",
            )
        })?;
        Ok(PluginService { core })
    }
}

/// The connection, shared by every operation on the store.
struct Core {
    plugin: String,
    destination: Mutex<Destination>,
    root: String,
}

impl Core {
    fn abs(&self, path: &str) -> String {
        build_abs_path(&self.root, path)
    }

    /// Runs `call` with the destination on a blocking thread.
    async fn run<R: Send + 'static>(
        self: &Arc<Self>,
        call: impl FnOnce(&mut Destination) -> std::result::Result<R, StageError> + Send + 'static,
    ) -> Result<R> {
        let core = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut destination = core.destination.lock().unwrap_or_else(|p| p.into_inner());
            call(&mut destination).map_err(plugin_error)
        })
        .await
        .map_err(|e| {
            Error::new(
                ErrorKind::Unexpected,
                format!("plugin call did not finish: {e}"),
            )
        })?
    }
}

/// A plugin's error keeps its own message (which names the plugin); only "not found" is
/// told apart, by the calls that can return it.
fn plugin_error(e: StageError) -> Error {
    Error::new(ErrorKind::Unexpected, e.to_string())
}

fn not_found(path: &str) -> Error {
    Error::new(ErrorKind::NotFound, format!("no object at {path}"))
}

fn metadata(entry: &ObjectEntry) -> Metadata {
    let mut meta = MetadataBuilder::file(entry.size);
    if let Some(ts) = entry
        .modified
        .and_then(|secs| i64::try_from(secs).ok())
        .and_then(|secs| Timestamp::from_second(secs).ok())
    {
        meta.last_modified(ts);
    }
    meta.build()
}

#[derive(Clone)]
struct PluginService {
    core: Arc<Core>,
}

impl std::fmt::Debug for PluginService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginService")
            .field("plugin", &self.core.plugin)
            .field("root", &self.core.root)
            .finish()
    }
}

impl Service for PluginService {
    type Reader = oio::StreamReader<PluginReader>;
    type Writer = PluginWriter;
    type Lister = oio::HierarchyLister<PluginLister>;
    type Deleter = oio::OneShotDeleter<PluginDeleter>;
    type Copier = ();
    type Composer = ();

    fn info(&self) -> ServiceInfo {
        ServiceInfo::new(SCHEME, &self.core.root, &self.core.plugin)
    }

    fn capability(&self) -> Capability {
        Capability {
            read: true,
            write: true,
            write_can_multi: true,
            write_can_empty: true,
            delete: true,
            stat: true,
            list: true,
            list_with_recursive: true,
            ..Default::default()
        }
    }

    async fn create_dir(
        &self,
        _: &OperationContext,
        _: &str,
        _: OpCreateDir,
    ) -> Result<RpCreateDir> {
        // Objects need no directories; a destination makes whatever its backend needs.
        Ok(RpCreateDir::default())
    }

    async fn stat(&self, _: &OperationContext, path: &str, _: OpStat) -> Result<RpStat> {
        if path.ends_with('/') || path.is_empty() {
            return Ok(RpStat::new(MetadataBuilder::dir().build()));
        }
        let abs = self.core.abs(path);
        let found = {
            let abs = abs.clone();
            self.core.run(move |d| d.stat(&abs)).await?
        };
        found
            .map(|entry| RpStat::new(metadata(&entry)))
            .ok_or_else(|| not_found(&abs))
    }

    fn read(&self, _: &OperationContext, path: &str, _: OpRead) -> Result<Self::Reader> {
        Ok(oio::StreamReader::new(PluginReader {
            core: self.core.clone(),
            path: self.core.abs(path),
        }))
    }

    fn write(&self, _: &OperationContext, path: &str, _: OpWrite) -> Result<Self::Writer> {
        Ok(PluginWriter {
            core: self.core.clone(),
            path: self.core.abs(path),
            upload: None,
            written: 0,
        })
    }

    fn delete(&self, _: &OperationContext) -> Result<Self::Deleter> {
        Ok(oio::OneShotDeleter::new(PluginDeleter {
            core: self.core.clone(),
        }))
    }

    fn list(&self, _: &OperationContext, path: &str, args: OpList) -> Result<Self::Lister> {
        let lister = PluginLister {
            core: self.core.clone(),
            prefix: self.core.abs(path),
            entries: None,
        };
        Ok(oio::HierarchyLister::new(lister, path, args.recursive()))
    }

    fn copy(&self, _: &OperationContext, _: &str, _: &str, _: OpCopy) -> Result<Self::Copier> {
        Err(Error::new(
            ErrorKind::Unsupported,
            "a plugin store cannot copy",
        ))
    }

    async fn rename(
        &self,
        _: &OperationContext,
        _: &str,
        _: &str,
        _: OpRename,
    ) -> Result<RpRename> {
        Err(Error::new(
            ErrorKind::Unsupported,
            "a plugin store cannot rename",
        ))
    }

    async fn presign(&self, _: &OperationContext, _: &str, _: OpPresign) -> Result<RpPresign> {
        Err(Error::new(
            ErrorKind::Unsupported,
            "a plugin store cannot presign",
        ))
    }
}

/// Opens ranges of one object.
struct PluginReader {
    core: Arc<Core>,
    path: String,
}

impl oio::StreamRead for PluginReader {
    async fn open(&self, range: BytesRange) -> Result<(RpRead, Box<dyn oio::ReadStreamDyn>)> {
        let (path, offset) = (self.path.clone(), range.offset());
        let length = range.size().unwrap_or(u64::MAX - offset);
        let download = self
            .core
            .run(move |d| d.read(&path, offset, length))
            .await?
            .ok_or_else(|| not_found(&self.path))?;
        let stream = PluginDownload {
            core: self.core.clone(),
            download: Some(download),
        };
        Ok((RpRead::default(), Box::new(stream)))
    }
}

/// One open download inside the plugin.
struct PluginDownload {
    core: Arc<Core>,
    /// `None` once read to the end (the plugin has dropped it).
    download: Option<crate::runtime::DownloadHandle>,
}

impl oio::ReadStream for PluginDownload {
    async fn read(&mut self) -> Result<Buffer> {
        let Some(download) = self.download else {
            return Ok(Buffer::new());
        };
        let result = self.core.run(move |d| d.next(download)).await;
        // `next` spends the handle at the end and on any error.
        if !matches!(&result, Ok(bytes) if !bytes.is_empty()) {
            self.download = None;
        }
        result.map(Buffer::from)
    }
}

impl Drop for PluginDownload {
    fn drop(&mut self) {
        if let Some(download) = self.download.take() {
            let core = self.core.clone();
            release_later(move || {
                core.destination
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .close(download)
            });
        }
    }
}

/// Runs a clean-up call off the async threads when possible, else right here.
fn release_later(call: impl FnOnce() + Send + 'static) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => drop(handle.spawn_blocking(call)),
        Err(_) => call(),
    }
}

/// One object being written; created in the plugin on the first write (or at close, for an
/// empty object).
pub struct PluginWriter {
    core: Arc<Core>,
    path: String,
    upload: Option<crate::runtime::UploadHandle>,
    written: u64,
}

impl PluginWriter {
    async fn upload(&mut self) -> Result<crate::runtime::UploadHandle> {
        if let Some(upload) = self.upload {
            return Ok(upload);
        }
        let path = self.path.clone();
        let upload = self.core.run(move |d| d.create(&path)).await?;
        self.upload = Some(upload);
        Ok(upload)
    }
}

impl oio::Write for PluginWriter {
    async fn write(&mut self, bs: Buffer) -> Result<()> {
        let upload = self.upload().await?;
        for bytes in bs {
            for chunk in bytes.chunks(CHUNK) {
                let chunk = bytes.slice_ref(chunk);
                self.written += chunk.len() as u64;
                self.core.run(move |d| d.write(upload, &chunk)).await?;
            }
        }
        Ok(())
    }

    async fn close(&mut self) -> Result<Metadata> {
        let upload = self.upload().await?;
        self.upload = None;
        self.core.run(move |d| d.commit(upload)).await?;
        Ok(MetadataBuilder::file(self.written).build())
    }

    async fn abort(&mut self) -> Result<()> {
        match self.upload.take() {
            Some(upload) => self.core.run(move |d| d.abort(upload)).await,
            None => Ok(()),
        }
    }
}

impl Drop for PluginWriter {
    fn drop(&mut self) {
        if let Some(upload) = self.upload.take() {
            let core = self.core.clone();
            release_later(move || {
                let _ = core
                    .destination
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .abort(upload);
            });
        }
    }
}

/// Every object under a prefix, fetched in one call on the first `next`.
pub struct PluginLister {
    core: Arc<Core>,
    prefix: String,
    entries: Option<std::vec::IntoIter<ObjectEntry>>,
}

impl oio::List for PluginLister {
    async fn next(&mut self) -> Result<Option<oio::Entry>> {
        if self.entries.is_none() {
            let prefix = self.prefix.clone();
            let entries = self.core.run(move |d| d.list(&prefix)).await?;
            self.entries = Some(entries.into_iter());
        }
        let entries = self.entries.as_mut().expect("listed above");
        for entry in entries.by_ref() {
            // A plugin may report more than asked; only what is under the prefix counts.
            if !entry.path.starts_with(&self.prefix) || entry.path.ends_with('/') {
                continue;
            }
            let path = build_rel_path(&self.core.root, &entry.path);
            return Ok(Some(oio::Entry::new(&path, metadata(&entry))));
        }
        Ok(None)
    }
}

pub struct PluginDeleter {
    core: Arc<Core>,
}

impl oio::OneShotDelete for PluginDeleter {
    async fn delete_once(&self, path: String, _: OpDelete) -> Result<()> {
        let abs = self.core.abs(&path);
        self.core.run(move |d| d.delete(&abs)).await
    }
}
