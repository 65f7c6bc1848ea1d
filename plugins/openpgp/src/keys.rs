//! Keys from the parameters: recipients' encryption keys for the forward direction, and
//! unlocked secret keys for the inverse one.
//!
//! Certificates and identities are OpenPGP key files, armored or binary, possibly keyrings
//! holding several. Identity blobs that are not OpenPGP at all (the host hands every
//! `--identity` file to every encryption plugin, e.g. an age identity) are skipped silently.

use sequoia_openpgp::cert::CertParser;
use sequoia_openpgp::crypto::{KeyPair, Password};
use sequoia_openpgp::packet::key::{PublicParts, UnspecifiedRole};
use sequoia_openpgp::packet::Key;
use sequoia_openpgp::parse::Parse;
use sequoia_openpgp::policy::StandardPolicy;
use sequoia_openpgp::types::KeyFlags;
use sequoia_openpgp::{Cert, Fingerprint};

use crate::error::{self, Result};

/// A certificate given as recipient, with the subkeys we encrypt to.
pub struct Recipient {
    pub fingerprint: Fingerprint,
    pub keys: Vec<Key<PublicParts, UnspecifiedRole>>,
}

/// Parses one `cert` parameter: every certificate in it, each with its valid, alive,
/// unrevoked storage- or transport-encryption subkeys under the standard policy.
pub fn recipients(blob: &[u8]) -> Result<Vec<Recipient>> {
    let not_cert = || {
        error::bad_config("a --recipient file is not an OpenPGP certificate (armored or binary)")
    };
    let parser = CertParser::from_bytes(blob).map_err(|_| not_cert())?;
    let policy = StandardPolicy::new();
    let flags = KeyFlags::empty()
        .set_storage_encryption()
        .set_transport_encryption();
    let mut out = Vec::new();
    for cert in parser {
        let cert: Cert = cert.map_err(|e| {
            error::bad_config(format!(
                "a --recipient file holds a malformed certificate: {e}"
            ))
        })?;
        let fingerprint = cert.fingerprint();
        let valid = cert.with_policy(&policy, None).map_err(|e| {
            error::bad_config(format!("certificate {fingerprint} is not valid: {e}"))
        })?;
        let keys: Vec<_> = valid
            .keys()
            .supported()
            .alive()
            .revoked(false)
            .key_flags(flags.clone())
            .map(|ka| ka.key().clone().parts_into_public().role_into_unspecified())
            .collect();
        if keys.is_empty() {
            return Err(error::bad_config(format!(
                "certificate {fingerprint} has no usable encryption key (expired, revoked or \
                 signing-only)"
            )));
        }
        out.push(Recipient { fingerprint, keys });
    }
    if out.is_empty() {
        return Err(not_cert());
    }
    Ok(out)
}

/// Secret keys able to decrypt, and what could not be unlocked.
#[derive(Default)]
pub struct Identities {
    pub keypairs: Vec<KeyPair>,
    /// Fingerprints of secret keys that are passphrase-protected and were not unlocked.
    pub locked: Vec<Fingerprint>,
}

impl Identities {
    /// Adds every secret key in `blob`, unlocking protected ones with `passphrase`.
    /// Blobs that are not OpenPGP, and public-only certificates, add nothing.
    pub fn add(&mut self, blob: &[u8], passphrase: Option<&Password>) {
        let Ok(parser) = CertParser::from_bytes(blob) else {
            return;
        };
        for cert in parser {
            let Ok(cert) = cert else { break };
            for ka in cert.keys().secret() {
                let key = ka.key().clone().role_into_unspecified();
                let fingerprint = key.fingerprint();
                let unlocked = if key.has_unencrypted_secret() {
                    Some(key)
                } else {
                    passphrase.and_then(|p| key.decrypt_secret(p).ok())
                };
                match unlocked.map(|k| k.into_keypair()) {
                    Some(Ok(pair)) => self.keypairs.push(pair),
                    Some(Err(_)) => {} // An algorithm we cannot use: ignore the key.
                    None => self.locked.push(fingerprint),
                }
            }
        }
    }
}
