//! The host's `bindgen!`s: Rust types for the two worlds of `wit/plugin.wit`.
//!
//! `wit/` is the one contract between host and plugins; everything the host knows about a
//! plugin's interface comes from here. Both worlds share one set of `types`.

mod transform {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "transform-plugin",
    });
}

/// The `crypto` interface the host implements (see `runtime::crypto`).
pub mod crypto {
    pub use super::transform::twgate::plugin::crypto::*;
}

mod destination {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "destination-plugin",
        with: {
            "twgate:plugin/types": super::transform::twgate::plugin::types,
        },
    });
}

pub use destination::exports::twgate::plugin::destination::{
    Guest as GuestDestination, ObjectEntry,
};
pub use destination::{DestinationPlugin, DestinationPluginPre};
pub use transform::twgate::plugin::types::{Direction, Param, PluginError, PluginInfo};
pub use transform::{TransformPlugin, TransformPluginPre};

/// The export names that tell which world a component implements.
pub const TRANSFORM_EXPORT: &str = "twgate:plugin/transform@0.1.0";
pub const DESTINATION_EXPORT: &str = "twgate:plugin/destination@0.1.0";
