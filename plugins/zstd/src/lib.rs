//! The `zstd` plugin: compresses on push and decompresses on pull.
//!
//! Output is a standard zstd stream with content checksums, so `zstd -d` decodes what twgate
//! stores and this plugin decodes what `zstd` writes (including concatenated frames).
//! The codec logic lives in [`codec`] and is plain Rust, testable natively, returning the
//! SDK's [`Error`] itself; this file only adapts it to the plugin SDK's [`Transform`].

pub mod codec;

use codec::Codec;
use twgate_plugin_sdk::{export_transform, Direction, Error, Params, Transform};

/// One stream through zstd: the plugin's stage.
pub struct Zstd(Codec);

impl Transform for Zstd {
    const NAME: &'static str = "zstd";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const SUMMARY: &'static str = env!("CARGO_PKG_DESCRIPTION");

    fn open(direction: Direction, params: &Params, _secrets: &Params) -> Result<Self, Error> {
        let codec = match direction {
            Direction::Forward => Codec::compressor(params.as_pairs())?,
            Direction::Inverse => Codec::decompressor(params.as_pairs())?,
        };
        Ok(Zstd(codec))
    }

    fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, Error> {
        self.0.push(chunk)
    }

    fn drain(&mut self) -> Result<Vec<u8>, Error> {
        self.0.drain()
    }

    fn finish(&mut self) -> Result<Vec<u8>, Error> {
        self.0.finish()
    }

    fn describe(&self) -> Vec<(String, String)> {
        self.0.describe()
    }
}

export_transform!(Zstd);
