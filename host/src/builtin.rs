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

/// Earlier builds of the built-in plugins whose backups this build restores without
/// `--allow-plugin-change`: (name, sha256). The built-ins write standard formats (zstd
/// frames, age, OpenPGP), which each build reads whatever build wrote them, and the
/// interop tests hold every build to the stock tools. A build that changes a format must
/// not be listed here.
pub const EARLIER_BUILDS: &[(&str, &str)] = &[
    // Up to 2917235, before zstd's C counted trailing zeros of 64-bit words in one
    // instruction on wasm32.
    (
        "zstd",
        "157d41daa5cb60ff97510fbc12e154d764c8830b0125f5394b68d2a00085d25f",
    ),
    // Up to 158576a, before the decoder on wasm32 preferred single-symbol Huffman tables
    // for literals that compress to 75% or more.
    (
        "zstd",
        "67df4ea3ff4c0804f758fe16ca733052b97d978a1bdaa448d6e7e67dcc20d537",
    ),
    // Up to 22b0246, before the decompressor took `frame-checksums` (age and openpgp are
    // unchanged since).
    (
        "zstd",
        "e0f58816738b772f2151c75169f9f1be6fee0f8bad21ee8549e698a4e23823d1",
    ),
    // Up to 52b498d, before zstd's C got 64-bit bit containers on wasm32 and the build
    // remapped source paths (built with cargo's home at /root/.cargo).
    (
        "zstd",
        "2c9630858dacb9dd66eeb827085945d24885285ff54e2cd19047e7fbef3eb7af",
    ),
    (
        "age",
        "52d002942793b70e9f462f09179bb09f31ba954ffaee425f354f33a227ec787a",
    ),
    (
        "openpgp",
        "6040e35338dc913ab38a5dfcdd3d53abce4d60de6185cb2ae7840c701ca745f9",
    ),
    // Before the host lent AEAD to age (twgate 0.1.0, up to 6c1c93a).
    (
        "zstd",
        "c955fb818915320d7843fac124e69469967b37dd3b0a170471d91cc112b83098",
    ),
    (
        "age",
        "dbf934498ff0d6e7ff7c6fa18d5b2b38059cc7408e5f35e62195985baa5c07ab",
    ),
    (
        "openpgp",
        "601022520bb594382ff2dc35e2dffd7f1265ae9c658489e9ba59df0e2e469637",
    ),
];

/// Whether this build's built-in `name` restores what build `sha256` of it wrote.
pub fn reads_output_of(name: &str, sha256: &str) -> bool {
    find(name).is_some_and(|current| current.sha256 == sha256)
        || EARLIER_BUILDS.contains(&(name, sha256))
}

/// Whether `plugin` is the built-in zstd, whose independent outputs (frames) decode, when
/// concatenated, as the concatenated input: so a push may compress blocks in parallel.
pub fn writes_independent_frames(plugin: &crate::plugin::Plugin) -> bool {
    matches!(plugin.origin, crate::plugin::Origin::Builtin) && plugin.name == "zstd"
}
