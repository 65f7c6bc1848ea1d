//! Incremental OpenPGP packet framing (RFC 9580 §4.2): turns a byte stream that arrives
//! in arbitrary pieces into packet events — `Start(tag)`, `Body(bytes)`, `End` — without
//! ever holding more than a header (at most six bytes) of its own.
//!
//! Handles old-format headers (1-, 2-, 4-octet and indeterminate lengths) and new-format
//! headers (1-, 2-, 5-octet lengths and partial body lengths). Bodies are passed through
//! as borrowed slices of the input; what a packet means is the caller's business.
//!
//! **Invariant:** [`Framer::end_of_input`] fails unless the input stopped exactly at a
//! packet boundary (or inside an indeterminate-length packet, which the end closes), so a
//! truncated stream is never mistaken for a complete one.
//!
//! The writing side, [`PartialWriter`], streams one new-format packet out with partial
//! body lengths; the encryptor frames its SEIPD and literal data packets with it.

use crate::error::{self, Result};

/// Packet tags this plugin cares about.
pub mod tag {
    pub const PKESK: u8 = 1;
    pub const SIGNATURE: u8 = 2;
    pub const SKESK: u8 = 3;
    pub const ONE_PASS_SIG: u8 = 4;
    pub const SECRET_KEY: u8 = 5;
    pub const PUBLIC_KEY: u8 = 6;
    pub const SECRET_SUBKEY: u8 = 7;
    pub const COMPRESSED: u8 = 8;
    pub const SED: u8 = 9;
    pub const MARKER: u8 = 10;
    pub const LITERAL: u8 = 11;
    pub const TRUST: u8 = 12;
    pub const USER_ID: u8 = 13;
    pub const PUBLIC_SUBKEY: u8 = 14;
    pub const USER_ATTRIBUTE: u8 = 17;
    pub const SEIPD: u8 = 18;
    pub const MDC: u8 = 19;
    pub const AEAD: u8 = 20;
    pub const PADDING: u8 = 21;
}

/// One thing the framer found in the input.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A packet with this tag starts; its body follows.
    Start(u8),
    /// The next bytes of the current packet's body (never empty).
    Body(&'a [u8]),
    /// The current packet's body is complete.
    End,
}

/// A decoded body length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Length {
    Fixed(u64),
    /// This many bytes, then another length header follows.
    Partial(u64),
    Indeterminate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between packets, collecting a header in `hdr`.
    Header,
    /// Inside a body; `partial` means another length header follows `remaining` bytes.
    Body { remaining: u64, partial: bool },
    /// Collecting the length header of the next partial body chunk in `hdr`.
    PartialLength,
    /// Inside an indeterminate-length body, which runs to the end of the input.
    Indeterminate,
}

/// Incremental packet framer for one packet sequence.
#[derive(Debug)]
pub struct Framer {
    state: State,
    hdr: [u8; 6],
    hdr_len: usize,
    /// Names the sequence in messages, e.g. "encrypted data".
    what: &'static str,
}

/// Decodes a new-format length from `b`; `None` if more bytes are needed.
fn new_length(b: &[u8]) -> Option<(Length, usize)> {
    let o1 = *b.first()? as u64;
    match o1 {
        0..=191 => Some((Length::Fixed(o1), 1)),
        192..=223 => {
            let o2 = *b.get(1)? as u64;
            Some((Length::Fixed(((o1 - 192) << 8) + o2 + 192), 2))
        }
        255 => {
            let v = b.get(1..5)?;
            Some((
                Length::Fixed(u32::from_be_bytes([v[0], v[1], v[2], v[3]]) as u64),
                5,
            ))
        }
        _ => Some((Length::Partial(1u64 << (o1 & 0x1f)), 1)),
    }
}

