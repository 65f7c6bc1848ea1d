//! age's X25519 keys as `twgate init` writes and reads them: a fresh identity, its
//! recipient, and the check that a recipient given on the command line is one.
//!
//! The encodings are age-encryption.org/v1's: an identity is the 32-byte secret scalar in
//! Bech32 with the human-readable part `age-secret-key-`, written in upper case; a
//! recipient is the X25519 public key in Bech32 with `age`. Encryption and decryption are
//! the sandboxed age plugin's; the host only needs these three things, so it carries
//! x25519-dalek and bech32 rather than the whole age crate (58 crates fewer to build).

use bech32::{FromBase32 as _, ToBase32 as _, Variant};
use zeroize::Zeroizing;

const IDENTITY_HRP: &str = "age-secret-key-";
const RECIPIENT_HRP: &str = "age";

/// An age X25519 identity (a secret key).
pub struct Identity(x25519_dalek::StaticSecret);

impl Identity {
    /// A fresh identity from the operating system's random source.
    pub fn generate() -> Identity {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).expect("the OS random source works");
        Identity(x25519_dalek::StaticSecret::from(*bytes))
    }

    /// Parses an `AGE-SECRET-KEY-1...` line; `None` if it is not one.
    pub fn parse(text: &str) -> Option<Identity> {
        let bytes = Zeroizing::new(decode(text.trim(), IDENTITY_HRP)?);
        let bytes: [u8; 32] = bytes.as_slice().try_into().ok()?;
        Some(Identity(x25519_dalek::StaticSecret::from(bytes)))
    }

    /// The identity as an identity file holds it: `AGE-SECRET-KEY-1...`.
    pub fn encode(&self) -> Zeroizing<String> {
        let bytes = Zeroizing::new(self.0.to_bytes());
        let text = Zeroizing::new(
            bech32::encode(IDENTITY_HRP, bytes.to_base32(), Variant::Bech32)
                .expect("a 15-character prefix and 32 bytes encode"),
        );
        Zeroizing::new(text.to_uppercase())
    }

    /// Its recipient: `age1...`, the public key backups are encrypted to.
    pub fn recipient(&self) -> String {
        let public = x25519_dalek::PublicKey::from(&self.0);
        bech32::encode(
            RECIPIENT_HRP,
            public.as_bytes().to_base32(),
            Variant::Bech32,
        )
        .expect("a 3-character prefix and 32 bytes encode")
    }
}

/// Whether `text` is an age X25519 recipient (`age1...`, checksum and length right).
pub fn is_recipient(text: &str) -> bool {
    decode(text, RECIPIENT_HRP).is_some_and(|key| key.len() == 32)
}

/// The bytes of a Bech32 string with the human-readable part `hrp` (either case, as
/// Bech32 allows, never mixed).
fn decode(text: &str, hrp: &str) -> Option<Vec<u8>> {
    let (found, data, variant) = bech32::decode(text).ok()?;
    if found != hrp || variant != Variant::Bech32 {
        return None;
    }
    Vec::<u8>::from_base32(&data).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pair `age-keygen` wrote (a key made for this test, guarding nothing).
    const KEY: &str = "AGE-SECRET-KEY-195MM7HYRJSDAE9LA8AF9DNMSA48M6NJ8NJSM57ASYJG3VFJPMEMQ4GK7YW";
    const RECIPIENT: &str = "age12l0wzuuxxjzu3jpjgfmgfnfgjucweh7cwehcq8zr56luvdevt5equ4msm8";

    #[test]
    fn keys_read_and_write_as_age_keygen_does() {
        let identity = Identity::parse(KEY).unwrap();
        assert_eq!(identity.recipient(), RECIPIENT);
        assert_eq!(identity.encode().as_str(), KEY);
        assert!(is_recipient(RECIPIENT));
        let fresh = Identity::generate();
        let again = Identity::parse(&fresh.encode()).unwrap();
        assert_eq!(again.recipient(), fresh.recipient());
        assert!(is_recipient(&fresh.recipient()));
    }

    #[test]
    fn other_strings_are_not_keys() {
        assert!(Identity::parse(RECIPIENT).is_none());
        assert!(Identity::parse("AGE-SECRET-KEY-1QQQ").is_none());
        assert!(!is_recipient(KEY));
        assert!(!is_recipient("age1nope"));
        let mut wrong = RECIPIENT.to_string();
        wrong.replace_range(10..11, if &wrong[10..11] == "q" { "p" } else { "q" });
        assert!(!is_recipient(&wrong), "a bad checksum is refused");
    }
}
