//! Inverse direction: decrypts an OpenPGP message pushed in pieces of any size, in
//! constant memory.
//!
//! Sequoia's own `Decryptor` pulls from a reader and cannot be resumed when input runs out,
//! and a wasm32-wasip2 component has no threads to park it on, so the message is parsed by
//! a state machine here, using sequoia for the parts that are small and whole:
//!
//! 1. Outer packets ([`crate::packets`]): Marker packets are skipped; each PKESK / SKESK
//!    is collected whole and parsed by sequoia. At the SEIPD packet every session key
//!    that the identities and passphrase unlock becomes a candidate.
//! 2. The SEIPD v1 body ([`crate::seipd`]): the candidate whose key passes the quick
//!    check decrypts the stream; the MDC is checked at the end of the packet. The bulk
//!    work (AES in CFB mode, the MDC's SHA-1) runs on the host through
//!    `twgate_plugin_sdk::crypto`, fed in batches of at least 64 KiB or a whole push;
//!    other ciphers fall back to sequoia's software CFB ([`crate::cfb`]).
//! 3. The decrypted packets ([`crate::inner`]): literal data is the output, compressed
//!    data is inflated and parsed again.
//!
//! **Handled:** PKESK v3 (any public-key algorithm sequoia's pure-Rust backend supports),
//! SKESK v4, SEIPD v1 with any of sequoia's block ciphers, compression none/ZIP/ZLIB.
//! **Refused as `corrupt-input`:** SEIPD v2 / SKESK v6 / PKESK v6 (RFC 9580 AEAD), the
//! LibrePGP OCB packet (tag 20), SED without MDC (tag 9), BZip2, unencrypted or
//! signed-only messages, and key files given as the message.
//!
//! **Invariant:** `finish` fails unless the message ended exactly at the end of a SEIPD
//! packet whose MDC matched and whose content was complete; truncation anywhere fails.

use sequoia_openpgp::crypto::{Password, SessionKey};
use sequoia_openpgp::packet::{Packet, PKESK, SKESK};
use sequoia_openpgp::parse::Parse;
use sequoia_openpgp::types::SymmetricAlgorithm;
use sequoia_openpgp::KeyHandle;

use crate::error::{self, Result};
use crate::inner::Inner;
use crate::keys::Identities;
use crate::packets::{new_format_header, tag, Event, Framer};
use crate::seipd::{check_len, quick_check, Seipd1};
use twgate_plugin_sdk::Error;

/// A session-key packet larger than this is not believed (real ones are < 2 KiB).
const MAX_ESK: usize = 64 * 1024;

/// SEIPD body pieces shorter than this (small partial body chunks, e.g. gpg's 8 KiB ones
/// when it writes to a pipe) are gathered up to this size, or the end of the push, before
/// they go to the host's CFB and SHA-1, so each host call carries a worthwhile amount.
const BATCH: usize = 64 * 1024;

enum State {
    /// Between outer packets, before the encrypted data.
    Between,
    /// Collecting a PKESK or SKESK packet.
    Esk { tag: u8, body: Vec<u8> },
    /// Inside a Marker packet.
    Marker,
    /// Collecting the SEIPD version octet, the encrypted prefix and one more byte.
    Head {
        candidates: Vec<(SymmetricAlgorithm, SessionKey)>,
        need: usize,
        buf: Vec<u8>,
    },
    /// Streaming the SEIPD body.
    Body {
        seipd: Box<Seipd1>,
        inner: Box<Inner>,
    },
    /// The SEIPD packet ended and checked out.
    Done,
    /// An error was reported; the stream is dead.
    Failed,
}

/// One stream being decrypted.
pub struct Decryptor {
    identities: Identities,
    passphrase: Option<Password>,
    framer: Framer,
    state: State,
    pkesks: Vec<PKESK>,
    skesks: Vec<SKESK>,
    /// Session-key packets seen, including ones we could not parse or use.
    esk_count: usize,
    /// SEIPD body bytes gathered for one batch (see [`BATCH`]).
    batch: Vec<u8>,
    finished: bool,
}

/// Decrypts `ciphertext` of the SEIPD body and passes its plaintext on to `inner`.
fn decrypt_piece(
    seipd: &mut Seipd1,
    inner: &mut Inner,
    ciphertext: &[u8],
    out: &mut Vec<u8>,
) -> Result<()> {
    seipd.push(ciphertext, &mut |plain| inner.push(plain, out))
}

impl Decryptor {
    pub fn new(identities: Identities, passphrase: Option<Password>) -> Decryptor {
        Decryptor {
            identities,
            passphrase,
            framer: Framer::new("the input"),
            state: State::Between,
            pkesks: Vec::new(),
            skesks: Vec::new(),
            esk_count: 0,
            batch: Vec::new(),
            finished: false,
        }
    }

