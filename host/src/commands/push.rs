//! `twgate push`: flags and config → a planned push (`backup::push` does it), then the
//! new backup's id on stdout. `wal push` uses `store_backup` too.

use super::Context;
use crate::backup::{self, Input, PushRequest};
use crate::cli::PushArgs;
use crate::manifest::Manifest;
use crate::metrics::Moved;
use crate::plan::{self, PushSettings};
use crate::storage;
use crate::ui;
use anyhow::{bail, Result};
use std::io::IsTerminal;

pub async fn push(ctx: &Context, args: PushArgs) -> Result<Moved> {
    if args.command.is_empty() && std::io::stdin().is_terminal() {
        bail!(
            "stdin is a terminal: pipe a dump into `twgate push {}`, or give a command after `--`",
            args.name
        );
    }
    let manifest = store_backup(ctx, args, None, None).await?;
    crate::outln!("{}", manifest.id)?;
    Ok(moved(&manifest))
}

/// What a push moved: the original bytes in, the stored bytes out.
pub(super) fn moved(manifest: &Manifest) -> Moved {
    Moved {
        bytes_in: manifest.original.size,
        bytes_out: manifest.stored.size,
    }
}

/// Stores one backup read from `file` (else the producer command, else stdin) under `id`
/// (else a new one), and returns its manifest once written.
pub(super) async fn store_backup(
    ctx: &Context,
    args: PushArgs,
    file: Option<&std::path::Path>,
    id: Option<String>,
) -> Result<Manifest> {
    storage::validate_name(&args.name)?;
    let settings = PushSettings::resolve(
        &ctx.config,
        args.transforms,
        args.compress,
        args.encrypt,
        args.recipients,
        args.passphrase_env,
    );
    let stages = settings.stages(ctx.catalog())?;
    let store = ctx.create_store().await?;
    let runtime = ctx.runtime()?;
    if !settings.encrypts() {
        ui::warn(
            "this backup is not encrypted: use --encrypt age|openpgp, or run `twgate init` once",
        );
    }
    let input = match (args.command.as_slice(), file) {
        ([], Some(path)) => Input::File(path),
        ([], None) => Input::Stdin,
        (argv, _) => Input::Command(argv),
    };
    let request = PushRequest {
        name: &args.name,
        id,
        input,
        check: (!args.no_check).then(plan::check_spec).flatten(),
        stages,
        allow_empty: args.allow_empty,
        record_command: ctx.config.record_command != Some(false),
    };
    let manifest = backup::push(&store, &runtime, request).await?;
    let secs = (manifest.finished_at - manifest.started_at)
        .total(jiff::Unit::Second)
        .unwrap_or(0.0);
    ui::info(&format!(
        "pushed {}@{}: {} in, {} stored ({}) in {:.1}s",
        manifest.name,
        manifest.id,
        ui::bytes(manifest.original.size),
        ui::bytes(manifest.stored.size),
        manifest.pipeline_summary(),
        secs
    ));
    Ok(manifest)
}
