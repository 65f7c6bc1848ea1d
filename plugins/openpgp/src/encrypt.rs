//! Forward direction: encrypts the stream into an OpenPGP message that gpg 2.2 reads.
//!
//! The message is `PKESK v3`* (one per encryption subkey) `SKESK v4`? (the passphrase,
//! iterated+salted S2K) `SEIPD v1` (AES-256, with MDC) holding one binary literal data
//! packet, streamed with partial body lengths; no compression packet (twgate compresses in
//! its own stage). The session-key packets are written here and the SEIPD v1 writer is
//! sequoia's `Encryptor::with_session_key` without recipients, which never selects
//! SEIPD v2 (sequoia picks v2 only when every recipient advertises support for it).

use std::io::Write;
use std::sync::{Arc, Mutex};

use sequoia_openpgp::crypto::{Password, SessionKey};
use sequoia_openpgp::packet::pkesk::PKESK3;
use sequoia_openpgp::packet::skesk::SKESK4;
use sequoia_openpgp::packet::Packet;
use sequoia_openpgp::serialize::stream::{Encryptor as SeipdWriter, LiteralWriter, Message};
use sequoia_openpgp::serialize::Serialize;
use sequoia_openpgp::types::{DataFormat, SymmetricAlgorithm};

use crate::error::{Error, Result};
use crate::keys::Recipient;

/// The one cipher this plugin writes.
pub const CIPHER: SymmetricAlgorithm = SymmetricAlgorithm::AES256;

/// A writer that collects sequoia's output for the next `push` to return.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Sink {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::internal(format!("encryption failed: {e}"))
}

/// One stream being encrypted.
pub struct Encryptor {
    sink: Sink,
    writer: Option<Message<'static>>,
}

impl Encryptor {
    /// Writes the session-key packets and the SEIPD v1 and literal headers.
    pub fn new(recipients: &[Recipient], passphrase: Option<&Password>) -> Result<Encryptor> {
        let sink = Sink::default();
        let session_key =
            SessionKey::new(CIPHER.key_size().map_err(internal)?).map_err(internal)?;
        let mut head = Vec::new();
        for key in recipients.iter().flat_map(|r| &r.keys) {
            let mut pkesk = PKESK3::for_recipient(CIPHER, &session_key, key).map_err(|e| {
                Error::bad_config(format!("cannot encrypt to key {}: {e}", key.fingerprint()))
            })?;
            pkesk.set_recipient(Some(key.keyid()));
            Packet::PKESK(pkesk.into())
                .serialize(&mut head)
                .map_err(internal)?;
        }
        if let Some(password) = passphrase {
            let skesk =
                SKESK4::with_password(CIPHER, CIPHER, Default::default(), &session_key, password)
                    .map_err(internal)?;
            Packet::SKESK(skesk.into())
                .serialize(&mut head)
                .map_err(internal)?;
        }
        sink.clone().write_all(&head).map_err(internal)?;
        let message = Message::new(sink.clone());
        let message =
            SeipdWriter::with_session_key(message, CIPHER, session_key).map_err(internal)?;
        let message = message.build().map_err(internal)?;
        let writer = LiteralWriter::new(message)
            .format(DataFormat::Binary)
            .build()
            .map_err(internal)?;
        Ok(Encryptor {
            sink,
            writer: Some(writer),
        })
    }

    /// Encrypts `chunk`; returns the ciphertext ready so far.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>> {
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| Error::internal("push after finish"))?;
        writer.write_all(chunk).map_err(internal)?;
        Ok(self.sink.take())
    }

    /// Ends the message; returns the rest of the ciphertext, MDC included.
    pub fn finish(&mut self) -> Result<Vec<u8>> {
        let writer = self
            .writer
            .take()
            .ok_or_else(|| Error::internal("finish called twice"))?;
        writer.finalize().map_err(internal)?;
        Ok(self.sink.take())
    }
}
