//! The packet stream inside the encryption (RFC 9580 §10.3), parsed incrementally: the
//! literal data packet's body is the output; a compressed data packet is inflated and its
//! content parsed again as a packet stream.
//!
//! One-Pass-Signature, Signature, Marker and Padding packets are skipped: this plugin does
//! **not** verify signatures (twgate authenticates a restore by the sha256 in its manifest).
//!
//! **Invariant:** [`Inner::finish`] fails unless exactly one literal data packet was seen
//! and every packet (and compressed stream) ended completely.

use crate::error::{self, Result};
use crate::inflate::Inflater;
use crate::packets::{tag, Event, Framer};

/// How deep compressed packets may nest (gpg writes one level).
const MAX_DEPTH: u8 = 4;
/// Literal header: format, name length, up to 255 name bytes, 4-byte date.
const LITERAL_HEADER_MAX: usize = 2 + 255 + 4;

/// A compressed data packet being read.
struct Compressed {
    /// `None` until the algorithm octet has arrived.
    inflater: Option<Inflater>,
    inner: Box<Inner>,
}

/// The packet currently open.
enum Current {
    None,
    Skip,
    /// A literal packet; `header` collects its header until complete.
    Literal {
        header: Vec<u8>,
        done: bool,
    },
    Compressed(Compressed),
}

/// One packet stream: the decrypted data, or the content of a compressed packet.
pub struct Inner {
    framer: Framer,
    current: Current,
    depth: u8,
    seen_literal: bool,
}

/// How many literal header bytes are needed, once the name length is known.
fn literal_header_len(header: &[u8]) -> Option<usize> {
    header.get(1).map(|&n| 2 + n as usize + 4)
}

impl Inner {
    /// The packet stream directly inside the encrypted data.
    pub fn new() -> Inner {
        Inner::at_depth(0)
    }

    fn at_depth(depth: u8) -> Inner {
        let what = if depth == 0 {
            "the decrypted data"
        } else {
            "the decompressed data"
        };
        Inner {
            framer: Framer::new(what),
            current: Current::None,
            depth,
            seen_literal: false,
        }
    }

