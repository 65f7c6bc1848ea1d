//! Parse, then plan: turns flags and configuration into the stages of a push or pull,
//! reading key files and passphrases, before any byte moves.
//!
//! **Invariant:** secrets (passphrases, identity files) only ever travel in `StageSpec::secrets`,
//! which is handed to the plugin and never recorded or printed.

use crate::builtin::{self, Encryption, Known, Role};
use crate::config::Config;
use crate::manifest::{Manifest, StageRecord};
use crate::plugin::{Catalog, CatalogError, Plugin};
use crate::ui;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("--compress '{text}' is not valid: use {name}, {name}:LEVEL ({low}-{high}) or none")]
    BadCompress {
        text: String,
        name: &'static str,
        low: i32,
        high: i32,
    },
    #[error(transparent)]
    Plugin(#[from] CatalogError),
    #[error(
        "'{0}' is the built-in check, which every push runs (unless --no-check), not a transform"
    )]
    NotATransform(String),
    #[error("--transform '{0}' is not valid: use NAME or NAME:KEY=VALUE,KEY=VALUE")]
    BadTransform(String),
    #[error("recipient '{0}' is neither an age1... public key nor a readable file")]
    BadRecipient(String),
    #[error("--recipient needs --encrypt age or --encrypt openpgp")]
    RecipientWithoutEncryption,
    #[error("--encrypt {0} needs --recipient R or --passphrase-env VAR")]
    NoKeys(&'static str),
    #[error("environment variable {0} (named by --passphrase-env) is not set or empty")]
    MissingPassphrase(String),
    #[error("cannot read identity file {path}: {error}")]
    Identity { path: String, error: std::io::Error },
    #[error(
        "{path} is not an identity: expected an age identity file (AGE-SECRET-KEY-1... lines, \
         as `twgate init` or age-keygen writes) or an OpenPGP secret key (gpg --export-secret-keys)"
    )]
    NotAnIdentity { path: String },
    #[error(
        "backup was written with custom plugin {plugin} build {recorded}, but the config pins build \
         {current}: if this build reads what the earlier one wrote, pass --allow-plugin-change \
         (or set allow_plugin_change = true in [plugins.{plugin}], for wal fetch)"
    )]
    PluginChanged {
        plugin: String,
        recorded: String,
        current: String,
    },
    #[error(
        "backup was written by a newer twgate: its {plugin} stage is in stream format {format}, \
         which this twgate {} cannot read (it reads {readable}); upgrade twgate",
        env!("CARGO_PKG_VERSION")
    )]
    UnknownFormat {
        plugin: String,
        format: String,
        readable: String,
    },
    #[error(
        "backup was written with a custom plugin named {plugin}, but {plugin} is now a built-in \
         plugin that does not read it: restore it with the twgate build that wrote it"
    )]
    CustomNowBuiltin { plugin: String },
}

/// Plugin parameters or secrets: ordered key/value pairs.
pub type Params = Vec<(String, Vec<u8>)>;

/// One stage to open: which plugin, with which settings.
pub struct StageSpec {
    pub plugin: Arc<Plugin>,
    pub params: Vec<(String, Vec<u8>)>,
    pub secrets: Vec<(String, Vec<u8>)>,
}

impl StageSpec {
    /// The stage as the pipeline opens it: a component, its settings, and whether its
    /// frames are independent (a built-in's knowledge; a custom plugin's never are).
    pub fn step(&self) -> crate::pipeline::StepSpec<'_> {
        crate::pipeline::StepSpec {
            component: &self.plugin.component,
            params: &self.params,
            secrets: &self.secrets,
            independent_frames: self
                .plugin
                .builtin()
                .is_some_and(|b| builtin::writes_independent_frames(b.knowledge(), &self.params)),
        }
    }
}

