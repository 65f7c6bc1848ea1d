//! Forward direction: encrypts the stream into an OpenPGP message that gpg 2.2 reads.
//!
//! The message is `PKESK v3`* (one per encryption subkey) `SKESK v4`? (the passphrase,
//! iterated+salted S2K) `SEIPD v1` (AES-256, with MDC) holding one binary literal data
//! packet; no compression packet (twgate compresses in its own stage).
//!
//! Sequoia writes the session-key packets (small and whole: key wrapping); the SKESK's
//! S2K hashing and ESK encryption run on the host ([`crate::s2k`]). The SEIPD
//! v1 packet is written here, streaming, with the bulk work lent by the host
//! (`twgate_plugin_sdk::crypto`): AES-256 in OpenPGP's CFB mode and the SHA-1 of the MDC.
//! Its body (RFC 9580 §5.13.1) is the version octet `1` followed by the CFB encryption,
//! under the session key and an all-zero IV, of
//!
//! ```text
//! prefix (16 random bytes, then the last two again)
//! || literal data packet (tag 11: format 'b', empty file name, date 0, the data)
//! || 0xD3 0x14 || SHA-1(prefix || literal packet || 0xD3 0x14)
//! ```
//!
//! Both the SEIPD and the literal packet use partial body lengths ([`PartialWriter`]), as
//! sequoia does, so no length is needed in advance and at most 511 bytes wait in each:
//! every push returns about as much ciphertext as it was given plaintext.

use sequoia_openpgp::crypto::{Password, SessionKey, S2K};
use sequoia_openpgp::packet::pkesk::PKESK3;
use sequoia_openpgp::packet::Packet;
use sequoia_openpgp::serialize::Serialize;
use sequoia_openpgp::types::SymmetricAlgorithm;
use twgate_plugin_sdk::crypto::{BlockCipher, Cfb, HashAlgorithm, Hasher};

use crate::error::{self, Result};
use crate::keys::Recipient;
use crate::packets::{tag, PartialWriter};
use twgate_plugin_sdk::Error;

/// The one cipher this plugin writes.
pub const CIPHER: SymmetricAlgorithm = SymmetricAlgorithm::AES256;
/// [`CIPHER`] for the host's CFB.
const HOST_CIPHER: BlockCipher = BlockCipher::Aes256;
/// AES's block size: the random prefix is one block plus two repeated bytes.
const BLOCK: usize = 16;
/// The literal data packet's body starts with: format 'b' (binary), an empty file name,
/// and the date 0 (unknown), as sequoia's `LiteralWriter` writes by default.
const LITERAL_HEADER: [u8; 6] = [b'b', 0, 0, 0, 0, 0];
/// The MDC packet's header: new format, tag 19, length 20.
const MDC_HEADER: [u8; 2] = [0xd3, 0x14];

fn internal(e: impl std::fmt::Display) -> Error {
    error::internal(format!("encryption failed: {e}"))
}

/// One stream being encrypted.
pub struct Encryptor {
    /// Output produced before the first push (the session-key packets, the SEIPD header);
    /// returned by the next `push` or `finish`.
    head: Vec<u8>,
    /// Frames the plaintext as the literal data packet.
    literal: PartialWriter,
    /// Frames the ciphertext as the SEIPD packet.
    seipd: PartialWriter,
    cfb: Cfb,
    mdc: Hasher,
    /// Scratch: literal packet bytes, then their ciphertext.
    plain: Vec<u8>,
    cipher: Vec<u8>,
    finished: bool,
}

