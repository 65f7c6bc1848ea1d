//! The `age` plugin: encrypts on push and decrypts on pull.
//!
//! Output is the standard binary age format, so `age -d` decrypts what twgate stores and
//! this plugin decrypts what `age` writes (binary or armored). Encryption is to X25519
//! recipients (`age1...`) or to a passphrase (scrypt). The codec logic lives in [`codec`]
//! and is plain Rust, testable natively, returning the SDK's [`Error`] itself; this file
//! only adapts it to the plugin SDK's [`Transform`].

pub mod codec;
mod header;
mod payload;

use codec::Codec;
use twgate_plugin_sdk::{export_transform, Direction, Error, Params, Transform};

/// One stream through age: the plugin's stage.
pub struct Age(Codec);

impl Transform for Age {
    const NAME: &'static str = "age";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const SUMMARY: &'static str = env!("CARGO_PKG_DESCRIPTION");

    /// The codec keeps what it needs in age's zeroizing types; the SDK wipes the raw
    /// `secrets` when this returns.
    fn open(direction: Direction, params: &Params, secrets: &Params) -> Result<Self, Error> {
        let (params, secrets) = (params.as_pairs(), secrets.as_pairs());
        let codec = match direction {
            Direction::Forward => Codec::encryptor(params, secrets)?,
            Direction::Inverse => Codec::decryptor(params, secrets)?,
        };
        Ok(Age(codec))
    }

    fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, Error> {
        self.0.push(chunk)
    }

    // `drain` keeps the SDK's default: output never exceeds a small multiple of the input
    // pushed, so nothing is held back.

    fn finish(&mut self) -> Result<Vec<u8>, Error> {
        self.0.finish()
    }

    fn describe(&self) -> Vec<(String, String)> {
        self.0.describe()
    }
}

export_transform!(Age);
