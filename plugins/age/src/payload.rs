//! age's payload: the STREAM construction over ChaCha20-Poly1305 (age spec, "Payload"),
//! with the AEAD lent by the host (`twgate_plugin_sdk::crypto`), so the bulk of the work
//! runs natively while the framing stays here.
//!
//! The payload key is HKDF-SHA-256(ikm = file key, salt = the 16-byte payload nonce,
//! info = "payload"). Plaintext is cut into 64 KiB chunks; chunk `i` is sealed with the
//! nonce `i` (11 bytes, big-endian) followed by `0x01` for the last chunk and `0x00`
//! otherwise. The last chunk may be empty only when it is the only one.
//!
//! **Invariant:** the opener releases a chunk only once it is authenticated, and `finish`
//! fails unless a chunk flagged last ended the input exactly, so a truncated or extended
//! file never decrypts as a valid, different stream.

use age_core::format::FileKey;
use age_core::secrecy::ExposeSecret;
use twgate_plugin_sdk::crypto::{Aead, AeadAlgorithm, CryptoError};
use twgate_plugin_sdk::Error;

/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
/// Bytes the AEAD adds to each chunk.
pub const TAG: usize = 16;
/// Length of the payload nonce that follows the header.
pub const NONCE_LEN: usize = 16;

fn key(file_key: &FileKey, nonce: &[u8; NONCE_LEN]) -> Result<Aead, Error> {
    let mut key = age_core::primitives::hkdf(nonce, b"payload", file_key.expose_secret());
    let aead = Aead::new(AeadAlgorithm::ChaCha20Poly1305, &key)
        .map_err(|e| Error::Internal(format!("age: {e}")));
    zeroize::Zeroize::zeroize(&mut key);
    aead
}

fn chunk_nonce(counter: u128, last: bool) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[..11].copy_from_slice(&counter.to_be_bytes()[5..]);
    nonce[11] = last as u8;
    nonce
}

/// Calls `each` on every `unit`-sized piece of `pending` followed by `data` that is known
/// not to be the last one (more bytes follow it), and keeps the rest, at most one unit, in
/// `pending`. Data is used in place when possible.
fn whole_units(
    pending: &mut Vec<u8>,
    unit: usize,
    mut data: &[u8],
    mut each: impl FnMut(&[u8]) -> Result<(), Error>,
) -> Result<(), Error> {
    if !pending.is_empty() {
        let take = (unit - pending.len()).min(data.len());
        pending.extend_from_slice(&data[..take]);
        data = &data[take..];
        if data.is_empty() {
            return Ok(());
        }
        each(pending)?;
        pending.clear();
    }
    while data.len() > unit {
        each(&data[..unit])?;
        data = &data[unit..];
    }
    pending.extend_from_slice(data);
    Ok(())
}

/// Largest chunk counter (2^88 - 1): far beyond any real stream, but checked.
const MAX_COUNTER: u128 = (1 << 88) - 1;

/// Encrypts a payload pushed in pieces of any size.
pub struct Sealer {
    aead: Aead,
    counter: u128,
    /// Plaintext not yet sealed: at most one chunk, which waits to learn whether it is
    /// the last.
    pending: Vec<u8>,
}

impl Sealer {
    pub fn new(file_key: &FileKey, nonce: &[u8; NONCE_LEN]) -> Result<Sealer, Error> {
        Ok(Sealer {
            aead: key(file_key, nonce)?,
            counter: 0,
            pending: Vec::with_capacity(CHUNK),
        })
    }

    fn seal(&mut self, plain: &[u8], last: bool, out: &mut Vec<u8>) -> Result<(), Error> {
        if self.counter > MAX_COUNTER {
            return Err(Error::Internal(
                "age: the stream is too long for age's STREAM".into(),
            ));
        }
        let sealed = self
            .aead
            .seal(&chunk_nonce(self.counter, last), &[], plain)
            .map_err(|e| Error::Internal(format!("age: {e}")))?;
        out.extend_from_slice(&sealed);
        self.counter += 1;
        Ok(())
    }

    /// Seals every chunk known not to be the last; appends the ciphertext to `out`.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        let mut pending = std::mem::take(&mut self.pending);
        let result = whole_units(&mut pending, CHUNK, data, |plain| {
            self.seal(plain, false, out)
        });
        self.pending = pending;
        result
    }

    /// Seals the last chunk (possibly empty, if the whole payload is).
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        let pending = std::mem::take(&mut self.pending);
        self.seal(&pending, true, out)
    }
}

/// Decrypts a payload pushed in pieces of any size.
pub struct Opener {
    aead: Aead,
    counter: u128,
    /// Ciphertext of the chunk in progress.
    pending: Vec<u8>,
}

fn corrupt(msg: &str) -> Error {
    Error::corrupt(format!("age: {msg}"))
}

impl Opener {
    pub fn new(file_key: &FileKey, nonce: &[u8; NONCE_LEN]) -> Result<Opener, Error> {
        Ok(Opener {
            aead: key(file_key, nonce)?,
            counter: 0,
            pending: Vec::with_capacity(CHUNK + TAG),
        })
    }

    fn open(&mut self, sealed: &[u8], last: bool, out: &mut Vec<u8>) -> Result<(), Error> {
        if self.counter > MAX_COUNTER {
            return Err(corrupt("the payload is longer than age's STREAM allows"));
        }
        match self
            .aead
            .open(&chunk_nonce(self.counter, last), &[], sealed)
        {
            Ok(plain) => {
                out.extend_from_slice(&plain);
                self.counter += 1;
                Ok(())
            }
            Err(CryptoError::Unauthentic) => {
                // A full chunk that opens as the last one, but with more input after it.
                if !last
                    && self
                        .aead
                        .open(&chunk_nonce(self.counter, true), &[], sealed)
                        .is_ok()
                {
                    return Err(corrupt("data follows the final chunk of the payload"));
                }
                Err(corrupt(&format!(
                    "the payload is corrupt (chunk {} does not authenticate)",
                    self.counter
                )))
            }
            Err(e) => Err(Error::Internal(format!("age: {e}"))),
        }
    }

    /// Opens every chunk known not to be the last; appends the plaintext to `out`.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        let mut pending = std::mem::take(&mut self.pending);
        let result = whole_units(&mut pending, CHUNK + TAG, data, |sealed| {
            self.open(sealed, false, out)
        });
        self.pending = pending;
        result
    }

    /// Opens the last chunk, which must end the input.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        let pending = std::mem::take(&mut self.pending);
        if pending.len() < TAG {
            return Err(corrupt(if pending.is_empty() {
                "the file is truncated (it ends before the final chunk)"
            } else {
                "the file is truncated (it ends inside a chunk)"
            }));
        }
        if pending.len() == TAG && self.counter > 0 {
            // Only an empty payload may have an empty last chunk.
            return Err(corrupt("the payload is corrupt (an empty final chunk)"));
        }
        let start = out.len();
        self.open(&pending, true, out).map_err(|e| match e {
            Error::CorruptInput(_) if start == out.len() => {
                corrupt("the file is truncated or corrupt (its final chunk does not authenticate)")
            }
            e => e,
        })
    }
}
