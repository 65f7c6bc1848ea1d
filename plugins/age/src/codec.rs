//! Push-driven age encryption and decryption.
//!
//! The `age` crate wraps and unwraps the file key (X25519 recipients and identities, scrypt
//! passphrases); [`header`](crate::header) frames and authenticates the header, and
//! [`payload`](crate::payload) runs the STREAM cipher with the AEAD lent by the host, so the
//! bulk of the work is native while the format stays in the sandbox. Decryption buffers
//! input only until the header and the 16-byte payload nonce are complete, then opens
//! whole 64 KiB chunks as they arrive: memory stays bounded by about one chunk plus one
//! push, whatever the length of the stream. ASCII-armored input (`age -a`) is de-armored
//! here, line by line, with age's strictness rules, before the same path.
//!
//! **Invariant:** a decryptor's `finish` fails unless the final chunk of the STREAM (its
//! last-chunk flag) ended the input, so a truncated file never decrypts as a shorter,
//! valid stream. Errors never contain a passphrase or identity text.

use std::cell::Cell;

use age::secrecy::SecretString;
use age::{scrypt, x25519, DecryptError};
use age_core::format::{FileKey, Stanza};
use base64::{engine::general_purpose::STANDARD, Engine};
use twgate_plugin_sdk::Error;

use crate::header;
use crate::payload::{Opener, Sealer, NONCE_LEN};

/// The scrypt work factor (log2 N) used when encrypting with a passphrase, as `age -p`.
pub const SCRYPT_WORK_FACTOR: u8 = 18;
/// The largest scrypt work factor accepted when decrypting, as the reference age.
pub const MAX_SCRYPT_WORK_FACTOR: u8 = 22;
/// A header longer than this (without its `---` line) is not taken for an age header.
pub const MAX_HEADER: usize = 256 * 1024;

const MAGIC: &[u8] = b"age-encryption.org/";
const V1_LINE: &[u8] = b"age-encryption.org/v1";
const ARMOR_BEGIN: &[u8] = b"-----BEGIN AGE ENCRYPTED FILE-----";
const ARMOR_END: &[u8] = b"-----END AGE ENCRYPTED FILE-----";
const ARMOR_COLUMNS: usize = 64;
const ARMOR_BYTES_PER_LINE: usize = 48;
/// Leading whitespace tolerated before an armored file's BEGIN line.
const MAX_LEADING_SPACE: usize = 1024;

/// Parameters as the host passes them: key and raw value.
pub type Params = [(String, Vec<u8>)];

/// `text` made safe for a one-line message: printable ASCII only, at most 100 characters.
fn shown(text: &str) -> String {
    let mut s: String = text
        .chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if text.chars().count() > 100 {
        s.push_str("...");
    }
    s
}

/// True if `line` looks like secret key material, which must never be echoed.
fn looks_secret(line: &str) -> bool {
    let upper = line.trim().to_ascii_uppercase();
    upper.starts_with("AGE-SECRET-KEY-") || upper.starts_with("AGE-PLUGIN-")
}

fn parse_recipient(text: &str, origin: &str) -> Result<x25519::Recipient, Error> {
    if looks_secret(text) {
        return Err(Error::bad_config(format!(
            "age: {origin} is a secret key, not a recipient: pass its public key (age-keygen -y FILE)"
        )));
    }
    text.parse::<x25519::Recipient>().map_err(|_| {
        Error::bad_config(format!(
            "age: '{}' ({origin}) is not a valid age recipient: expected an X25519 public key age1...",
            shown(text)
        ))
    })
}

