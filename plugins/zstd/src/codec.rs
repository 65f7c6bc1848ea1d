//! Push-driven zstd compression and decompression over zstd's streaming API.
//!
//! **Invariant:** `finish` on a decompressor fails unless the input ended exactly at the end
//! of a complete frame, so a truncated stored object can never decode as a shorter, valid
//! stream.

use twgate_plugin_sdk::Error;
use zstd::stream::raw::{Decoder, Encoder, InBuffer, Operation, OutBuffer};
use zstd::zstd_safe::{CParameter, DParameter};

/// The default level, as for the `zstd` command line tool.
pub const DEFAULT_LEVEL: i32 = 3;
/// Levels above this need windows larger than the memory a plugin is granted.
pub const MAX_LEVEL: i32 = 19;
const SCRATCH: usize = 128 * 1024;
/// Most output one `push` or `drain` returns; the rest waits for `drain`. Highly
/// compressible dumps expand a thousandfold, so this is what keeps memory bounded.
pub const OUTPUT_CAP: usize = 1 << 20;

enum Mode {
    Compress(Encoder<'static>),
    Decompress {
        decoder: Decoder<'static>,
        /// zstd's hint after the last call: 0 means "a frame just ended".
        hint: usize,
        seen_input: bool,
        /// Input not yet decoded because the output cap was reached, from `pos` on.
        pending: Vec<u8>,
        pos: usize,
        /// The last call filled all the room it was given: zstd may hold more output.
        flush_needed: bool,
    },
    Finished,
}

/// One stream through zstd, in one direction.
pub struct Codec {
    mode: Mode,
    level: i32,
    scratch: Vec<u8>,
}

fn parse_level(params: &[(String, Vec<u8>)]) -> Result<i32, Error> {
    let mut level = DEFAULT_LEVEL;
    for (key, value) in params {
        match key.as_str() {
            "level" => {
                let text = String::from_utf8_lossy(value);
                level = text
                    .trim()
                    .parse::<i32>()
                    .ok()
                    .filter(|l| (zstd::zstd_safe::min_c_level()..=MAX_LEVEL).contains(l) && *l != 0)
                    .ok_or_else(|| {
                        Error::bad_config(format!(
                            "zstd level '{text}' is not valid: use 1..={MAX_LEVEL} (or a negative fast level)"
                        ))
                    })?;
            }
            other => {
                return Err(Error::bad_config(format!(
                    "zstd does not take a parameter '{other}': it takes only 'level'"
                )))
            }
        }
    }
    Ok(level)
}

/// The decompressor's parameter saying whether to check the frames' own checksums.
///
/// `verify` (the default) checks each frame's XXH64 at its end. `ignore` skips that: for a
/// host that checks a stronger hash of the whole output anyway (twgate's pull checks the
/// BLAKE3 of every restored byte against the manifest), the XXH64 is 10–15% of a pull
/// done twice.
pub const CHECKSUMS: &str = "frame-checksums";

/// Whether the frames' checksums are to be checked (see [`CHECKSUMS`]).
fn frame_checksums(params: &[(String, Vec<u8>)]) -> Result<bool, Error> {
    let mut check = true;
    for (_, value) in params.iter().filter(|(key, _)| key == CHECKSUMS) {
        check = match value.as_slice() {
            b"verify" => true,
            b"ignore" => false,
            other => {
                return Err(Error::bad_config(format!(
                    "zstd {CHECKSUMS} '{}' is not valid: use verify or ignore",
                    String::from_utf8_lossy(other)
                )))
            }
        };
    }
    Ok(check)
}

/// `params` without the entries named `key`.
fn without(params: &[(String, Vec<u8>)], key: &str) -> Vec<(String, Vec<u8>)> {
    params.iter().filter(|(k, _)| k != key).cloned().collect()
}

fn internal(e: std::io::Error) -> Error {
    Error::corrupt(format!("zstd: {e}"))
}

impl Codec {
    /// A compressor writing frames with content checksums.
    pub fn compressor(params: &[(String, Vec<u8>)]) -> Result<Codec, Error> {
        let level = parse_level(params)?;
        let mut encoder = Encoder::new(level).map_err(|e| Error::bad_config(e.to_string()))?;
        encoder
            .set_parameter(CParameter::ChecksumFlag(true))
            .map_err(|e| Error::bad_config(e.to_string()))?;
        Ok(Codec {
            mode: Mode::Compress(encoder),
            level,
            scratch: vec![0; SCRATCH],
        })
    }

