//! The streaming engine: source → plugin stages → sink, with bounded channels between them.
//!
//! Each stage runs on its own blocking thread (so stages use all cores), connected by
//! channels of a few chunks each; a full channel blocks the producer, so memory stays
//! constant whatever the stream's size. A stage's small outputs are gathered into pieces of
//! at least 64 KiB first ([`Gather`]), so a very compressible stream does not cost a
//! message per kilobyte. The source and sink are async; each end's checksum
//! runs on a thread of its own, so hashing overlaps with the stages and the I/O.
//!
//! A [`Step::Frames`] step runs one stage on several instances at once: the input is cut
//! into blocks of [`FRAME_BLOCK`] bytes, each block becomes one complete, independent
//! output (a zstd frame) on the next free instance, and the outputs are passed on in
//! order. It is for stages whose format decodes concatenated outputs as the concatenated
//! input (zstd's frames do), and costs about two blocks of memory per instance.
//!
//! **Invariant:** a stage finishes only when it receives an explicit end-of-stream message,
//! never because a channel closed; so a failure anywhere can never look like a short,
//! complete stream downstream. The first real error wins; the knock-on "cancelled" errors
//! of the other parts are dropped.

mod frames;

use crate::checksum::{Algorithm, Checksum, Hasher};
use crate::runtime::{ComponentSpec, Direction, Runtime, Stage, StageError};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

/// Size of the chunks read from the source and pushed into the first stage. Each chunk
/// costs every part of the pipeline a wakeup (eight hand-offs between threads on a push of
/// zstd+age), so chunks are as large as memory allows: smaller ones spend CPU in the
/// scheduler, larger ones cost memory (queues and sandbox heaps scale with it) for no
/// speed. Scales with nothing: a wakeup costs the same on any core count. Measured in
/// docs/performance.md ("Why the constants are what they are").
pub const CHUNK_SIZE: usize = 512 * 1024;
/// Chunks buffered between two parts of the pipeline: 1 MiB, enough to keep both sides of
/// a hand-off busy; deeper queues only cost memory (docs/performance.md).
const CHANNEL_DEPTH: usize = 2;
/// Input bytes per independent output in a [`Step::Frames`] step. Smaller blocks spread the
/// work sooner but compress worse (each zstd frame starts without history); the size lost
/// to frames is in docs/performance.md.
pub const FRAME_BLOCK: usize = 8 << 20;

/// One stage to open as a step: its component and settings.
pub struct StepSpec<'a> {
    pub component: &'a ComponentSpec,
    pub params: &'a [(String, Vec<u8>)],
    pub secrets: &'a [(String, Vec<u8>)],
    /// Whether its outputs for separate blocks, concatenated, decode as the concatenated
    /// input (zstd's frames do), so that it may run as a [`Step::Frames`].
    pub independent_frames: bool,
}

/// Opens `spec` as one step: on several instances when its frames are independent and
/// [`frame_instances`] says so, else on one.
pub fn open_step(
    runtime: &Runtime,
    spec: &StepSpec,
    direction: Direction,
) -> Result<Step, StageError> {
    let open = || runtime.open(spec.component, direction, spec.params, spec.secrets);
    let instances = match spec.independent_frames {
        true => frame_instances(direction),
        false => 1,
    };
    Ok(if instances > 1 {
        Step::Frames((0..instances).map(|_| open()).collect::<Result<_, _>>()?)
    } else {
        Step::One(open()?)
    })
}

