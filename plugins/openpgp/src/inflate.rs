//! Streaming decompression of a Compressed Data packet's body (RFC 9580 §5.6): algorithm 0
//! (uncompressed), 1 (ZIP, raw deflate) and 2 (ZLIB), in pure Rust (miniz_oxide via
//! flate2). BZip2 (3) is refused with a clear message rather than pulled in as C code.
//!
//! Output goes out in pieces of at most [`PIECE`] bytes through a callback, so a highly
//! compressed input never needs one big buffer here. **Limit:** the contract has no
//! back-pressure, so a push's whole output is still returned at once by the stage; a
//! pathological compression ratio (up to ~1000:1 for deflate) grows that one result.

use flate2::{Decompress, FlushDecompress, Status};

use crate::error::{self, Result};

/// The largest piece handed to the callback.
pub const PIECE: usize = 64 * 1024;

enum Kind {
    Stored,
    Deflate(Box<Decompress>),
}

/// One compressed stream.
pub struct Inflater {
    kind: Kind,
    ended: bool,
    scratch: Vec<u8>,
}

impl Inflater {
    /// A decompressor for the packet's algorithm octet.
    pub fn new(algo: u8) -> Result<Inflater> {
        let kind = match algo {
            0 => Kind::Stored,
            1 => Kind::Deflate(Box::new(Decompress::new(false))),
            2 => Kind::Deflate(Box::new(Decompress::new(true))),
            3 => {
                return Err(error::corrupt(
                    "the message is compressed with BZip2, which this plugin does not support \
                     (decrypt it with gpg instead)",
                ))
            }
            other => {
                return Err(error::corrupt(format!(
                    "the message uses unknown compression algorithm {other}"
                )))
            }
        };
        let scratch = if matches!(kind, Kind::Stored) {
            Vec::new()
        } else {
            vec![0; PIECE]
        };
        Ok(Inflater {
            kind,
            ended: false,
            scratch,
        })
    }

    /// Decompresses `input`, handing output pieces to `sink`.
    pub fn push(
        &mut self,
        mut input: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        let d = match &mut self.kind {
            Kind::Stored => {
                for piece in input.chunks(PIECE) {
                    sink(piece)?;
                }
                return Ok(());
            }
            Kind::Deflate(d) => d,
        };
        while !self.ended {
            let (in0, out0) = (d.total_in(), d.total_out());
            let status = d
                .decompress(input, &mut self.scratch, FlushDecompress::None)
                .map_err(|e| error::corrupt(format!("the compressed data is corrupt ({e})")))?;
            let used = (d.total_in() - in0) as usize;
            let made = (d.total_out() - out0) as usize;
            input = &input[used..];
            if made > 0 {
                sink(&self.scratch[..made])?;
            }
            if status == Status::StreamEnd {
                // Bytes after the end of the deflate stream are ignored, as gpg does.
                self.ended = true;
            } else if input.is_empty() && made < self.scratch.len() {
                break;
            } else if used == 0 && made == 0 {
                return Err(error::corrupt("the compressed data cannot be decoded"));
            }
        }
        Ok(())
    }

    /// Ends the compressed stream; fails if it was cut short.
    pub fn finish(&mut self, sink: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
        let Kind::Deflate(d) = &mut self.kind else {
            return Ok(());
        };
        while !self.ended {
            let out0 = d.total_out();
            let status = d
                .decompress(&[], &mut self.scratch, FlushDecompress::Finish)
                .map_err(|e| error::corrupt(format!("the compressed data is corrupt ({e})")))?;
            let made = (d.total_out() - out0) as usize;
            if made > 0 {
                sink(&self.scratch[..made])?;
            }
            if status == Status::StreamEnd {
                self.ended = true;
            } else if made == 0 {
                return Err(error::corrupt("the compressed data is truncated"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::{DeflateEncoder, ZlibEncoder};
    use flate2::Compression;
    use std::io::Write;
    use twgate_plugin_sdk::Error;

    fn inflate(algo: u8, data: &[u8], step: usize) -> Result<Vec<u8>> {
        let mut i = Inflater::new(algo)?;
        let mut out = Vec::new();
        for piece in data.chunks(step) {
            i.push(piece, &mut |b| {
                out.extend_from_slice(b);
                Ok(())
            })?;
        }
        i.finish(&mut |b| {
            out.extend_from_slice(b);
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn inflates_zip_and_zlib_in_any_pieces() {
        let plain: Vec<u8> = (0..400_000u32).map(|i| ((i / 100) % 7) as u8).collect();
        let mut zip = DeflateEncoder::new(Vec::new(), Compression::default());
        zip.write_all(&plain).unwrap();
        let zip = zip.finish().unwrap();
        let mut zlib = ZlibEncoder::new(Vec::new(), Compression::default());
        zlib.write_all(&plain).unwrap();
        let zlib = zlib.finish().unwrap();
        for step in [1, 100, 1 << 20] {
            assert_eq!(inflate(1, &zip, step).unwrap(), plain);
            assert_eq!(inflate(2, &zlib, step).unwrap(), plain);
            assert_eq!(inflate(0, &plain, step).unwrap(), plain);
        }
        assert!(matches!(
            inflate(1, &zip[..zip.len() / 2], 1000),
            Err(Error::CorruptInput(_))
        ));
        assert!(matches!(
            inflate(3, b"BZh9", 1),
            Err(Error::CorruptInput(_))
        ));
    }
}