/// The effective push settings: flags over config over defaults.
pub struct PushSettings {
    /// Custom transforms, run first: `NAME` or `NAME:KEY=VALUE,...`.
    pub transforms: Vec<String>,
    pub compress: String,
    pub encrypt: Encryption,
    pub recipients: Vec<String>,
    pub passphrase_env: Option<String>,
}

impl PushSettings {
    pub fn resolve(
        config: &Config,
        transforms: Vec<String>,
        compress: Option<String>,
        encrypt: Option<Encryption>,
        recipients: Vec<String>,
        passphrase_env: Option<String>,
    ) -> PushSettings {
        let encrypt = encrypt.or(config.encrypt).unwrap_or_default();
        // Recipients and passphrase from the flags replace the config's, not add to them.
        let (recipients, passphrase_env) = if recipients.is_empty() && passphrase_env.is_none() {
            (config.recipients.clone(), config.passphrase_env.clone())
        } else {
            (recipients, passphrase_env)
        };
        PushSettings {
            transforms: if transforms.is_empty() {
                config.transforms.clone()
            } else {
                transforms
            },
            compress: compress
                .or_else(|| config.compress.clone())
                .or_else(|| builtin::compressor().map(|b| b.name.to_string()))
                .unwrap_or_else(|| "none".into()),
            encrypt,
            recipients,
            passphrase_env,
        }
    }

    /// The stages of a push, in order.
    pub fn stages(&self, catalog: &Catalog) -> Result<Vec<StageSpec>, PlanError> {
        let mut stages = Vec::new();
        for transform in &self.transforms {
            let (name, params) = parse_transform(transform)?;
            stages.push(spec(catalog, name, params)?);
        }
        match parse_compress(&self.compress)? {
            None => {}
            Some((name, None)) => stages.push(spec(catalog, name, vec![])?),
            Some((name, Some(level))) => stages.push(spec(
                catalog,
                name,
                vec![("level".into(), level.as_bytes().to_vec())],
            )?),
        }
        let encrypter = match builtin::encrypter(self.encrypt) {
            None if self.recipients.is_empty() => return Ok(stages),
            None => return Err(PlanError::RecipientWithoutEncryption),
            Some(encrypter) => encrypter,
        };
        if self.recipients.is_empty() && self.passphrase_env.is_none() {
            return Err(PlanError::NoKeys(encrypter.name));
        }
        let params = recipient_params(encrypter.knowledge(), &self.recipients)?;
        let mut stage = spec(catalog, encrypter.name, params)?;
        if let Some(var) = &self.passphrase_env {
            stage.secrets.push(("passphrase".into(), passphrase(var)?));
        }
        stages.push(stage);
        Ok(stages)
    }

    pub fn encrypts(&self) -> bool {
        self.encrypt != Encryption::None
    }
}

/// The check every push runs first unless `--no-check` (see `pipeline::Step::Check`).
pub fn check_spec() -> Option<StageSpec> {
    builtin::check().map(|check| StageSpec {
        plugin: Arc::new(Plugin::from_builtin(check)),
        params: Vec::new(),
        secrets: Vec::new(),
    })
}

fn spec(
    catalog: &Catalog,
    name: &str,
    params: Vec<(String, Vec<u8>)>,
) -> Result<StageSpec, PlanError> {
    let plugin = catalog.find(name)?;
    if plugin
        .builtin()
        .is_some_and(|b| b.knowledge().role == Role::Check)
    {
        return Err(PlanError::NotATransform(name.into()));
    }
    // The config's params come first, so values given on the command line follow them.
    let mut all = plugin.params.clone();
    all.extend(params);
    Ok(StageSpec {
        secrets: plugin.read_secrets()?,
        plugin,
        params: all,
    })
}