    /// Parses the next decrypted bytes, appending literal data to `out`.
    pub fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        while let Some(event) = self.framer.next(&mut input)? {
            match event {
                Event::Start(t) => self.start(t)?,
                Event::Body(b) => self.body(b, out)?,
                Event::End => self.end(out)?,
            }
        }
        Ok(())
    }

    fn start(&mut self, t: u8) -> Result<()> {
        self.current = match t {
            tag::LITERAL if self.seen_literal => {
                return Err(error::corrupt(
                    "the message holds more than one literal data packet",
                ))
            }
            tag::LITERAL => {
                self.seen_literal = true;
                Current::Literal {
                    header: Vec::with_capacity(16),
                    done: false,
                }
            }
            tag::COMPRESSED if self.seen_literal => {
                return Err(error::corrupt(
                    "the message has compressed data after its literal data",
                ))
            }
            tag::COMPRESSED if self.depth >= MAX_DEPTH => {
                return Err(error::corrupt(
                    "the message nests compressed packets too deeply",
                ))
            }
            tag::COMPRESSED => Current::Compressed(Compressed {
                inflater: None,
                inner: Box::new(Inner::at_depth(self.depth + 1)),
            }),
            tag::ONE_PASS_SIG | tag::SIGNATURE | tag::MARKER | tag::PADDING => Current::Skip,
            other => {
                return Err(error::corrupt(format!(
                    "unexpected packet (tag {other}) inside the encrypted data"
                )))
            }
        };
        Ok(())
    }

    fn body(&mut self, mut b: &[u8], out: &mut Vec<u8>) -> Result<()> {
        match &mut self.current {
            Current::None | Current::Skip => {}
            Current::Literal { header, done } => {
                if !*done {
                    while !b.is_empty() {
                        let need = literal_header_len(header).unwrap_or(2);
                        if header.len() == need {
                            break;
                        }
                        let take = (need - header.len()).min(b.len());
                        header.extend_from_slice(&b[..take]);
                        b = &b[take..];
                    }
                    if literal_header_len(header) == Some(header.len()) {
                        debug_assert!(header.len() <= LITERAL_HEADER_MAX);
                        *done = true;
                        header.clear();
                        header.shrink_to_fit();
                    }
                }
                if *done {
                    out.extend_from_slice(b);
                }
            }
            Current::Compressed(c) => {
                let inflater = match &mut c.inflater {
                    Some(i) => i,
                    None => {
                        let Some((&algo, rest)) = b.split_first() else {
                            return Ok(());
                        };
                        b = rest;
                        c.inflater.insert(Inflater::new(algo)?)
                    }
                };
                let inner = &mut c.inner;
                inflater.push(b, &mut |piece| inner.push(piece, out))?;
            }
        }
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<u8>) -> Result<()> {
        match std::mem::replace(&mut self.current, Current::None) {
            Current::None | Current::Skip => {}
            Current::Literal { done, .. } => {
                if !done {
                    return Err(error::corrupt(
                        "the literal data packet's header is truncated",
                    ));
                }
            }
            Current::Compressed(mut c) => {
                let Some(inflater) = c.inflater.as_mut() else {
                    return Err(error::corrupt("the compressed data packet is empty"));
                };
                let inner = &mut c.inner;
                inflater.finish(&mut |piece| inner.push(piece, out))?;
                c.inner.finish(out)?;
                self.seen_literal = true;
            }
        }
        Ok(())
    }

    /// Ends the stream: closes an open indeterminate-length packet and checks completeness.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<()> {
        if self.framer.end_of_input()? {
            self.end(out)?;
        }
        if !self.seen_literal {
            return Err(error::corrupt(if self.depth == 0 {
                "the encrypted data holds no literal data packet"
            } else {
                "the compressed data holds no literal data packet"
            }));
        }
        Ok(())
    }
}

impl Default for Inner {
    fn default() -> Self {
        Inner::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::DeflateEncoder;
    use flate2::Compression;
    use std::io::Write;

    fn literal(body: &[u8]) -> Vec<u8> {
        let mut p = vec![0xc0 | tag::LITERAL, 0xff];
        p.extend(((body.len() + 2 + 3 + 4) as u32).to_be_bytes());
        p.extend([b'b', 3]);
        p.extend(b"a.b");
        p.extend([0, 0, 0, 0]);
        p.extend(body);
        p
    }

    fn run(data: &[u8], step: usize) -> Result<Vec<u8>> {
        let mut i = Inner::new();
        let mut out = Vec::new();
        for piece in data.chunks(step) {
            i.push(piece, &mut out)?;
        }
        i.finish(&mut out)?;
        Ok(out)
    }

    #[test]
    fn literal_and_compressed_literal() {
        let body: Vec<u8> = (0..100_000u32).map(|i| (i % 97) as u8).collect();
        let lit = literal(&body);
        let mut sigd = vec![0xc4, 3, 1, 2, 3]; // a skipped one-pass-signature packet
        sigd.extend(&lit);
        sigd.extend([0xc2, 1, 9]); // a skipped signature packet
        let mut z = DeflateEncoder::new(Vec::new(), Compression::default());
        z.write_all(&sigd).unwrap();
        let mut compressed = vec![0xa3, 1]; // old format, indeterminate, ZIP
        compressed.extend(z.finish().unwrap());
        for step in [1, 9, 4096, 1 << 20] {
            assert_eq!(run(&lit, step).unwrap(), body);
            assert_eq!(run(&sigd, step).unwrap(), body);
            assert_eq!(run(&compressed, step).unwrap(), body);
        }
        assert!(run(&compressed[..compressed.len() - 10], 100).is_err());
        assert!(run(&lit[..lit.len() - 1], 100).is_err());
        assert!(run(&lit[..8], 1).is_err());
        assert!(run(&[], 1).is_err());
    }
}
