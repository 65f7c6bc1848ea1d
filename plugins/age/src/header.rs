//! age's header (age spec, "Header"): written for a fresh file key, and parsed and
//! authenticated when decrypting.
//!
//! ```text
//! age-encryption.org/v1
//! -> X25519 <ephemeral share>
//! <base64 body, 64 columns, last line short>
//! --- <base64 HMAC-SHA-256 of everything up to and including "---">
//! ```
//!
//! Recipients and identities (the `age` crate) wrap and unwrap the file key; this module
//! only frames their stanzas and computes the MAC, with the key
//! HKDF-SHA-256(ikm = file key, salt = empty, info = "header").

use age_core::format::{FileKey, Stanza};
use age_core::secrecy::ExposeSecret;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The first line of a v1 header, with its newline.
const V1: &[u8] = b"age-encryption.org/v1\n";
/// What starts the MAC line.
const MAC_TAG: &[u8] = b"---";
/// Length of the base64 MAC (32 bytes, unpadded).
const ENCODED_MAC_LEN: usize = 43;
/// The tag of a passphrase stanza.
pub const SCRYPT_TAG: &str = "scrypt";

fn mac(file_key: &FileKey, header_to_tag: &[u8]) -> Hmac<Sha256> {
    let mut key = age_core::primitives::hkdf(&[], b"header", file_key.expose_secret());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    zeroize::Zeroize::zeroize(&mut key);
    mac.update(header_to_tag);
    mac
}

/// The complete header for `stanzas`, authenticated with `file_key`.
pub fn write(stanzas: &[Stanza], file_key: &FileKey) -> Vec<u8> {
    let mut out = V1.to_vec();
    for stanza in stanzas {
        out.extend_from_slice(b"-> ");
        out.extend_from_slice(stanza.tag.as_bytes());
        for arg in &stanza.args {
            out.push(b' ');
            out.extend_from_slice(arg.as_bytes());
        }
        out.push(b'\n');
        let body = STANDARD_NO_PAD.encode(&stanza.body);
        let mut rest = body.as_bytes();
        // Full 64-column lines, then a short (possibly empty) last line.
        while rest.len() >= 64 {
            out.extend_from_slice(&rest[..64]);
            out.push(b'\n');
            rest = &rest[64..];
        }
        out.extend_from_slice(rest);
        out.push(b'\n');
    }
    out.extend_from_slice(MAC_TAG);
    let tag = mac(file_key, &out).finalize().into_bytes();
    out.push(b' ');
    out.extend_from_slice(STANDARD_NO_PAD.encode(tag).as_bytes());
    out.push(b'\n');
    out
}

/// A parsed header, not yet authenticated.
pub struct Parsed<'a> {
    pub stanzas: Vec<Stanza>,
    /// The bytes the MAC covers.
    covered: &'a [u8],
    mac: [u8; 32],
}

impl Parsed<'_> {
    /// Whether the file is encrypted to a passphrase.
    pub fn is_scrypt(&self) -> bool {
        self.stanzas.iter().any(|s| s.tag == SCRYPT_TAG)
    }

    /// Whether the header's MAC verifies under `file_key`.
    pub fn verify(&self, file_key: &FileKey) -> bool {
        mac(file_key, self.covered).verify_slice(&self.mac).is_ok()
    }
}

/// Parses `header`: exactly the header's bytes, through the newline after the MAC.
/// `None` if it is not a well-formed v1 header (the caller already checked the version
/// line).
pub fn parse(header: &[u8]) -> Option<Parsed<'_>> {
    let mut rest = header.strip_prefix(V1)?;
    let mut stanzas = Vec::new();
    while rest.starts_with(b"-> ") {
        let (after, stanza) = age_core::format::read::legacy_age_stanza(rest).ok()?;
        stanzas.push(Stanza::from(stanza));
        rest = after;
    }
    if stanzas.is_empty() {
        return None;
    }
    let covered = &header[..header.len() - rest.len() + MAC_TAG.len()];
    let line = rest.strip_prefix(MAC_TAG)?.strip_prefix(b" ")?;
    if line.len() != ENCODED_MAC_LEN + 1 || line[ENCODED_MAC_LEN] != b'\n' {
        return None;
    }
    let decoded = STANDARD_NO_PAD.decode(&line[..ENCODED_MAC_LEN]).ok()?;
    let mac: [u8; 32] = decoded.try_into().ok()?;
    // A passphrase stanza must be the only one (age spec, "scrypt recipient stanza").
    let scrypt = stanzas.iter().filter(|s| s.tag == SCRYPT_TAG).count();
    if scrypt > 0 && stanzas.len() > 1 {
        return None;
    }
    Some(Parsed {
        stanzas,
        covered,
        mac,
    })
}