/// How many instances a step of independent frames uses. `TWGATE_ZSTD_THREADS` decides
/// if set (1 turns parallel frames off). Otherwise encoding runs on two instances from 2
/// cores up, and on one per core beyond two from 4 cores up, at most 4: compression is the
/// one stage whose work grows with the data's entropy, so it is the one to spread; the
/// rest of the pipeline (reading, two hashing threads, encryption, writing) takes about
/// two cores. Each instance beyond the first costs about 13 MiB on dense data (half a block
/// queued each way; see `frames`). Decoding stays on one instance unless asked: it is
/// cheaper than encoding and its blocks cost more memory. Measurements:
/// docs/performance.md.
pub fn frame_instances(direction: Direction) -> usize {
    if let Some(n) = std::env::var("TWGATE_ZSTD_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        return n.clamp(1, 16);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match direction {
        Direction::Forward if cores >= 2 => cores.saturating_sub(2).clamp(2, 4),
        _ => 1,
    }
}

/// One step of a pipeline.
#[allow(clippy::large_enum_variant)] // a handful per run, each moved once
pub enum Step {
    /// One stage on one instance.
    One(Stage),
    /// One stage on several instances, one independent output per block (see the module
    /// documentation). The stages must be able to `restart` (no secrets).
    Frames(Vec<Stage>),
    /// A check (the built-in `check`), first if at all: it sees every chunk of the input
    /// and returns nothing. It runs beside the stages, on the input's hashing thread, and
    /// the stages get the chunks themselves, uncopied. Its `finish` fails if the stream is
    /// incomplete, and the end of the stream goes on only after it passed.
    Check(Stage),
}

pub(crate) enum Msg {
    Data(Bytes),
    End,
}

/// Bytes counted and hashed at one end of the pipeline.
#[derive(Debug, Clone)]
pub struct Tally {
    pub size: u64,
    /// `None` for an end that was only counted.
    pub checksum: Option<Checksum>,
}

/// Which checksum each end of a run computes; `None` only counts bytes.
#[derive(Debug, Clone, Copy)]
pub struct Hashes {
    pub input: Option<Algorithm>,
    pub output: Option<Algorithm>,
}

