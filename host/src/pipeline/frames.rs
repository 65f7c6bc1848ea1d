//! A pipeline step that runs one stage on several instances at once (`Step::Frames`), for
//! zstd, whose frames are independent: a stream of concatenated frames decodes as the
//! concatenation of their contents, and `zstd -d` reads it like any other.
//!
//! The input is cut into blocks: on push, every `FRAME_BLOCK` bytes (each block becomes one
//! frame); on pull, at frame boundaries found by [`FrameScanner`], once a block holds at
//! least [`MIN_INVERSE_BLOCK`] bytes. Block `k` goes to instance `k mod N`, which runs it as
//! one stream (`push`es, `finish`, then `restart` for the next block) and sends its output
//! as it comes; a collector passes the outputs on in block order.
//!
//! **Invariants:** outputs leave in input order (round-robin assignment, and the collector
//! reads instance `k mod N` to the end of block `k` before block `k + 1`); the end-of-stream
//! message goes downstream only once every block has been collected and the upstream ended
//! explicitly, so a failure never looks like a shorter stream. An empty input still gives
//! one (empty) block. Memory is bounded whatever the input: each instance queues at most
//! about one block of input and of output (bounded channels), and a stream that cannot be
//! cut (one huge frame, or bytes that are not zstd) simply stays one block, on one
//! instance, streaming through.

use super::{Gather, Msg, PipelineError, CHUNK_SIZE, FRAME_BLOCK};
use crate::runtime::{Direction, Stage};
use bytes::Bytes;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use tokio::sync::mpsc;

/// On pull, a block ends at the first frame boundary after this many input bytes: each of
/// twgate's frames (8 MiB of content) is a block, and a stream of tiny frames is not cut
/// into tiny blocks.
pub const MIN_INVERSE_BLOCK: usize = 64 << 10;

/// Messages queued per instance, each way, when compressing: about half a block (input
/// pieces and compressed output are at most a pipeline chunk each). Half is enough to keep
/// every instance busy: the dispatcher moves on to the next instance once the current one
/// has all but half its block queued, so the next block starts while this one still has
/// half a block to go; and an instance's finished output waits at most about that long for
/// the collector. A whole block each way would cost a block more per instance for no speed.
const DEPTH: usize = FRAME_BLOCK / CHUNK_SIZE / 2 + 2;
/// Output messages queued per instance when decompressing: a decompressor returns up to
/// about 1 MiB per call, so this bounds each instance's waiting output near 8 MiB.
const INVERSE_OUT_DEPTH: usize = 8;

/// What flows to and from an instance.
enum Part {
    Piece(Bytes),
    /// The block is complete.
    EndBlock,
}

/// Runs `stages` (one per instance, all opened alike) as one step. Returns the first stage
/// (for `describe`) and the step's result.
pub fn run(
    stages: Vec<Stage>,
    rx: &mut mpsc::Receiver<Msg>,
    tx: &mpsc::Sender<Msg>,
) -> (Stage, Result<(), PipelineError>) {
    assert!(
        !stages.is_empty(),
        "a frames step needs at least one instance"
    );
    let (cut, out_depth) = match stages[0].direction() {
        Direction::Forward => (Cut::Every(FRAME_BLOCK), DEPTH),
        Direction::Inverse => (Cut::Frames(FrameScanner::default()), INVERSE_OUT_DEPTH),
    };
    std::thread::scope(|scope| {
        let mut inputs = Vec::new();
        let mut outputs = Vec::new();
        let mut workers = Vec::new();
        for stage in stages {
            let (work_tx, work_rx) = sync_channel::<Part>(DEPTH);
            let (out_tx, out_rx) = sync_channel::<Part>(out_depth);
            inputs.push(work_tx);
            outputs.push(out_rx);
            workers.push(scope.spawn(move || worker(stage, work_rx, out_tx)));
        }
        let collector = scope.spawn(move || collect(outputs, tx));
        let dispatched = dispatch(rx, inputs, cut);
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
            Err(super::first_real(errors))
        };
        (first.expect("at least one instance"), result)
    })
}

/// Where blocks end.
enum Cut {
    /// After every so many bytes.
    Every(usize),
    /// At zstd frame boundaries.
    Frames(FrameScanner),
}

