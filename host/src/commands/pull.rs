//! `twgate pull` and `twgate verify`: the keys from flags or config, a `backup::Restore`
//! into stdout, a file or a verification command, and what to print.
//!
//! **Invariant:** `pull -o FILE` writes to a temporary file renamed into place only after
//! both checksums match; on stdout a mismatch is an error exit, which a pipeline with
//! `set -o pipefail` sees.

use super::Context;
use crate::backup::{Decoding, Purpose, Restore, Sink};
use crate::cli::{KeyArgs, PullArgs, VerifyArgs};
use crate::metrics::Moved;
use crate::plan;
use crate::storage::{BackupRef, Store};
use crate::ui;
use anyhow::{bail, Context as _, Result};
use std::path::PathBuf;
use std::process::Stdio;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Writes to any async writer.
struct WriteSink<W>(W);

impl<W: AsyncWrite + Unpin + Send> Sink for WriteSink<W> {
    async fn write(&mut self, chunk: bytes::Bytes) -> Result<()> {
        Ok(self.0.write_all(&chunk).await?)
    }
}

/// Writes to stdout; a reader that went away (`twgate pull db | head -c 100`) is
/// [`crate::stdout::Closed`], a quiet exit.
struct StdoutSink(tokio::io::Stdout);

impl Sink for StdoutSink {
    async fn write(&mut self, chunk: bytes::Bytes) -> Result<()> {
        self.0.write_all(&chunk).await.map_err(crate::stdout::error)
    }
}

/// Feeds a verification command; if it stops reading early (as `pg_restore --list` may),
/// the rest is still hashed, and its exit status decides.
struct ExecSink {
    stdin: Option<tokio::process::ChildStdin>,
}

impl Sink for ExecSink {
    async fn write(&mut self, chunk: bytes::Bytes) -> Result<()> {
        if let Some(stdin) = &mut self.stdin {
            if let Err(e) = stdin.write_all(&chunk).await {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    return Err(e.into());
                }
                self.stdin = None;
            }
        }
        Ok(())
    }
}

/// The keys to decrypt with: from the flags, else from the config.
pub(super) fn secrets(ctx: &Context, keys: &KeyArgs) -> Result<plan::Params> {
    // Identities on the command line replace the config's, as every flag does.
    let identities = match keys.identities.is_empty() {
        true => ctx.config.identities.clone(),
        false => keys.identities.clone(),
    };
    let passphrase_env = keys
        .passphrase_env
        .as_deref()
        .or(ctx.config.passphrase_env.as_deref());
    Ok(plan::decode_secrets(&identities, passphrase_env)?)
}

/// Resolves the backup and opens its inverse stages (none with `raw`), with the keys
/// from the flags, else from the config.
pub(super) async fn open(
    ctx: &Context,
    spec: &str,
    keys: &KeyArgs,
    allow_plugin_change: bool,
    raw: bool,
) -> Result<(Store, Restore)> {
    let backup = BackupRef::parse(spec)?;
    let store = ctx.open_store().await?;
    if raw {
        let restore = Restore::open(&store, &backup, None).await?;
        return Ok((store, restore));
    }
    let secrets = secrets(ctx, keys)?;
    let runtime = ctx.runtime()?;
    let decoding = Decoding {
        catalog: ctx.catalog(),
        runtime: &runtime,
        secrets: &secrets,
        allow_plugin_change,
    };
    let restore = Restore::open(&store, &backup, Some(decoding)).await?;
    Ok((store, restore))
}

pub async fn pull(ctx: &Context, args: PullArgs) -> Result<Moved> {
    let (store, mut restore) = open(
        ctx,
        &args.backup,
        &args.keys,
        args.allow_plugin_change,
        args.raw,
    )
    .await?;
    let moved = match &args.output {
        None => {
            let mut sink = StdoutSink(tokio::io::stdout());
            let moved = restore.run(&store, &mut sink, Purpose::Pull).await?;
            sink.0.flush().await.map_err(crate::stdout::error)?;
            moved
        }
        Some(path) => {
            let partial = partial_path(path);
            let file = tokio::fs::File::create(&partial)
                .await
                .with_context(|| format!("cannot create {}", partial.display()))?;
            let mut sink = WriteSink(tokio::io::BufWriter::with_capacity(1 << 20, file));
            let result = async {
                let moved = restore.run(&store, &mut sink, Purpose::Pull).await?;
                sink.0.flush().await?;
                sink.0.get_ref().sync_all().await?;
                tokio::fs::rename(&partial, path)
                    .await
                    .with_context(|| format!("cannot rename to {}", path.display()))?;
                anyhow::Ok(moved)
            }
            .await;
            if result.is_err() {
                let _ = tokio::fs::remove_file(&partial).await;
            }
            result?
        }
    };
    let manifest = &restore.manifest;
    // What was written: the original bytes, or with --raw the stored object itself.
    let written = match args.raw {
        true => format!(
            "{}, stored bytes undecoded",
            ui::bytes(manifest.stored.size)
        ),
        false => ui::bytes(manifest.original.size),
    };
    ui::info(&format!(
        "pulled {}@{} ({written})",
        manifest.name, manifest.id
    ));
    Ok(moved)
}

