//! The `zstd` plugin: compresses on push and decompresses on pull.
//!
//! Output is a standard zstd stream with content checksums, so `zstd -d` decodes what twgate
//! stores and this plugin decodes what `zstd` writes (including concatenated frames).
//! The codec logic lives in [`codec`] and is plain Rust, testable natively; the component
//! glue is at the bottom of this file.

pub mod codec;

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({ path: "../../wit", world: "transform-plugin" });

    use crate::codec::{Codec, Error};
    use exports::twgate::plugin::transform::{Guest, GuestStage, Stage};
    use twgate::plugin::types::{Direction, Param, PluginError, PluginInfo};

    struct Plugin;

    struct ZstdStage(std::cell::RefCell<Codec>);

    fn to_wit(e: Error) -> PluginError {
        match e {
            Error::BadConfig(m) => PluginError::BadConfig(m),
            Error::Corrupt(m) => PluginError::CorruptInput(m),
        }
    }

    impl Guest for Plugin {
        type Stage = ZstdStage;

        fn info() -> PluginInfo {
            PluginInfo {
                name: "zstd".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                abi_version: 1,
                summary: env!("CARGO_PKG_DESCRIPTION").into(),
            }
        }

        fn open(
            direction: Direction,
            params: Vec<Param>,
            _secrets: Vec<Param>,
        ) -> Result<Stage, PluginError> {
            let params: Vec<(String, Vec<u8>)> =
                params.into_iter().map(|p| (p.key, p.value)).collect();
            let codec = match direction {
                Direction::Forward => Codec::compressor(&params),
                Direction::Inverse => Codec::decompressor(&params),
            }
            .map_err(to_wit)?;
            Ok(Stage::new(ZstdStage(std::cell::RefCell::new(codec))))
        }
    }

    impl GuestStage for ZstdStage {
        fn push(&self, chunk: Vec<u8>) -> Result<Vec<u8>, PluginError> {
            self.0.borrow_mut().push(&chunk).map_err(to_wit)
        }
        fn drain(&self) -> Result<Vec<u8>, PluginError> {
            self.0.borrow_mut().drain().map_err(to_wit)
        }
        fn finish(&self) -> Result<Vec<u8>, PluginError> {
            self.0.borrow_mut().finish().map_err(to_wit)
        }
        fn describe(&self) -> Vec<(String, String)> {
            self.0.borrow().describe()
        }
    }

    export!(Plugin);
}
