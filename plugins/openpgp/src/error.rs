//! The plugin's error constructors and [`Result`]: the SDK's [`Error`], every message
//! prefixed `openpgp: `, one line, never containing secret material (passphrases, key
//! material, plaintext).

use std::fmt;

use twgate_plugin_sdk::Error;

/// [`Error::BadConfig`]: the parameters or secrets given to `open` cannot work.
pub fn bad_config(msg: impl fmt::Display) -> Error {
    Error::bad_config(format!("openpgp: {msg}"))
}

/// [`Error::CorruptInput`]: the input is not a complete, intact OpenPGP message this plugin
/// can read.
pub fn corrupt(msg: impl fmt::Display) -> Error {
    Error::corrupt(format!("openpgp: {msg}"))
}

/// [`Error::WrongKey`]: none of the identities or passphrases decrypts the message.
pub fn wrong_key(msg: impl fmt::Display) -> Error {
    Error::wrong_key(format!("openpgp: {msg}"))
}

/// [`Error::Internal`]: a failure inside the plugin (e.g. no randomness).
pub fn internal(msg: impl fmt::Display) -> Error {
    Error::internal(format!("openpgp: {msg}"))
}

pub type Result<T> = std::result::Result<T, Error>;
