//! Storing one backup: a source (standard input, a file or a producer command) through
//! the check and the stages into the store's data object, then the manifest, last.
//!
//! **Invariant:** a backup is committed (its manifest written) only after the stream
//! ended explicitly, the check passed, the producer succeeded, the data object is in the
//! store with its size, and the stream was not empty (unless allowed). Any failure
//! before that removes what was written: nothing half-written ever looks complete.

use crate::checksum::{Algorithm, Checksum};
use crate::manifest::{self, CheckRecord, Manifest, StageRecord, StoredObject};
use crate::pipeline::{self, PipelineError, Sink, Source};
use crate::plan::StageSpec;
use crate::runtime::{Direction, Runtime, Stage, StageError};
use crate::storage::{self, DataWriter, Store};
use crate::ui;
use anyhow::{bail, Context as _, Result};
use std::path::Path;
use std::process::Stdio;

/// Where a push reads the stream it stores.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    Stdin,
    File(&'a Path),
    /// A producer command (program and arguments): stored only if it succeeds.
    Command(&'a [String]),
}

/// One push, planned: what to store, under which name, through which stages.
pub struct PushRequest<'a> {
    pub name: &'a str,
    /// The backup's id; a new, sortable one if `None` (`wal push` names its segments).
    pub id: Option<String>,
    pub input: Input<'a>,
    /// The check, run beside the stages on the original bytes (`None`: `--no-check`).
    pub check: Option<StageSpec>,
    /// The transform stages, in order.
    pub stages: Vec<StageSpec>,
    pub allow_empty: bool,
    /// Whether the manifest records the producer's argv (passwords masked).
    pub record_command: bool,
}

struct StoreSink<'a> {
    store: &'a Store,
    writer: &'a mut DataWriter,
}

impl Sink for StoreSink<'_> {
    async fn write(&mut self, chunk: bytes::Bytes) -> Result<()> {
        Ok(self.writer.write(self.store, chunk).await?)
    }
}

