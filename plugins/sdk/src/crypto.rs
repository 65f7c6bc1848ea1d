//! Bulk cryptography lent by the host (`twgate:plugin/crypto`): AEAD, CFB and hashing at
//! native speed, for the work that grows with the stream.
//!
//! A plugin keeps its format logic (headers, key wrapping, nonces, what to trust) and hands
//! only the bulk work here. In the component, each call goes to the host, which computes and
//! nothing else: these calls add no capability. Natively (the plugin's own `cargo test`),
//! the same algorithms run in software from the RustCrypto crates, so tests exercise the same
//! code paths and the two must agree byte for byte.
//!
//! Limits the host enforces: at most [`MAX_CALL_BYTES`] per call (the [`Cfb`] and
//! [`Hasher`] wrappers split larger inputs themselves) and at most 64 live keys, ciphers and
//! hashers per plugin instance.

/// Most bytes the host takes in one call.
pub const MAX_CALL_BYTES: usize = 16 << 20;

/// Why a crypto call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// A key or nonce of the wrong length, too much data, or too many resources.
    Invalid(String),
    /// An AEAD `open` found the ciphertext, nonce, associated data or key do not match.
    Unauthentic,
}

impl std::fmt::Display for CryptoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CryptoError::Invalid(m) => f.write_str(m),
            CryptoError::Unauthentic => f.write_str("authentication failed"),
        }
    }
}

/// AEAD ciphers: 32-byte key, 12-byte nonce, 16-byte tag appended to the ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AeadAlgorithm {
    ChaCha20Poly1305,
    Aes256Gcm,
}

/// Block ciphers for [`Cfb`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockCipher {
    Aes128,
    Aes192,
    Aes256,
}

impl BlockCipher {
    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            BlockCipher::Aes128 => 16,
            BlockCipher::Aes192 => 24,
            BlockCipher::Aes256 => 32,
        }
    }
}

/// Hash functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    /// Only where a format requires it (OpenPGP's modification detection code).
    Sha1,
    Sha256,
    Sha512,
}

/// An AEAD key.
pub struct Aead(imp::Aead);

impl Aead {
    /// A key for `algorithm`; `key` must be 32 bytes.
    pub fn new(algorithm: AeadAlgorithm, key: &[u8]) -> Result<Aead, CryptoError> {
        imp::Aead::new(algorithm, key).map(Aead)
    }

    /// Encrypts `plaintext` (at most [`MAX_CALL_BYTES`]); returns ciphertext then tag.
    pub fn seal(&self, nonce: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.0.seal(nonce, aad, plaintext)
    }

    /// Checks and decrypts `ciphertext` (tag at the end).
    pub fn open(
        &self,
        nonce: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.0.open(nonce, aad, ciphertext)
    }
}

/// One CFB stream (full-block feedback, no resynchronisation), encrypting or decrypting.
pub struct Cfb(imp::Cfb);

impl Cfb {
    /// Starts a stream under `key` from `iv` (16 bytes).
    pub fn new(
        cipher: BlockCipher,
        key: &[u8],
        iv: &[u8],
        encrypt: bool,
    ) -> Result<Cfb, CryptoError> {
        imp::Cfb::new(cipher, key, iv, encrypt).map(Cfb)
    }

    /// Encrypts or decrypts the next bytes, of any length, appending them to `out`. Pass an
    /// empty `out` where you can: in the component, the host's result then becomes `out`
    /// without being copied.
    pub fn update(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
        for piece in data.chunks(MAX_CALL_BYTES) {
            self.0.update(piece, out)?;
        }
        Ok(())
    }
}

/// One running hash.
pub struct Hasher(imp::Hasher);

impl Hasher {
    /// Starts a hash.
    pub fn new(algorithm: HashAlgorithm) -> Result<Hasher, CryptoError> {
        imp::Hasher::new(algorithm).map(Hasher)
    }