impl Encryptor {
    /// Writes the session-key packets and starts the SEIPD v1 and literal packets.
    pub fn new(recipients: &[Recipient], passphrase: Option<&Password>) -> Result<Encryptor> {
        let session_key =
            SessionKey::new(CIPHER.key_size().map_err(internal)?).map_err(internal)?;
        let mut head = Vec::new();
        for key in recipients.iter().flat_map(|r| &r.keys) {
            let mut pkesk = PKESK3::for_recipient(CIPHER, &session_key, key).map_err(|e| {
                error::bad_config(format!("cannot encrypt to key {}: {e}", key.fingerprint()))
            })?;
            pkesk.set_recipient(Some(key.keyid()));
            Packet::PKESK(pkesk.into())
                .serialize(&mut head)
                .map_err(internal)?;
        }
        if let Some(password) = passphrase {
            // What `SKESK4::with_password(CIPHER, CIPHER, S2K::default(), ..)` writes
            // (iterated+salted SHA-256 over the largest count, random salt), with the S2K's
            // hashing on the host.
            let skesk = crate::s2k::skesk4(CIPHER, S2K::default(), &session_key, password)?;
            Packet::SKESK(skesk.into())
                .serialize(&mut head)
                .map_err(internal)?;
        }
        let cfb = Cfb::new(HOST_CIPHER, &session_key, &[0; BLOCK], true).map_err(internal)?;
        drop(session_key);
        let mdc = Hasher::new(HashAlgorithm::Sha1).map_err(internal)?;
        let mut e = Encryptor {
            head,
            literal: PartialWriter::new(tag::LITERAL),
            seipd: PartialWriter::new(tag::SEIPD),
            cfb,
            mdc,
            plain: Vec::new(),
            cipher: Vec::new(),
            finished: false,
        };
        let mut head = std::mem::take(&mut e.head);
        e.seipd.push(&[1], &mut head);
        let mut prefix = [0u8; BLOCK + 2];
        sequoia_openpgp::crypto::random(&mut prefix[..BLOCK])
            .map_err(|e| error::internal(format!("no randomness for the encryption: {e}")))?;
        prefix.copy_within(BLOCK - 2..BLOCK, BLOCK);
        e.plain.extend_from_slice(&prefix);
        e.literal.push(&LITERAL_HEADER, &mut e.plain);
        e.seal(&mut head)?;
        e.head = head;
        Ok(e)
    }

    /// Hashes and encrypts the plaintext in `self.plain`, framing the ciphertext into
    /// `out`; leaves `self.plain` empty.
    fn seal(&mut self, out: &mut Vec<u8>) -> Result<()> {
        if !self.plain.is_empty() {
            self.mdc.update(&self.plain).map_err(internal)?;
            self.cipher.clear();
            self.cfb
                .update(&self.plain, &mut self.cipher)
                .map_err(internal)?;
            self.seipd.push(&self.cipher, out);
            self.plain.clear();
        }
        Ok(())
    }

    /// Encrypts `chunk`; returns the ciphertext ready so far.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>> {
        if self.finished {
            return Err(error::internal("push after finish"));
        }
        let mut out = std::mem::take(&mut self.head);
        out.reserve(chunk.len() + 64);
        self.plain.clear();
        self.literal.push(chunk, &mut self.plain);
        self.seal(&mut out)?;
        Ok(out)
    }

    /// Ends the message; returns the rest of the ciphertext, MDC included.
    pub fn finish(&mut self) -> Result<Vec<u8>> {
        if std::mem::replace(&mut self.finished, true) {
            return Err(error::internal("finish called twice"));
        }
        let mut out = std::mem::take(&mut self.head);
        self.plain.clear();
        self.literal.finish(&mut self.plain);
        self.plain.extend_from_slice(&MDC_HEADER);
        self.mdc.update(&self.plain).map_err(internal)?;
        let digest = self.mdc.finish();
        if digest.len() != 20 {
            return Err(internal("SHA-1 returned a digest of the wrong length"));
        }
        self.plain.extend_from_slice(&digest);
        self.cipher.clear();
        self.cfb
            .update(&self.plain, &mut self.cipher)
            .map_err(internal)?;
        self.plain.clear();
        self.seipd.push(&self.cipher, &mut out);
        self.seipd.finish(&mut out);
        Ok(out)
    }
}
