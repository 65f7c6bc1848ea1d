//! The component glue for destinations, for `wasm32` only: the bindings of the world
//! `destination-plugin`, and [`DestinationPlugin`], which implements them for any
//! [`Destination`].
//!
//! wit-bindgen generates per world, so this module holds a second `generate!`, next to the
//! transform one in `component`; the shared `types` interface is reused from there, not
//! generated twice. `export_destination!(T)` in a plugin crate expands to this module's
//! export macro for `DestinationPlugin<T>`, which also emits the world's component-type
//! section; no section is linked in otherwise (`disable_custom_section_link_helpers`), so a
//! transform plugin never carries anything of the destination world.

use std::cell::RefCell;
use std::marker::PhantomData;

use crate::component::{to_params, to_wit};
use crate::destination::{DownloadSlot, UploadSlot};
use crate::{Connection, Destination, ObjectEntry, ABI_VERSION};

/// The bindings of the world `destination-plugin` of `wit/plugin.wit`.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "destination-plugin",
        with: {
            "twgate:plugin/types@0.1.0": crate::component::bindings::twgate::plugin::types,
        },
        pub_export_macro: true,
        disable_custom_section_link_helpers: true,
        export_macro_name: "__export_destination_plugin",
        default_bindings_module: "twgate_plugin_sdk::__private::destination_bindings",
    });
}

use crate::component::bindings::twgate::plugin::types::{Param, PluginError, PluginInfo};
use bindings::exports::twgate::plugin::destination as wit;

/// The component's exports for the destination `T`.
pub struct DestinationPlugin<T>(PhantomData<T>);

/// One `connection` resource. The cell is for the resource's `&self` methods; the host calls
/// one connection from one thread at a time, and a component is never re-entered, so a
/// borrow never overlaps another.
pub struct ConnectionOf<C>(RefCell<C>);

/// One `upload` resource: dropping it without `commit` or `abort` aborts it.
pub struct UploadOf<U: crate::Upload>(RefCell<UploadSlot<U>>);

/// One `download` resource.
pub struct DownloadOf<D: crate::Download>(RefCell<DownloadSlot<D>>);

type UploadType<T> = <<T as Destination>::Connection as Connection>::Upload;
type DownloadType<T> = <<T as Destination>::Connection as Connection>::Download;

fn to_wit_entry(entry: ObjectEntry) -> wit::ObjectEntry {
    wit::ObjectEntry {
        path: entry.path,
        size: entry.size,
        modified: entry.modified,
    }
}

impl<T: Destination> wit::Guest for DestinationPlugin<T> {
    type Connection = ConnectionOf<T::Connection>;
    type Upload = UploadOf<UploadType<T>>;
    type Download = DownloadOf<DownloadType<T>>;

    fn info() -> PluginInfo {
        PluginInfo {
            name: T::NAME.into(),
            version: T::VERSION.into(),
            abi_version: ABI_VERSION,
            summary: T::SUMMARY.into(),
        }
    }

    fn connect(
        params_list: Vec<Param>,
        secrets_list: Vec<Param>,
    ) -> Result<wit::Connection, PluginError> {
        let params = to_params(params_list);
        let secrets = to_params(secrets_list);
        let connection = T::connect(&params, &secrets).map_err(to_wit)?;
        drop(secrets);
        drop(params);
        Ok(wit::Connection::new(ConnectionOf(RefCell::new(connection))))
    }
}

impl<C: Connection> wit::GuestConnection for ConnectionOf<C> {
    fn create(&self, path: String) -> Result<wit::Upload, PluginError> {
        let upload = self.0.borrow_mut().create(&path).map_err(to_wit)?;
        Ok(wit::Upload::new(UploadOf(RefCell::new(UploadSlot::new(
            upload,
        )))))
    }

    fn read(
        &self,
        path: String,
        offset: u64,
        length: u64,
    ) -> Result<Option<wit::Download>, PluginError> {
        let download = self
            .0
            .borrow_mut()
            .read(&path, offset, length)
            .map_err(to_wit)?;
        Ok(download.map(|d| wit::Download::new(DownloadOf(RefCell::new(DownloadSlot::new(d))))))
    }

    fn stat(&self, path: String) -> Result<Option<wit::ObjectEntry>, PluginError> {
        let entry = self.0.borrow_mut().stat(&path).map_err(to_wit)?;
        Ok(entry.map(to_wit_entry))
    }

    fn list_objects(&self, prefix: String) -> Result<Vec<wit::ObjectEntry>, PluginError> {
        let entries = self.0.borrow_mut().list_objects(&prefix).map_err(to_wit)?;
        Ok(entries.into_iter().map(to_wit_entry).collect())
    }

    fn delete(&self, path: String) -> Result<(), PluginError> {
        self.0.borrow_mut().delete(&path).map_err(to_wit)
    }
}

impl<U: crate::Upload> wit::GuestUpload for UploadOf<U> {
    fn write(&self, chunk: Vec<u8>) -> Result<(), PluginError> {
        self.0.borrow_mut().write(&chunk).map_err(to_wit)
    }
    fn commit(&self) -> Result<(), PluginError> {
        self.0.borrow_mut().commit().map_err(to_wit)
    }
    fn abort(&self) -> Result<(), PluginError> {
        self.0.borrow_mut().abort().map_err(to_wit)
    }
}

impl<D: crate::Download> wit::GuestDownload for DownloadOf<D> {
    fn next(&self) -> Result<Vec<u8>, PluginError> {
        self.0.borrow_mut().next().map_err(to_wit)
    }
}
