//! The host side of `twgate:plugin/crypto`: bulk AEAD, CFB and hashing lent to plugins at
//! native speed (ring's assembly for ChaCha20-Poly1305, AES-GCM and SHA-256/512; the
//! RustCrypto `aes` crate, with AES-NI when the CPU has it, for CFB; RustCrypto `sha1`,
//! with the SHA extensions when the CPU has them, for SHA-1).
//!
//! **Boundary:** these calls are pure computation over the bytes a plugin hands in. They
//! touch no file, socket, clock or environment, so they add no capability to the sandbox.
//! What they cost the host is bounded: at most [`MAX_CALL_BYTES`] per call (so a call takes
//! milliseconds, not the epoch deadline) and at most [`MAX_RESOURCES`] live keys, ciphers
//! and hashers per instance. Key material is wiped when its resource is dropped (ring wipes
//! its own key schedules; the CFB state is zeroized by the `aes` crate's `zeroize` feature).
//! A SHA-1 hasher fed in bulk runs on a thread of its own (`sha1_thread`), at most
//! [`MAX_HASH_THREADS`] per instance, each holding at most two calls' bytes.

use super::bindings::crypto::{Aead, Cfb, Hasher, Host, HostAead, HostCfb, HostHasher};
use super::bindings::crypto::{AeadAlgorithm, BlockCipher, CryptoError, HashAlgorithm};
use super::cfb::CfbDecryptor;
use super::sha1_thread::Sha1Thread;
use super::StageState;
use aes::cipher::{consts::U16, BlockEncrypt, BlockSizeUser, InvalidLength, KeyInit, KeyIvInit};
use std::collections::HashMap;
use wasmtime::component::Resource;

/// Most bytes one call may take.
pub const MAX_CALL_BYTES: usize = 16 << 20;
/// Most crypto resources one plugin instance may hold at once.
pub const MAX_RESOURCES: usize = 64;
/// A SHA-1 hasher moves to a thread of its own (see `sha1_thread`) with its first update of
/// at least this many bytes: bulk hashing, not a key derivation's few bytes.
const BULK_HASH_BYTES: usize = 64 << 10;
/// Most SHA-1 threads one instance may have at once: an OpenPGP stream needs one.
pub const MAX_HASH_THREADS: usize = 2;

/// An AEAD key, as the plugin's `aead` resource.
pub struct AeadKey {
    key: ring::aead::LessSafeKey,
}

/// A CFB stream, as the plugin's `cfb` resource.
pub enum CfbStream {
    Enc128(cfb_mode::BufEncryptor<aes::Aes128>),
    Enc192(cfb_mode::BufEncryptor<aes::Aes192>),
    Enc256(cfb_mode::BufEncryptor<aes::Aes256>),
    Dec128(CfbDecryptor<aes::Aes128>),
    Dec192(CfbDecryptor<aes::Aes192>),
    Dec256(CfbDecryptor<aes::Aes256>),
}

/// A running hash, as the plugin's `hasher` resource. SHA-1 is RustCrypto's `sha1`, which
/// uses the CPU's SHA extensions when it has them (ring's SHA-1 is portable code, roughly a
/// third as fast, and it bounded OpenPGP's MDC); SHA-256/512 are ring's.
pub enum HashState {
    Sha1(sha1::Sha1),
    /// SHA-1 after its first bulk update, hashed beside the stage's thread.
    Sha1Thread(Sha1Thread),
    Ring {
        algorithm: &'static ring::digest::Algorithm,
        context: ring::digest::Context,
    },
}

/// The crypto resources one instance holds, by handle.
#[derive(Default)]
pub struct Resources {
    next: u32,
    aeads: HashMap<u32, AeadKey>,
    cfbs: HashMap<u32, CfbStream>,
    hashers: HashMap<u32, HashState>,
    hash_threads: usize,
}

impl Resources {
    fn live(&self) -> usize {
        self.aeads.len() + self.cfbs.len() + self.hashers.len()
    }

    /// A fresh handle, within the budget.
    fn admit(&mut self) -> Result<u32, CryptoError> {
        if self.live() >= MAX_RESOURCES {
            return Err(invalid(format!(
                "more than {MAX_RESOURCES} crypto keys, ciphers and hashers at once"
            )));
        }
        self.next = self.next.wrapping_add(1);
        Ok(self.next)
    }
}

fn invalid(msg: impl Into<String>) -> CryptoError {
    CryptoError::Invalid(msg.into())
}

