//! Incremental CFB decryption as OpenPGP's SEIPD v1 uses it (RFC 9580 §5.13.1): full-block
//! cipher feedback, an all-zero IV, no resynchronisation.
//!
//! AES-128/192/256 (what gpg and this plugin write) run on the host's CFB, lent through
//! `twgate_plugin_sdk::crypto`, which streams input of any length natively. Every other
//! cipher sequoia supports (CAST5, Twofish, Camellia, ...) falls back to [`SoftCfb`],
//! sequoia's symmetric `Decryptor` in WebAssembly: slower, but nothing that decrypted
//! before stops decrypting.

use std::io::Read;

use sequoia_openpgp::crypto::symmetric::{BlockCipherMode, Decryptor, UnpaddingMode};
use sequoia_openpgp::crypto::SessionKey;
use sequoia_openpgp::parse::buffered_reader::Memory;
use sequoia_openpgp::types::SymmetricAlgorithm;

use twgate_plugin_sdk::crypto::{BlockCipher, Cfb as HostCfb};

use crate::error::{self, Result};

/// The all-zero IV of SEIPD v1, one AES block.
const ZERO_IV: [u8; 16] = [0; 16];

/// One CFB decryption stream: on the host for AES, in sequoia otherwise.
pub enum Cfb {
    /// Boxed: natively it holds the cipher's key schedule (in the component, a handle).
    Host(Box<HostCfb>),
    Soft(SoftCfb),
}

impl Cfb {
    /// Starts decrypting with `key` under `algo` and an all-zero IV.
    pub fn new(algo: SymmetricAlgorithm, key: SessionKey) -> Result<Cfb> {
        let host = match algo {
            SymmetricAlgorithm::AES128 => BlockCipher::Aes128,
            SymmetricAlgorithm::AES192 => BlockCipher::Aes192,
            SymmetricAlgorithm::AES256 => BlockCipher::Aes256,
            _ => return SoftCfb::new(algo, key).map(Cfb::Soft),
        };
        HostCfb::new(host, &key, &ZERO_IV, false)
            .map(|c| Cfb::Host(Box::new(c)))
            .map_err(|e| error::corrupt(format!("cannot decrypt with {algo}: {e}")))
    }

    /// Decrypts `ciphertext`, appending the plaintext that is ready to `out` (on the host,
    /// all of it; in the fallback, every completed block).
    pub fn update(&mut self, ciphertext: &[u8], out: &mut Vec<u8>) -> Result<()> {
        match self {
            Cfb::Host(c) => c
                .update(ciphertext, out)
                .map_err(|e| error::internal(format!("decryption failed: {e}"))),
            Cfb::Soft(c) => c.update(ciphertext, out),
        }
    }

    /// Ends the stream, appending whatever plaintext was still held back.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<()> {
        match self {
            Cfb::Host(_) => Ok(()),
            Cfb::Soft(c) => c.finish(out),
        }
    }
}

/// CFB over any cipher sequoia supports, in software.
///
/// Sequoia's symmetric `Decryptor` reads from a buffer, so each call decrypts the whole
/// blocks that have arrived, starting from the last ciphertext block seen (CFB's IV for the
/// next block). Less than a block is kept until more input or the end arrives.
pub struct SoftCfb {
    algo: SymmetricAlgorithm,
    key: SessionKey,
    /// The previous ciphertext block (zeros at the start).
    iv: Vec<u8>,
    /// Ciphertext of an incomplete block.
    pending: Vec<u8>,
}

impl SoftCfb {
    /// Starts decrypting with `key` under `algo` and an all-zero IV.
    pub fn new(algo: SymmetricAlgorithm, key: SessionKey) -> Result<SoftCfb> {
        let bs = algo
            .block_size()
            .map_err(|_| error::corrupt(format!("the cipher {algo} is not supported")))?;
        Ok(SoftCfb {
            algo,
            key,
            iv: vec![0; bs],
            pending: Vec::with_capacity(bs),
        })
    }

    fn run(&self, ciphertext: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if ciphertext.is_empty() {
            return Ok(());
        }
        let reader = Memory::with_cookie(ciphertext, Default::default());
        let mut d = Decryptor::new(
            self.algo,
            BlockCipherMode::CFB,
            UnpaddingMode::None,
            &self.key,
            Some(&self.iv),
            reader,
        )
        .map_err(|e| error::corrupt(format!("cannot decrypt with {}: {e}", self.algo)))?;
        let before = out.len();
        d.read_to_end(out)
            .map_err(|e| error::internal(format!("decryption failed: {e}")))?;
        if out.len() - before != ciphertext.len() {
            return Err(error::internal("decryption returned the wrong length"));
        }
        Ok(())
    }

    /// Decrypts `ciphertext`, appending the plaintext of every completed block to `out`.
    pub fn update(&mut self, mut ciphertext: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let bs = self.iv.len();
        if !self.pending.is_empty() {
            let take = (bs - self.pending.len()).min(ciphertext.len());
            self.pending.extend_from_slice(&ciphertext[..take]);
            ciphertext = &ciphertext[take..];
            if self.pending.len() < bs {
                return Ok(());
            }
            let block = std::mem::take(&mut self.pending);
            self.run(&block, out)?;
            self.iv.copy_from_slice(&block);
            self.pending = block;
            self.pending.clear();
        }
        let whole = ciphertext.len() / bs * bs;
        if whole > 0 {
            self.run(&ciphertext[..whole], out)?;
            self.iv.copy_from_slice(&ciphertext[whole - bs..whole]);
        }
        self.pending.extend_from_slice(&ciphertext[whole..]);
        Ok(())
    }

    /// Ends the stream, decrypting a final partial block.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let last = std::mem::take(&mut self.pending);
        self.run(&last, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sequoia_openpgp::crypto::symmetric::{Encryptor, PaddingMode};
    use std::io::Write;

    #[test]
    #[allow(deprecated)] // CAST5: only to read old messages, through the fallback.
    fn matches_one_shot_cfb_for_any_split() {
        for algo in [
            SymmetricAlgorithm::AES256,
            SymmetricAlgorithm::AES192,
            SymmetricAlgorithm::AES128,
            SymmetricAlgorithm::CAST5,
            SymmetricAlgorithm::Twofish,
            SymmetricAlgorithm::Camellia256,
        ] {
            let key = SessionKey::new(algo.key_size().unwrap()).unwrap();
            let plain: Vec<u8> = (0..5000u32).map(|i| (i * 7 + i / 13) as u8).collect();
            let mut ct = Vec::new();
            let mut e = Encryptor::new(
                algo,
                BlockCipherMode::CFB,
                PaddingMode::None,
                &key,
                None,
                &mut ct,
            )
            .unwrap();
            e.write_all(&plain).unwrap();
            e.finalize().unwrap();
            for step in [1, 5, 16, 17, 333, 5000] {
                let mut c = Cfb::new(algo, key.clone()).unwrap();
                assert_eq!(
                    matches!(c, Cfb::Host(_)),
                    matches!(
                        algo,
                        SymmetricAlgorithm::AES128
                            | SymmetricAlgorithm::AES192
                            | SymmetricAlgorithm::AES256
                    ),
                    "{algo}"
                );
                let mut out = Vec::new();
                for piece in ct.chunks(step) {
                    c.update(piece, &mut out).unwrap();
                }
                c.finish(&mut out).unwrap();
                assert_eq!(out, plain, "{algo} step {step}");
            }
        }
    }
}
