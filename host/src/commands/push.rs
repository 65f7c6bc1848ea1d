//! `twgate push`: stdin, a producer command or a file → pipeline → store, manifest last.
//! `store_backup` is the whole of it; `wal push` uses it too.

use super::Context;
use crate::checksum::{Algorithm, Checksum};
use crate::cli::PushArgs;
use crate::manifest::CheckRecord;
use crate::manifest::{self, Manifest, StageRecord, StoredObject};
use crate::pipeline::{self, PipelineError, Sink, Source};
use crate::plan::{self, PushSettings};
use crate::runtime::Direction;
use crate::storage::{self, DataWriter, Store};
use crate::ui;
use anyhow::{bail, Context as _, Result};
use std::io::IsTerminal;
use std::process::Stdio;

struct StoreSink<'a> {
    store: &'a Store,
    writer: &'a mut DataWriter,
}

impl Sink for StoreSink<'_> {
    async fn write(&mut self, chunk: bytes::Bytes) -> Result<()> {
        Ok(self.writer.write(self.store, chunk).await?)
    }
}

pub async fn push(ctx: &Context, args: PushArgs) -> Result<()> {
    if args.command.is_empty() && std::io::stdin().is_terminal() {
        bail!(
            "stdin is a terminal: pipe a dump into `twgate push {}`, or give a command after `--`",
            args.name
        );
    }
    let manifest = store_backup(ctx, args, None, None).await?;
    crate::outln!("{}", manifest.id)?;
    Ok(())
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
    )?;
    let specs = settings.stages(&ctx.catalog())?;
    // Listen before anything is written, so a stop request always aborts cleanly.
    let terminated = crate::signals::listen();
    let store = ctx.create_store().await?;
    store.check_writable().await?;
    let runtime = ctx.runtime()?;
    let mut steps = Vec::new();
    // The check sees the original bytes, first; it judges and passes them on unchanged.
    let check = match args.no_check {
        true => None,
        false => plan::check_spec(),
    };
    if let Some(check) = &check {
        let stage = runtime.open(&check.plugin, Direction::Forward, &[], &[])?;
        steps.push(pipeline::Step::Check(stage));
    }
    for spec in &specs {
        steps.push(pipeline::open_step(&runtime, spec, Direction::Forward)?);
    }
    if !settings.encrypts() {
        ui::warn(
            "this backup is not encrypted: use --encrypt age|openpgp, or run `twgate init` once",
        );
    }

    let started_at = jiff::Timestamp::now();
    let id = id.unwrap_or_else(|| storage::new_id(started_at));
    // A producer command writes into a pipe read on a plain thread, as standard input is
    // (see `pipeline::read_on_thread`).
    let (mut child, source) = match args.command.as_slice() {
        [] => {
            let source = match file {
                Some(path) => {
                    let file = std::fs::File::open(path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    Box::new(pipeline::read_on_thread(path.display().to_string(), file)) as Source
                }
                None => {
                    let stdin = std::io::stdin();
                    pipeline::widen_pipe(std::os::fd::AsFd::as_fd(&stdin));
                    Box::new(pipeline::read_on_thread("standard input".into(), stdin))
                }
            };
            (None, source)
        }
        [program, rest @ ..] => {
            let (output, input) =
                std::io::pipe().context("could not make a pipe for the producer command")?;
            pipeline::widen_pipe(std::os::fd::AsFd::as_fd(&output));
            // The command (and with it the pipe's writing end) is dropped once spawned, so
            // the reader sees the end of the output when the producer exits.
            let child = tokio::process::Command::new(program)
                .args(rest)
                .stdin(Stdio::null())
                .stdout(input)
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("could not start `{program}`"))?;
            let source = pipeline::read_on_thread(format!("the output of `{program}`"), output);
            (Some(child), Box::new(source) as Source)
        }
    };
    let mut writer = store.data_writer(&args.name, &id).await?;
    let mut progress = ui::Progress::new("push");
    let mut sink = StoreSink {
        store: &store,
        writer: &mut writer,
    };
    let hashes = pipeline::Hashes {
        input: Some(Algorithm::CURRENT),
        output: Some(Algorithm::CURRENT),
    };
    let run = pipeline::run(source, steps, hashes, &mut sink, |i, o| {
        progress.update(i, o)
    });
    // SIGINT/SIGTERM (Ctrl-C, a Kubernetes pod stopping) abort cleanly: the partial
    // object is discarded and the producer command is killed.
    let result = tokio::select! {
        result = run => result.map_err(anyhow::Error::new),
        signal = terminated => Err(anyhow::anyhow!("interrupted by {signal}")),
    };
    progress.done();
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(e) => {
            writer.abort().await;
            let refused = match e.downcast_ref::<PipelineError>() {
                Some(PipelineError::Refused { message }) => Some(message.clone()),
                _ => None,
            };
            if let (Some(message), Some(child)) = (&refused, &mut child) {
                // The producer has ended its output; its exit status says why.
                if let Ok(status) = child.wait().await {
                    if !status.success() {
                        bail!(
                            "`{}` failed ({status}) and its output is incomplete ({message}); \
                             nothing was stored",
                            ui::untrusted(&args.command[0])
                        );
                    }
                }
            }
            if let Some(child) = &mut child {
                let _ = child.kill().await;
            }
            if let Some(message) = refused {
                bail!(
                    "push {} refused: {message}; nothing was stored (if the producer failed, \
                     fix it and push again; --no-check stores a stream unchecked)",
                    args.name
                );
            }
            return Err(e.context(format!("push {} failed; nothing was stored", args.name)));
        }
    };
    // What each stage says of itself goes in the manifest; a stage that cannot say it
    // (too much, or a crash) fails the push before anything is committed.
    let (check, pipeline_records) = match records(check.is_some(), &specs, outcome.stages) {
        Ok(records) => records,
        Err(e) => {
            writer.abort().await;
            if let Some(child) = &mut child {
                let _ = child.kill().await;
            }
            return Err(anyhow::Error::new(e)
                .context(format!("push {} failed; nothing was stored", args.name)));
        }
    };
    let exit_status = match &mut child {
        None => None,
        Some(child) => {
            let status = child
                .wait()
                .await
                .context("waiting for the producer command")?;
            if !status.success() {
                writer.abort().await;
                bail!(
                    "`{}` failed ({status}); nothing was stored",
                    ui::untrusted(&args.command[0])
                );
            }
            status.code()
        }
    };
    if outcome.input.size == 0 && !args.allow_empty {
        writer.abort().await;
        bail!(
            "push {} read nothing from {}: an empty stream is not a backup, so nothing was \
             stored (did the producer fail? `twgate push {} -- COMMAND` checks its exit status; \
             --allow-empty stores an empty stream that is meant to be empty)",
            args.name,
            match (args.command.first(), file) {
                (Some(program), _) => format!("`{}`", ui::untrusted(program)),
                (None, Some(path)) => ui::untrusted(&path.display().to_string()),
                (None, None) => "standard input".into(),
            },
            args.name
        );
    }
    let data = storage::data_path(&args.name, &id);
    let committed = match writer.commit(&store).await {
        Ok(()) => store.check_committed(&data, outcome.output.size).await,
        Err(e) => Err(e),
    };
    if let Err(e) = committed {
        let _ = store.delete(&data).await;
        return Err(
            anyhow::Error::new(e).context(format!("push {} failed; nothing was stored", args.name))
        );
    }

    if let Some(check) = &check {
        if check.format == UNKNOWN_FORMAT && args.command.is_empty() && file.is_none() {
            ui::warn(&format!(
                "twgate cannot check that this stream is complete (not a pg_dump archive, tar \
                 or SQL dump), and a pipe hides the producer's exit status: \
                 `twgate push {} -- COMMAND` stores it only if COMMAND succeeds",
                args.name
            ));
        }
    }
    let manifest = Manifest {
        format: manifest::FORMAT_NAME.into(),
        version: manifest::FORMAT_VERSION,
        name: args.name.clone(),
        id: id.clone(),
        started_at,
        finished_at: jiff::Timestamp::now(),
        twgate_version: env!("CARGO_PKG_VERSION").into(),
        source: manifest::Source {
            kind: match (args.command.is_empty(), file) {
                (false, _) => "command",
                (true, Some(_)) => "file",
                (true, None) => "stdin",
            }
            .into(),
            command: (!args.command.is_empty() && ctx.config.record_command != Some(false))
                .then(|| manifest::mask_secrets(&args.command)),
            exit_status,
        },
        original: manifest::Digest::new(outcome.input.size, hashed(outcome.input)),
        stored: StoredObject::new(
            storage::data_path(&args.name, &id),
            outcome.output.size,
            hashed(outcome.output),
        ),
        pipeline: pipeline_records,
        check,
    };
    if let Err(e) = store.put_manifest(&manifest).await {
        // Manifest first: the backup disappears whole.
        let _ = store
            .delete(&storage::manifest_path(&manifest.name, &manifest.id))
            .await;
        let _ = store.delete(&manifest.stored.object).await;
        return Err(
            anyhow::Error::new(e).context(format!("push {} failed; nothing was stored", args.name))
        );
    }
    crate::metrics::record(manifest.original.size, manifest.stored.size);
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