    /// Hashes the next bytes.
    pub fn update(&mut self, data: &[u8]) -> Result<(), CryptoError> {
        for piece in data.chunks(MAX_CALL_BYTES) {
            self.0.update(piece)?;
        }
        Ok(())
    }

    /// The digest of everything hashed; the hasher starts again afterwards.
    pub fn finish(&mut self) -> Vec<u8> {
        self.0.finish()
    }
}

/// In the component: calls to the host.
#[cfg(target_arch = "wasm32")]
mod imp {
    use super::{AeadAlgorithm, BlockCipher, CryptoError, HashAlgorithm};
    use crate::component::bindings::twgate::plugin::crypto as wit;

    fn from_wit(e: wit::CryptoError) -> CryptoError {
        match e {
            wit::CryptoError::Invalid(m) => CryptoError::Invalid(m),
            wit::CryptoError::Unauthentic => CryptoError::Unauthentic,
        }
    }

    pub struct Aead(wit::Aead);

    impl Aead {
        pub fn new(algorithm: AeadAlgorithm, key: &[u8]) -> Result<Aead, CryptoError> {
            let algorithm = match algorithm {
                AeadAlgorithm::ChaCha20Poly1305 => wit::AeadAlgorithm::Chacha20Poly1305,
                AeadAlgorithm::Aes256Gcm => wit::AeadAlgorithm::Aes256Gcm,
            };
            wit::new_aead(algorithm, key).map(Aead).map_err(from_wit)
        }
        pub fn seal(
            &self,
            nonce: &[u8],
            aad: &[u8],
            plaintext: &[u8],
        ) -> Result<Vec<u8>, CryptoError> {
            self.0.seal(nonce, aad, plaintext).map_err(from_wit)
        }
        pub fn open(
            &self,
            nonce: &[u8],
            aad: &[u8],
            ciphertext: &[u8],
        ) -> Result<Vec<u8>, CryptoError> {
            self.0.open(nonce, aad, ciphertext).map_err(from_wit)
        }
    }

    pub struct Cfb(wit::Cfb);

    impl Cfb {
        pub fn new(
            cipher: BlockCipher,
            key: &[u8],
            iv: &[u8],
            encrypt: bool,
        ) -> Result<Cfb, CryptoError> {
            let cipher = match cipher {
                BlockCipher::Aes128 => wit::BlockCipher::Aes128,
                BlockCipher::Aes192 => wit::BlockCipher::Aes192,
                BlockCipher::Aes256 => wit::BlockCipher::Aes256,
            };
            wit::new_cfb(cipher, key, iv, encrypt)
                .map(Cfb)
                .map_err(from_wit)
        }
        pub fn update(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
            let result = self.0.update(data).map_err(from_wit)?;
            if out.is_empty() {
                // The usual case: take the host's result as it is, without another copy.
                *out = result;
            } else {
                out.extend_from_slice(&result);
            }
            Ok(())
        }
    }

    pub struct Hasher(wit::Hasher);

    impl Hasher {
        pub fn new(algorithm: HashAlgorithm) -> Result<Hasher, CryptoError> {
            let algorithm = match algorithm {
                HashAlgorithm::Sha1 => wit::HashAlgorithm::Sha1,
                HashAlgorithm::Sha256 => wit::HashAlgorithm::Sha256,
                HashAlgorithm::Sha512 => wit::HashAlgorithm::Sha512,
            };
            wit::new_hasher(algorithm).map(Hasher).map_err(from_wit)
        }
        pub fn update(&mut self, data: &[u8]) -> Result<(), CryptoError> {
            self.0.update(data).map_err(from_wit)
        }
        pub fn finish(&mut self) -> Vec<u8> {
            self.0.finish()
        }
    }
}