/// Decodes a whole packet header from `b`; `None` if more bytes are needed.
fn header(b: &[u8], what: &str) -> Result<Option<(u8, Length)>> {
    let ctb = b[0];
    if ctb & 0x80 == 0 {
        return Err(error::corrupt(format!(
            "{what} is not an OpenPGP packet stream (bad packet header 0x{ctb:02x})"
        )));
    }
    let (tag, length) = if ctb & 0x40 != 0 {
        let Some((length, _)) = new_length(&b[1..]) else {
            return Ok(None);
        };
        (ctb & 0x3f, length)
    } else {
        let tag = (ctb >> 2) & 0x0f;
        let n = match ctb & 3 {
            0 => 1,
            1 => 2,
            2 => 4,
            _ => return Ok(Some((tag, Length::Indeterminate))),
        };
        let Some(v) = b.get(1..1 + n) else {
            return Ok(None);
        };
        (
            tag,
            Length::Fixed(v.iter().fold(0u64, |acc, &x| (acc << 8) | x as u64)),
        )
    };
    if tag == 0 {
        return Err(error::corrupt(format!(
            "{what} contains a packet with the reserved tag 0"
        )));
    }
    Ok(Some((tag, length)))
}

impl Framer {
    /// A framer at the start of a packet sequence; `what` names it in error messages.
    pub fn new(what: &'static str) -> Framer {
        Framer {
            state: State::Header,
            hdr: [0; 6],
            hdr_len: 0,
            what,
        }
    }

    fn enter(&mut self, length: Length) {
        self.hdr_len = 0;
        self.state = match length {
            Length::Fixed(n) => State::Body {
                remaining: n,
                partial: false,
            },
            Length::Partial(n) => State::Body {
                remaining: n,
                partial: true,
            },
            Length::Indeterminate => State::Indeterminate,
        };
    }

    /// The next event from `input`, consuming what it uses; `None` when `input` is used up.
    pub fn next<'a>(&mut self, input: &mut &'a [u8]) -> Result<Option<Event<'a>>> {
        loop {
            match self.state {
                State::Body {
                    remaining: 0,
                    partial: true,
                } => {
                    self.state = State::PartialLength;
                    self.hdr_len = 0;
                }
                State::Body {
                    remaining: 0,
                    partial: false,
                } => {
                    self.state = State::Header;
                    self.hdr_len = 0;
                    return Ok(Some(Event::End));
                }
                State::Body { remaining, partial } => {
                    if input.is_empty() {
                        return Ok(None);
                    }
                    let n = remaining.min(input.len() as u64) as usize;
                    let (body, rest) = input.split_at(n);
                    *input = rest;
                    self.state = State::Body {
                        remaining: remaining - n as u64,
                        partial,
                    };
                    return Ok(Some(Event::Body(body)));
                }
                State::Indeterminate => {
                    if input.is_empty() {
                        return Ok(None);
                    }
                    let body = std::mem::take(input);
                    return Ok(Some(Event::Body(body)));
                }
                State::Header | State::PartialLength => {
                    let Some((&b, rest)) = input.split_first() else {
                        return Ok(None);
                    };
                    *input = rest;
                    self.hdr[self.hdr_len] = b;
                    self.hdr_len += 1;
                    let hdr = &self.hdr[..self.hdr_len];
                    if self.state == State::Header {
                        if let Some((tag, length)) = header(hdr, self.what)? {
                            self.enter(length);
                            return Ok(Some(Event::Start(tag)));
                        }
                    } else if let Some((length, _)) = new_length(hdr) {
                        self.enter(length);
                    }
                }
            }
        }
    }

    /// Whether the framer sits between packets (nothing of a next packet seen yet).
    pub fn between_packets(&self) -> bool {
        self.state == State::Header && self.hdr_len == 0
    }

    /// Ends the input. `Ok(true)`: an indeterminate-length packet was open and is now
    /// complete (the caller treats this as its `End`); `Ok(false)`: the input ended cleanly
    /// between packets; an error if it ended inside a header or a sized body.
    pub fn end_of_input(&mut self) -> Result<bool> {
        match self.state {
            State::Indeterminate => {
                self.state = State::Header;
                Ok(true)
            }
            State::Header if self.hdr_len == 0 => Ok(false),
            _ => Err(error::corrupt(format!(
                "{} is truncated (it ends inside a packet)",
                self.what
            ))),
        }
    }
}

/// Serializes a new-format packet header for `tag` with a body of `len` bytes.
pub fn new_format_header(tag: u8, len: usize) -> Vec<u8> {
    let mut h = vec![0xc0 | tag, 0xff];
    h.extend_from_slice(&(len as u32).to_be_bytes());
    h
}

