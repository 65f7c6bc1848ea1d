//! The `openpgp` plugin: encrypts on push and decrypts on pull, in OpenPGP messages that
//! gpg 2.2 reads and writes.
//!
//! Forward writes PKESK v3 / SKESK v4 + SEIPD v1 (MDC) with AES-256 and a binary literal
//! data packet ([`encrypt`]). Inverse decrypts, in constant memory and from pushes of any
//! size, what this plugin and gpg write, compressed or not ([`decrypt`]).
//!
//! Sequoia does the small, whole things: the session-key packets (SKESK / PKESK,
//! writing and unwrapping), certificates and secret keys. The work that grows with the
//! stream, AES in OpenPGP's CFB mode and the MDC's SHA-1, is lent by the host through
//! `twgate_plugin_sdk::crypto` and runs natively ([`encrypt`], [`seipd`], [`cfb`]), and so
//! is the fixed cost per passphrase stream, the iterated S2K's hashing ([`s2k`]); the
//! packet framing around it ([`packets`], [`inner`]) is this crate's own.
//! The logic lives in plain-Rust modules, testable natively, which return the SDK's
//! [`Error`] themselves ([`error`] prefixes their messages); the bottom of this file only
//! adapts [`stream::Stream`] to the plugin SDK's [`Transform`].

pub mod cfb;
pub mod decrypt;
pub mod encrypt;
pub mod error;
pub mod inflate;
pub mod inner;
pub mod keys;
pub mod packets;
pub mod s2k;
pub mod seipd;
pub mod stream;

#[cfg(test)]
mod tests;

use stream::Stream;
use twgate_plugin_sdk::{export_transform, Direction, Error, Params, Transform};

/// One stream through the plugin: the plugin's stage.
pub struct OpenPgp(Stream);

impl Transform for OpenPgp {
    const NAME: &'static str = "openpgp";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const SUMMARY: &'static str = env!("CARGO_PKG_DESCRIPTION");

    fn open(direction: Direction, params: &Params, secrets: &Params) -> Result<Self, Error> {
        let direction = match direction {
            Direction::Forward => stream::Direction::Forward,
            Direction::Inverse => stream::Direction::Inverse,
        };
        Ok(OpenPgp(Stream::open(
            direction,
            params.as_pairs(),
            secrets.as_pairs(),
        )?))
    }

    fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, Error> {
        self.0.push(chunk)
    }

    // `drain` keeps the SDK's default: nothing is held back. Output is at most the input's
    // size, or its inflated size for compressed messages, which the host's per-call output
    // limit bounds.

    fn finish(&mut self) -> Result<Vec<u8>, Error> {
        self.0.finish()
    }

    fn describe(&self) -> Vec<(String, String)> {
        self.0.describe()
    }
}

export_transform!(OpenPgp);
