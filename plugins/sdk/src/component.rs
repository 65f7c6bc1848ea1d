//! The component glue, for `wasm32` only: the bindings of the world `transform-plugin`, and
//! [`Plugin`], which implements them for any [`Transform`].
//!
//! `export_transform!(T)` in a plugin crate expands to wit-bindgen's export macro for
//! `Plugin<T>`, with the bindings' path pointing here: the exported functions and the
//! component-type section land in the plugin's `cdylib`, and all the generated code they call
//! lives in this crate.

use std::cell::RefCell;
use std::marker::PhantomData;

use crate::{Direction, Error, Params, Transform, ABI_VERSION};

/// The bindings of `wit/plugin.wit`, generated once for every plugin.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "transform-plugin",
        pub_export_macro: true,
        export_macro_name: "__export_transform_plugin",
        default_bindings_module: "twgate_plugin_sdk::__private::bindings",
    });
}

use bindings::exports::twgate::plugin::transform::{Guest, GuestStage, Stage};
use bindings::twgate::plugin::types::{Direction as WitDirection, Param, PluginError, PluginInfo};

/// The component's exports for the transform `T`.
pub struct Plugin<T>(PhantomData<T>);

/// One `stage` resource: one `T`, behind a cell because the resource's methods take `&self`.
pub struct StageOf<T>(RefCell<T>);

pub(crate) fn to_wit(e: Error) -> PluginError {
    match e {
        Error::BadConfig(m) => PluginError::BadConfig(m),
        Error::CorruptInput(m) => PluginError::CorruptInput(m),
        Error::WrongKey(m) => PluginError::WrongKey(m),
        Error::Internal(m) => PluginError::Internal(m),
    }
}

pub(crate) fn to_params(list: Vec<Param>) -> Params {
    // Moves each value (no copy), so dropping the `Params` wipes the host's bytes.
    list.into_iter().map(|p| (p.key, p.value)).collect()
}

impl<T: Transform> Guest for Plugin<T> {
    type Stage = StageOf<T>;

    fn info() -> PluginInfo {
        PluginInfo {
            name: T::NAME.into(),
            version: T::VERSION.into(),
            abi_version: ABI_VERSION,
            summary: T::SUMMARY.into(),
        }
    }

    fn open(
        direction: WitDirection,
        params_list: Vec<Param>,
        secrets_list: Vec<Param>,
    ) -> Result<Stage, PluginError> {
        let direction = match direction {
            WitDirection::Forward => Direction::Forward,
            WitDirection::Inverse => Direction::Inverse,
        };
        let params = to_params(params_list);
        let secrets = to_params(secrets_list);
        let stage = T::open(direction, &params, &secrets).map_err(to_wit)?;
        drop(secrets);
        drop(params);
        Ok(Stage::new(StageOf(RefCell::new(stage))))
    }
}

impl<T: Transform> GuestStage for StageOf<T> {
    fn push(&self, chunk: Vec<u8>) -> Result<Vec<u8>, PluginError> {
        self.0.borrow_mut().push(&chunk).map_err(to_wit)
    }
    fn drain(&self) -> Result<Vec<u8>, PluginError> {
        self.0.borrow_mut().drain().map_err(to_wit)
    }
    fn finish(&self) -> Result<Vec<u8>, PluginError> {
        self.0.borrow_mut().finish().map_err(to_wit)
    }
    fn describe(&self) -> Vec<(String, String)> {
        self.0.borrow().describe()
    }
}