/// The recipients and passphrase of a forward stage, from its parameters.
fn encrypt_config(
    params: &Params,
    secrets: &Params,
) -> Result<(Vec<x25519::Recipient>, Option<SecretString>), Error> {
    let mut recipients: Vec<x25519::Recipient> = Vec::new();
    let mut add = |r: x25519::Recipient| {
        if !recipients
            .iter()
            .any(|seen| seen.to_string() == r.to_string())
        {
            recipients.push(r);
        }
    };
    let mut files = 0;
    for (key, value) in params {
        match key.as_str() {
            "recipient" => {
                let text = std::str::from_utf8(value)
                    .map_err(|_| Error::bad_config("age: a recipient is not valid UTF-8"))?;
                add(parse_recipient(text.trim(), "from --recipient")?);
            }
            "recipients-file" => {
                files += 1;
                let text = std::str::from_utf8(value).map_err(|_| {
                    Error::bad_config(format!("age: recipients file #{files} is not a text file"))
                })?;
                for (n, line) in text.lines().enumerate() {
                    let line = line.trim();
                    if line.is_empty() || line.starts_with('#') {
                        continue;
                    }
                    let origin = format!("line {} of recipients file #{files}", n + 1);
                    add(parse_recipient(line, &origin)?);
                }
            }
            other => {
                return Err(Error::bad_config(format!(
                    "age does not take a parameter '{}' to encrypt: it takes 'recipient' and 'recipients-file'",
                    shown(other)
                )))
            }
        }
    }
    let mut passphrase = None;
    for (key, value) in secrets {
        match key.as_str() {
            "passphrase" => {
                if passphrase.is_some() {
                    return Err(Error::bad_config("age takes one passphrase, not several"));
                }
                passphrase = Some(parse_passphrase(value)?);
            }
            // The host hands every --identity to every encryption plugin; encrypting
            // does not use them.
            "identity" => {}
            other => {
                return Err(Error::bad_config(format!(
                    "age does not take a secret '{}' to encrypt: it takes only 'passphrase'",
                    shown(other)
                )))
            }
        }
    }
    match (recipients.is_empty(), passphrase.is_some()) {
        (false, true) => Err(Error::bad_config(
            "age encrypts to recipients or to a passphrase, not both: pass either --recipient R or --passphrase-env VAR",
        )),
        (true, false) => Err(Error::bad_config("age needs --recipient R or --passphrase-env VAR to encrypt")),
        _ => Ok((recipients, passphrase)),
    }
}

fn parse_passphrase(value: &[u8]) -> Result<SecretString, Error> {
    let text = std::str::from_utf8(value)
        .map_err(|_| Error::bad_config("age: the passphrase is not valid UTF-8"))?;
    if text.is_empty() {
        return Err(Error::bad_config("age: the passphrase is empty"));
    }
    Ok(SecretString::from(text))
}

/// An X25519 identity that remembers whether it unwrapped the file key, so that
/// `describe` can name the recipient a file was decrypted for.
struct Tracked {
    identity: x25519::Identity,
    hit: Cell<bool>,
}

impl age::Identity for Tracked {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, DecryptError>> {
        let result = self.identity.unwrap_stanza(stanza);
        if matches!(result, Some(Ok(_))) {
            self.hit.set(true);
        }
        result
    }
}

/// What one `identity` secret turned out to be.
enum IdentityBlob {
    Keys(Vec<x25519::Identity>),
    /// Not an age identity file (another plugin's key, say): skipped.
    Other,
    /// Only age plugin identities, which a sandboxed plugin cannot use.
    PluginOnly,
}

fn parse_identity_blob(value: &[u8], number: usize) -> Result<IdentityBlob, Error> {
    let Ok(text) = std::str::from_utf8(value) else {
        return Ok(IdentityBlob::Other);
    };
    let mut keys = Vec::new();
    let mut bad_line = None;
    let mut age_like = false;
    let mut plugin = false;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let upper_prefix = line.get(..15).map(|p| p.to_ascii_uppercase());
        if upper_prefix.as_deref() == Some("AGE-SECRET-KEY-") {
            age_like = true;
        }
        if line.starts_with("AGE-PLUGIN-") {
            plugin = true;
            continue;
        }
        match line.parse::<x25519::Identity>() {
            Ok(key) => keys.push(key),
            Err(_) => {
                bad_line.get_or_insert(n + 1);
            }
        }
    }
    match bad_line {
        // Line numbers only: the text of an identity file is secret.
        Some(line) if age_like => Err(Error::bad_config(format!(
            "age: identity file #{number} holds age keys but line {line} is not a valid age identity"
        ))),
        Some(_) => Ok(IdentityBlob::Other),
        None if keys.is_empty() && plugin => Ok(IdentityBlob::PluginOnly),
        None if keys.is_empty() => Ok(IdentityBlob::Other),
        None => Ok(IdentityBlob::Keys(keys)),
    }
}

