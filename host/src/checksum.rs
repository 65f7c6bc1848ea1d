//! The checksums a manifest records for a backup's bytes: BLAKE3 for what twgate writes
//! now, SHA-256 for backups written before manifest version 2, still checked on restore.
//!
//! Why BLAKE3: hashing both ends of a push was the largest cost twgate adds to a pipeline.
//! SHA-256 is sequential and, even with the CPU's SHA extensions, runs at about 2 GB/s on
//! one core, which bounded a push of a very compressible dump at half the speed of the
//! stock `zstd | age`. BLAKE3 is a tree hash that uses all of AVX2/AVX-512 on one core
//! (several times faster), with the same 256-bit security. `b3sum` (Debian's `b3sum`)
//! computes the same digest by hand.

use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use std::fmt;

/// A hash function a manifest can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Sha256,
    Blake3,
}

impl Algorithm {
    /// What new backups use.
    pub const CURRENT: Algorithm = Algorithm::Blake3;

    /// The manifest field and the name people know it by.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Blake3 => "blake3",
        }
    }
}

/// A digest, in lowercase hex, with the function that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub algorithm: Algorithm,
    pub hex: String,
}

impl Checksum {
    /// The first 16 hex digits, for messages.
    pub fn short(&self) -> &str {
        &self.hex[..16.min(self.hex.len())]
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.algorithm.name(), self.short())
    }
}

/// A running hash of either kind.
pub enum Hasher {
    Sha256(Box<sha2::Sha256>),
    Blake3(Box<blake3::Hasher>),
}

impl Hasher {
    pub fn new(algorithm: Algorithm) -> Hasher {
        match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(Box::default()),
            Algorithm::Blake3 => Hasher::Blake3(Box::default()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Blake3(h) => {
                h.update(data);
            }
        }
    }

    pub fn finish(self) -> Checksum {
        match self {
            Hasher::Sha256(h) => Checksum {
                algorithm: Algorithm::Sha256,
                hex: hex::encode(h.finalize()),
            },
            Hasher::Blake3(h) => Checksum {
                algorithm: Algorithm::Blake3,
                hex: h.finalize().to_hex().to_string(),
            },
        }
    }
}

/// The checksum of a file, read in chunks.
pub fn of_file(path: &std::path::Path, algorithm: Algorithm) -> std::io::Result<Checksum> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Hasher::new(algorithm);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hasher.finish());
        }
        hasher.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        let digest = |algorithm| {
            let mut h = Hasher::new(algorithm);
            h.update(b"ab");
            h.update(b"c");
            h.finish().hex
        };
        assert_eq!(
            digest(Algorithm::Sha256),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // The BLAKE3 paper's test vector for "abc".
        assert_eq!(
            digest(Algorithm::Blake3),
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
        );
    }
}
