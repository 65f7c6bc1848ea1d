//! The plugins compiled into this binary (see `build.rs`): found by name on push, and by
//! the stream format a backup's manifest records on pull.
//!
//! **Invariant:** a built-in decodes a backup because it reads the backup's format, never
//! because of which build wrote it. Rebuilt elsewhere (another compiler, another machine)
//! or later, a built-in has other bytes and another sha256 but writes and reads the same
//! formats; the sha256 stays in manifests for audit only. Custom plugins, whose format is
//! their own, are pinned by sha256 instead (`plugin.rs`).

/// One embedded plugin component.
#[derive(Debug)]
pub struct Builtin {
    /// Short name used on the command line and in manifests.
    pub name: &'static str,
    /// The plugin crate's version.
    pub version: &'static str,
    /// The stream format it writes on push, recorded in each manifest's stage; `None` for
    /// the [`CHECK`], which writes no stream.
    pub writes: Option<&'static str>,
    /// Every stream format it decodes on pull (`writes` among them).
    pub reads: &'static [&'static str],
    /// Hex sha256 of `bytes`, recorded in every manifest that uses the plugin.
    pub sha256: &'static str,
    /// The WebAssembly component.
    pub bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));

/// The built-in that checks, on push, that the original stream is complete (a pg_dump
/// archive, a tar, a plain SQL dump): a pipeline `Step::Check`, never a transform.
pub const CHECK: &str = "check";

/// Finds a built-in plugin by name.
pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTIN.iter().find(|p| p.name == name)
}

/// The built-in plugin that decodes stream format `format`, if this build has one.
pub fn reader_of(format: &str) -> Option<&'static Builtin> {
    BUILTIN.iter().find(|p| p.reads.contains(&format))
}

/// The names of every built-in plugin, for error messages.
pub fn names() -> String {
    BUILTIN
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every stream format this build decodes, for error messages.
pub fn readable_formats() -> String {
    BUILTIN
        .iter()
        .flat_map(|p| p.reads.iter().copied())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The format each built-in wrote before manifests recorded formats (versions 1 and 2):
/// a stage was named by its plugin alone, and each of these has written one format since
/// its first build. The compatibility corpus (`tests/compat`) holds backups of both
/// versions. Custom plugins cannot take these names, so a stage so named was a built-in.
pub const FORMATS_BEFORE_MANIFEST_V3: &[(&str, &str)] = &[
    ("zstd", "zstd/rfc8878"),
    ("age", "age-encryption.org/v1"),
    ("openpgp", "openpgp/seipd-v1"),
];

/// Whether `plugin` is the built-in zstd, whose independent outputs (frames) decode, when
/// concatenated, as the concatenated input: so a push may compress blocks in parallel.
pub fn writes_independent_frames(plugin: &crate::plugin::Plugin) -> bool {
    matches!(plugin.origin, crate::plugin::Origin::Builtin) && plugin.name == "zstd"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_before_manifest_v3_is_still_read() {
        for (name, format) in FORMATS_BEFORE_MANIFEST_V3 {
            let reader = reader_of(format).unwrap_or_else(|| panic!("no reader of {format}"));
            assert_eq!(&reader.name, name);
        }
    }

    #[test]
    fn each_format_has_one_reader() {
        for plugin in BUILTIN {
            match plugin.writes {
                Some(writes) => assert!(plugin.reads.contains(&writes), "{}", plugin.name),
                None => assert_eq!(plugin.name, CHECK),
            }
            for format in plugin.reads {
                let readers = BUILTIN.iter().filter(|p| p.reads.contains(format)).count();
                assert_eq!(readers, 1, "{format} is read by {readers} built-ins");
            }
        }
    }
}