/// What `--compress` says: `None` for none, else the built-in compressor at a level
/// (`None`: the plugin's default).
pub fn parse_compress(text: &str) -> Result<Option<(&'static str, Option<&str>)>, PlanError> {
    if text == "none" {
        return Ok(None);
    }
    let compressor = builtin::compressor().expect("a compressor is built in");
    let Role::Compress {
        levels: (low, high),
        ..
    } = compressor.knowledge().role
    else {
        unreachable!("compressor() has the role Compress")
    };
    let bad = || PlanError::BadCompress {
        text: text.into(),
        name: compressor.name,
        low,
        high,
    };
    match text.split_once(':') {
        None if text == compressor.name => Ok(Some((compressor.name, None))),
        Some((name, level))
            if name == compressor.name
                && level
                    .parse::<i32>()
                    .is_ok_and(|l| (low..=high).contains(&l)) =>
        {
            Ok(Some((compressor.name, Some(level))))
        }
        _ => Err(bad()),
    }
}

/// `NAME` or `NAME:KEY=VALUE,KEY=VALUE`.
fn parse_transform(text: &str) -> Result<(&str, Params), PlanError> {
    let bad = || PlanError::BadTransform(text.into());
    let (name, rest) = text.split_once(':').unwrap_or((text, ""));
    if name.is_empty() {
        return Err(bad());
    }
    let mut params = Vec::new();
    for pair in rest.split(',').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').ok_or_else(bad)?;
        params.push((key.to_string(), value.as_bytes().to_vec()));
    }
    Ok((name, params))
}

/// Recipients as the encrypter takes them: a key given inline (`age1...`) as is, anything
/// else read as a file and passed whole.
fn recipient_params(
    encrypter: &builtin::Knowledge,
    recipients: &[String],
) -> Result<Vec<(String, Vec<u8>)>, PlanError> {
    let Some(how) = &encrypter.recipients else {
        return Ok(Vec::new());
    };
    recipients
        .iter()
        .map(|r| {
            if how
                .inline_prefix
                .is_some_and(|prefix| r.starts_with(prefix))
            {
                return Ok((how.inline.to_string(), r.as_bytes().to_vec()));
            }
            let contents = std::fs::read(r).map_err(|_| PlanError::BadRecipient(r.clone()))?;
            Ok((how.file.to_string(), contents))
        })
        .collect()
}

/// Reads a passphrase from the environment variable `var`.
pub fn passphrase(var: &str) -> Result<Vec<u8>, PlanError> {
    match std::env::var_os(var) {
        Some(value) if !value.is_empty() => Ok(value.into_encoded_bytes()),
        _ => Err(PlanError::MissingPassphrase(var.into())),
    }
}

/// The keys for decoding: every identity file and the passphrase, if any.
pub fn decode_secrets(
    identities: &[PathBuf],
    passphrase_env: Option<&str>,
) -> Result<Vec<(String, Vec<u8>)>, PlanError> {
    let mut secrets = Vec::new();
    for path in identities {
        let contents = std::fs::read(path).map_err(|source| PlanError::Identity {
            path: path.display().to_string(),
            error: source,
        })?;
        if !looks_like_identity(&contents) {
            return Err(PlanError::NotAnIdentity {
                path: crate::ui::untrusted(&path.display().to_string()),
            });
        }
        secrets.push(("identity".to_string(), contents));
    }
    if let Some(var) = passphrase_env {
        secrets.push(("passphrase".to_string(), passphrase(var)?));
    }
    Ok(secrets)
}

/// Whether a file's contents can be a key the built-in decoders read: an age identity file
/// (native or plugin keys, which the age stage names itself if it cannot use them), an
/// OpenPGP secret key armored, or binary (its first packet a secret key: tag 5, old or new
/// format). Anything else (`-i /etc/hostname`, a recipients file) is named here, before
/// the backup is read, instead of failing later as a missing key.
fn looks_like_identity(contents: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&contents[..contents.len().min(1 << 20)]);
    let age = text
        .lines()
        .map(str::trim)
        .any(|line| line.starts_with("AGE-SECRET-KEY-") || line.starts_with("AGE-PLUGIN-"));
    let armored = text.contains("-----BEGIN PGP PRIVATE KEY BLOCK-----");
    let binary = matches!(contents.first(), Some(0x94..=0x97 | 0xc5));
    age || armored || binary
}

