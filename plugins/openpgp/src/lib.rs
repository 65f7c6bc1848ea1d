//! The `openpgp` plugin: encrypts on push and decrypts on pull, in OpenPGP messages that
//! gpg 2.2 reads and writes.
//!
//! Forward writes PKESK v3 / SKESK v4 + SEIPD v1 (MDC) with AES-256 and a binary literal
//! data packet ([`encrypt`]). Inverse decrypts, in constant memory and from pushes of any
//! size, what this plugin and gpg write, compressed or not ([`decrypt`]).
//! The logic lives in plain-Rust modules, testable natively; the component glue is at the
//! bottom of this file.

pub mod cfb;
pub mod decrypt;
pub mod encrypt;
pub mod error;
pub mod inflate;
pub mod inner;
pub mod keys;
pub mod packets;
pub mod seipd;
pub mod stream;

#[cfg(test)]
mod tests;

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({ path: "../../wit", world: "transform-plugin" });

    use crate::error::Error;
    use crate::stream::{Direction as Dir, Stream};
    use exports::twgate::plugin::transform::{Guest, GuestStage, Stage};
    use twgate::plugin::types::{Direction, Param, PluginError, PluginInfo};

    struct Plugin;

    struct OpenPgpStage(std::cell::RefCell<Stream>);

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
        type Stage = OpenPgpStage;

        fn info() -> PluginInfo {
            PluginInfo {
                name: "openpgp".into(),
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
            let direction = match direction {
                Direction::Forward => Dir::Forward,
                Direction::Inverse => Dir::Inverse,
            };
            let stream =
                Stream::open(direction, &pairs(params), &pairs(secrets)).map_err(to_wit)?;
            Ok(Stage::new(OpenPgpStage(std::cell::RefCell::new(stream))))
        }
    }

    impl GuestStage for OpenPgpStage {
        fn push(&self, chunk: Vec<u8>) -> Result<Vec<u8>, PluginError> {
            self.0.borrow_mut().push(&chunk).map_err(to_wit)
        }
        /// Nothing is held back: output is at most the input's size, or its inflated size for
        /// compressed messages, which the host's per-call output limit bounds.
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
