//! The body of a SEIPD v1 packet (RFC 9580 §5.13.1), decrypted as it streams: the random
//! prefix with its quick check, the plaintext, and the Modification Detection Code.
//!
//! Plaintext is `prefix (block size + 2) || packets || 0xD3 0x14 || SHA-1(all before)`.
//! The last 22 decrypted bytes are always held back until the end, where the MDC is
//! checked; everything before them is hashed and passed on as it arrives.
//!
//! **Limit:** plaintext is necessarily released before the MDC can be checked (gpg does the
//! same). A modified or truncated message still fails at `finish`, and the host checks the
//! restored stream's sha256 at the end, so a damaged restore is never reported as good.

use sequoia_openpgp::crypto::hash;
use sequoia_openpgp::crypto::SessionKey;
use sequoia_openpgp::types::{HashAlgorithm, SymmetricAlgorithm};

use crate::cfb::Cfb;
use crate::error::{Error, Result};
use crate::packets::tag;

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

/// Streaming decryption of one SEIPD v1 body (after its version octet).
pub struct Seipd1 {
    cfb: Cfb,
    mdc: hash::Context,
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
            .map_err(|_| Error::corrupt(format!("the cipher {algo} is not supported")))?;
        let mdc = HashAlgorithm::SHA1
            .context()
            .map_err(|e| Error::internal(format!("SHA-1 is unavailable: {e}")))?
            .for_digest();
        Ok(Seipd1 {
            cfb: Cfb::new(algo, key)?,
            mdc,
            prefix_left: bs + 2,
            held: Vec::with_capacity(MDC_LEN * 2),
            scratch: Vec::new(),
        })
    }

    /// Takes freshly decrypted bytes from `scratch`, appending releasable plaintext to `out`.
    fn absorb(&mut self, out: &mut Vec<u8>) {
        let mut plain = &self.scratch[..];
        if self.prefix_left > 0 {
            let n = self.prefix_left.min(plain.len());
            self.mdc.update(&plain[..n]);
            self.prefix_left -= n;
            plain = &plain[n..];
        }
        if plain.len() >= MDC_LEN {
            // Release all that was held plus all but the last 22 new bytes.
            let cut = plain.len() - MDC_LEN;
            self.mdc.update(&self.held);
            out.extend_from_slice(&self.held);
            self.mdc.update(&plain[..cut]);
            out.extend_from_slice(&plain[..cut]);
            self.held.clear();
            self.held.extend_from_slice(&plain[cut..]);
        } else {
            self.held.extend_from_slice(plain);
            if self.held.len() > MDC_LEN {
                let cut = self.held.len() - MDC_LEN;
                self.mdc.update(&self.held[..cut]);
                out.extend_from_slice(&self.held[..cut]);
                self.held.drain(..cut);
            }
        }
        self.scratch.clear();
    }

    /// Decrypts the next ciphertext bytes; appends the plaintext ready to `out`.
    pub fn push(&mut self, ciphertext: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let mut scratch = std::mem::take(&mut self.scratch);
        self.cfb.update(ciphertext, &mut scratch)?;
        self.scratch = scratch;
        self.absorb(out);
        Ok(())
    }

    /// Ends the body: appends the last plaintext to `out`, then checks the MDC.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let mut scratch = std::mem::take(&mut self.scratch);
        self.cfb.finish(&mut scratch)?;
        self.scratch = scratch;
        self.absorb(out);
        if self.prefix_left > 0 || self.held.len() < MDC_LEN {
            return Err(Error::corrupt(
                "the encrypted data is truncated (its modification detection code is missing)",
            ));
        }
        if self.held[..2] != [0xd3, 0x14] {
            return Err(Error::corrupt(
                "the encrypted data does not end with a modification detection code (truncated or corrupt)",
            ));
        }
        self.mdc.update(&self.held[..2]);
        let mut digest = [0u8; 20];
        self.mdc
            .digest(&mut digest)
            .map_err(|e| Error::internal(format!("SHA-1 failed: {e}")))?;
        if digest[..] != self.held[2..] {
            return Err(Error::corrupt(
                "the modification detection code does not match: the message was modified or corrupted",
            ));
        }
        Ok(())
    }
}