/// Stores one backup as `request` says, and returns its manifest once written.
pub async fn push(store: &Store, runtime: &Runtime, request: PushRequest<'_>) -> Result<Manifest> {
    let name = request.name;
    // Listen before anything is written, so a stop request always aborts cleanly.
    let terminated = crate::signals::listen();
    store.check_writable().await?;
    let mut steps = Vec::new();
    // The check sees the original bytes, first; it judges and passes them on unchanged.
    if let Some(check) = &request.check {
        let stage = runtime.open(&check.plugin.component, Direction::Forward, &[], &[])?;
        steps.push(pipeline::Step::Check(stage));
    }
    for spec in &request.stages {
        steps.push(pipeline::open_step(
            runtime,
            &spec.step(),
            Direction::Forward,
        )?);
    }

    let started_at = jiff::Timestamp::now();
    let id = request.id.unwrap_or_else(|| storage::new_id(started_at));
    let (mut child, source) = open_input(request.input)?;
    let mut writer = store.data_writer(name, &id).await?;
    let mut progress = ui::Progress::new("push");
    let mut sink = StoreSink {
        store,
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
    let program = || match request.input {
        Input::Command(argv) => ui::untrusted(&argv[0]),
        _ => unreachable!("only a command has a program"),
    };
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
                            program()
                        );
                    }
                }
            }
            if let Some(child) = &mut child {
                let _ = child.kill().await;
            }
            if let Some(message) = refused {
                bail!(
                    "push {name} refused: {message}; nothing was stored (if the producer \
                     failed, fix it and push again; --no-check stores a stream unchecked)"
                );
            }
            return Err(e.context(format!("push {name} failed; nothing was stored")));
        }
    };
    // What each stage says of itself goes in the manifest; a stage that cannot say it
    // (too much, or a crash) fails the push before anything is committed.
    let checked = request.check.is_some();
    let (check, pipeline_records) = match records(checked, &request.stages, outcome.stages) {
        Ok(records) => records,
        Err(e) => {
            writer.abort().await;
            if let Some(child) = &mut child {
                let _ = child.kill().await;
            }
            return Err(
                anyhow::Error::new(e).context(format!("push {name} failed; nothing was stored"))
            );
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
                bail!("`{}` failed ({status}); nothing was stored", program());
            }
            status.code()
        }
    };
    if outcome.input.size == 0 && !request.allow_empty {
        writer.abort().await;
        bail!(
            "push {name} read nothing from {}: an empty stream is not a backup, so nothing was \
             stored (did the producer fail? `twgate push {name} -- COMMAND` checks its exit \
             status; --allow-empty stores an empty stream that is meant to be empty)",
            match request.input {
                Input::Command(_) => format!("`{}`", program()),
                Input::File(path) => ui::untrusted(&path.display().to_string()),
                Input::Stdin => "standard input".into(),
            },
        );
    }
    let data = storage::data_path(name, &id);
    let committed = match writer.commit(store).await {
        Ok(()) => store.check_committed(&data, outcome.output.size).await,
        Err(e) => Err(e),
    };
    if let Err(e) = committed {
        let _ = store.delete(&data).await;
        return Err(
            anyhow::Error::new(e).context(format!("push {name} failed; nothing was stored"))
        );
    }

    if let Some(check) = &check {
        if check.format == UNKNOWN_FORMAT && matches!(request.input, Input::Stdin) {
            ui::warn(&format!(
                "twgate cannot check that this stream is complete (not a pg_dump archive, tar \
                 or SQL dump), and a pipe hides the producer's exit status: \
                 `twgate push {name} -- COMMAND` stores it only if COMMAND succeeds"
            ));
        }
    }
    let manifest = Manifest {
        format: manifest::FORMAT_NAME.into(),
        version: manifest::FORMAT_VERSION,
        name: name.to_string(),
        id: id.clone(),
        started_at,
        finished_at: jiff::Timestamp::now(),
        twgate_version: env!("CARGO_PKG_VERSION").into(),
        source: manifest::Source {
            kind: match request.input {
                Input::Command(_) => "command",
                Input::File(_) => "file",
                Input::Stdin => "stdin",
            }
            .into(),
            command: match request.input {
                Input::Command(argv) if request.record_command => {
                    Some(manifest::mask_secrets(argv))
                }
                _ => None,
            },
            exit_status,
        },
        original: manifest::Digest::new(outcome.input.size, hashed(outcome.input)),
        stored: StoredObject::new(data, outcome.output.size, hashed(outcome.output)),
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
            anyhow::Error::new(e).context(format!("push {name} failed; nothing was stored"))
        );
    }
    Ok(manifest)
}

/// The stream to read, and the producer command writing it, if any. A producer writes
/// into a pipe read on a plain thread, as standard input is (`pipeline::read_on_thread`).
fn open_input(input: Input) -> Result<(Option<tokio::process::Child>, Source<'static>)> {
    Ok(match input {
        Input::File(path) => {
            let file = std::fs::File::open(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let source = pipeline::read_on_thread(path.display().to_string(), file);
            (None, Box::new(source))
        }
        Input::Stdin => {
            let stdin = std::io::stdin();
            pipeline::widen_pipe(std::os::fd::AsFd::as_fd(&stdin));
            let source = pipeline::read_on_thread("standard input".into(), stdin);
            (None, Box::new(source))
        }
        Input::Command(argv) => {
            let (program, rest) = argv.split_first().context("no producer command given")?;
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
            (Some(child), Box::new(source))
        }
    })
}

/// The checksum of an end that `push` hashed.
fn hashed(tally: pipeline::Tally) -> Checksum {
    tally.checksum.expect("push hashes both ends")
}

/// What the check reports for a stream in no format it knows.
const UNKNOWN_FORMAT: &str = "unknown";

/// The check's report (`format` first, then what it found) as the manifest records it.
fn check_record(stage: &Stage, described: Vec<(String, String)>) -> CheckRecord {
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
    specs: &[StageSpec],
    stages: Vec<Stage>,
) -> Result<(Option<CheckRecord>, Vec<StageRecord>), StageError> {
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
            format: spec.plugin.writes().map(String::from),
            sha256: stage.sha256().to_string(),
            params: stage.describe()?,
        });
    }
    Ok((check, pipeline))
}