/// A [`Hasher`] on a thread of its own, fed through a short channel; at the input end of a
/// push, the check ([`Step::Check`]) runs on the same thread, beside the stages rather than
/// in line with them. There it costs no thread and no hand-off of its own, and it reads each
/// chunk just after the hasher did, while the chunk is still in cache (a thread of its own
/// would cost a wakeup per chunk: docs/performance.md).
struct HashThread {
    size: u64,
    tx: Option<mpsc::Sender<Bytes>>,
    done: Option<tokio::sync::oneshot::Receiver<Beside>>,
    /// Set by the thread once the check refused the stream, so the reader stops early.
    refused: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// What the hashing thread hands back: the checksum, and the check with its verdict.
struct Beside {
    checksum: Option<Checksum>,
    check: Option<(Stage, Result<(), PipelineError>)>,
}

impl HashThread {
    /// A hasher and, given one, a check; with neither, one that only counts.
    fn start(algorithm: Option<Algorithm>, check: Option<Stage>) -> HashThread {
        let refused = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        if algorithm.is_none() && check.is_none() {
            return HashThread {
                size: 0,
                tx: None,
                done: None,
                refused,
            };
        }
        let (tx, mut rx) = mpsc::channel::<Bytes>(CHANNEL_DEPTH * 2);
        let (done_tx, done) = tokio::sync::oneshot::channel();
        let flag = refused.clone();
        std::thread::Builder::new()
            .name("twgate-hash".into())
            .spawn(move || {
                let mut hasher = algorithm.map(Hasher::new);
                let mut check = check.map(|stage| (stage, Ok(())));
                while let Some(chunk) = rx.blocking_recv() {
                    if let Some(hasher) = &mut hasher {
                        hasher.update(&chunk);
                    }
                    if let Some((stage, verdict @ Ok(()))) = &mut check {
                        *verdict = stage
                            .push(&chunk)
                            .map_err(check_error)
                            .and_then(|output| judged_only(stage, output));
                        if verdict.is_err() {
                            flag.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                }
                if let Some((stage, verdict @ Ok(()))) = &mut check {
                    *verdict = stage
                        .finish()
                        .map_err(check_error)
                        .and_then(|output| judged_only(stage, output));
                }
                let checksum = hasher.map(Hasher::finish);
                let _ = done_tx.send(Beside { checksum, check });
            })
            .expect("cannot start a hashing thread");
        HashThread {
            size: 0,
            tx: Some(tx),
            done: Some(done),
            refused,
        }
    }

    async fn update(&mut self, chunk: Bytes) {
        self.size += chunk.len() as u64;
        if let Some(tx) = &self.tx {
            // The thread only stops once `tx` is dropped.
            let _ = tx.send(chunk).await;
        }
    }

    /// Whether the check has already refused the stream (its error comes with `finish`).
    fn refused(&self) -> bool {
        self.refused.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The tally, and the check with its verdict if there was one.
    async fn finish(mut self) -> (Tally, Option<(Stage, Result<(), PipelineError>)>) {
        self.tx = None;
        let beside = match self.done.take() {
            Some(done) => done.await.expect("the hashing thread stopped early"),
            None => Beside {
                checksum: None,
                check: None,
            },
        };
        let tally = Tally {
            size: self.size,
            checksum: beside.checksum,
        };
        (tally, beside.check)
    }
}

/// A check's error as the pipeline reports it: a stream it refused is [`PipelineError::Refused`].
fn check_error(e: StageError) -> PipelineError {
    match e {
        StageError::CorruptInput { message, .. } => PipelineError::Refused { message },
        other => PipelineError::Stage(other),
    }
}

/// A check only judges: bytes it returns are an error of the plugin's.
fn judged_only(check: &Stage, output: Vec<u8>) -> Result<(), PipelineError> {
    match output.is_empty() {
        true => Ok(()),
        false => Err(PipelineError::Stage(StageError::Internal {
            plugin: check.plugin().to_string(),
            message: "a check returned bytes; it must only judge".into(),
        })),
    }
}

/// What a pipeline run produced.
pub struct Outcome {
    pub input: Tally,
    pub output: Tally,
    /// The stages, finished, in order (for `describe`).
    pub stages: Vec<Stage>,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("reading the input failed")]
    Source(#[source] anyhow::Error),
    #[error(transparent)]
    Stage(#[from] StageError),
    /// The check refused the stream: incomplete or malformed.
    #[error("{message}")]
    Refused { message: String },
    #[error("writing the output failed")]
    Sink(#[source] anyhow::Error),
    /// Another part of the pipeline stopped first; never the error reported.
    #[error("cancelled")]
    Cancelled,
}

/// Where a pipeline's bytes come from: chunks of any size, in order.
pub type Source<'a> = Box<dyn Stream<Item = anyhow::Result<Bytes>> + Send + Unpin + 'a>;

/// Where a pipeline's bytes go: called once per chunk, in order.
pub trait Sink {
    fn write(
        &mut self,
        chunk: Bytes,
    ) -> impl std::future::Future<Output = anyhow::Result<()>> + Send;
}

/// Runs `source` through `steps` into `sink`, hashing each end as `hashes` says. On error,
/// nothing is finished: the caller must discard whatever the sink received. A pull only
/// counts its input: its end-to-end check is the output's checksum.
pub async fn run<S: Sink + Send>(
    source: Source<'_>,
    steps: Vec<Step>,
    hashes: Hashes,
    sink: &mut S,
    mut on_progress: impl FnMut(u64, u64) + Send,
) -> Result<Outcome, PipelineError> {
    let (first_tx, mut rx) = mpsc::channel::<Msg>(CHANNEL_DEPTH);
    let input_bytes = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut steps = steps;
    let check = match steps.first() {
        Some(Step::Check(_)) => match steps.remove(0) {
            Step::Check(stage) => Some(stage),
            _ => unreachable!("the first step is a check"),
        },
        _ => None,
    };
    debug_assert!(
        !steps.iter().any(|s| matches!(s, Step::Check(_))),
        "a check comes first"
    );

    let mut threads = Vec::new();
    for step in steps {
        let (tx, next_rx) = mpsc::channel::<Msg>(CHANNEL_DEPTH);
        let mut stage_rx = std::mem::replace(&mut rx, next_rx);
        threads.push(tokio::task::spawn_blocking(move || match step {
            Step::One(mut stage) => {
                let result = run_stage(&mut stage, &mut stage_rx, &tx);
                (stage, result)
            }
            Step::Frames(stages) => frames::run(stages, &mut stage_rx, &tx),
            Step::Check(_) => unreachable!("a check runs beside the stages, taken out above"),
        }));
    }

    let counter = input_bytes.clone();
    let read = async move {
        let mut hasher = HashThread::start(hashes.input, check);
        let send = |chunk: Bytes| first_tx.send(Msg::Data(chunk));
        let mut source = source;
        while let Some(chunk) = source.next().await {
            let mut chunk = chunk.map_err(PipelineError::Source)?;
            hasher.update(chunk.clone()).await;
            counter.store(hasher.size, std::sync::atomic::Ordering::Relaxed);
            if hasher.refused() {
                break;
            }
            // Stores read ahead in large ranges; stages get steady, small chunks.
            while !chunk.is_empty() {
                let piece = chunk.split_to(chunk.len().min(CHUNK_SIZE));
                send(piece).await.map_err(|_| PipelineError::Cancelled)?;
            }
        }
        // The end goes on only once the check has passed the whole stream.
        let (tally, check) = hasher.finish().await;
        let check = match check {
            Some((stage, Ok(()))) => Some(stage),
            Some((_, Err(e))) => return Err(e),
            None => None,
        };
        first_tx
            .send(Msg::End)
            .await
            .map_err(|_| PipelineError::Cancelled)?;
        Ok::<(Tally, Option<Stage>), PipelineError>((tally, check))
    };

    let counter = input_bytes.clone();
    let write = async move {
        let mut hasher = HashThread::start(hashes.output, None);
        loop {
            match rx.recv().await {
                Some(Msg::Data(chunk)) => {
                    hasher.update(chunk.clone()).await;
                    on_progress(
                        counter.load(std::sync::atomic::Ordering::Relaxed),
                        hasher.size,
                    );
                    sink.write(chunk).await.map_err(PipelineError::Sink)?;
                }
                Some(Msg::End) => break,
                None => return Err(PipelineError::Cancelled),
            }
        }
        Ok::<Tally, PipelineError>(hasher.finish().await.0)
    };

    // On the first error the other end is dropped, which closes its channel and so stops
    // every stage thread in turn.
    let joined = tokio::try_join!(read, write);
    let mut stages = Vec::new();
    let mut errors: Vec<PipelineError> = Vec::new();
    for thread in threads {
        let (stage, result) = thread.await.expect("a stage thread panicked");
        stages.push(stage);
        errors.extend(result.err());
    }
    match joined {
        Ok(((input, check), output)) if errors.is_empty() => Ok(Outcome {
            input,
            output,
            stages: check.into_iter().chain(stages).collect(),
        }),
        Ok(_) => Err(first_real(errors)),
        Err(e) => {
            errors.insert(0, e);
            Err(first_real(errors))
        }
    }
}

/// The error that caused the others: the first that is not a knock-on cancellation.
pub(crate) fn first_real(errors: Vec<PipelineError>) -> PipelineError {
    let mut errors = errors.into_iter();
    let first = errors.next().unwrap_or(PipelineError::Cancelled);
    if !matches!(first, PipelineError::Cancelled) {
        return first;
    }
    errors
        .find(|e| !matches!(e, PipelineError::Cancelled))
        .unwrap_or(first)
}

pub(crate) fn run_stage(
    stage: &mut Stage,
    rx: &mut mpsc::Receiver<Msg>,
    tx: &mpsc::Sender<Msg>,
) -> Result<(), PipelineError> {
    let mut gather = Gather::default();
    let mut send = |piece: Bytes| {
        tx.blocking_send(Msg::Data(piece))
            .map_err(|_| PipelineError::Cancelled)
    };
    loop {
        match rx.blocking_recv() {
            Some(Msg::Data(chunk)) => gather.pour(stage, |s| s.push(&chunk), &mut send)?,
            Some(Msg::End) => break,
            None => return Err(PipelineError::Cancelled),
        }
    }
    gather.pour(stage, Stage::finish, &mut send)?;
    gather.flush(&mut send)?;
    tx.blocking_send(Msg::End)
        .map_err(|_| PipelineError::Cancelled)
}

/// Outputs smaller than this are gathered before they are passed on.
const MIN_PIECE: usize = 64 << 10;

/// Gathers a stage's small outputs into pieces of at least [`MIN_PIECE`] bytes. A very
/// compressible stream gives one output of a kilobyte or so per 128 KiB zstd block; passed
/// on one by one, each would cost every later part of the pipeline a message, a wakeup, a
/// hash update and a write. Large outputs pass through uncopied.
#[derive(Default)]
pub(crate) struct Gather {
    held: Vec<u8>,
}

impl Gather {
    /// Takes `data`, and sends on through `send` what is ready: `data` itself when large,
    /// else the gathered bytes once there are enough.
    pub(crate) fn add<E>(
        &mut self,
        data: Vec<u8>,
        mut send: impl FnMut(Bytes) -> Result<(), E>,
    ) -> Result<(), E> {
        if data.len() >= MIN_PIECE {
            self.flush(&mut send)?;
            return send(Bytes::from(data));
        }
        if self.held.capacity() == 0 {
            self.held.reserve(2 * MIN_PIECE);
        }
        self.held.extend_from_slice(&data);
        match self.held.len() >= MIN_PIECE {
            true => send(Bytes::from(std::mem::take(&mut self.held))),
            false => Ok(()),
        }
    }

    /// Makes `call` (a `push` or `finish`), then calls `drain` until it returns nothing,
    /// and takes every output as [`Gather::add`] does.
    pub(crate) fn pour<E: From<StageError>>(
        &mut self,
        stage: &mut Stage,
        call: impl FnOnce(&mut Stage) -> Result<Vec<u8>, StageError>,
        send: &mut impl FnMut(Bytes) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut output = call(stage)?;
        loop {
            self.add(output, &mut *send)?;
            output = stage.drain()?;
            if output.is_empty() {
                return Ok(());
            }
        }
    }

    /// Sends on the bytes still held, if any: at the end of a stream or of a block.
    pub(crate) fn flush<E>(
        &mut self,
        mut send: impl FnMut(Bytes) -> Result<(), E>,
    ) -> Result<(), E> {
        match self.held.is_empty() {
            true => Ok(()),
            false => send(Bytes::from(std::mem::take(&mut self.held))),
        }
    }
}

/// Reads `reader` on a thread of its own, in chunks of [`CHUNK_SIZE`], as a pipeline's [`Source`].
///
/// For standard input, files and a producer command's output, a plain thread beats tokio's:
/// `tokio::io::stdin` hands every read to its blocking pool, and a pipe gives at most 64 KiB
/// a read, so each chunk would cost four hand-offs between threads; tokio's reader of a
/// child's output is slower the same way. Here one thread fills whole chunks and passes
/// them on through a short channel. If the pipeline stops first, the thread ends at its next chunk
/// (or, for a producer command, once it is killed).
pub fn read_on_thread(
    what: String,
    mut reader: impl std::io::Read + Send + 'static,
) -> impl Stream<Item = anyhow::Result<Bytes>> + Send + Unpin {
    use std::io::Read as _;
    let (tx, rx) = mpsc::channel::<anyhow::Result<Bytes>>(CHANNEL_DEPTH);
    std::thread::Builder::new()
        .name("twgate-read".into())
        .spawn(move || loop {
            let mut chunk = Vec::with_capacity(CHUNK_SIZE);
            let read = (&mut reader)
                .take(CHUNK_SIZE as u64)
                .read_to_end(&mut chunk);
            let item = match read {
                Ok(0) => return,
                Ok(_) => Ok(Bytes::from(chunk)),
                Err(e) => Err(anyhow::Error::new(e).context(format!("cannot read {what}"))),
            };
            let failed = item.is_err();
            if tx.blocking_send(item).is_err() || failed {
                return;
            }
        })
        .expect("cannot start a reading thread");
    Box::pin(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

/// Asks the kernel for a larger buffer on `fd` if it is a pipe, so the process writing
/// into it (`pg_dump`, `cat`) runs ahead by up to [`PIPE_BUFFER`] instead of 64 KiB, and
/// the two sides wake each other a sixteenth as often (it matters when the producer is
/// faster than twgate, as `cat` is; `pg_dump` rarely is). Best effort: a pipe that keeps its size (a limit lowered in
/// `/proc/sys/fs/pipe-max-size`) works as before.
pub fn widen_pipe(fd: std::os::fd::BorrowedFd<'_>) {
    use std::os::fd::AsRawFd as _;
    let raw = fd.as_raw_fd();
    // SAFETY: fstat and fcntl on a descriptor we borrow; neither keeps a reference.
    unsafe {
        let mut stat: libc::stat = std::mem::zeroed();
        if libc::fstat(raw, &mut stat) == 0 && stat.st_mode & libc::S_IFMT == libc::S_IFIFO {
            libc::fcntl(raw, libc::F_SETPIPE_SZ, PIPE_BUFFER as libc::c_int);
        }
    }
}

/// The pipe buffer [`widen_pipe`] asks for: Linux's default ceiling for unprivileged
/// processes.
const PIPE_BUFFER: usize = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `sizes` (piece lengths, bytes numbered in order) through a `Gather`; returns
    /// the lengths of what it sent, and checks that the bytes came out whole and in order.
    fn gathered(sizes: &[usize]) -> Vec<usize> {
        let mut gather = Gather::default();
        let (mut sent, mut next) = (Vec::<Bytes>::new(), 0u32);
        for &size in sizes {
            let piece: Vec<u8> = (0..size).map(|i| (next + i as u32) as u8).collect();
            next += size as u32;
            gather
                .add(piece, |b| {
                    sent.push(b);
                    Ok::<(), ()>(())
                })
                .unwrap();
        }
        gather
            .flush(|b| {
                sent.push(b);
                Ok::<(), ()>(())
            })
            .unwrap();
        let all: Vec<u8> = sent.iter().flat_map(|b| b.iter().copied()).collect();
        assert!(all.iter().enumerate().all(|(i, b)| *b == i as u8));
        assert_eq!(all.len(), sizes.iter().sum::<usize>());
        sent.iter().map(Bytes::len).collect()
    }

    #[test]
    fn small_outputs_are_gathered_and_large_ones_pass() {
        // A thousand 1.3 KB outputs (a 100:1 dump's zstd blocks) leave as 64 KiB pieces.
        let small = gathered(&[1300; 1000]);
        assert!(small[..small.len() - 1].iter().all(|&n| n >= MIN_PIECE));
        assert!(small.len() <= 1300 * 1000 / MIN_PIECE + 1);
        // Large outputs pass alone; what was held goes first.
        assert_eq!(gathered(&[MIN_PIECE, 1 << 20]), vec![MIN_PIECE, 1 << 20]);
        assert_eq!(gathered(&[10, 1 << 20, 5]), vec![10, 1 << 20, 5]);
        // Nothing in, nothing out; empty outputs are no pieces.
        assert!(gathered(&[]).is_empty());
        assert!(gathered(&[0, 0]).is_empty());
    }
}