/// Natively: the same algorithms in software.
#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::{AeadAlgorithm, BlockCipher, CryptoError, HashAlgorithm, MAX_CALL_BYTES};
    use aes::cipher::KeyIvInit;
    use chacha20poly1305::aead::{Aead as _, KeyInit, Payload};
    use sha2::Digest;

    fn invalid(m: impl Into<String>) -> CryptoError {
        CryptoError::Invalid(m.into())
    }

    fn check(data: &[u8], nonce: &[u8]) -> Result<(), CryptoError> {
        if data.len() > MAX_CALL_BYTES {
            return Err(invalid(format!("{} bytes in one crypto call", data.len())));
        }
        if nonce.len() != 12 {
            return Err(invalid(format!(
                "a nonce of {} bytes; it must be 12",
                nonce.len()
            )));
        }
        Ok(())
    }

    pub enum Aead {
        ChaCha(Box<chacha20poly1305::ChaCha20Poly1305>),
        Gcm(Box<aes_gcm::Aes256Gcm>),
    }

    impl Aead {
        pub fn new(algorithm: AeadAlgorithm, key: &[u8]) -> Result<Aead, CryptoError> {
            let bad = |_| invalid(format!("a key of {} bytes; it must be 32", key.len()));
            Ok(match algorithm {
                AeadAlgorithm::ChaCha20Poly1305 => Aead::ChaCha(Box::new(
                    chacha20poly1305::ChaCha20Poly1305::new_from_slice(key).map_err(bad)?,
                )),
                AeadAlgorithm::Aes256Gcm => Aead::Gcm(Box::new(
                    aes_gcm::Aes256Gcm::new_from_slice(key).map_err(bad)?,
                )),
            })
        }
        pub fn seal(&self, nonce: &[u8], aad: &[u8], msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
            check(msg, nonce)?;
            let payload = Payload { msg, aad };
            match self {
                Aead::ChaCha(c) => c.encrypt(nonce.into(), payload),
                Aead::Gcm(c) => c.encrypt(nonce.into(), payload),
            }
            .map_err(|_| invalid("the plaintext is too long for one AEAD call"))
        }
        pub fn open(&self, nonce: &[u8], aad: &[u8], msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
            check(msg, nonce)?;
            let payload = Payload { msg, aad };
            match self {
                Aead::ChaCha(c) => c.decrypt(nonce.into(), payload),
                Aead::Gcm(c) => c.decrypt(nonce.into(), payload),
            }
            .map_err(|_| CryptoError::Unauthentic)
        }
    }

    pub enum Cfb {
        Enc128(cfb_mode::BufEncryptor<aes::Aes128>),
        Enc192(cfb_mode::BufEncryptor<aes::Aes192>),
        Enc256(cfb_mode::BufEncryptor<aes::Aes256>),
        Dec128(cfb_mode::BufDecryptor<aes::Aes128>),
        Dec192(cfb_mode::BufDecryptor<aes::Aes192>),
        Dec256(cfb_mode::BufDecryptor<aes::Aes256>),
    }

    impl Cfb {
        pub fn new(
            cipher: BlockCipher,
            key: &[u8],
            iv: &[u8],
            encrypt: bool,
        ) -> Result<Cfb, CryptoError> {
            let bad = |_| {
                invalid(format!(
                    "a {}-byte key with a {}-byte IV",
                    key.len(),
                    iv.len()
                ))
            };
            match (cipher, encrypt) {
                (BlockCipher::Aes128, true) => {
                    cfb_mode::BufEncryptor::new_from_slices(key, iv).map(Cfb::Enc128)
                }
                (BlockCipher::Aes192, true) => {
                    cfb_mode::BufEncryptor::new_from_slices(key, iv).map(Cfb::Enc192)
                }
                (BlockCipher::Aes256, true) => {
                    cfb_mode::BufEncryptor::new_from_slices(key, iv).map(Cfb::Enc256)
                }
                (BlockCipher::Aes128, false) => {
                    cfb_mode::BufDecryptor::new_from_slices(key, iv).map(Cfb::Dec128)
                }
                (BlockCipher::Aes192, false) => {
                    cfb_mode::BufDecryptor::new_from_slices(key, iv).map(Cfb::Dec192)
                }
                (BlockCipher::Aes256, false) => {
                    cfb_mode::BufDecryptor::new_from_slices(key, iv).map(Cfb::Dec256)
                }
            }
            .map_err(bad)
        }
        pub fn update(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
            let start = out.len();
            out.extend_from_slice(data);
            let buf = &mut out[start..];
            match self {
                Cfb::Enc128(c) => c.encrypt(buf),
                Cfb::Enc192(c) => c.encrypt(buf),
                Cfb::Enc256(c) => c.encrypt(buf),
                Cfb::Dec128(c) => c.decrypt(buf),
                Cfb::Dec192(c) => c.decrypt(buf),
                Cfb::Dec256(c) => c.decrypt(buf),
            }
            Ok(())
        }
    }

    pub enum Hasher {
        Sha1(sha1::Sha1),
        Sha256(sha2::Sha256),
        Sha512(sha2::Sha512),
    }

    impl Hasher {
        pub fn new(algorithm: HashAlgorithm) -> Result<Hasher, CryptoError> {
            Ok(match algorithm {
                HashAlgorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
                HashAlgorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
                HashAlgorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
            })
        }
        pub fn update(&mut self, data: &[u8]) -> Result<(), CryptoError> {
            match self {
                Hasher::Sha1(h) => h.update(data),
                Hasher::Sha256(h) => h.update(data),
                Hasher::Sha512(h) => h.update(data),
            }
            Ok(())
        }
        pub fn finish(&mut self) -> Vec<u8> {
            match self {
                Hasher::Sha1(h) => h.finalize_reset().to_vec(),
                Hasher::Sha256(h) => h.finalize_reset().to_vec(),
                Hasher::Sha512(h) => h.finalize_reset().to_vec(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chacha20_poly1305_matches_rfc_8439() {
        // RFC 8439 §2.8.2.
        let key: Vec<u8> = (0x80u8..0xa0).collect();
        let nonce = [
            0x07, 0, 0, 0, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47,
        ];
        let aad = [
            0x50, 0x51, 0x52, 0x53, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7,
        ];
        let plain = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let aead = Aead::new(AeadAlgorithm::ChaCha20Poly1305, &key).unwrap();
        let sealed = aead.seal(&nonce, &aad, plain).unwrap();
        assert_eq!(
            sealed[sealed.len() - 16..],
            [
                0x1a, 0xe1, 0x0b, 0x59, 0x4f, 0x09, 0xe2, 0x6a, 0x7e, 0x90, 0x2e, 0xcb, 0xd0, 0x60,
                0x06, 0x91
            ]
        );
        assert_eq!(aead.open(&nonce, &aad, &sealed).unwrap(), plain);
        let mut bad = sealed.clone();
        bad[0] ^= 1;
        assert_eq!(aead.open(&nonce, &aad, &bad), Err(CryptoError::Unauthentic));
    }

    #[test]
    fn cfb_round_trips_in_any_pieces() {
        let key = [7u8; 32];
        let plain: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let mut whole = Vec::new();
        Cfb::new(BlockCipher::Aes256, &key, &[0; 16], true)
            .unwrap()
            .update(&plain, &mut whole)
            .unwrap();
        let mut pieces = Vec::new();
        let mut enc = Cfb::new(BlockCipher::Aes256, &key, &[0; 16], true).unwrap();
        for piece in plain.chunks(7) {
            enc.update(piece, &mut pieces).unwrap();
        }
        assert_eq!(whole, pieces);
        let mut back = Vec::new();
        let mut dec = Cfb::new(BlockCipher::Aes256, &key, &[0; 16], false).unwrap();
        for piece in whole.chunks(13) {
            dec.update(piece, &mut back).unwrap();
        }
        assert_eq!(back, plain);
    }

    #[test]
    fn sha1_of_abc() {
        let mut h = Hasher::new(HashAlgorithm::Sha1).unwrap();
        h.update(b"abc").unwrap();
        assert_eq!(
            h.finish(),
            [
                0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e, 0x25, 0x71, 0x78, 0x50,
                0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d
            ]
        );
    }
}