fn gone() -> CryptoError {
    invalid("a crypto resource that was already dropped")
}

fn check_len(data: &[u8]) -> Result<(), CryptoError> {
    if data.len() > MAX_CALL_BYTES {
        return Err(invalid(format!(
            "{} bytes in one crypto call; at most {MAX_CALL_BYTES} are allowed",
            data.len()
        )));
    }
    Ok(())
}

fn nonce(bytes: &[u8]) -> Result<ring::aead::Nonce, CryptoError> {
    ring::aead::Nonce::try_assume_unique_for_key(bytes)
        .map_err(|_| invalid(format!("a nonce of {} bytes; it must be 12", bytes.len())))
}

impl Host for StageState {
    fn new_aead(
        &mut self,
        algorithm: AeadAlgorithm,
        key: Vec<u8>,
    ) -> Result<Resource<Aead>, CryptoError> {
        let algorithm = match algorithm {
            AeadAlgorithm::Chacha20Poly1305 => &ring::aead::CHACHA20_POLY1305,
            AeadAlgorithm::Aes256Gcm => &ring::aead::AES_256_GCM,
        };
        let unbound = ring::aead::UnboundKey::new(algorithm, &key)
            .map_err(|_| invalid(format!("a key of {} bytes; it must be 32", key.len())));
        zeroize::Zeroize::zeroize(&mut { key });
        let key = ring::aead::LessSafeKey::new(unbound?);
        let id = self.crypto.admit()?;
        self.crypto.aeads.insert(id, AeadKey { key });
        Ok(Resource::new_own(id))
    }

    fn new_cfb(
        &mut self,
        cipher: BlockCipher,
        key: Vec<u8>,
        iv: Vec<u8>,
        encrypt: bool,
    ) -> Result<Resource<Cfb>, CryptoError> {
        let bad = |_| {
            invalid(format!(
                "a {} key of {} bytes with a {}-byte IV",
                match cipher {
                    BlockCipher::Aes128 => "AES-128",
                    BlockCipher::Aes192 => "AES-192",
                    BlockCipher::Aes256 => "AES-256",
                },
                key.len(),
                iv.len()
            ))
        };
        let stream = match (cipher, encrypt) {
            (BlockCipher::Aes128, true) => {
                cfb_mode::BufEncryptor::new_from_slices(&key, &iv).map(CfbStream::Enc128)
            }
            (BlockCipher::Aes192, true) => {
                cfb_mode::BufEncryptor::new_from_slices(&key, &iv).map(CfbStream::Enc192)
            }
            (BlockCipher::Aes256, true) => {
                cfb_mode::BufEncryptor::new_from_slices(&key, &iv).map(CfbStream::Enc256)
            }
            (BlockCipher::Aes128, false) => decryptor(&key, &iv).map(CfbStream::Dec128),
            (BlockCipher::Aes192, false) => decryptor(&key, &iv).map(CfbStream::Dec192),
            (BlockCipher::Aes256, false) => decryptor(&key, &iv).map(CfbStream::Dec256),
        }
        .map_err(bad);
        zeroize::Zeroize::zeroize(&mut { key });
        let stream = stream?;
        let id = self.crypto.admit()?;
        self.crypto.cfbs.insert(id, stream);
        Ok(Resource::new_own(id))
    }

    fn new_hasher(&mut self, algorithm: HashAlgorithm) -> Result<Resource<Hasher>, CryptoError> {
        let ring = |algorithm| HashState::Ring {
            algorithm,
            context: ring::digest::Context::new(algorithm),
        };
        let state = match algorithm {
            HashAlgorithm::Sha1 => HashState::Sha1(sha1::Sha1::default()),
            HashAlgorithm::Sha256 => ring(&ring::digest::SHA256),
            HashAlgorithm::Sha512 => ring(&ring::digest::SHA512),
        };
        let id = self.crypto.admit()?;
        self.crypto.hashers.insert(id, state);
        Ok(Resource::new_own(id))
    }
}

impl HostAead for StageState {
    fn seal(
        &mut self,
        this: Resource<Aead>,
        nonce_bytes: Vec<u8>,
        aad: Vec<u8>,
        mut plaintext: Vec<u8>,
    ) -> Result<Vec<u8>, CryptoError> {
        check_len(&plaintext)?;
        let key = self.crypto.aeads.get(&this.rep()).ok_or_else(gone)?;
        key.key
            .seal_in_place_append_tag(
                nonce(&nonce_bytes)?,
                ring::aead::Aad::from(aad),
                &mut plaintext,
            )
            .map_err(|_| invalid("the plaintext is too long for one AEAD call"))?;
        Ok(plaintext)
    }

