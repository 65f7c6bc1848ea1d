//! Incremental CFB decryption as OpenPGP's SEIPD v1 uses it (RFC 9580 §5.13.1): full-block
//! cipher feedback, an all-zero IV, no resynchronisation, over any cipher sequoia supports.
//!
//! Sequoia's symmetric `Decryptor` reads from a buffer, so each call decrypts the whole
//! blocks that have arrived, starting from the last ciphertext block seen (CFB's IV for the
//! next block). Less than a block is kept until more input or the end arrives.

use std::io::Read;

use sequoia_openpgp::crypto::symmetric::{BlockCipherMode, Decryptor, UnpaddingMode};
use sequoia_openpgp::crypto::SessionKey;
use sequoia_openpgp::parse::buffered_reader::Memory;
use sequoia_openpgp::types::SymmetricAlgorithm;

use crate::error::{Error, Result};

/// One CFB stream.
pub struct Cfb {
    algo: SymmetricAlgorithm,
    key: SessionKey,
    /// The previous ciphertext block (zeros at the start).
    iv: Vec<u8>,
    /// Ciphertext of an incomplete block.
    pending: Vec<u8>,
}

impl Cfb {
    /// Starts decrypting with `key` under `algo` and an all-zero IV.
    pub fn new(algo: SymmetricAlgorithm, key: SessionKey) -> Result<Cfb> {
        let bs = algo
            .block_size()
            .map_err(|_| Error::corrupt(format!("the cipher {algo} is not supported")))?;
        Ok(Cfb {
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
        .map_err(|e| Error::corrupt(format!("cannot decrypt with {}: {e}", self.algo)))?;
        let before = out.len();
        d.read_to_end(out)
            .map_err(|e| Error::internal(format!("decryption failed: {e}")))?;
        if out.len() - before != ciphertext.len() {
            return Err(Error::internal("decryption returned the wrong length"));
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
    fn matches_one_shot_cfb_for_any_split() {
        for algo in [SymmetricAlgorithm::AES256, SymmetricAlgorithm::AES128] {
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
