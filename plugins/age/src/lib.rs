//! The `age` plugin: encrypts on push and decrypts on pull.
//!
//! Output is the standard binary age format, so `age -d` decrypts what twgate stores and
//! this plugin decrypts what `age` writes (binary or armored). Encryption is to X25519
//! recipients (`age1...`) or to a passphrase (scrypt). The codec logic lives in [`codec`]
//! and is plain Rust, testable natively; the component glue is at the bottom of this file.

pub mod codec;

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({ path: "../../wit", world: "transform-plugin" });

    use crate::codec::{Codec, Error};
    use exports::twgate::plugin::transform::{Guest, GuestStage, Stage};
    use twgate::plugin::types::{Direction, Param, PluginError, PluginInfo};
    use zeroize::Zeroize;

    struct Plugin;

    struct AgeStage(std::cell::RefCell<Codec>);

    fn to_wit(e: Error) -> PluginError {
        match e {
            Error::BadConfig(m) => PluginError::BadConfig(m),
            Error::Corrupt(m) => PluginError::CorruptInput(m),
            Error::WrongKey(m) => PluginError::WrongKey(m),
            Error::Internal(m) => PluginError::Internal(m),
        }
    }

    fn pairs(params: Vec<Param>) -> Vec<(String, Vec<u8>)> {
        params.into_iter().map(|p| (p.key, p.value)).collect()
    }

    impl Guest for Plugin {
        type Stage = AgeStage;

        fn info() -> PluginInfo {
            PluginInfo {
                name: "age".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                abi_version: 1,
                summary: env!("CARGO_PKG_DESCRIPTION").into(),
            }
        }

        fn open(
            direction: Direction,
            params: Vec<Param>,
            secrets: Vec<Param>,
        ) -> Result<Stage, PluginError> {
            let params = pairs(params);
            let mut secrets = pairs(secrets);
            let codec = match direction {
                Direction::Forward => Codec::encryptor(&params, &secrets),
                Direction::Inverse => Codec::decryptor(&params, &secrets),
            };
            // The codec keeps what it needs in age's zeroizing types; wipe the raw copies.
            for (_, value) in secrets.iter_mut() {
                value.zeroize();
            }
            let codec = codec.map_err(to_wit)?;
            Ok(Stage::new(AgeStage(std::cell::RefCell::new(codec))))
        }
    }

    impl GuestStage for AgeStage {
        fn push(&self, chunk: Vec<u8>) -> Result<Vec<u8>, PluginError> {
            self.0.borrow_mut().push(&chunk).map_err(to_wit)
        }
        /// Output never exceeds a small multiple of the input pushed, so nothing is held back.
        fn drain(&self) -> Result<Vec<u8>, PluginError> {
            Ok(Vec::new())
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