    fn open(
        &mut self,
        this: Resource<Aead>,
        nonce_bytes: Vec<u8>,
        aad: Vec<u8>,
        mut ciphertext: Vec<u8>,
    ) -> Result<Vec<u8>, CryptoError> {
        check_len(&ciphertext)?;
        let key = self.crypto.aeads.get(&this.rep()).ok_or_else(gone)?;
        let len = key
            .key
            .open_in_place(
                nonce(&nonce_bytes)?,
                ring::aead::Aad::from(aad),
                &mut ciphertext,
            )
            .map_err(|_| CryptoError::Unauthentic)?
            .len();
        ciphertext.truncate(len);
        Ok(ciphertext)
    }

    fn drop(&mut self, this: Resource<Aead>) -> wasmtime::Result<()> {
        self.crypto.aeads.remove(&this.rep());
        Ok(())
    }
}

/// A parallel CFB decryptor (see `cfb`) for `key` and a one-block `iv`.
fn decryptor<C>(key: &[u8], iv: &[u8]) -> Result<CfbDecryptor<C>, InvalidLength>
where
    C: BlockEncrypt + BlockSizeUser<BlockSize = U16> + KeyInit,
{
    let iv: &[u8; 16] = iv.try_into().map_err(|_| InvalidLength)?;
    Ok(CfbDecryptor::new(C::new_from_slice(key)?, iv))
}

impl HostCfb for StageState {
    fn update(&mut self, this: Resource<Cfb>, mut data: Vec<u8>) -> Result<Vec<u8>, CryptoError> {
        check_len(&data)?;
        match self.crypto.cfbs.get_mut(&this.rep()).ok_or_else(gone)? {
            CfbStream::Enc128(c) => c.encrypt(&mut data),
            CfbStream::Enc192(c) => c.encrypt(&mut data),
            CfbStream::Enc256(c) => c.encrypt(&mut data),
            CfbStream::Dec128(c) => c.decrypt(&mut data),
            CfbStream::Dec192(c) => c.decrypt(&mut data),
            CfbStream::Dec256(c) => c.decrypt(&mut data),
        }
        Ok(data)
    }

    fn drop(&mut self, this: Resource<Cfb>) -> wasmtime::Result<()> {
        self.crypto.cfbs.remove(&this.rep());
        Ok(())
    }
}

impl HostHasher for StageState {
    fn update(&mut self, this: Resource<Hasher>, data: Vec<u8>) -> Result<(), CryptoError> {
        check_len(&data)?;
        let crypto = &mut self.crypto;
        let state = crypto.hashers.get_mut(&this.rep()).ok_or_else(gone)?;
        match state {
            HashState::Sha1(h)
                if data.len() >= BULK_HASH_BYTES && crypto.hash_threads < MAX_HASH_THREADS =>
            {
                match Sha1Thread::spawn(h.clone()) {
                    Ok(thread) => {
                        thread.update(data);
                        *state = HashState::Sha1Thread(thread);
                        crypto.hash_threads += 1;
                    }
                    // No thread to be had: the state is still here, so hash on this one.
                    Err(_) => sha1::Digest::update(h, &data),
                }
            }
            HashState::Sha1(h) => sha1::Digest::update(h, &data),
            HashState::Sha1Thread(thread) => thread.update(data),
            HashState::Ring { context, .. } => context.update(&data),
        }
        Ok(())
    }

    fn finish(&mut self, this: Resource<Hasher>) -> Vec<u8> {
        match self.crypto.hashers.get_mut(&this.rep()) {
            None => Vec::new(),
            Some(HashState::Sha1(h)) => sha1::Digest::finalize_reset(h).to_vec(),
            Some(HashState::Sha1Thread(thread)) => thread.finish(),
            Some(HashState::Ring { algorithm, context }) => {
                let done = std::mem::replace(context, ring::digest::Context::new(algorithm));
                done.finish().as_ref().to_vec()
            }
        }
    }

    fn drop(&mut self, this: Resource<Hasher>) -> wasmtime::Result<()> {
        if let Some(HashState::Sha1Thread(_)) = self.crypto.hashers.remove(&this.rep()) {
            self.crypto.hash_threads -= 1;
        }
        Ok(())
    }
}