    /// A decompressor for one or more concatenated zstd frames.
    pub fn decompressor(params: &[(String, Vec<u8>)]) -> Result<Codec, Error> {
        // The level recorded in a manifest is accepted and ignored on the way back.
        let level = parse_level(&without(params, CHECKSUMS))?;
        let mut decoder = Decoder::new().map_err(|e| Error::bad_config(e.to_string()))?;
        if !frame_checksums(params)? {
            decoder
                .set_parameter(DParameter::ForceIgnoreChecksum(true))
                .map_err(|e| Error::bad_config(e.to_string()))?;
        }
        Ok(Codec {
            mode: Mode::Decompress {
                decoder,
                hint: 0,
                seen_input: false,
                pending: Vec::new(),
                pos: 0,
                flush_needed: false,
            },
            level,
            scratch: Vec::new(), // decoding writes into the vectors it returns
        })
    }

    /// Settings to record in the manifest.
    pub fn describe(&self) -> Vec<(String, String)> {
        vec![("level".into(), self.level.to_string())]
    }

    /// Feeds `chunk`; returns the output ready so far (for a decompressor, at most about
    /// `OUTPUT_CAP` bytes: call `drain` for the rest before pushing more).
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, Error> {
        match &mut self.mode {
            Mode::Compress(encoder) => {
                let mut out = Vec::with_capacity(chunk.len() / 2);
                let mut input = InBuffer::around(chunk);
                while input.pos() < chunk.len() {
                    let mut output = OutBuffer::around(&mut self.scratch[..]);
                    encoder.run(&mut input, &mut output).map_err(internal)?;
                    out.extend_from_slice(output.as_slice());
                }
                Ok(out)
            }
            Mode::Decompress {
                seen_input,
                pending,
                ..
            } => {
                *seen_input |= !chunk.is_empty();
                pending.extend_from_slice(chunk);
                self.decode_some(OUTPUT_CAP)
            }
            Mode::Finished => Err(Error::corrupt("zstd: push after finish")),
        }
    }

    /// Returns output held back by the output cap; empty when nothing is pending.
    pub fn drain(&mut self) -> Result<Vec<u8>, Error> {
        match &self.mode {
            Mode::Decompress { .. } => self.decode_some(OUTPUT_CAP),
            _ => Ok(Vec::new()),
        }
    }

    /// Decodes pending input until it is used up or `cap` bytes are out.
    fn decode_some(&mut self, cap: usize) -> Result<Vec<u8>, Error> {
        let Mode::Decompress {
            decoder,
            hint,
            pending,
            pos,
            flush_needed,
            ..
        } = &mut self.mode
        else {
            return Ok(Vec::new());
        };
        if *pos == pending.len() && !*flush_needed {
            pending.clear();
            *pos = 0;
            return Ok(Vec::new());
        }
        // zstd decodes straight into the returned vector, which is sized once for a
        // capped call: no copy through a scratch buffer, no regrowth.
        let mut out = Vec::with_capacity(cap.min(OUTPUT_CAP) + SCRATCH);
        while *pos < pending.len() || *flush_needed {
            if out.capacity() - out.len() < SCRATCH {
                out.reserve(SCRATCH); // only when uncapped (`finish`)
            }
            let (before, room) = (out.len(), out.capacity() - out.len());
            let mut input = InBuffer::around(&pending[*pos..]);
            let mut output = OutBuffer::around_pos(&mut out, before);
            let next_hint = decoder.run(&mut input, &mut output).map_err(corrupt)?;
            let (consumed, produced) = (input.pos(), output.pos() - before);
            *pos += consumed;
            // A call that neither read nor wrote anything says nothing new about the
            // frame (after a frame ends zstd would ask for the next header).
            if produced > 0 || consumed > 0 {
                *hint = next_hint;
            }
            // Output filled to the brim: zstd may hold more.
            *flush_needed = produced == room;
            if out.len() >= cap {
                break;
            }
        }
        if *pos == pending.len() {
            pending.clear();
            *pos = 0;
        }
        Ok(out)
    }

