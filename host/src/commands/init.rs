//! `twgate init`: writes a configuration and a fresh age identity, so that every later push
//! is encrypted and every pull can decrypt without flags.
//!
//! **Invariant:** an existing identity file is never overwritten: it may be the only key to
//! existing backups. Both files are created with mode 0600.

use crate::cli::InitArgs;
use crate::config::Config;
use age::secrecy::ExposeSecret;
use anyhow::{bail, Context as _, Result};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

pub fn init(config_path: Option<&Path>, args: &InitArgs) -> Result<()> {
    let config_path = match config_path {
        Some(path) => path.to_path_buf(),
        None => crate::paths::default_config().context("no home directory: pass --config FILE")?,
    };
    if config_path.exists() && !args.force {
        bail!(
            "{} already exists: pass --force to replace it (its identity file is kept)",
            config_path.display()
        );
    }
    let dir = config_path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let identity_path = std::path::absolute(dir.join("identity.txt"))?;
    if identity_path.exists() {
        bail!(
            "{} already exists and may protect existing backups; refusing to overwrite it \
             (move it away first if you really mean to)",
            identity_path.display()
        );
    }

    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let now = jiff::Timestamp::now();
    let contents = format!(
        "# created: {}\n# public key: {recipient}\n{}\n",
        now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        identity.to_string().expose_secret()
    );
    write_private(&identity_path, contents.as_bytes())?;

    let config = Config {
        encrypt: Some("age".into()),
        recipients: vec![recipient.clone()],
        identities: vec![identity_path.clone()],
        ..Config::default()
    };
    let text = format!(
        "# twgate configuration, written by `twgate init`.\n\
         # Flags override these settings. Uncomment to send backups elsewhere:\n\
         # store = \"/var/backups/twgate\"\n{}",
        toml::to_string(&config)?
    );
    if args.force {
        let _ = std::fs::remove_file(&config_path);
    }
    write_private(&config_path, text.as_bytes())?;
    println!("recipient: {recipient}");
    println!("identity:  {}", identity_path.display());
    println!("config:    {}", config_path.display());
    eprintln!(
        "twgate: keep a copy of {} somewhere safe and offline: without it, backups cannot be restored",
        identity_path.display()
    );
    Ok(())
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