/// The identities and passphrase of an inverse stage, from its parameters.
fn decrypt_config(
    params: &Params,
    secrets: &Params,
) -> Result<(Vec<Tracked>, Option<SecretString>), Error> {
    for (key, _) in params {
        match key.as_str() {
            // What `describe` recorded in a manifest may come back on restore: ignored.
            "recipient" | "recipients-file" | "mode" => {}
            other => {
                return Err(Error::bad_config(format!(
                    "age does not take a parameter '{}' to decrypt: it takes the secrets 'identity' and 'passphrase'",
                    shown(other)
                )))
            }
        }
    }
    let mut identities = Vec::new();
    let mut passphrase = None;
    let mut plugin_only = false;
    let mut blobs = 0;
    for (key, value) in secrets {
        match key.as_str() {
            "identity" => {
                blobs += 1;
                match parse_identity_blob(value, blobs)? {
                    IdentityBlob::Keys(keys) => {
                        identities.extend(keys.into_iter().map(|k| Tracked {
                            identity: k,
                            hit: Cell::new(false),
                        }))
                    }
                    IdentityBlob::Other => {}
                    IdentityBlob::PluginOnly => plugin_only = true,
                }
            }
            "passphrase" => {
                if passphrase.is_some() {
                    return Err(Error::bad_config("age takes one passphrase, not several"));
                }
                passphrase = Some(parse_passphrase(value)?);
            }
            other => {
                return Err(Error::bad_config(format!(
                "age does not take a secret '{}' to decrypt: it takes 'identity' and 'passphrase'",
                shown(other)
            )))
            }
        }
    }
    if identities.is_empty() && passphrase.is_none() {
        return Err(Error::bad_config(if plugin_only {
            "age plugin identities (AGE-PLUGIN-...) are not supported: age needs --identity FILE with AGE-SECRET-KEY-1... keys or --passphrase-env VAR to decrypt"
        } else {
            "age needs --identity FILE or --passphrase-env VAR to decrypt"
        }));
    }
    Ok((identities, passphrase))
}

/// Input framing, decided by the first bytes: binary age, or armored age.
enum Framing {
    Detect { skipped: usize },
    Binary,
    Armored(Dearmor),
}

/// A push-driven, strict decoder of age's ASCII armor (RFC 7468 style, 64 columns).
#[derive(Default)]
struct Dearmor {
    line: Vec<u8>,
    begun: bool,
    short_seen: bool,
    ended: bool,
}

impl Dearmor {
    fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        while !bytes.is_empty() {
            if self.ended {
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    return Ok(());
                }
                return Err(Error::corrupt(
                    "age: data follows the END line of the armored file",
                ));
            }
            match bytes.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.line.extend_from_slice(&bytes[..i]);
                    bytes = &bytes[i + 1..];
                    let line = std::mem::take(&mut self.line);
                    self.line_done(&line, out)?;
                }
                None => {
                    self.line.extend_from_slice(bytes);
                    bytes = &[];
                }
            }
            if self.line.len() > ARMOR_COLUMNS + 1 {
                return Err(Error::corrupt(
                    "age: the armored file is malformed (a line is longer than 64 columns)",
                ));
            }
        }
        Ok(())
    }

    fn line_done(&mut self, raw: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.contains(&b'\r') {
            return Err(Error::corrupt(
                "age: the armored file is malformed (stray CR)",
            ));
        }
        if !self.begun {
            if line != ARMOR_BEGIN {
                return Err(Error::corrupt(
                    "age: the input is not an age file (bad armor BEGIN line)",
                ));
            }
            self.begun = true;
            return Ok(());
        }
        if line == ARMOR_END {
            self.ended = true;
            return Ok(());
        }
        match (self.short_seen, line.len()) {
            (false, ARMOR_COLUMNS) => {}
            (false, n) if 0 < n && n < ARMOR_COLUMNS && n % 4 == 0 => self.short_seen = true,
            _ => {
                return Err(Error::corrupt(
                    "age: the armored file is malformed (lines must be 64 columns, only the last one shorter)",
                ))
            }
        }
        let mut bytes = [0u8; ARMOR_BYTES_PER_LINE];
        let n = STANDARD
            .decode_slice(line, &mut bytes)
            .map_err(|_| Error::corrupt("age: the armored file is malformed (invalid base64)"))?;
        out.extend_from_slice(&bytes[..n]);
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        if !self.ended && !self.line.is_empty() {
            // The END line may lack its newline.
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, out)?;
        }
        if !self.ended {
            return Err(Error::corrupt(
                "age: the armored file is truncated (it has no END line)",
            ));
        }
        Ok(())
    }
}

