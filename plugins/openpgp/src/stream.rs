//! Opening a stream: reads `open`'s parameters and secrets, checks them, and builds the
//! encrypting or decrypting stage; also what `describe` reports.
//!
//! Forward: params `cert` (repeatable), secret `passphrase`; at least one of the two.
//! Inverse: secrets `identity` (repeatable) and `passphrase`; the public settings a
//! manifest recorded (`mode`, `cipher`, `recipient`) and `cert` are accepted and ignored.

use sequoia_openpgp::crypto::Password;

use crate::decrypt::Decryptor;
use crate::encrypt::Encryptor;
use crate::error::{self, Result};
use crate::keys::{recipients, Identities};
use twgate_plugin_sdk::Error;

/// Which way a stream runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Encrypt.
    Forward,
    /// Decrypt.
    Inverse,
}

enum Mode {
    Encrypt(Box<Encryptor>),
    Decrypt(Box<Decryptor>),
}

/// One stream through the plugin.
pub struct Stream {
    mode: Mode,
    describe: Vec<(String, String)>,
}

fn passphrase(secrets: &[(String, Vec<u8>)]) -> Result<Option<Password>> {
    let mut found = None;
    for (key, value) in secrets {
        if key == "passphrase" {
            if found.is_some() {
                return Err(error::bad_config("openpgp takes at most one passphrase"));
            }
            if value.is_empty() {
                return Err(error::bad_config("the passphrase is empty"));
            }
            found = Some(Password::from(&value[..]));
        }
    }
    Ok(found)
}

fn unknown(what: &str, key: &str, known: &str) -> Error {
    error::bad_config(format!(
        "openpgp does not take a {what} '{key}': it takes {known}"
    ))
}

impl Stream {
    /// Starts a stream in `direction` with `open`'s parameters and secrets.
    pub fn open(
        direction: Direction,
        params: &[(String, Vec<u8>)],
        secrets: &[(String, Vec<u8>)],
    ) -> Result<Stream> {
        match direction {
            Direction::Forward => Stream::encrypting(params, secrets),
            Direction::Inverse => Stream::decrypting(params, secrets),
        }
    }

    fn encrypting(params: &[(String, Vec<u8>)], secrets: &[(String, Vec<u8>)]) -> Result<Stream> {
        let mut certs = Vec::new();
        for (key, value) in params {
            match key.as_str() {
                "cert" => certs.extend(recipients(value)?),
                other => return Err(unknown("parameter", other, "'cert'")),
            }
        }
        for (key, _) in secrets {
            // Identities are for decryption; the host may hand them to every stage.
            if key != "passphrase" && key != "identity" {
                return Err(unknown("secret", key, "'passphrase'"));
            }
        }
        let passphrase = passphrase(secrets)?;
        let mode = match (certs.is_empty(), passphrase.is_some()) {
            (true, false) => {
                return Err(error::bad_config(
                    "openpgp needs --recipient CERTFILE or --passphrase-env VAR",
                ))
            }
            (false, false) => "certs",
            (true, true) => "passphrase",
            (false, true) => "certs+passphrase",
        };
        let mut describe = vec![
            ("mode".to_string(), mode.to_string()),
            ("cipher".to_string(), "AES256".to_string()),
        ];
        describe.extend(
            certs
                .iter()
                .map(|c| ("recipient".to_string(), c.fingerprint.to_hex())),
        );
        let encryptor = Encryptor::new(&certs, passphrase.as_ref())?;
        Ok(Stream {
            mode: Mode::Encrypt(Box::new(encryptor)),
            describe,
        })
    }

    fn decrypting(params: &[(String, Vec<u8>)], secrets: &[(String, Vec<u8>)]) -> Result<Stream> {
        for (key, _) in params {
            if !matches!(key.as_str(), "mode" | "cipher" | "recipient" | "cert") {
                return Err(unknown("parameter", key, "no parameters when decrypting"));
            }
        }
        let passphrase = passphrase(secrets)?;
        let mut identities = Identities::default();
        for (key, value) in secrets {
            match key.as_str() {
                "identity" => identities.add(value, passphrase.as_ref()),
                "passphrase" => {}
                other => return Err(unknown("secret", other, "'identity' and 'passphrase'")),
            }
        }
        if identities.keypairs.is_empty() && passphrase.is_none() {
            let mut msg =
                "openpgp needs --identity KEYFILE (an OpenPGP secret key) or --passphrase-env VAR \
                 to decrypt"
                    .to_string();
            if !identities.locked.is_empty() {
                let locked: Vec<String> = identities.locked.iter().map(|f| f.to_hex()).collect();
                msg.push_str(&format!(
                    "; secret keys {} are passphrase-protected: give their passphrase with \
                     --passphrase-env",
                    locked.join(", ")
                ));
            }
            return Err(error::bad_config(msg));
        }
        let describe = Vec::new();
        Ok(Stream {
            mode: Mode::Decrypt(Box::new(Decryptor::new(identities, passphrase))),
            describe,
        })
    }

    /// The public settings of this stream (nothing secret).
    pub fn describe(&self) -> Vec<(String, String)> {
        self.describe.clone()
    }

    /// Feeds `chunk`; returns the output ready so far.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>> {
        match &mut self.mode {
            Mode::Encrypt(e) => e.push(chunk),
            Mode::Decrypt(d) => d.push(chunk),
        }
    }

    /// Ends the input; returns the rest of the output.
    pub fn finish(&mut self) -> Result<Vec<u8>> {
        match &mut self.mode {
            Mode::Encrypt(e) => e.finish(),
            Mode::Decrypt(d) => d.finish(),
        }
    }
}
