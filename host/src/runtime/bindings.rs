//! The host's only `bindgen!`: Rust types for `wit/plugin.wit`.
//!
//! `wit/` is the one contract between host and plugins; everything the host knows about a
//! plugin's interface comes from here.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "transform-plugin",
});

pub use exports::twgate::plugin::transform::GuestStage;
pub use twgate::plugin::types::{Direction, Param, PluginError, PluginInfo};