/// The binary header, buffered until it is complete.
#[derive(Default)]
struct HeaderBuf {
    data: Vec<u8>,
    /// Where the first line not yet scanned starts.
    scanned: usize,
    lines: usize,
    /// Just past the `---` MAC line, once seen.
    end: Option<usize>,
}

impl HeaderBuf {
    fn feed(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.data.extend_from_slice(bytes);
        let n = self.data.len().min(MAGIC.len());
        if self.data[..n] != MAGIC[..n] {
            return Err(Error::corrupt("age: the input is not an age file"));
        }
        while self.end.is_none() {
            let rest = &self.data[self.scanned..];
            let Some(i) = rest.iter().position(|&b| b == b'\n') else {
                break;
            };
            let line = &rest[..i];
            if self.lines == 0 {
                if line != V1_LINE {
                    let version = String::from_utf8_lossy(&line[MAGIC.len()..]);
                    return Err(Error::corrupt(format!(
                        "age: unsupported age format version '{}'",
                        shown(&version)
                    )));
                }
            } else if line.starts_with(b"---") {
                self.end = Some(self.scanned + i + 1);
            }
            self.lines += 1;
            self.scanned += i + 1;
        }
        if self.end.is_none() && self.data.len() > MAX_HEADER {
            return Err(Error::corrupt(
                "age: the header is corrupt (no end of header within 256 KiB)",
            ));
        }
        Ok(())
    }

    /// True once the header and the payload nonce are all here.
    fn complete(&self) -> bool {
        self.end
            .is_some_and(|end| self.data.len() >= end + NONCE_LEN)
    }
}

enum DecryptStage {
    Header(HeaderBuf),
    Payload(Opener),
}

struct Decrypt {
    framing: Framing,
    stage: DecryptStage,
    identities: Vec<Tracked>,
    passphrase: Option<SecretString>,
}

fn header_error(e: DecryptError) -> Error {
    match e {
        DecryptError::UnknownFormat => Error::corrupt("age: unsupported age format version"),
        _ => Error::corrupt("age: the header is corrupt"),
    }
}

impl Decrypt {
    /// Feeds raw input; appends whatever plaintext is ready to `out`.
    fn feed(
        &mut self,
        bytes: &[u8],
        out: &mut Vec<u8>,
        describe: &mut Vec<(String, String)>,
    ) -> Result<(), Error> {
        let mut bytes = bytes;
        if let Framing::Detect { skipped } = &mut self.framing {
            let space = bytes.iter().take_while(|b| b.is_ascii_whitespace()).count();
            *skipped += space;
            bytes = &bytes[space..];
            if *skipped > MAX_LEADING_SPACE {
                return Err(Error::corrupt("age: the input is not an age file"));
            }
            match bytes.first() {
                None => return Ok(()),
                Some(b'-') => self.framing = Framing::Armored(Dearmor::default()),
                Some(_) if *skipped > 0 => {
                    return Err(Error::corrupt("age: the input is not an age file"))
                }
                Some(_) => self.framing = Framing::Binary,
            }
        }
        match &mut self.framing {
            Framing::Armored(dearmor) => {
                let mut binary = Vec::with_capacity(bytes.len() / 4 * 3 + 3);
                dearmor.feed(bytes, &mut binary)?;
                self.feed_binary(&binary, out, describe)
            }
            _ => self.feed_binary(bytes, out, describe),
        }
    }

    fn feed_binary(
        &mut self,
        bytes: &[u8],
        out: &mut Vec<u8>,
        describe: &mut Vec<(String, String)>,
    ) -> Result<(), Error> {
        match &mut self.stage {
            DecryptStage::Header(header) => {
                header.feed(bytes)?;
                if let (Some(end), true) = (header.end, header.complete()) {
                    let data = std::mem::take(&mut header.data);
                    let nonce: [u8; NONCE_LEN] = data[end..end + NONCE_LEN]
                        .try_into()
                        .expect("complete() checked the nonce is here");
                    let mut opener = self.start_payload(&data[..end], &nonce, describe)?;
                    opener.push(&data[end + NONCE_LEN..], out)?;
                    self.stage = DecryptStage::Payload(opener);
                }
                Ok(())
            }
            DecryptStage::Payload(opener) => opener.push(bytes, out),
        }
    }

