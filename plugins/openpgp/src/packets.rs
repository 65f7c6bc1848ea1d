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

use crate::error::{Error, Result};

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
        return Err(Error::corrupt(format!(
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
        return Err(Error::corrupt(format!(
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
            _ => Err(Error::corrupt(format!(
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn truncation_is_detected() {
        let data = [0xc0 | 11, 10, 1, 2, 3];
        assert!(matches!(frame(&data, 1), Err(Error::Corrupt(_))));
        assert!(matches!(
            frame(&[0xc0 | 11, 0xff, 0], 1),
            Err(Error::Corrupt(_))
        ));
        assert!(matches!(
            frame(&[0xc0 | 11, 0xe9, 1, 2], 1),
            Err(Error::Corrupt(_))
        ));
        assert!(matches!(frame(&[0x42], 1), Err(Error::Corrupt(_))));
        assert_eq!(frame(&[], 1).unwrap(), vec![]);
    }
}
