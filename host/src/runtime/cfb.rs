//! CFB decryption with the block cipher run on many blocks at once.
//!
//! CFB encryption is serial by nature: each block's keystream is the encryption of the
//! previous *ciphertext* block, which does not exist until that block is encrypted. But a
//! decryptor already holds every ciphertext block, so it can encrypt a whole batch of them
//! in one call, which AES-NI pipelines eight blocks at a time. `cfb-mode`'s `BufDecryptor`
//! runs one block at a time instead, and bounded OpenPGP restores (its SEIPD v1 packets are
//! AES in CFB mode) at about a third of what the cipher can do.
//!
//! Input may arrive in any pieces; the state between calls is the next keystream block and
//! how much of it is used, exactly as in `BufDecryptor`, whose output this matches byte for
//! byte (see the tests).

use aes::cipher::consts::U16;
use aes::cipher::{Block, BlockEncrypt, BlockSizeUser};
use zeroize::Zeroize;

const BLOCK: usize = 16;
/// Blocks encrypted per call into the cipher: a multiple of AES-NI's eight, small enough
/// to live on the stack.
const BATCH: usize = 64;

/// A CFB decryptor over a 128-bit block cipher.
pub struct CfbDecryptor<C: BlockEncrypt + BlockSizeUser<BlockSize = U16>> {
    cipher: C,
    /// While `used` is 0: the keystream for the next block, E(previous ciphertext block).
    /// Otherwise its first `used` bytes already hold that block's ciphertext, and the rest
    /// are keystream still to use.
    keystream: Block<C>,
    used: usize,
}

impl<C: BlockEncrypt + BlockSizeUser<BlockSize = U16>> CfbDecryptor<C> {
    /// A decryptor starting from `iv` (one block).
    pub fn new(cipher: C, iv: &[u8; BLOCK]) -> Self {
        let mut keystream = Block::<C>::clone_from_slice(iv);
        cipher.encrypt_block(&mut keystream);
        CfbDecryptor {
            cipher,
            keystream,
            used: 0,
        }
    }

    /// Decrypts the next `data` in place.
    pub fn decrypt(&mut self, mut data: &mut [u8]) {
        if self.used > 0 {
            let n = data.len().min(BLOCK - self.used);
            let (head, rest) = data.split_at_mut(n);
            self.xor_partial(head);
            data = rest;
            if self.used < BLOCK {
                return;
            }
            // The block's ciphertext is complete: its encryption is the next keystream.
            self.cipher.encrypt_block(&mut self.keystream);
            self.used = 0;
        }
        let whole = data.len() / BLOCK * BLOCK;
        let (blocks, tail) = data.split_at_mut(whole);
        let mut next = [Block::<C>::default(); BATCH];
        for batch in blocks.chunks_mut(BATCH * BLOCK) {
            let n = batch.len() / BLOCK;
            for (t, c) in next.iter_mut().zip(batch.chunks_exact(BLOCK)) {
                t.copy_from_slice(c);
            }
            // next[i] = E(C_i), the keystream of block i + 1.
            self.cipher.encrypt_blocks(&mut next[..n]);
            let mut keystream = block_u128(&self.keystream);
            for (c, t) in batch.chunks_exact_mut(BLOCK).zip(&next) {
                let plain = block_u128(c) ^ keystream;
                c.copy_from_slice(&plain.to_ne_bytes());
                keystream = block_u128(t);
            }
            self.keystream = next[n - 1];
        }
        next.iter_mut().for_each(|b| b.as_mut_slice().zeroize());
        self.xor_partial(tail);
    }

    /// Decrypts up to the end of the current block, keeping the ciphertext in its place.
    fn xor_partial(&mut self, data: &mut [u8]) {
        let keystream = &mut self.keystream[self.used..self.used + data.len()];
        for (p, k) in data.iter_mut().zip(keystream) {
            let c = *p;
            *p ^= *k;
            *k = c;
        }
        self.used += data.len();
    }
}

/// One block as a number, to XOR it in one instruction.
fn block_u128(block: &[u8]) -> u128 {
    u128::from_ne_bytes(block.try_into().expect("a 16-byte block"))
}

impl<C: BlockEncrypt + BlockSizeUser<BlockSize = U16>> Drop for CfbDecryptor<C> {
    fn drop(&mut self) {
        self.keystream.as_mut_slice().zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::cipher::{KeyInit, KeyIvInit};

    /// A deterministic byte stream (no rand dependency for the tests).
    fn bytes(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// A key, an IV and a ciphertext from `seed`, and that ciphertext decrypted by
    /// cfb-mode's `BufDecryptor` (the reference), with cipher `C`.
    fn case<C>(key_len: usize, len: usize, seed: u64) -> (Vec<u8>, [u8; 16], Vec<u8>, Vec<u8>)
    where
        C: BlockEncrypt + aes::cipher::BlockCipher + BlockSizeUser<BlockSize = U16> + KeyInit,
    {
        let key = bytes(key_len, seed);
        let iv: [u8; 16] = bytes(16, seed + 1).try_into().unwrap();
        let ciphertext = bytes(len, seed + 2);
        let mut expected = ciphertext.clone();
        cfb_mode::BufDecryptor::<C>::new_from_slices(&key, &iv)
            .unwrap()
            .decrypt(&mut expected);
        (key, iv, ciphertext, expected)
    }

    #[test]
    fn matches_cfb_mode_for_any_split() {
        let (key, iv, ciphertext, expected) = case::<aes::Aes256>(32, 40_000, 1);

        // Pieces of every awkward size: inside a block, across blocks, across batches.
        for (seed, max_piece) in [(4, 1usize), (5, 7), (6, 17), (7, 1500), (8, 40_000)] {
            let sizes = bytes(ciphertext.len(), seed);
            let mut ours = ciphertext.clone();
            let mut decryptor = CfbDecryptor::new(aes::Aes256::new_from_slice(&key).unwrap(), &iv);
            let (mut at, mut i) = (0, 0);
            while at < ours.len() {
                let n = (1 + sizes[i] as usize % max_piece).min(ours.len() - at);
                decryptor.decrypt(&mut ours[at..at + n]);
                at += n;
                i += 1;
            }
            assert!(ours == expected, "pieces of at most {max_piece} bytes");
        }
    }

    #[test]
    fn aes128_and_empty_calls() {
        let (key, iv, ciphertext, expected) = case::<aes::Aes128>(16, 1029, 9);
        let mut ours = ciphertext.clone();
        let mut decryptor = CfbDecryptor::new(aes::Aes128::new_from_slice(&key).unwrap(), &iv);
        decryptor.decrypt(&mut []);
        decryptor.decrypt(&mut ours[..5]);
        decryptor.decrypt(&mut []);
        decryptor.decrypt(&mut ours[5..]);
        assert_eq!(ours, expected);
    }
}
