//! A pipeline step that runs one stage on several instances at once (`Step::Frames`): the
//! input is cut into blocks of `FRAME_BLOCK` bytes, block `k` goes to instance `k mod N`,
//! which turns it into one complete, independent output (`push`es, `finish`, then
//! `restart` for the next block), and a collector passes the outputs on in block order.
//!
//! zstd decodes concatenated frames as the concatenation of their contents, so the result
//! is one standard zstd stream that `zstd -d` (and the plugin) read like any other.
//!
//! **Invariants:** outputs leave in input order (round-robin assignment, and the collector
//! reads instance `k mod N` for block `k`); the end-of-stream message goes downstream only
//! once every block has been collected and the upstream ended explicitly, so a failure
//! never looks like a shorter stream. An empty input still gives one (empty) frame. Memory
//! is bounded: each instance queues at most one block of input and holds one frame of output.

use crate::pipeline::{Msg, PipelineError, CHUNK_SIZE, FRAME_BLOCK};
use crate::runtime::Stage;
use bytes::Bytes;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use tokio::sync::mpsc;

/// One block's output, as the instance returned it (pieces of about a push's size, so
/// nothing downstream sees a block-sized chunk).
type Frame = Vec<Bytes>;

/// What the dispatcher sends an instance.
enum Work {
    Piece(Bytes),
    /// The block is complete: finish its frame.
    EndBlock,
}

/// Runs `stages` (one per instance, all opened alike) as one step. Returns the first stage
/// (for `describe`) and the step's result.
pub fn run(
    stages: Vec<Stage>,
    rx: &mut mpsc::Receiver<Msg>,
    tx: &mpsc::Sender<Msg>,
) -> (Stage, Result<(), PipelineError>) {
    let n = stages.len();
    assert!(n > 0, "a frames step needs at least one instance");
    std::thread::scope(|scope| {
        let mut inputs = Vec::with_capacity(n);
        let mut outputs = Vec::with_capacity(n);
        let mut workers = Vec::with_capacity(n);
        for stage in stages {
            let (work_tx, work_rx) = sync_channel::<Work>(FRAME_BLOCK / CHUNK_SIZE + 1);
            // A rendezvous: a finished frame waits in its worker until its turn.
            let (out_tx, out_rx) = sync_channel::<Result<Frame, PipelineError>>(0);
            inputs.push(work_tx);
            outputs.push(out_rx);
            workers.push(scope.spawn(move || worker(stage, work_rx, out_tx)));
        }
        let collector = scope.spawn(move || collect(outputs, tx));
        let dispatched = dispatch(rx, inputs);
        let collected = collector.join().expect("the frame collector panicked");
        let mut errors = Vec::new();
        let mut first = None;
        for worker in workers {
            let (stage, result) = worker.join().expect("a frame worker panicked");
            first.get_or_insert(stage);
            errors.extend(result.err());
        }
        errors.extend(collected.err());
        errors.extend(dispatched.err());
        let result = if errors.is_empty() {
            tx.blocking_send(Msg::End)
                .map_err(|_| PipelineError::Cancelled)
        } else {
            Err(crate::pipeline::first_real(errors))
        };
        (first.expect("n > 0"), result)
    })
}

/// Sends each upstream chunk to the instance whose block it belongs to. Ends every block,
/// then drops the senders, which tells the instances that no block follows.
fn dispatch(
    rx: &mut mpsc::Receiver<Msg>,
    inputs: Vec<SyncSender<Work>>,
) -> Result<(), PipelineError> {
    let send = |i: usize, work: Work| inputs[i].send(work).map_err(|_| PipelineError::Cancelled);
    let (mut current, mut filled, mut blocks) = (0usize, 0usize, 0usize);
    loop {
        match rx.blocking_recv() {
            Some(Msg::Data(mut chunk)) => {
                while !chunk.is_empty() {
                    let piece = chunk.split_to(chunk.len().min(FRAME_BLOCK - filled));
                    filled += piece.len();
                    send(current, Work::Piece(piece))?;
                    if filled == FRAME_BLOCK {
                        send(current, Work::EndBlock)?;
                        blocks += 1;
                        current = (current + 1) % inputs.len();
                        filled = 0;
                    }
                }
            }
            Some(Msg::End) => break,
            None => return Err(PipelineError::Cancelled),
        }
    }
    if filled > 0 || blocks == 0 {
        send(current, Work::EndBlock)?;
    }
    Ok(())
}

/// One instance: one frame per block, until no block follows.
fn worker(
    mut stage: Stage,
    work: Receiver<Work>,
    out: SyncSender<Result<Frame, PipelineError>>,
) -> (Stage, Result<(), PipelineError>) {
    loop {
        let mut frame = Frame::new();
        let mut started = false;
        let result = loop {
            match work.recv() {
                Ok(Work::Piece(piece)) => {
                    started = true;
                    if let Err(e) = push_drain(&mut stage, &mut frame, |s| s.push(&piece)) {
                        break Err(e);
                    }
                }
                Ok(Work::EndBlock) => {
                    break push_drain(&mut stage, &mut frame, Stage::finish)
                        .and_then(|()| stage.restart().map_err(PipelineError::from));
                }
                // No block follows: the normal end, between blocks.
                Err(_) if !started => return (stage, Ok(())),
                Err(_) => break Err(PipelineError::Cancelled),
            }
        };
        match result {
            Ok(()) => {
                if out.send(Ok(frame)).is_err() {
                    return (stage, Err(PipelineError::Cancelled));
                }
            }
            Err(e) => {
                let _ = out.send(Err(PipelineError::Cancelled));
                return (stage, Err(e));
            }
        }
    }
}

/// One call that returns output, then `drain` until empty, all appended to `frame`.
fn push_drain(
    stage: &mut Stage,
    frame: &mut Frame,
    call: impl FnOnce(&mut Stage) -> Result<Vec<u8>, crate::runtime::StageError>,
) -> Result<(), PipelineError> {
    let mut out = call(stage)?;
    loop {
        if !out.is_empty() {
            frame.push(Bytes::from(out));
        }
        out = stage.drain()?;
        if out.is_empty() {
            return Ok(());
        }
    }
}

/// Passes the frames on in block order until an instance says no block follows.
fn collect(
    outputs: Vec<Receiver<Result<Frame, PipelineError>>>,
    tx: &mpsc::Sender<Msg>,
) -> Result<(), PipelineError> {
    for k in 0.. {
        match outputs[k % outputs.len()].recv() {
            Ok(Ok(frame)) => {
                for piece in frame {
                    tx.blocking_send(Msg::Data(piece))
                        .map_err(|_| PipelineError::Cancelled)?;
                }
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(()),
        }
    }
    unreachable!("blocks are counted by an unbounded range")
}