    /// Parses the complete header, unwraps the file key and checks the header's MAC.
    fn start_payload(
        &mut self,
        header_bytes: &[u8],
        nonce: &[u8; NONCE_LEN],
        describe: &mut Vec<(String, String)>,
    ) -> Result<Opener, Error> {
        let parsed = header::parse(header_bytes)
            .ok_or_else(|| Error::corrupt("age: the header is corrupt"))?;
        let is_scrypt = parsed.is_scrypt();
        let scrypt_identity = self.passphrase.take().map(|p| {
            let mut identity = scrypt::Identity::new(p);
            identity.set_max_work_factor(MAX_SCRYPT_WORK_FACTOR);
            identity
        });
        let have_passphrase = scrypt_identity.is_some();
        let identities = std::mem::take(&mut self.identities);
        let result = {
            let mut all: Vec<&dyn age::Identity> =
                identities.iter().map(|i| i as &dyn age::Identity).collect();
            if let Some(s) = &scrypt_identity {
                all.push(s);
            }
            all.iter()
                .find_map(|identity| identity.unwrap_stanzas(&parsed.stanzas))
                .unwrap_or(Err(DecryptError::NoMatchingKeys))
        };
        let file_key = match result {
            Ok(file_key) => file_key,
            Err(DecryptError::NoMatchingKeys) => {
                return Err(Error::WrongKey(if is_scrypt && !have_passphrase {
                    "age: the file is encrypted with a passphrase: pass --passphrase-env VAR".into()
                } else if !is_scrypt && identities.is_empty() {
                    "age: the file is encrypted to recipients, not a passphrase: pass --identity FILE".into()
                } else {
                    format!(
                        "age: none of the {} identities given can decrypt this file",
                        identities.len()
                    )
                }))
            }
            Err(DecryptError::DecryptionFailed) | Err(DecryptError::KeyDecryptionFailed) => {
                return Err(Error::WrongKey(if is_scrypt {
                    "age: wrong passphrase".into()
                } else {
                    "age: none of the identities given can decrypt this file".into()
                }))
            }
            Err(DecryptError::ExcessiveWork { required, .. }) => {
                return Err(Error::corrupt(format!(
                    "age: the file asks for scrypt work factor 2^{required}, above the limit 2^{MAX_SCRYPT_WORK_FACTOR}"
                )))
            }
            Err(e) => return Err(header_error(e)),
        };
        if !parsed.verify(&file_key) {
            return Err(Error::corrupt(
                "age: the header is corrupt (its MAC does not verify)",
            ));
        }
        if is_scrypt {
            describe.push(("mode".into(), "passphrase".into()));
        } else {
            describe.push(("mode".into(), "recipients".into()));
            for identity in identities.iter().filter(|i| i.hit.get()) {
                describe.push((
                    "recipient".into(),
                    identity.identity.to_public().to_string(),
                ));
            }
        }
        Opener::new(&file_key, nonce)
    }

    fn finish(
        &mut self,
        out: &mut Vec<u8>,
        describe: &mut Vec<(String, String)>,
    ) -> Result<(), Error> {
        match &mut self.framing {
            Framing::Detect { .. } => {
                return Err(Error::corrupt("age: the input is empty, not an age file"))
            }
            Framing::Armored(dearmor) => {
                let mut binary = Vec::new();
                dearmor.finish(&mut binary)?;
                self.feed_binary(&binary, out, describe)?;
            }
            Framing::Binary => {}
        }
        if let DecryptStage::Header(header) = &self.stage {
            return Err(Error::corrupt(if header.end.is_some() {
                "age: the file is truncated (it ends inside the payload nonce)"
            } else {
                "age: the file is truncated (it ends inside the header)"
            }));
        }
        match &mut self.stage {
            DecryptStage::Payload(opener) => opener.finish(out),
            DecryptStage::Header(_) => unreachable!("checked above"),
        }
    }
}

enum Mode {
    Encrypt {
        /// The header and payload nonce, written before the first ciphertext.
        prefix: Vec<u8>,
        sealer: Sealer,
    },
    Decrypt(Box<Decrypt>),
    Finished,
}

