//! One connection to a destination plugin: blocking calls, one at a time, each bounded by
//! the plugin's limits like a transform's.
//!
//! Uploads and downloads are handles to resources inside the plugin instance; every
//! handle is dropped inside the plugin once it is committed, aborted or read to the end.

use super::bindings::{self, ObjectEntry};
use super::stage::{guarded, guarded_result, to_wit, StageError};
use super::{Limits, StageState};
use wasmtime::component::ResourceAny;
use wasmtime::Store;

/// A connected destination plugin.
pub struct Destination {
    store: Store<StageState>,
    bindings: bindings::DestinationPlugin,
    connection: ResourceAny,
    plugin: String,
    limits: Limits,
}

/// An object being written; pass it back to `write`, then `commit` or `abort`.
#[derive(Debug, Clone, Copy)]
pub struct UploadHandle(ResourceAny);

/// An object being read; pass it back to `next` until it returns nothing.
#[derive(Debug, Clone, Copy)]
pub struct DownloadHandle(ResourceAny);

impl Destination {
    pub(crate) fn connect(
        mut store: Store<StageState>,
        bindings: bindings::DestinationPlugin,
        plugin: &str,
        limits: Limits,
        params: &[(String, Vec<u8>)],
        secrets: &[(String, Vec<u8>)],
    ) -> Result<Destination, StageError> {
        let (params, secrets) = (to_wit(params), to_wit(secrets));
        let connection = guarded_result(&mut store, plugin, limits, |store| {
            bindings
                .twgate_plugin_destination()
                .call_connect(store, &params, &secrets)
        })?;
        Ok(Destination {
            store,
            bindings,
            connection,
            plugin: plugin.into(),
            limits,
        })
    }

    /// The plugin's name, for messages.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// Runs one call that returns the plugin's own `result`.
    fn call<R>(
        &mut self,
        call: impl FnOnce(
            &bindings::GuestDestination,
            &mut Store<StageState>,
        ) -> wasmtime::Result<Result<R, bindings::PluginError>>,
    ) -> Result<R, StageError> {
        let bindings = &self.bindings;
        guarded_result(&mut self.store, &self.plugin, self.limits, |store| {
            call(bindings.twgate_plugin_destination(), store)
        })
    }

    pub fn create(&mut self, path: &str) -> Result<UploadHandle, StageError> {
        let connection = self.connection;
        self.call(|d, store| d.connection().call_create(store, connection, path))
            .map(UploadHandle)
    }

    pub fn write(&mut self, upload: UploadHandle, chunk: &[u8]) -> Result<(), StageError> {
        self.call(|d, store| d.upload().call_write(store, upload.0, chunk))
    }

    /// Makes the object visible; the handle is spent whatever the outcome.
    pub fn commit(&mut self, upload: UploadHandle) -> Result<(), StageError> {
        let result = self.call(|d, store| d.upload().call_commit(store, upload.0));
        self.release(upload.0);
        result
    }

    /// Gives up on an object; the handle is spent whatever the outcome.
    pub fn abort(&mut self, upload: UploadHandle) -> Result<(), StageError> {
        let result = self.call(|d, store| d.upload().call_abort(store, upload.0));
        self.release(upload.0);
        result
    }

    /// Opens `length` bytes of `path` from `offset`; `None` when there is no such object.
    pub fn read(
        &mut self,
        path: &str,
        offset: u64,
        length: u64,
    ) -> Result<Option<DownloadHandle>, StageError> {
        let connection = self.connection;
        self.call(|d, store| {
            d.connection()
                .call_read(store, connection, path, offset, length)
        })
        .map(|found| found.map(DownloadHandle))
    }

    /// The next bytes of a download; empty at the end, when the handle is spent.
    pub fn next(&mut self, download: DownloadHandle) -> Result<Vec<u8>, StageError> {
        let result = self.call(|d, store| d.download().call_next(store, download.0));
        match &result {
            Ok(bytes) if bytes.len() > self.limits.output_bytes => {
                self.release(download.0);
                return Err(StageError::OutputLimit {
                    plugin: self.plugin.clone(),
                    size: bytes.len(),
                    limit_mib: self.limits.output_bytes >> 20,
                });
            }
            Ok(bytes) if !bytes.is_empty() => return result,
            _ => self.release(download.0),
        }
        result
    }

    /// Stops a download before its end.
    pub fn close(&mut self, download: DownloadHandle) {
        self.release(download.0);
    }

    pub fn stat(&mut self, path: &str) -> Result<Option<ObjectEntry>, StageError> {
        let connection = self.connection;
        self.call(|d, store| d.connection().call_stat(store, connection, path))
    }

    pub fn list(&mut self, prefix: &str) -> Result<Vec<ObjectEntry>, StageError> {
        let connection = self.connection;
        self.call(|d, store| d.connection().call_list_objects(store, connection, prefix))
    }

    pub fn delete(&mut self, path: &str) -> Result<(), StageError> {
        let connection = self.connection;
        self.call(|d, store| d.connection().call_delete(store, connection, path))
    }

    /// Drops a resource inside the plugin (its destructor runs there), best effort: a
    /// plugin that fails here has already reported the failure that matters.
    fn release(&mut self, resource: ResourceAny) {
        let _ = guarded(&mut self.store, &self.plugin, self.limits, |store| {
            resource.resource_drop(store)
        });
    }
}

impl Drop for Destination {
    fn drop(&mut self) {
        self.release(self.connection);
    }
}