/// The stages that undo a recorded pipeline, in the order to apply them. A built-in stage
/// is decoded by whichever built-in reads its stream format, whatever build wrote it; a
/// custom stage by the configured plugin of its name, only if it is the same build (by
/// sha256) or another build is allowed, by `allow_plugin_change` or in the plugin's config.
pub fn inverse_stages(
    catalog: &Catalog,
    manifest: &Manifest,
    secrets: &[(String, Vec<u8>)],
    allow_plugin_change: bool,
) -> Result<Vec<StageSpec>, PlanError> {
    manifest
        .pipeline
        .iter()
        .rev()
        .map(|record| {
            let mut stage = match record.stream_format(manifest.version) {
                Some(format) => builtin_decoder(record, format)?,
                None => custom_decoder(catalog, record, allow_plugin_change)?,
            };
            if let Some(known) = stage.plugin.builtin().map(|b| b.knowledge()) {
                if known.takes_keys {
                    stage.secrets = secrets.to_vec();
                }
                let decode = known.decode_params.iter();
                stage
                    .params
                    .extend(decode.map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())));
            }
            // A custom stage decodes with its config's params and secrets only: the
            // recorded settings are for people, and the plugin reads its own header.
            Ok(stage)
        })
        .collect()
}

/// The built-in that reads `format`: no flag, no sha256 check.
fn builtin_decoder(record: &StageRecord, format: &str) -> Result<StageSpec, PlanError> {
    let builtin = builtin::reader_of(format).ok_or_else(|| PlanError::UnknownFormat {
        plugin: ui::untrusted(&record.plugin),
        format: ui::untrusted(format),
        readable: builtin::readable_formats(),
    })?;
    Ok(StageSpec {
        plugin: Arc::new(Plugin::from_builtin(builtin)),
        params: Vec::new(),
        secrets: Vec::new(),
    })
}

/// The configured custom plugin that wrote `record`, pinned by sha256.
fn custom_decoder(
    catalog: &Catalog,
    record: &StageRecord,
    allow_plugin_change: bool,
) -> Result<StageSpec, PlanError> {
    // The name is looked up as it would print: one with control characters in it names no
    // plugin, and the error that says so is safe to print.
    let stage = spec(catalog, &ui::untrusted(&record.plugin), Vec::new())?;
    let plugin = &stage.plugin;
    if plugin.builtin().is_some() {
        // A stage without a format was written by a custom plugin of this name, which a
        // later built-in of the same name does not decode.
        return Err(PlanError::CustomNowBuiltin {
            plugin: ui::untrusted(&record.plugin),
        });
    }
    if plugin.sha256() != record.sha256 && !allow_plugin_change && !plugin.allow_other_builds {
        return Err(PlanError::PluginChanged {
            plugin: plugin.name().into(),
            recorded: ui::untrusted(&record.sha256.chars().take(12).collect::<String>()),
            current: plugin.sha256()[..12].to_string(),
        });
    }
    Ok(stage)
}

#[cfg(test)]
mod tests {
    use super::looks_like_identity;

    #[test]
    fn identity_files_are_told_from_other_files() {
        let age = b"# created: 2026-12-04\n# public key: age1xyz\nAGE-SECRET-KEY-1QQQ\n";
        assert!(looks_like_identity(age));
        assert!(looks_like_identity(b"AGE-PLUGIN-YUBIKEY-1QQQ\n"));
        let armored = b"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nxcLY\n";
        assert!(looks_like_identity(armored));
        assert!(looks_like_identity(&[0xc5, 0x58, 0x04]));
        assert!(looks_like_identity(&[0x95, 0x01, 0x0d]));
        assert!(!looks_like_identity(b"db-host-1\n"));
        assert!(!looks_like_identity(
            b"age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq\n"
        ));
        assert!(!looks_like_identity(
            b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n"
        ));
        assert!(!looks_like_identity(b""));
    }
}