    /// Feeds the next piece of the message; returns the plaintext ready so far.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>> {
        if self.finished {
            return Err(error::internal("push after finish"));
        }
        let mut out = Vec::new();
        let result = self.feed(chunk, &mut out);
        self.fail_on(result)?;
        Ok(out)
    }

    /// Ends the message; returns the last plaintext, or why the message is not complete.
    pub fn finish(&mut self) -> Result<Vec<u8>> {
        if std::mem::replace(&mut self.finished, true) {
            return Err(error::internal("finish called twice"));
        }
        let mut out = Vec::new();
        let result = self.end_of_input(&mut out);
        self.fail_on(result)?;
        Ok(out)
    }

    fn fail_on(&mut self, result: Result<()>) -> Result<()> {
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if matches!(self.state, State::Failed) {
            return Err(error::internal("the stream already failed"));
        }
        while let Some(event) = self.framer.next(&mut input)? {
            match event {
                Event::Start(t) => self.start(t)?,
                Event::Body(b) => self.body(b, out)?,
                Event::End => self.end(out)?,
            }
        }
        self.flush_batch(out)
    }

    /// Decrypts the SEIPD body bytes gathered so far.
    fn flush_batch(&mut self, out: &mut Vec<u8>) -> Result<()> {
        if let State::Body { seipd, inner } = &mut self.state {
            if !self.batch.is_empty() {
                decrypt_piece(seipd, inner, &self.batch, out)?;
                self.batch.clear();
            }
        }
        Ok(())
    }

    fn end_of_input(&mut self, out: &mut Vec<u8>) -> Result<()> {
        if matches!(self.state, State::Failed) {
            return Err(error::internal("the stream already failed"));
        }
        if self.framer.end_of_input()? {
            self.end(out)?;
        }
        match self.state {
            State::Done => Ok(()),
            _ if self.esk_count == 0 => Err(error::corrupt(
                "the input is empty or not an OpenPGP encrypted message (no encrypted data)",
            )),
            _ => Err(error::corrupt(
                "the message is truncated (it ends before its encrypted data)",
            )),
        }
    }

    fn start(&mut self, t: u8) -> Result<()> {
        if matches!(self.state, State::Done) {
            return Err(error::corrupt(
                "unexpected data after the encrypted data packet",
            ));
        }
        self.state = match t {
            tag::PKESK | tag::SKESK => State::Esk {
                tag: t,
                body: Vec::new(),
            },
            tag::MARKER => State::Marker,
            tag::SEIPD => self.session_keys()?,
            tag::SED => {
                return Err(error::corrupt(
                    "the message uses encryption without integrity protection (SED), which is \
                     unsafe and not supported",
                ))
            }
            tag::AEAD => {
                return Err(error::corrupt(
                    "the message uses the LibrePGP OCB encrypted data packet, which is not \
                     supported (encrypt without AEAD, e.g. gpg --rfc4880)",
                ))
            }
            tag::COMPRESSED | tag::LITERAL => {
                return Err(error::corrupt(
                    "the input is an OpenPGP message but not encrypted",
                ))
            }
            tag::ONE_PASS_SIG | tag::SIGNATURE => {
                return Err(error::corrupt(
                    "the input is a signed OpenPGP message, not encrypted",
                ))
            }
            tag::PUBLIC_KEY
            | tag::SECRET_KEY
            | tag::PUBLIC_SUBKEY
            | tag::SECRET_SUBKEY
            | tag::USER_ID
            | tag::USER_ATTRIBUTE
            | tag::TRUST => {
                return Err(error::corrupt(
                    "the input is an OpenPGP key or certificate, not an encrypted message",
                ))
            }
            other => {
                return Err(error::corrupt(format!(
                    "the input is not an OpenPGP encrypted message (unexpected packet tag {other})"
                )))
            }
        };
        Ok(())
    }

    fn body(&mut self, b: &[u8], out: &mut Vec<u8>) -> Result<()> {
        match &mut self.state {
            State::Esk { body, .. } => {
                if body.len() + b.len() > MAX_ESK {
                    return Err(error::corrupt("a session key packet is implausibly large"));
                }
                body.extend_from_slice(b);
            }
            State::Head { need, buf, .. } => {
                let take = (*need - buf.len()).min(b.len());
                buf.extend_from_slice(&b[..take]);
                if buf.len() == *need {
                    self.begin_body()?;
                    self.body(&b[take..], out)?;
                }
            }
            State::Body { seipd, inner } => {
                if self.batch.is_empty() && b.len() >= BATCH {
                    decrypt_piece(seipd, inner, b, out)?;
                } else {
                    self.batch.extend_from_slice(b);
                    if self.batch.len() >= BATCH {
                        decrypt_piece(seipd, inner, &self.batch, out)?;
                        self.batch.clear();
                    }
                }
            }
            State::Marker | State::Between | State::Done | State::Failed => {}
        }
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<u8>) -> Result<()> {
        self.flush_batch(out)?;
        match std::mem::replace(&mut self.state, State::Between) {
            State::Esk { tag, body } => self.parse_esk(tag, body)?,
            State::Marker | State::Between => {}
            State::Head { .. } => {
                return Err(error::corrupt("the encrypted data packet is truncated"));
            }
            State::Body {
                mut seipd,
                mut inner,
            } => {
                seipd.finish(&mut |plain| inner.push(plain, out))?;
                inner.finish(out)?;
                self.state = State::Done;
            }
            State::Done | State::Failed => {}
        }
        Ok(())
    }

    fn parse_esk(&mut self, t: u8, body: Vec<u8>) -> Result<()> {
        self.esk_count += 1;
        let mut packet = new_format_header(t, body.len());
        packet.extend_from_slice(&body);
        match Packet::from_bytes(&packet) {
            Ok(Packet::PKESK(p)) => self.pkesks.push(p),
            Ok(Packet::SKESK(s)) => self.skesks.push(s),
            // Unknown versions or algorithms: another reader's packet, not an error here.
            Ok(_) => {}
            Err(e) => {
                return Err(error::corrupt(format!(
                    "a session key packet is malformed: {e}"
                )))
            }
        }
        Ok(())
    }

    /// At the start of the SEIPD packet: every session key the secrets unlock.
    fn session_keys(&mut self) -> Result<State> {
        if self.esk_count == 0 {
            return Err(error::corrupt(
                "the message has no session key packets, so nothing can decrypt it",
            ));
        }
        let mut candidates = Vec::new();
        if let Some(password) = &self.passphrase {
            for skesk in &self.skesks {
                if let Ok((Some(algo), key)) = crate::s2k::decrypt_skesk(skesk, password) {
                    candidates.push((algo, key));
                }
            }
        }
        for pkesk in &self.pkesks {
            let PKESK::V3(p3) = pkesk else { continue };
            for pair in &mut self.identities.keypairs {
                let matches = match pkesk.recipient() {
                    None => true,
                    Some(handle) => handle.aliases(KeyHandle::from(pair.public().fingerprint())),
                };
                if !matches {
                    continue;
                }
                if let Some((algo, key)) = p3.decrypt(pair, None) {
                    candidates.push((algo, key));
                }
            }
        }
        // No candidate is reported after the version octet, which may explain why.
        let bs = candidates
            .iter()
            .filter_map(|(a, _)| a.block_size().ok())
            .max()
            .unwrap_or(16);
        let need = 1 + check_len(bs);
        Ok(State::Head {
            candidates,
            need,
            buf: Vec::with_capacity(need),
        })
    }

    /// The SEIPD version octet and prefix are here: pick the session key.
    fn begin_body(&mut self) -> Result<()> {
        let State::Head {
            candidates, buf, ..
        } = std::mem::replace(&mut self.state, State::Failed)
        else {
            return Err(error::internal("bad state"));
        };
        match buf[0] {
            1 => {}
            2 => {
                return Err(error::corrupt(
                    "the message uses SEIPD v2 (RFC 9580 AEAD encryption), which this plugin \
                     does not support",
                ))
            }
            v => {
                return Err(error::corrupt(format!(
                    "unknown encrypted data packet version {v}"
                )))
            }
        }
        let prefix = &buf[1..];
        let Some((algo, key)) = candidates
            .into_iter()
            .find(|(algo, key)| quick_check(*algo, key, prefix))
        else {
            return Err(self.no_key());
        };
        let mut seipd = Box::new(Seipd1::new(algo, key)?);
        let inner = Box::new(Inner::new());
        // Never any plaintext yet: the prefix is dropped and 22 bytes are held back.
        seipd.push(prefix, &mut |_| {
            Err(error::internal("plaintext released with the prefix"))
        })?;
        self.state = State::Body { seipd, inner };
        Ok(())
    }

    /// The wrong-key error, naming what the message is for (key IDs are public).
    fn no_key(&self) -> Error {
        let mut ids: Vec<String> = self
            .pkesks
            .iter()
            .map(|p| match p.recipient() {
                Some(h) => h.to_hex(),
                None => "an anonymous recipient".into(),
            })
            .collect();
        if !self.skesks.is_empty() {
            ids.push("a passphrase".into());
        }
        let mut msg = if ids.is_empty() {
            "no usable session key packet in the message".to_string()
        } else {
            format!(
                "none of the given identities or passphrases can decrypt this message (it is for {})",
                ids.join(", ")
            )
        };
        if !self.identities.locked.is_empty() {
            let locked: Vec<String> = self.identities.locked.iter().map(|f| f.to_hex()).collect();
            msg.push_str(&format!(
                "; secret keys {} are passphrase-protected and were not unlocked",
                locked.join(", ")
            ));
        }
        if !self.skesks.is_empty() && self.passphrase.is_none() {
            msg.push_str("; no passphrase was given");
        }
        error::wrong_key(msg)
    }
}
