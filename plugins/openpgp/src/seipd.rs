//! The body of a SEIPD v1 packet (RFC 9580 §5.13.1), decrypted as it streams: the random
//! prefix with its quick check, the plaintext, and the Modification Detection Code.
//!
//! Plaintext is `prefix (block size + 2) || packets || 0xD3 0x14 || SHA-1(all before)`.
//! The last 22 decrypted bytes are always held back until the end, where the MDC is
//! checked; everything before them is hashed and passed on as it arrives.
//!
//! The bulk work is lent by the host (`twgate_plugin_sdk::crypto`): the CFB decryption
//! through [`crate::cfb`], and the MDC's SHA-1 through the SDK's [`Hasher`]. This module
//! owns the framing around them: prefix, quick check, holding back and checking the MDC.
//!
//! **Limit:** plaintext is necessarily released before the MDC can be checked (gpg does the
//! same). A modified or truncated message still fails at `finish`, and the host checks the
//! restored stream's sha256 at the end, so a damaged restore is never reported as good.

use sequoia_openpgp::crypto::SessionKey;
use sequoia_openpgp::types::SymmetricAlgorithm;
use twgate_plugin_sdk::crypto::{HashAlgorithm, Hasher};

use crate::cfb::Cfb;
use crate::error::{self, Result};
use crate::packets::tag;
use twgate_plugin_sdk::Error;

/// Length of the MDC packet: header `0xD3 0x14` and a 20-byte SHA-1.
const MDC_LEN: usize = 22;

/// How many bytes of the SEIPD body (after the version octet) [`quick_check`] needs for a
/// cipher with block size `bs`: the prefix and the first byte of the plaintext packets.
pub fn check_len(bs: usize) -> usize {
    bs + 2 + 1
}

/// Whether `key` under `algo` decrypts `start`, the first [`check_len`] bytes of the SEIPD
/// body after its version octet: the prefix must repeat its last two bytes (the quick
/// check of RFC 9580 §5.13.1), and the first plaintext byte must start a packet that can
/// appear there. The second test makes a wrong key passing by chance (1 in 65536 for the
/// quick check alone) very unlikely; such a key would fail at the MDC as corrupt input.
pub fn quick_check(algo: SymmetricAlgorithm, key: &SessionKey, start: &[u8]) -> bool {
    let Ok(bs) = algo.block_size() else {
        return false;
    };
    if start.len() < check_len(bs) {
        return false;
    }
    let Ok(mut cfb) = Cfb::new(algo, key.clone()) else {
        return false;
    };
    let mut plain = Vec::with_capacity(check_len(bs));
    if cfb.update(&start[..check_len(bs)], &mut plain).is_err() || cfb.finish(&mut plain).is_err() {
        return false;
    }
    let ctb = plain[bs + 2];
    let tag = if ctb & 0x40 != 0 {
        ctb & 0x3f
    } else {
        (ctb >> 2) & 0x0f
    };
    let plausible = ctb & 0x80 != 0
        && matches!(
            tag,
            tag::SIGNATURE
                | tag::ONE_PASS_SIG
                | tag::COMPRESSED
                | tag::MARKER
                | tag::LITERAL
                | tag::MDC
                | tag::PADDING
        );
    plain[bs - 2..bs] == plain[bs..bs + 2] && plausible
}

/// Where [`Seipd1`] passes plaintext as it is released.
pub type Release<'a> = &'a mut dyn FnMut(&[u8]) -> Result<()>;

fn sha1_failed(e: twgate_plugin_sdk::crypto::CryptoError) -> Error {
    error::internal(format!("SHA-1 failed: {e}"))
}

/// Streaming decryption of one SEIPD v1 body (after its version octet).
pub struct Seipd1 {
    cfb: Cfb,
    mdc: Hasher,
    /// Prefix bytes still to be hashed and dropped.
    prefix_left: usize,
    /// The last (up to) 22 plaintext bytes, possibly the MDC packet.
    held: Vec<u8>,
    scratch: Vec<u8>,
}

impl Seipd1 {
    /// Decrypts with a session key that passed [`quick_check`].
    pub fn new(algo: SymmetricAlgorithm, key: SessionKey) -> Result<Seipd1> {
        let bs = algo
            .block_size()
            .map_err(|_| error::corrupt(format!("the cipher {algo} is not supported")))?;
        let mdc = Hasher::new(HashAlgorithm::Sha1)
            .map_err(|e| error::internal(format!("SHA-1 is unavailable: {e}")))?;
        Ok(Seipd1 {
            cfb: Cfb::new(algo, key)?,
            mdc,
            prefix_left: bs + 2,
            held: Vec::with_capacity(MDC_LEN * 2),
            scratch: Vec::new(),
        })
    }

    /// Takes freshly decrypted `plain`, passing each piece of releasable plaintext to
    /// `release` (at most two pieces: what was held back, then the new bytes but the last
    /// 22), hashing everything, the prefix included, in order.
    fn absorb(&mut self, mut plain: &[u8], release: Release<'_>) -> Result<()> {
        if self.prefix_left > 0 {
            let n = self.prefix_left.min(plain.len());
            self.mdc.update(&plain[..n]).map_err(sha1_failed)?;
            self.prefix_left -= n;
            plain = &plain[n..];
        }
        if plain.len() >= MDC_LEN {
            // Release all that was held plus all but the last 22 new bytes.
            let cut = plain.len() - MDC_LEN;
            for piece in [&self.held[..], &plain[..cut]] {
                if !piece.is_empty() {
                    self.mdc.update(piece).map_err(sha1_failed)?;
                    release(piece)?;
                }
            }
            self.held.clear();
            self.held.extend_from_slice(&plain[cut..]);
        } else {
            self.held.extend_from_slice(plain);
            if self.held.len() > MDC_LEN {
                let cut = self.held.len() - MDC_LEN;
                self.mdc.update(&self.held[..cut]).map_err(sha1_failed)?;
                release(&self.held[..cut])?;
                self.held.drain(..cut);
            }
        }
        Ok(())
    }

    /// Decrypts the next ciphertext bytes; passes the plaintext that is ready to `release`
    /// (which sees it in place, without another copy).
    pub fn push(&mut self, ciphertext: &[u8], release: Release<'_>) -> Result<()> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let result = self
            .cfb
            .update(ciphertext, &mut scratch)
            .and_then(|()| self.absorb(&scratch, release));
        self.scratch = scratch;
        result
    }

    /// Ends the body: passes the last plaintext to `release`, then checks the MDC.
    pub fn finish(&mut self, release: Release<'_>) -> Result<()> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let result = self
            .cfb
            .finish(&mut scratch)
            .and_then(|()| self.absorb(&scratch, release));
        self.scratch = scratch;
        result?;
        if self.prefix_left > 0 || self.held.len() < MDC_LEN {
            return Err(error::corrupt(
                "the encrypted data is truncated (its modification detection code is missing)",
            ));
        }
        if self.held[..2] != [0xd3, 0x14] {
            return Err(error::corrupt(
                "the encrypted data does not end with a modification detection code (truncated or corrupt)",
            ));
        }
        self.mdc.update(&self.held[..2]).map_err(sha1_failed)?;
        let digest = self.mdc.finish();
        if digest[..] != self.held[2..] {
            return Err(error::corrupt(
                "the modification detection code does not match: the message was modified or corrupted",
            ));
        }
        Ok(())
    }
}
