//! The built-in plugins, compiled from `plugins/` for `wasm32-wasip2` by this crate's
//! `build.rs` and embedded, each with its version, the stream formats it writes and reads,
//! and the slot for its sha256. What the host knows of each beyond that is in the host's `builtin`.
//!
//! A crate of its own so that the plugins build beside the host's dependencies (see
//! Cargo.toml).

use std::sync::OnceLock;

/// One embedded plugin component.
#[derive(Debug)]
pub struct Builtin {
    /// Short name used on the command line and in manifests.
    pub name: &'static str,
    /// The plugin crate's version.
    pub version: &'static str,
    /// The stream format it writes on push, recorded in each manifest's stage; `None` for
    /// the check, which writes no stream.
    pub writes: Option<&'static str>,
    /// Every stream format it decodes on pull (`writes` among them).
    pub reads: &'static [&'static str],
    /// The WebAssembly component.
    pub bytes: &'static [u8],
    /// Hex sha256 of `bytes`, recorded in every manifest that uses the plugin: computed by
    /// the host on first use (`twgate::builtin::sha256`), once per process.
    pub sha256: OnceLock<String>,
}

include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));