fn partial_path(path: &std::path::Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".twgate-partial-{}", std::process::id()));
    path.with_file_name(name)
}

pub async fn verify(ctx: &Context, args: VerifyArgs) -> Result<Moved> {
    let (store, mut restore) = open(
        ctx,
        &args.backup,
        &args.keys,
        args.allow_plugin_change,
        args.stored_only,
    )
    .await?;
    if args.stored_only {
        return verify_stored(&store, restore, args.json).await;
    }
    let what = format!("{}@{}", restore.manifest.name, restore.manifest.id);
    let moved = match &args.exec {
        None => {
            let mut sink = WriteSink(tokio::io::sink());
            restore.run(&store, &mut sink, Purpose::Verify).await?
        }
        Some(command) => {
            let mut child = tokio::process::Command::new("sh")
                .args(["-c", command])
                .stdin(Stdio::piped())
                // The command's output is the user's (`--exec 'pg_restore --list' | grep
                // TABLE`); with --json, stdout carries the JSON alone, so it goes to stderr.
                .stdout(match args.json {
                    true => Stdio::from(std::io::stderr()),
                    false => Stdio::inherit(),
                })
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("could not start `{command}`"))?;
            let mut sink = ExecSink {
                stdin: child.stdin.take(),
            };
            let moved = restore.run(&store, &mut sink, Purpose::Verify).await?;
            drop(sink);
            let status = child.wait().await?;
            if !status.success() {
                bail!("verify {what} failed: `{command}` rejected the restored bytes ({status})");
            }
            moved
        }
    };
    let manifest = &restore.manifest;
    // Retention never removes the newest verified backup; record that this one is.
    if let Err(e) = store.put_verified(manifest, args.exec.is_some()).await {
        ui::warn(&format!(
            "verified, but could not record it in the store: {e}"
        ));
    }
    if args.json {
        let report = serde_json::json!({
            "name": manifest.name,
            "id": manifest.id,
            "ok": true,
            "original": manifest.original,
            "stored": manifest.stored,
            "check": manifest.check,
            "exec": args.exec,
        });
        crate::outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        crate::outln!(
            "ok {what}: {} restored, {} matches; stored object {} matches{}",
            ui::bytes(manifest.original.size),
            manifest.original.checksum(),
            manifest.stored.checksum().algorithm.name(),
            args.exec
                .as_ref()
                .map(|c| format!("; `{c}` succeeded"))
                .unwrap_or_default()
        )?;
    }
    Ok(moved)
}

/// `verify --stored-only`: the stored object read whole and checked against the size and
/// checksum its manifest recorded, with no key and no plugin. It proves the store kept the
/// bytes, not that they decrypt: it is not recorded as a verification, so retention still
/// keeps the newest backup a full verify passed.
async fn verify_stored(store: &Store, mut restore: Restore, json: bool) -> Result<Moved> {
    let mut sink = WriteSink(tokio::io::sink());
    let moved = restore.run(store, &mut sink, Purpose::Verify).await?;
    let manifest = &restore.manifest;
    let stored = manifest.stored.checksum();
    if json {
        let report = serde_json::json!({
            "name": manifest.name,
            "id": manifest.id,
            "ok": true,
            "stored_only": true,
            "stored": manifest.stored,
            "check": manifest.check,
        });
        crate::outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        crate::outln!(
            "ok {}@{}: stored object ({}) matches its {}; not decrypted (--stored-only: a full \
             verify where the identity is proves it restores)",
            manifest.name,
            manifest.id,
            ui::bytes(manifest.stored.size),
            stored
        )?;
    }
    Ok(moved)
}
