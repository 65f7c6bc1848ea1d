//! The plugins compiled into this binary (crate `twgate-builtins`): found by name on push, and by
//! the stream format a backup's manifest records on pull.
//!
//! **Invariant:** a built-in decodes a backup because it reads the backup's format, never
//! because of which build wrote it. Rebuilt elsewhere (another compiler, another machine)
//! or later, a built-in has other bytes and another sha256 but writes and reads the same
//! formats; the sha256 stays in manifests for audit only. Custom plugins, whose format is
//! their own, are pinned by sha256 instead (`plugin.rs`).

pub use twgate_builtins::{Builtin, BUILTIN};

/// What the host knows of a built-in beyond its component: the one place where a built-in's
/// name means something (every other module asks here, never compares names).
#[derive(Debug)]
pub struct Knowledge {
    pub name: &'static str,
    pub role: Role,
    /// Given the user's identities and passphrase when decoding.
    pub takes_keys: bool,
    /// Whether its outputs for separate blocks, concatenated, decode as the concatenated
    /// input, so a push may encode blocks on several instances (see `pipeline::Step::Frames`).
    pub frames: Frames,
    /// Params every decode gets, after none of the user's.
    pub decode_params: &'static [(&'static str, &'static str)],
    /// How `--recipient` values reach it on push.
    pub recipients: Option<Recipients>,
    /// The format it wrote when manifests did not record formats (versions 1 and 2).
    pub format_before_manifest_v3: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Run first on every push beside the stages, judging the original stream
    /// (`pipeline::Step::Check`); never a transform.
    Check,
    /// The default compression, `--compress NAME[:LEVEL]`.
    Compress {
        levels: (i32, i32),
        default_level: i32,
    },
    /// An `--encrypt` choice.
    Encrypt(Encryption),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frames {
    /// One instance: each output depends on what came before.
    Dependent,
    /// Independent outputs per block, unless opened at `level` this or higher, where its
    /// history (window) is as large as a block and frames would compress worse.
    IndependentBelowLevel(i32),
}

/// How recipients are passed to an encrypting built-in: a value that starts with
/// `inline_prefix` as the param `inline`, anything else read as a file into `file`.
#[derive(Debug)]
pub struct Recipients {
    pub inline_prefix: Option<&'static str>,
    pub inline: &'static str,
    pub file: &'static str,
}

/// The encryption a push uses: `--encrypt`, or `encrypt =` in the config.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Encryption {
    #[default]
    None,
    Age,
    Openpgp,
}

/// Every built-in's knowledge; a test holds it to the embedded plugins, one entry each.
pub const KNOWLEDGE: &[Knowledge] = &[
    Knowledge {
        name: "check",
        role: Role::Check,
        takes_keys: false,
        frames: Frames::Dependent,
        decode_params: &[],
        recipients: None,
        format_before_manifest_v3: None,
    },
    Knowledge {
        name: "zstd",
        role: Role::Compress {
            levels: (1, 19),
            default_level: 3,
        },
        takes_keys: false,
        // From level 17 zstd keeps 8 MiB of history (its `clevels.h`), a whole
        // `pipeline::FRAME_BLOCK`, so every frame would start with none.
        frames: Frames::IndependentBelowLevel(17),
        // Every decode checks the BLAKE3 (or SHA-256) of all restored bytes against the
        // manifest, so zstd's own per-frame XXH64 would be the same check done twice.
        decode_params: &[("frame-checksums", "ignore")],
        recipients: None,
        format_before_manifest_v3: Some("zstd/rfc8878"),
    },
    Knowledge {
        name: "age",
        role: Role::Encrypt(Encryption::Age),
        takes_keys: true,
        frames: Frames::Dependent,
        decode_params: &[],
        recipients: Some(Recipients {
            inline_prefix: Some("age1"),
            inline: "recipient",
            file: "recipients-file",
        }),
        format_before_manifest_v3: Some("age-encryption.org/v1"),
    },
    Knowledge {
        name: "openpgp",
        role: Role::Encrypt(Encryption::Openpgp),
        takes_keys: true,
        frames: Frames::Dependent,
        decode_params: &[],
        recipients: Some(Recipients {
            inline_prefix: None,
            inline: "cert",
            file: "cert",
        }),
        format_before_manifest_v3: Some("openpgp/seipd-v1"),
    },
];

/// What the host knows of a built-in: `builtin.knowledge()`.
pub trait Known {
    fn knowledge(&self) -> &'static Knowledge;
}

impl Known for Builtin {
    fn knowledge(&self) -> &'static Knowledge {
        knowledge(self.name).expect("every built-in has its entry in KNOWLEDGE (tested)")
    }
}

fn knowledge(name: &str) -> Option<&'static Knowledge> {
    KNOWLEDGE.iter().find(|k| k.name == name)
}