/// One stream through age, in one direction.
pub struct Codec {
    mode: Mode,
    describe: Vec<(String, String)>,
}

/// A fresh random file key.
fn new_file_key() -> Result<FileKey, Error> {
    FileKey::try_init_with_mut(|key| getrandom::getrandom(key))
        .map_err(|e| Error::Internal(format!("age: no randomness for a file key: {e}")))
}

impl Codec {
    /// An encryptor writing the standard binary age format, to recipients or a passphrase.
    pub fn encryptor(params: &Params, secrets: &Params) -> Result<Codec, Error> {
        let (recipients, passphrase) = encrypt_config(params, secrets)?;
        let mut describe = Vec::new();
        let file_key = new_file_key()?;
        let wrapped = match passphrase {
            Some(passphrase) => {
                describe.push(("mode".into(), "passphrase".into()));
                let mut recipient = scrypt::Recipient::new(passphrase);
                recipient.set_work_factor(SCRYPT_WORK_FACTOR);
                age::Recipient::wrap_file_key(&recipient, &file_key)
                    .map_err(|e| Error::Internal(format!("age: {e}")))?
                    .0
            }
            None => {
                describe.push(("mode".into(), "recipients".into()));
                let mut stanzas = Vec::new();
                for r in &recipients {
                    describe.push(("recipient".into(), r.to_string()));
                    let (wrapped, _labels) = age::Recipient::wrap_file_key(r, &file_key)
                        .map_err(|e| Error::Internal(format!("age: {e}")))?;
                    stanzas.extend(wrapped);
                }
                // As age does: an unknown stanza keeps readers tolerant of new types.
                stanzas.push(age_core::format::grease_the_joint());
                stanzas
            }
        };
        let mut prefix = header::write(&wrapped, &file_key);
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::getrandom(&mut nonce)
            .map_err(|e| Error::Internal(format!("age: no randomness for a nonce: {e}")))?;
        prefix.extend_from_slice(&nonce);
        Ok(Codec {
            mode: Mode::Encrypt {
                prefix,
                sealer: Sealer::new(&file_key, &nonce)?,
            },
            describe,
        })
    }

    /// A decryptor for binary or armored age files, with identities and/or a passphrase.
    pub fn decryptor(params: &Params, secrets: &Params) -> Result<Codec, Error> {
        let (identities, passphrase) = decrypt_config(params, secrets)?;
        Ok(Codec {
            mode: Mode::Decrypt(Box::new(Decrypt {
                framing: Framing::Detect { skipped: 0 },
                stage: DecryptStage::Header(HeaderBuf::default()),
                identities,
                passphrase,
            })),
            describe: Vec::new(),
        })
    }

    /// Settings to record in the manifest. A decryptor knows them once the header is read.
    pub fn describe(&self) -> Vec<(String, String)> {
        self.describe.clone()
    }

    /// Feeds `chunk`; returns the output ready so far.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, Error> {
        let result = match &mut self.mode {
            Mode::Encrypt { prefix, sealer } => {
                let mut out = std::mem::take(prefix);
                out.reserve(chunk.len() + chunk.len() / 4096 + 64);
                sealer.push(chunk, &mut out).map(|()| out)
            }
            Mode::Decrypt(d) => {
                let mut out = Vec::new();
                d.feed(chunk, &mut out, &mut self.describe).map(|()| out)
            }
            Mode::Finished => return Err(Error::Internal("age: push after finish".into())),
        };
        if result.is_err() {
            // A failed stage stays failed.
            self.mode = Mode::Finished;
        }
        result
    }

    /// Ends the input; returns the rest of the output.
    pub fn finish(&mut self) -> Result<Vec<u8>, Error> {
        match std::mem::replace(&mut self.mode, Mode::Finished) {
            Mode::Encrypt { prefix, mut sealer } => {
                let mut out = prefix;
                sealer.finish(&mut out)?;
                Ok(out)
            }
            Mode::Decrypt(mut d) => {
                let mut out = Vec::new();
                d.finish(&mut out, &mut self.describe)?;
                Ok(out)
            }
            Mode::Finished => Err(Error::Internal(
                "age: finish after finish or after an error".into(),
            )),
        }
    }
}
