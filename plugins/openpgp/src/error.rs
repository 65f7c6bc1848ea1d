//! The plugin's errors, in the contract's four kinds, each with a one-line message that
//! never contains secret material (passphrases, key material, plaintext).

use std::fmt;

/// What can go wrong, in the plugin's own terms; maps one to one onto `plugin-error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The parameters or secrets given to `open` cannot work.
    BadConfig(String),
    /// The input is not a complete, intact OpenPGP message this plugin can read.
    Corrupt(String),
    /// None of the identities or passphrases decrypts the message.
    WrongKey(String),
    /// A failure inside the plugin (e.g. no randomness).
    Internal(String),
}

impl Error {
    pub fn bad_config(msg: impl fmt::Display) -> Error {
        Error::BadConfig(format!("openpgp: {msg}"))
    }
    pub fn corrupt(msg: impl fmt::Display) -> Error {
        Error::Corrupt(format!("openpgp: {msg}"))
    }
    pub fn wrong_key(msg: impl fmt::Display) -> Error {
        Error::WrongKey(format!("openpgp: {msg}"))
    }
    pub fn internal(msg: impl fmt::Display) -> Error {
        Error::Internal(format!("openpgp: {msg}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadConfig(m) | Error::Corrupt(m) | Error::WrongKey(m) | Error::Internal(m) => {
                f.write_str(m)
            }
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
