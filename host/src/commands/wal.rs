//! `twgate wal push` and `wal fetch`: PostgreSQL's `archive_command` and
//! `restore_command`, through the same pipeline and store as every backup. Each WAL file is
//! a backup of the archive name (`wal` by default) whose id is the file's name, so `list
//! wal`, `pull wal@SEGMENT` and `prune` see them too.
//!
//! Exit codes follow PostgreSQL's contract: for `push`, non-zero means "try again later";
//! for `fetch`, 1 means "not in the archive" (recovery moves on) and 126 means something
//! is wrong (PostgreSQL stops recovery instead of ending it early with data missing).

use super::{pull, push, Context};
use crate::checksum;
use crate::cli::{KeyArgs, PullArgs, PushArgs, WalCommand};
use crate::metrics::Moved;
use crate::storage::validate_name;
use crate::ui;
use anyhow::{bail, Context as _, Result};
use std::path::Path;

/// An error that must end the process with a particular exit code.
#[derive(Debug, thiserror::Error)]
pub enum Exit {
    #[error("WAL file {segment} is not in the archive '{archive}'")]
    NotInArchive { segment: String, archive: String },
    #[error("{0:#}")]
    Abort(anyhow::Error),
}

impl Exit {
    /// What `Abort` exits with: PostgreSQL stops recovery on a status above 125.
    const ABORT_CODE: u8 = 126;

    pub fn code(&self) -> u8 {
        match self {
            Exit::NotInArchive { .. } => 1,
            Exit::Abort(_) => Exit::ABORT_CODE,
        }
    }
}

pub async fn wal(ctx: &Context, command: WalCommand) -> Result<Moved> {
    match command {
        WalCommand::Push { path, archive } => push_wal(ctx, &path, archive).await,
        WalCommand::Fetch {
            segment,
            dest,
            archive,
            keys,
            allow_plugin_change,
        } => {
            // A plugin that overruns its time limit must stop recovery too.
            crate::runtime::set_timeout_exit_code(Exit::ABORT_CODE);
            fetch_wal(ctx, &segment, &dest, archive, keys, allow_plugin_change)
                .await
                .map_err(|e| match e.downcast::<Exit>() {
                    Ok(exit) => exit.into(),
                    Err(other) => Exit::Abort(other).into(),
                })
        }
    }
}

/// The WAL file's name, checked to be one (it becomes an object name).
fn segment_name(segment: &str) -> Result<&str> {
    if validate_name(segment).is_err() || segment.len() > 64 {
        bail!(
            "'{}' is not a WAL file name (such as 000000010000000000000001 or 00000002.history)",
            ui::untrusted(segment)
        );
    }
    Ok(segment)
}

async fn push_wal(ctx: &Context, path: &Path, archive: String) -> Result<Moved> {
    validate_name(&archive)?;
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{} has no file name", path.display()))?;
    let segment = segment_name(file_name)?.to_string();
    let store = ctx.create_store().await?;
    if let Some(existing) = store.manifest(&archive, &segment).await? {
        let there = existing.original.checksum();
        let here = checksum::of_file(path, there.algorithm)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if here == there {
            ui::info(&format!(
                "{segment} is already archived with the same content"
            ));
            return Ok(Moved::default());
        }
        bail!(
            "{segment} is already archived with different content ({there} there, {} here): \
             refusing to overwrite it; is another cluster archiving to the same store and archive name?",
            here.short()
        );
    }
    let args = PushArgs {
        name: archive,
        transforms: Vec::new(),
        compress: None,
        encrypt: None,
        recipients: Vec::new(),
        passphrase_env: None,
        allow_empty: false,
        no_check: false,
        command: Vec::new(),
    };
    let manifest = push::store_backup(ctx, args, Some(path), Some(segment)).await?;
    Ok(push::moved(&manifest))
}

async fn fetch_wal(
    ctx: &Context,
    segment: &str,
    dest: &Path,
    archive: String,
    keys: KeyArgs,
    allow_plugin_change: bool,
) -> Result<Moved> {
    validate_name(&archive)?;
    let segment = segment_name(segment)?;
    let store = ctx.open_store().await?;
    if store.manifest(&archive, segment).await?.is_none() {
        return Err(Exit::NotInArchive {
            segment: segment.into(),
            archive,
        }
        .into());
    }
    let args = PullArgs {
        backup: format!("{archive}@{segment}"),
        output: Some(dest.to_path_buf()),
        raw: false,
        keys,
        allow_plugin_change,
    };
    pull::pull(ctx, args).await
}