/// Appends the shortest new-format (non-partial) encoding of body length `len`.
pub fn push_length(len: usize, out: &mut Vec<u8>) {
    match len {
        0..=191 => out.push(len as u8),
        192..=8383 => {
            let l = len - 192;
            out.extend_from_slice(&[(l >> 8) as u8 + 192, l as u8]);
        }
        _ => {
            out.push(0xff);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }
}

/// The smallest partial body chunk [`PartialWriter`] writes: RFC 9580 §4.2.1.4 requires
/// the first to be at least 512 bytes; every chunk is held to it, so at most 511 bytes
/// wait in the writer.
pub const MIN_PARTIAL: usize = 512;
/// The largest partial body chunk the format allows (2^30).
const MAX_PARTIAL: usize = 1 << 30;

/// Writes one new-format packet whose body streams in, using partial body lengths
/// (RFC 9580 §4.2.1.4): whenever at least [`MIN_PARTIAL`] bytes are waiting, they go out
/// as chunks of the largest powers of two that fit, and [`PartialWriter::finish`] writes
/// the rest (possibly nothing) under an ordinary length, which ends the packet.
///
/// **Invariant:** fewer than [`MIN_PARTIAL`] body bytes are ever held, so output keeps
/// pace with input; the header is written with the first chunk.
#[derive(Debug)]
pub struct PartialWriter {
    tag: u8,
    header_written: bool,
    held: Vec<u8>,
}

impl PartialWriter {
    /// A packet with `tag`, nothing written yet.
    pub fn new(tag: u8) -> PartialWriter {
        PartialWriter {
            tag,
            header_written: false,
            held: Vec::with_capacity(MIN_PARTIAL),
        }
    }

    fn header(&mut self, out: &mut Vec<u8>) {
        if !std::mem::replace(&mut self.header_written, true) {
            out.push(0xc0 | self.tag);
        }
    }

    /// Adds `data` to the body; appends every whole chunk that is ready to `out`.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<u8>) {
        let mut waiting = self.held.len() + data.len();
        if waiting < MIN_PARTIAL {
            self.held.extend_from_slice(data);
            return;
        }
        self.header(out);
        out.reserve(waiting + 8);
        while waiting >= MIN_PARTIAL {
            let log2 = waiting.min(MAX_PARTIAL).ilog2();
            let size = 1usize << log2;
            out.push(224 + log2 as u8);
            // `held` is shorter than any chunk, so the first chunk takes all of it.
            let from_held = self.held.len();
            out.extend_from_slice(&self.held);
            self.held.clear();
            out.extend_from_slice(&data[..size - from_held]);
            data = &data[size - from_held..];
            waiting -= size;
        }
        self.held.extend_from_slice(data);
    }

    /// Ends the packet: appends the header if none was written, the final length and the
    /// bytes still held.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.header(out);
        push_length(self.held.len(), out);
        out.extend_from_slice(&self.held);
        self.held.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twgate_plugin_sdk::Error;

    /// Runs `data` through a framer in pieces of `step`, collecting (tag, body) pairs.
    fn frame(data: &[u8], step: usize) -> Result<Vec<(u8, Vec<u8>)>> {
        let mut f = Framer::new("test");
        let mut out: Vec<(u8, Vec<u8>)> = Vec::new();
        let mut open = false;
        for piece in data.chunks(step.max(1)) {
            let mut input = piece;
            while let Some(ev) = f.next(&mut input)? {
                match ev {
                    Event::Start(t) => {
                        assert!(!open);
                        open = true;
                        out.push((t, Vec::new()));
                    }
                    Event::Body(b) => out.last_mut().unwrap().1.extend_from_slice(b),
                    Event::End => {
                        assert!(open);
                        open = false;
                    }
                }
            }
        }
        if f.end_of_input()? {
            assert!(open);
            open = false;
        }
        assert!(!open);
        Ok(out)
    }

    #[test]
    fn frames_all_header_forms() {
        let body: Vec<u8> = (0..70000u32).map(|i| i as u8).collect();
        let mut data = Vec::new();
        data.extend([0xa8, 3]); // old, tag 10, 1-octet length
        data.extend(b"PGP");
        data.extend([0x84 | 1, 0x01, 0x00]); // old, tag 1, 2-octet length 256
        data.extend(&body[..256]);
        data.extend([0x88 | 2, 0, 1, 0x11, 0x70]); // old, tag 2, 4-octet 70000
        data.extend(&body[..70000]);
        data.extend([0xc0 | 3, 5]); // new, 1-octet
        data.extend(&body[..5]);
        data.extend([0xc0 | 4, 0xc5, 0x10]); // new, 2-octet: (5<<8)+0x10+192 = 1488
        data.extend(&body[..1488]);
        data.extend([0xc0 | 11, 0xff, 0, 0, 0, 0]); // new, 5-octet, empty
                                                    // new, partial: 512 + 1024 + 7 bytes
        data.extend([0xc0 | 18, 0xe9]);
        data.extend(&body[..512]);
        data.extend([0xea]);
        data.extend(&body[512..1536]);
        data.extend([7]);
        data.extend(&body[1536..1543]);
        data.extend([0xa3]); // old, tag 8, indeterminate
        data.extend(&body[..3000]);
        let want = vec![
            (10, b"PGP".to_vec()),
            (1, body[..256].to_vec()),
            (2, body[..70000].to_vec()),
            (3, body[..5].to_vec()),
            (4, body[..1488].to_vec()),
            (11, vec![]),
            (18, body[..1543].to_vec()),
            (8, body[..3000].to_vec()),
        ];
        for step in [1, 2, 3, 7, 512, 100000] {
            assert_eq!(frame(&data, step).unwrap(), want, "step {step}");
        }
    }

    /// What [`PartialWriter`] writes frames back into the same body, with every partial
    /// chunk a power of two of at least 512 bytes and bounded holding.
    #[test]
    fn partial_writer_round_trips() {
        let body: Vec<u8> = (0..300_000u32).map(|i| (i * 31 + i / 7) as u8).collect();
        for len in [
            0, 1, 191, 192, 511, 512, 513, 8383, 8384, 65535, 65536, 65537, 300_000,
        ] {
            for step in [1, 100, 511, 512, 4096, 65537, 1 << 20] {
                if step == 1 && len > 10_000 {
                    continue;
                }
                let mut w = PartialWriter::new(11);
                let mut out = Vec::new();
                for piece in body[..len].chunks(step) {
                    let before = out.len();
                    w.push(piece, &mut out);
                    assert!(w.held.len() < MIN_PARTIAL);
                    assert!(out.len() - before <= piece.len() + MIN_PARTIAL + 64);
                }
                w.finish(&mut out);
                let framed = frame(&out, 4097).unwrap();
                assert_eq!(framed, vec![(11, body[..len].to_vec())], "{len} {step}");
                // Check the chunk sizes directly.
                let mut at = 1;
                loop {
                    let o = out[at];
                    if (224..255).contains(&o) {
                        assert!(1usize << (o & 0x1f) >= MIN_PARTIAL);
                        at += 1 + (1usize << (o & 0x1f));
                    } else {
                        let (Length::Fixed(n), used) = new_length(&out[at..]).unwrap() else {
                            panic!("bad final length");
                        };
                        assert_eq!(at + used + n as usize, out.len());
                        break;
                    }
                }
            }
        }
    }

    #[test]
    fn lengths_encode_shortest() {
        for (len, want) in [
            (0usize, vec![0u8]),
            (191, vec![191]),
            (192, vec![192, 0]),
            (8383, vec![223, 255]),
            (8384, vec![255, 0, 0, 0x20, 0xc0]),
        ] {
            let mut out = Vec::new();
            push_length(len, &mut out);
            assert_eq!(out, want, "{len}");
            assert_eq!(
                new_length(&out),
                Some((Length::Fixed(len as u64), want.len()))
            );
        }
    }

    #[test]
    fn truncation_is_detected() {
        let data = [0xc0 | 11, 10, 1, 2, 3];
        assert!(matches!(frame(&data, 1), Err(Error::CorruptInput(_))));
        assert!(matches!(
            frame(&[0xc0 | 11, 0xff, 0], 1),
            Err(Error::CorruptInput(_))
        ));
        assert!(matches!(
            frame(&[0xc0 | 11, 0xe9, 1, 2], 1),
            Err(Error::CorruptInput(_))
        ));
        assert!(matches!(frame(&[0x42], 1), Err(Error::CorruptInput(_))));
        assert_eq!(frame(&[], 1).unwrap(), vec![]);
    }
}
