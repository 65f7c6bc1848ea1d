//! The plugins compiled into this binary (see `build.rs`), looked up by name.

/// One embedded plugin component.
#[derive(Debug)]
pub struct Builtin {
    /// Short name used on the command line and in manifests.
    pub name: &'static str,
    /// Hex sha256 of `bytes`, recorded in every manifest that uses the plugin.
    pub sha256: &'static str,
    /// The WebAssembly component.
    pub bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));

/// Finds a built-in plugin by name.
pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTIN.iter().find(|p| p.name == name)
}

/// The names of every built-in plugin, for error messages.
pub fn names() -> String {
    BUILTIN
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}