    /// Ends the input; returns the rest of the output.
    pub fn finish(&mut self) -> Result<Vec<u8>, Error> {
        // Whatever `drain` was not asked for comes out now, however large.
        let mut out = self.decode_some(usize::MAX)?;
        let scratch = &mut self.scratch;
        match std::mem::replace(&mut self.mode, Mode::Finished) {
            Mode::Compress(mut encoder) => loop {
                let mut output = OutBuffer::around(&mut scratch[..]);
                let remaining = encoder.finish(&mut output, true).map_err(internal)?;
                out.extend_from_slice(output.as_slice());
                if remaining == 0 {
                    break;
                }
            },
            Mode::Decompress {
                hint, seen_input, ..
            } => {
                if !seen_input {
                    return Err(Error::corrupt(
                        "zstd: the input is empty, not a zstd stream",
                    ));
                }
                // `decode_some` above flushed everything zstd held.
                if hint != 0 {
                    return Err(Error::corrupt(
                        "zstd: the stream is truncated (it ends inside a frame)",
                    ));
                }
            }
            Mode::Finished => return Err(Error::corrupt("zstd: finish called twice")),
        }
        Ok(out)
    }
}

fn corrupt(e: std::io::Error) -> Error {
    Error::corrupt(format!("zstd: the input is not a valid zstd stream ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(data: &[u8], chunk: usize) -> Vec<u8> {
        let mut c = Codec::compressor(&[]).unwrap();
        let mut packed = Vec::new();
        for piece in data.chunks(chunk.max(1)) {
            packed.extend(c.push(piece).unwrap());
        }
        packed.extend(c.finish().unwrap());
        let mut d = Codec::decompressor(&[]).unwrap();
        let mut plain = Vec::new();
        for piece in packed.chunks(chunk.max(1)) {
            plain.extend(d.push(piece).unwrap());
            loop {
                let more = d.drain().unwrap();
                if more.is_empty() {
                    break;
                }
                plain.extend(more);
            }
        }
        plain.extend(d.finish().unwrap());
        plain
    }

    #[test]
    fn round_trips_many_sizes() {
        let data: Vec<u8> = (0..1_300_000u32)
            .map(|i| (i % 251) as u8 ^ (i >> 13) as u8)
            .collect();
        // OUTPUT_CAP + SCRATCH is exactly the room of one decoding call: the frame ends on
        // a full output, and the next call must still flush.
        for (len, chunk) in [
            (0, 1),
            (1, 1),
            (65536, 65536),
            (262144, 262144),
            (OUTPUT_CAP + SCRATCH, OUTPUT_CAP + SCRATCH),
            (OUTPUT_CAP + SCRATCH + 1, 1 << 20),
            (1_300_000, 7777),
        ] {
            assert_eq!(roundtrip(&data[..len], chunk), &data[..len]);
        }
    }

    #[test]
    fn output_is_capped_per_call() {
        let zeros = vec![0u8; 50 << 20];
        let mut c = Codec::compressor(&[]).unwrap();
        let mut packed = c.push(&zeros).unwrap();
        packed.extend(c.finish().unwrap());
        let mut d = Codec::decompressor(&[]).unwrap();
        let mut total = d.push(&packed).unwrap().len();
        assert!(total <= OUTPUT_CAP + SCRATCH);
        loop {
            let more = d.drain().unwrap();
            assert!(more.len() <= OUTPUT_CAP + SCRATCH);
            if more.is_empty() {
                break;
            }
            total += more.len();
        }
        assert!(d.finish().unwrap().is_empty());
        assert_eq!(total, zeros.len());
    }

    #[test]
    fn truncated_fails() {
        let mut c = Codec::compressor(&[]).unwrap();
        let mut packed = c.push(&[7u8; 100_000]).unwrap();
        packed.extend(c.finish().unwrap());
        let mut d = Codec::decompressor(&[]).unwrap();
        d.push(&packed[..packed.len() - 3]).unwrap();
        assert!(matches!(d.finish(), Err(Error::CorruptInput(_))));
    }

    /// A frame whose stored checksum is wrong, the rest intact.
    fn with_bad_checksum(data: &[u8]) -> Vec<u8> {
        let mut c = Codec::compressor(&[]).unwrap();
        let mut packed = c.push(data).unwrap();
        packed.extend(c.finish().unwrap());
        let last = packed.len() - 1;
        packed[last] ^= 1;
        packed
    }

    fn decode_all(params: &[(String, Vec<u8>)], packed: &[u8]) -> Result<Vec<u8>, Error> {
        let mut d = Codec::decompressor(params)?;
        let mut plain = d.push(packed)?;
        loop {
            let more = d.drain()?;
            if more.is_empty() {
                break;
            }
            plain.extend(more);
        }
        plain.extend(d.finish()?);
        Ok(plain)
    }

    #[test]
    fn frame_checksums_are_checked_unless_the_host_says_it_checks() {
        let data = vec![42u8; 300_000];
        let packed = with_bad_checksum(&data);
        assert!(matches!(
            decode_all(&[], &packed),
            Err(Error::CorruptInput(_))
        ));
        let verify = [(CHECKSUMS.to_string(), b"verify".to_vec())];
        assert!(matches!(
            decode_all(&verify, &packed),
            Err(Error::CorruptInput(_))
        ));
        let ignore = [(CHECKSUMS.to_string(), b"ignore".to_vec())];
        assert_eq!(decode_all(&ignore, &packed).unwrap(), data);
        let odd = [(CHECKSUMS.to_string(), b"sometimes".to_vec())];
        assert!(matches!(
            Codec::decompressor(&odd),
            Err(Error::BadConfig(_))
        ));
        // A compressor always writes them: the key is not one of its settings.
        assert!(matches!(
            Codec::compressor(&ignore),
            Err(Error::BadConfig(_))
        ));
    }

    #[test]
    fn bad_level_is_bad_config() {
        let p = vec![("level".to_string(), b"99".to_vec())];
        assert!(matches!(Codec::compressor(&p), Err(Error::BadConfig(_))));
    }
}