/// The built-in with `role`.
pub fn with_role(role: impl Fn(&Role) -> bool) -> Option<&'static Builtin> {
    BUILTIN.iter().find(|p| role(&p.knowledge().role))
}

/// The check every push runs first unless `--no-check`.
pub fn check() -> Option<&'static Builtin> {
    with_role(|role| *role == Role::Check)
}

/// The compressor `--compress` names by default.
pub fn compressor() -> Option<&'static Builtin> {
    with_role(|role| matches!(role, Role::Compress { .. }))
}

/// The built-in that encrypts as `encryption` says; `None` for no encryption.
pub fn encrypter(encryption: Encryption) -> Option<&'static Builtin> {
    with_role(|role| *role == Role::Encrypt(encryption))
}

/// Hex sha256 of a built-in's component, hashed once per process.
pub fn sha256(builtin: &Builtin) -> &str {
    use sha2::Digest as _;
    builtin
        .sha256
        .get_or_init(|| hex::encode(sha2::Sha256::digest(builtin.bytes)))
}

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

/// The format a stage named `plugin` was in when manifests did not record formats
/// (versions 1 and 2): a stage was named by its plugin alone, and each built-in has
/// written one format since its first build. The compatibility corpus (`tests/compat`)
/// holds backups of both versions. Custom plugins cannot take built-in names, so a stage
/// so named was a built-in.
pub fn format_before_manifest_v3(plugin: &str) -> Option<&'static str> {
    knowledge(plugin)?.format_before_manifest_v3
}

/// The `level` a stage was opened with, if it is a compressor: the plugin refuses anything
/// unparsable, so a missing one is its default.
pub fn level(knowledge: &Knowledge, params: &[(String, Vec<u8>)]) -> Option<i32> {
    let Role::Compress { default_level, .. } = knowledge.role else {
        return None;
    };
    Some(
        params
            .iter()
            .rev()
            .find(|(key, _)| key == "level")
            .and_then(|(_, value)| std::str::from_utf8(value).ok()?.trim().parse().ok())
            .unwrap_or(default_level),
    )
}

/// Whether a stage of this built-in, opened with `params`, writes independent frames.
pub fn writes_independent_frames(knowledge: &Knowledge, params: &[(String, Vec<u8>)]) -> bool {
    match knowledge.frames {
        Frames::Dependent => false,
        Frames::IndependentBelowLevel(full_window) => {
            level(knowledge, params).is_none_or(|level| level < full_window)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_before_manifest_v3_is_still_read() {
        for known in KNOWLEDGE {
            if let Some(format) = known.format_before_manifest_v3 {
                let reader = reader_of(format).unwrap_or_else(|| panic!("no reader of {format}"));
                assert_eq!(reader.name, known.name);
            }
        }
        assert_eq!(format_before_manifest_v3("zstd"), Some("zstd/rfc8878"));
        assert_eq!(format_before_manifest_v3("rot13"), None);
    }

    #[test]
    fn every_builtin_has_one_entry_of_knowledge_and_each_entry_a_builtin() {
        for plugin in &BUILTIN {
            let entries = KNOWLEDGE.iter().filter(|k| k.name == plugin.name).count();
            assert_eq!(entries, 1, "{} has {entries} entries", plugin.name);
        }
        for known in KNOWLEDGE {
            assert!(find(known.name).is_some(), "{} is not built in", known.name);
        }
        assert!(check().is_some() && compressor().is_some());
        assert_eq!(encrypter(Encryption::Age).map(|b| b.name), Some("age"));
        assert_eq!(
            encrypter(Encryption::Openpgp).map(|b| b.name),
            Some("openpgp")
        );
        assert!(encrypter(Encryption::None).is_none());
    }

    #[test]
    fn frames_are_independent_below_the_full_window_level() {
        let zstd = find("zstd").unwrap().knowledge();
        let at = |level: &str| vec![("level".to_string(), level.as_bytes().to_vec())];
        assert!(writes_independent_frames(zstd, &[]));
        assert!(writes_independent_frames(zstd, &at("16")));
        assert!(!writes_independent_frames(zstd, &at("17")));
        assert!(!writes_independent_frames(
            find("age").unwrap().knowledge(),
            &[]
        ));
    }

    #[test]
    fn each_format_has_one_reader() {
        for plugin in &BUILTIN {
            match plugin.writes {
                Some(writes) => assert!(plugin.reads.contains(&writes), "{}", plugin.name),
                None => assert_eq!(plugin.knowledge().role, Role::Check),
            }
            for format in plugin.reads {
                let readers = BUILTIN.iter().filter(|p| p.reads.contains(format)).count();
                assert_eq!(readers, 1, "{format} is read by {readers} built-ins");
            }
        }
    }
}
