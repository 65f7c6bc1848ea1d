//! `twgate init`: writes a configuration from the settings it is given (`--store`,
//! `--compress`, `--recipient`), so that every later push is encrypted and goes where it
//! should without flags.
//!
//! It makes the key split explicit. Without `--recipient` it sets up a host that pushes
//! and restores: a fresh age identity next to the config (or the one already there), and
//! its recipient. With `--recipient` it sets up a push-only host: backups are encrypted
//! to the given recipients and no key that decrypts them is written; `verify --stored-only`
//! checks the stored bytes there.
//!
//! **Invariant:** an existing identity file is never overwritten: it may be the only key to
//! existing backups. Re-running `init` uses it. Both files are created with mode 0600.

use crate::age_keys::Identity;
use crate::cli::InitArgs;
use crate::config::Config;
use anyhow::{bail, Context as _, Result};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub fn init(config_path: Option<&Path>, store: Option<&str>, args: &InitArgs) -> Result<()> {
    let config_path = match config_path {
        Some(path) => path.to_path_buf(),
        None => crate::paths::default_config().context("no home directory: pass --config FILE")?,
    };
    if config_path.exists() && !args.force {
        bail!(
            "{} already exists: pass --force to replace it (its identity file is kept and used)",
            config_path.display()
        );
    }
    // Everything is checked before anything is written.
    if let Some(url) = store {
        crate::storage::Location::parse(url)?;
    }
    if let Some(compress) = &args.compress {
        crate::plan::parse_compress(compress)?;
    }
    let given: Vec<String> = args
        .recipients
        .iter()
        .map(|r| recipient(r))
        .collect::<Result<_>>()?;
    let dir = config_path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;

    let (recipients, identity) = match given.is_empty() {
        false => (given, None),
        true => {
            let path = std::path::absolute(dir.join("identity.txt"))?;
            let (recipient, created) = identity_at(&path)?;
            (vec![recipient], Some((path, created)))
        }
    };
    let config = Config {
        store: store.map(str::to_string),
        compress: args.compress.clone(),
        encrypt: Some(crate::builtin::Encryption::Age),
        recipients: recipients.clone(),
        identities: identity.iter().map(|(path, _)| path.clone()).collect(),
        ..Config::default()
    };
    let text = format!(
        "{}{}",
        header(store.is_some(), identity.is_some()),
        toml::to_string(&config)?
    );
    if args.force {
        let _ = std::fs::remove_file(&config_path);
    }
    write_private(&config_path, text.as_bytes())?;

    for recipient in &recipients {
        crate::outln!("recipient: {recipient}")?;
    }
    match &identity {
        Some((path, _)) => crate::outln!("identity:  {}", path.display())?,
        None => crate::outln!("identity:  none on this host (push-only)")?,
    }
    crate::outln!("config:    {}", config_path.display())?;
    if let Some(url) = store {
        crate::outln!("store:     {}", crate::ui::untrusted(url))?;
    }
    match &identity {
        Some((path, true)) => crate::ui::warn(&format!(
            "keep a copy of {} somewhere safe and offline: without it, backups cannot be \
             restored. A host that only pushes needs just the recipient: `twgate init -r {}`",
            path.display(),
            recipients[0]
        )),
        Some((path, false)) => crate::ui::info(&format!(
            "kept the existing identity {} (never overwritten)",
            path.display()
        )),
        None => crate::ui::info(
            "restores and full verifies run where the identity is; here, `twgate verify \
             NAME --stored-only` checks the stored bytes without decrypting",
        ),
    }
    Ok(())
}

/// The comments at the top of the config: what it is and where the keys belong.
fn header(has_store: bool, has_identity: bool) -> String {
    let mut text = String::from(
        "# twgate configuration, written by `twgate init`. Flags override these settings.\n#\n",
    );
    if has_identity {
        text.push_str(
            "# Keys: pushes encrypt to `recipients` (public). `identities` decrypt: they are\n\
             # needed only where restores and full verifies run. On a host that only pushes,\n\
             # remove the `identities` line and do not copy the identity file there\n\
             # (`twgate init -r RECIPIENT` writes such a config); `twgate verify NAME\n\
             # --stored-only` checks stored bytes there without decrypting.\n",
        );
    } else {
        text.push_str(
            "# Keys: pushes encrypt to `recipients` (public). This host holds no identity, so\n\
             # it cannot decrypt: restores and full verifies run where the identity is.\n\
             # `twgate verify NAME --stored-only` checks stored bytes here without decrypting.\n",
        );
    }
    if !has_store {
        text.push_str(
            "#\n# Uncomment to send backups elsewhere:\n# store = \"/var/backups/twgate\"\n",
        );
    }
    text.push('\n');
    text
}

/// A recipient for the config: an `age1...` key, or an age recipients file (made absolute,
/// so the config works from any directory).
fn recipient(text: &str) -> Result<String> {
    if text.starts_with("age1") {
        if !crate::age_keys::is_recipient(text) {
            bail!(
                "'{}' is not an age public key (age1... as `age-keygen -y` prints)",
                crate::ui::untrusted(text)
            );
        }
        return Ok(text.to_string());
    }
    let path = PathBuf::from(text);
    let contents = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "recipient '{}' is neither an age1... public key nor a readable recipients file",
            crate::ui::untrusted(text)
        )
    })?;
    if !contents.lines().any(|l| l.trim().starts_with("age1")) {
        bail!(
            "{} has no age1... recipient in it: pass a recipients file (age-keygen -y KEY > FILE)",
            path.display()
        );
    }
    Ok(std::path::absolute(&path)?.display().to_string())
}

/// The recipient of the identity at `path`, and whether it was created now: an existing
/// identity is read, never replaced.
fn identity_at(path: &Path) -> Result<(String, bool)> {
    if path.exists() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let key = text
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("AGE-SECRET-KEY-"))
            .and_then(Identity::parse)
            .with_context(|| {
                format!(
                    "{} exists but holds no age identity; it is left as it is: move it away, \
                     or pass -r RECIPIENT for a push-only config",
                    path.display()
                )
            })?;
        return Ok((key.recipient(), false));
    }
    let identity = Identity::generate();
    let recipient = identity.recipient();
    let now = jiff::Timestamp::now();
    let contents = format!(
        "# created: {}\n# public key: {recipient}\n{}\n",
        now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        identity.encode().as_str()
    );
    let contents = zeroize::Zeroizing::new(contents);
    write_private(path, contents.as_bytes())?;
    Ok((recipient, true))
}

fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(())
}