/// The checksum of an end that `store_backup` hashed.
fn hashed(tally: pipeline::Tally) -> Checksum {
    tally.checksum.expect("push hashes both ends")
}

/// What the check reports for a stream in no format it knows.
const UNKNOWN_FORMAT: &str = "unknown";

/// The check's report (`format` first, then what it found) as the manifest records it.
fn check_record(stage: &crate::runtime::Stage, described: Vec<(String, String)>) -> CheckRecord {
    let mut format = UNKNOWN_FORMAT.to_string();
    let mut facts = Vec::new();
    for (key, value) in described {
        match key.as_str() {
            "format" => format = value,
            _ => facts.push((key, value)),
        }
    }
    CheckRecord {
        format,
        facts,
        version: stage.version().to_string(),
        sha256: stage.sha256().to_string(),
    }
}

/// The check's record and the pipeline's, from the finished stages (the check first, when
/// one ran), in the order they ran.
fn records(
    checked: bool,
    specs: &[plan::StageSpec],
    stages: Vec<crate::runtime::Stage>,
) -> Result<(Option<CheckRecord>, Vec<StageRecord>), crate::runtime::StageError> {
    let mut stages = stages.into_iter();
    let check = match checked {
        false => None,
        true => {
            let mut stage = stages.next().expect("the check ran first");
            let described = stage.describe()?;
            Some(check_record(&stage, described))
        }
    };
    let stages: Vec<_> = stages.collect();
    assert_eq!(specs.len(), stages.len(), "one finished stage per spec");
    let mut pipeline = Vec::new();
    for (spec, mut stage) in specs.iter().zip(stages) {
        pipeline.push(StageRecord {
            plugin: stage.plugin().to_string(),
            version: stage.version().to_string(),
            format: spec.plugin.writes.map(String::from),
            sha256: stage.sha256().to_string(),
            params: stage.describe()?,
        });
    }
    Ok((check, pipeline))
}