/// Sends each upstream chunk to the instance whose block it belongs to. Ends every block,
/// then drops the senders, which tells the instances that no block follows.
fn dispatch(
    rx: &mut mpsc::Receiver<Msg>,
    inputs: Vec<SyncSender<Part>>,
    mut cut: Cut,
) -> Result<(), PipelineError> {
    let send = |i: usize, part: Part| inputs[i].send(part).map_err(|_| PipelineError::Cancelled);
    let (mut current, mut filled, mut blocks) = (0usize, 0usize, 0usize);
    loop {
        match rx.blocking_recv() {
            Some(Msg::Data(mut chunk)) => {
                while !chunk.is_empty() {
                    // How much of `chunk` belongs to the current block, and whether the
                    // block ends there.
                    let (take, ends) = match &mut cut {
                        Cut::Every(size) => {
                            let take = chunk.len().min(*size - filled);
                            (take, filled + take == *size)
                        }
                        Cut::Frames(scanner) => {
                            match scanner
                                .next_boundary(&chunk, MIN_INVERSE_BLOCK.saturating_sub(filled))
                            {
                                Some(at) => (at, true),
                                None => (chunk.len(), false),
                            }
                        }
                    };
                    let piece = chunk.split_to(take);
                    filled += piece.len();
                    if !piece.is_empty() {
                        send(current, Part::Piece(piece))?;
                    }
                    if ends {
                        send(current, Part::EndBlock)?;
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
        send(current, Part::EndBlock)?;
    }
    Ok(())
}

/// One instance: one stream per block, output sent as it comes, until no block follows.
fn worker(
    mut stage: Stage,
    work: Receiver<Part>,
    out: SyncSender<Part>,
) -> (Stage, Result<(), PipelineError>) {
    let mut started = false;
    let mut gather = Gather::default();
    let mut send = |bytes: Bytes| {
        out.send(Part::Piece(bytes))
            .map_err(|_| PipelineError::Cancelled)
    };
    loop {
        let result = match work.recv() {
            Ok(Part::Piece(piece)) => {
                started = true;
                gather.pour(&mut stage, |s| s.push(&piece), &mut send)
            }
            Ok(Part::EndBlock) => {
                started = false;
                gather
                    .pour(&mut stage, Stage::finish, &mut send)
                    .and_then(|()| gather.flush(&mut send))
                    .and_then(|()| stage.restart().map_err(PipelineError::from))
                    .and_then(|()| {
                        out.send(Part::EndBlock)
                            .map_err(|_| PipelineError::Cancelled)
                    })
            }
            // No block follows: the normal end, between blocks.
            Err(_) if !started => return (stage, Ok(())),
            Err(_) => Err(PipelineError::Cancelled),
        };
        if let Err(e) = result {
            // Dropping `out` mid-block tells the collector this block failed.
            return (stage, Err(e));
        }
    }
}

/// Passes each block's output on in block order until an instance says no block follows.
fn collect(outputs: Vec<Receiver<Part>>, tx: &mpsc::Sender<Msg>) -> Result<(), PipelineError> {
    for k in 0.. {
        let from = &outputs[k % outputs.len()];
        let mut started = false;
        loop {
            match from.recv() {
                Ok(Part::Piece(piece)) => {
                    started = true;
                    tx.blocking_send(Msg::Data(piece))
                        .map_err(|_| PipelineError::Cancelled)?;
                }
                Ok(Part::EndBlock) => break,
                // The instance stopped between blocks: no block `k`, so none after it.
                Err(_) if !started => return Ok(()),
                Err(_) => return Err(PipelineError::Cancelled),
            }
        }
    }
    unreachable!("blocks are counted by an unbounded range")
}

/// Finds where zstd frames end in a stream fed in pieces, by reading frame and block
/// headers (RFC 8878 §3.1) without decoding anything. Anything it does not recognise makes
/// it stop cutting (`Opaque`): the rest of the stream stays in one block, and the plugin
/// reports what is wrong with it.
#[derive(Default)]
pub struct FrameScanner {
    state: Scan,
    /// Header bytes collected for the current state.
    buf: Vec<u8>,
    /// Bytes to skip before the next state.
    skip: u64,
    /// Whether the current frame has a content checksum.
    checksum: bool,
}

#[derive(Default, Clone, Copy, PartialEq, Debug)]
enum Scan {
    /// Reading a frame's 4-byte magic number.
    #[default]
    Magic,
    /// Reading a skippable frame's 4-byte size.
    SkippableSize,
    /// Reading the frame header descriptor.
    Descriptor,
    /// Reading a block header (3 bytes).
    BlockHeader,
    /// Skipping, then reading a block header.
    ThenBlock,
    /// Skipping a last block's content, then the checksum if any, then the frame ends.
    ThenFrameEnd,
    /// Skipping to the end of the frame.
    ToFrameEnd,
    /// Not zstd as far as we can tell: no more cuts.
    Opaque,
}

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

impl FrameScanner {
    /// The offset in `data` just past the first frame end at or after `min` bytes into
    /// `data`, if any, consuming `data` up to there; otherwise consumes all of `data`.
    pub fn next_boundary(&mut self, data: &[u8], min: usize) -> Option<usize> {
        let mut pos = 0;
        while pos < data.len() {
            if self.skip > 0 {
                let n = (self.skip as usize).min(data.len() - pos);
                self.skip -= n as u64;
                pos += n;
                if self.skip > 0 {
                    break;
                }
            }
            match self.state {
                Scan::Opaque => return None,
                Scan::ToFrameEnd => {
                    self.state = Scan::Magic;
                    if pos >= min {
                        return Some(pos);
                    }
                    continue;
                }
                Scan::ThenBlock => {
                    self.state = Scan::BlockHeader;
                    continue;
                }
                Scan::ThenFrameEnd => {
                    self.state = Scan::ToFrameEnd;
                    self.skip = if self.checksum { 4 } else { 0 };
                    continue;
                }
                _ => {}
            }
            if pos == data.len() {
                break;
            }
            self.buf.push(data[pos]);
            pos += 1;
            self.header_byte();
        }
        // A frame may end exactly at the end of `data`.
        if self.skip == 0 && self.state == Scan::ToFrameEnd && pos >= min && !data.is_empty() {
            self.state = Scan::Magic;
            return Some(pos);
        }
        None
    }

    /// Acts on the header bytes collected so far.
    fn header_byte(&mut self) {
        let b = &self.buf;
        match self.state {
            Scan::Magic if b.len() == 4 => {
                self.state = if b[..] == ZSTD_MAGIC {
                    Scan::Descriptor
                } else if b[0] & 0xf0 == 0x50 && b[1..] == [0x2a, 0x4d, 0x18] {
                    Scan::SkippableSize
                } else {
                    Scan::Opaque
                };
                self.buf.clear();
            }
            Scan::SkippableSize if b.len() == 4 => {
                self.skip = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64;
                self.state = Scan::ToFrameEnd;
                self.buf.clear();
            }
            Scan::Descriptor => {
                let d = b[0];
                let single_segment = d & 0x20 != 0;
                if d & 0x08 != 0 {
                    self.state = Scan::Opaque; // reserved bit set
                } else {
                    self.checksum = d & 0x04 != 0;
                    let dict = [0, 1, 2, 4][(d & 0x03) as usize];
                    let fcs = match d >> 6 {
                        0 => single_segment as u64,
                        1 => 2,
                        2 => 4,
                        _ => 8,
                    };
                    self.skip = (!single_segment) as u64 + dict + fcs;
                    self.state = Scan::ThenBlock;
                }
                self.buf.clear();
            }
            Scan::BlockHeader if b.len() == 3 => {
                let header = u32::from_le_bytes([b[0], b[1], b[2], 0]);
                let last = header & 1 != 0;
                let size = (header >> 3) as u64;
                self.skip = match (header >> 1) & 3 {
                    0 | 2 => size, // raw, compressed
                    1 => 1,        // RLE: one byte
                    _ => {
                        self.state = Scan::Opaque;
                        self.buf.clear();
                        return;
                    }
                };
                self.state = if last {
                    Scan::ThenFrameEnd
                } else {
                    Scan::ThenBlock
                };
                self.buf.clear();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zstd frame of raw blocks (no compression), `content` split in blocks of `block`.
    fn raw_frame(content: &[u8], block: usize, checksum: bool) -> Vec<u8> {
        let mut f = ZSTD_MAGIC.to_vec();
        // Single segment with a 1-byte content size if small, else a window descriptor.
        f.push(if checksum { 0x04 } else { 0x00 });
        f.push(0x50); // window descriptor
        let pieces: Vec<&[u8]> = if content.is_empty() {
            vec![&[][..]]
        } else {
            content.chunks(block).collect()
        };
        for (i, piece) in pieces.iter().enumerate() {
            let last = (i + 1 == pieces.len()) as u32;
            let header = last | ((piece.len() as u32) << 3);
            f.extend_from_slice(&header.to_le_bytes()[..3]);
            f.extend_from_slice(piece);
        }
        if checksum {
            f.extend_from_slice(&[1, 2, 3, 4]);
        }
        f
    }

    fn boundaries(stream: &[u8], feed: usize, min: usize) -> Vec<usize> {
        let mut scanner = FrameScanner::default();
        let mut found = Vec::new();
        let mut base = 0;
        let mut pending = 0; // bytes since the last boundary
        for piece in stream.chunks(feed) {
            let mut rest = piece;
            while !rest.is_empty() {
                match scanner.next_boundary(rest, min.saturating_sub(pending)) {
                    Some(at) => {
                        base += at;
                        found.push(base);
                        pending = 0;
                        rest = &rest[at..];
                    }
                    None => {
                        base += rest.len();
                        pending += rest.len();
                        rest = &[];
                    }
                }
            }
        }
        found
    }

    #[test]
    fn finds_every_frame_end_however_the_stream_is_fed() {
        let a = raw_frame(&[7; 1000], 300, true);
        let b = raw_frame(b"", 300, false);
        let mut skippable = vec![0x5a, 0x2a, 0x4d, 0x18, 5, 0, 0, 0];
        skippable.extend_from_slice(b"hello");
        let c = raw_frame(&[9; 70], 64, false);
        let stream = [a.clone(), b.clone(), skippable.clone(), c.clone()].concat();
        let ends = vec![
            a.len(),
            a.len() + b.len(),
            a.len() + b.len() + skippable.len(),
            stream.len(),
        ];
        for feed in [1, 2, 3, 7, 64, 1000, stream.len()] {
            assert_eq!(boundaries(&stream, feed, 0), ends, "fed {feed} at a time");
        }
        // With a minimum block size, a boundary is reported only once the block since the
        // last one is at least that long.
        assert_eq!(boundaries(&stream, 5, a.len() + 1), vec![a.len() + b.len()]);
    }

    #[test]
    fn anything_else_is_never_cut() {
        let mut stream = raw_frame(&[1; 100], 50, false);
        let first = stream.len();
        stream.extend_from_slice(b"not a zstd frame at all");
        stream.extend(raw_frame(&[2; 100], 50, false));
        assert_eq!(boundaries(&stream, 3, 0), vec![first]);
        assert_eq!(boundaries(b"plain text", 4, 0), Vec::<usize>::new());
    }
}

/// Random and mutated input to the frame scanner, which reads stored bytes before any
/// checksum: no panic, boundaries in order and within the input, in any split.
#[cfg(test)]
mod fuzz {
    use super::FrameScanner;
    use proptest::prelude::*;

    /// Feeds `data` in pieces of `sizes` (cycled) and checks every boundary it reports.
    fn scan(data: &[u8], sizes: &[usize], min: usize) {
        let mut scanner = FrameScanner::default();
        let mut rest = data;
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].clamp(1, rest.len());
            let mut piece = &rest[..n];
            while let Some(cut) = scanner.next_boundary(piece, min) {
                assert!(cut <= piece.len(), "boundary {cut} past {}", piece.len());
                piece = &piece[cut..];
            }
            rest = &rest[n..];
            i += 1;
        }
    }

    /// A real zstd stream of a few frames, to mutate.
    fn frames() -> Vec<u8> {
        let mut out = Vec::new();
        for part in [&b"first frame "[..], &[7u8; 70_000][..], b"third"] {
            out.extend(zstd::bulk::compress(part, 3).unwrap());
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn random_bytes(data in proptest::collection::vec(any::<u8>(), 0..4096),
                        sizes in proptest::collection::vec(1usize..600, 1..8),
                        min in 0usize..64) {
            scan(&data, &sizes, min);
        }

        #[test]
        fn mutated_frames(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
                          sizes in proptest::collection::vec(1usize..5000, 1..8),
                          cut in any::<usize>()) {
            let mut data = frames();
            for (at, byte) in flips {
                let at = at % data.len();
                data[at] ^= byte;
            }
            data.truncate(cut % (data.len() + 1));
            scan(&data, &sizes, 0);
        }
    }
}
