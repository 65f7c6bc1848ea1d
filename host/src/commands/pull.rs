//! `twgate pull` and `twgate verify`: store → inverse pipeline → output, checking the
//! stored and original sha256 from the manifest.
//!
//! **Invariant:** `pull -o FILE` writes to a temporary file renamed into place only after
//! both checksums match; on stdout a mismatch is an error exit, which a pipeline with
//! `set -o pipefail` sees.

use super::Context;
use crate::cli::{KeyArgs, PullArgs, VerifyArgs};
use crate::manifest::Manifest;
use crate::pipeline::{self, Outcome, Sink};
use crate::plan;
use crate::runtime::Direction;
use crate::storage::{BackupRef, Store};
use crate::ui;
use anyhow::{bail, Context as _, Result};
use futures::StreamExt;
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

/// Resolves the backup and opens its inverse stages (none with `raw`).
async fn decoder(
    ctx: &Context,
    spec: &str,
    keys: &KeyArgs,
    allow_plugin_change: bool,
    raw: bool,
) -> Result<(Store, Manifest, Vec<pipeline::Step>)> {
    let backup = BackupRef::parse(spec)?;
    let store = ctx.open_store().await?;
    let manifest = store.resolve(&backup).await?;
    if raw {
        return Ok((store, manifest, Vec::new()));
    }
    // Identities on the command line replace the config's, as every flag does.
    let identities = match keys.identities.is_empty() {
        true => ctx.config.identities.clone(),
        false => keys.identities.clone(),
    };
    let passphrase_env = keys
        .passphrase_env
        .as_deref()
        .or(ctx.config.passphrase_env.as_deref());
    let secrets = plan::decode_secrets(&identities, passphrase_env)?;
    let specs = plan::inverse_stages(&ctx.catalog(), &manifest, &secrets, allow_plugin_change)?;
    let runtime = ctx.runtime()?;
    let mut steps = Vec::new();
    for spec in &specs {
        steps.push(pipeline::open_step(&runtime, spec, Direction::Inverse)?);
    }
    Ok((store, manifest, steps))
}

/// Streams the stored object through `stages` into `sink` and checks both checksums.
async fn decode<S: Sink + Send>(
    store: &Store,
    manifest: &Manifest,
    steps: Vec<pipeline::Step>,
    raw: bool,
    sink: &mut S,
    verb: &'static str,
) -> Result<Outcome> {
    let what = format!("{}@{}", manifest.name, manifest.id);
    let stream = store
        .data_stream(manifest)
        .await?
        .map(|r| r.map_err(anyhow::Error::from));
    let mut progress = ui::Progress::new(verb);
    // Both ends are checked: the stored object as it is read (a damaged or swapped object
    // fails even where its plugins would decode it), and the restored bytes, end to end.
    // Each end is hashed on a thread of its own, with the function its manifest names
    // (SHA-256 for version 1 backups); `--raw` output is the stored object itself.
    let stored = manifest.stored.checksum();
    let expected = if raw {
        stored.clone()
    } else {
        manifest.original.checksum()
    };
    let hash_stored = !raw;
    let hashes = pipeline::Hashes {
        input: hash_stored.then_some(stored.algorithm),
        output: Some(expected.algorithm),
    };
    let outcome = pipeline::run(Box::new(stream), steps, hashes, sink, |i, o| {
        progress.update(i, o)
    })
    .await;
    progress.done();
    let outcome =
        outcome.map_err(|e| anyhow::Error::new(e).context(format!("{verb} {what} failed")))?;
    if outcome.input.size != manifest.stored.size
        || (hash_stored && outcome.input.checksum.as_ref() != Some(&stored))
    {
        bail!(
            "{verb} {what} failed: the stored object {} is corrupted or truncated \
             ({} bytes read, {} expected; its {} checksum does not match the manifest); the output is not usable",
            manifest.stored.object,
            outcome.input.size,
            manifest.stored.size,
            stored.algorithm.name()
        );
    }
    if outcome.output.checksum.as_ref() != Some(&expected) {
        bail!(
            "{verb} {what} failed: the restored bytes do not match the original's {} checksum (the stored object was changed, or a plugin decoded it wrongly; `twgate verify` tells which); the output is not usable",
            expected.algorithm.name()
        );
    }
    crate::metrics::record(outcome.input.size, outcome.output.size);
    Ok(outcome)
}

pub async fn pull(ctx: &Context, args: PullArgs) -> Result<()> {
    let (store, manifest, stages) = decoder(
        ctx,
        &args.backup,
        &args.keys,
        args.allow_plugin_change,
        args.raw,
    )
    .await?;
    match &args.output {
        None => {
            let mut sink = StdoutSink(tokio::io::stdout());
            decode(&store, &manifest, stages, args.raw, &mut sink, "pull").await?;
            sink.0.flush().await.map_err(crate::stdout::error)?;
        }
        Some(path) => {
            let partial = partial_path(path);
            let file = tokio::fs::File::create(&partial)
                .await
                .with_context(|| format!("cannot create {}", partial.display()))?;
            let mut sink = WriteSink(tokio::io::BufWriter::with_capacity(1 << 20, file));
            let result = async {
                decode(&store, &manifest, stages, args.raw, &mut sink, "pull").await?;
                sink.0.flush().await?;
                sink.0.get_ref().sync_all().await?;
                tokio::fs::rename(&partial, path)
                    .await
                    .with_context(|| format!("cannot rename to {}", path.display()))
            }
            .await;
            if result.is_err() {
                let _ = tokio::fs::remove_file(&partial).await;
            }
            result?;
        }
    }
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
    Ok(())
}

fn partial_path(path: &std::path::Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".twgate-partial-{}", std::process::id()));
    path.with_file_name(name)
}

pub async fn verify(ctx: &Context, args: VerifyArgs) -> Result<()> {
    let (store, manifest, stages) = decoder(
        ctx,
        &args.backup,
        &args.keys,
        args.allow_plugin_change,
        args.stored_only,
    )
    .await?;
    let what = format!("{}@{}", manifest.name, manifest.id);
    if args.stored_only {
        return verify_stored(&store, &manifest, args.json).await;
    }
    match &args.exec {
        None => {
            decode(
                &store,
                &manifest,
                stages,
                false,
                &mut WriteSink(tokio::io::sink()),
                "verify",
            )
            .await?;
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
            decode(&store, &manifest, stages, false, &mut sink, "verify").await?;
            drop(sink);
            let status = child.wait().await?;
            if !status.success() {
                bail!("verify {what} failed: `{command}` rejected the restored bytes ({status})");
            }
        }
    }
    // Retention never removes the newest verified backup; record that this one is.
    if let Err(e) = store.put_verified(&manifest, args.exec.is_some()).await {
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
    Ok(())
}

/// `verify --stored-only`: the stored object read whole and checked against the size and
/// checksum its manifest recorded, with no key and no plugin. It proves the store kept the
/// bytes, not that they decrypt: it is not recorded as a verification, so retention still
/// keeps the newest backup a full verify passed.
async fn verify_stored(store: &Store, manifest: &Manifest, json: bool) -> Result<()> {
    decode(
        store,
        manifest,
        Vec::new(),
        true,
        &mut WriteSink(tokio::io::sink()),
        "verify",
    )
    .await?;
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
    Ok(())
}
