//! Helpers shared by the age plugin's tests: parameters, keys, data, push loops.
#![allow(dead_code)]

use age::secrecy::ExposeSecret;
use twgate_plugin_age::codec::Codec;
use twgate_plugin_sdk::Error;

pub type Param = (String, Vec<u8>);

pub fn param(key: &str, value: impl AsRef<[u8]>) -> Param {
    (key.to_string(), value.as_ref().to_vec())
}

/// A fresh X25519 key: (identity file text, recipient).
pub fn keypair() -> (String, String) {
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let text = format!(
        "# created: test\n# public key: {recipient}\n{}\n",
        identity.to_string().expose_secret()
    );
    (text, recipient)
}

/// Deterministic data that does not repeat within a chunk.
pub fn data(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ len as u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Pushes `input` through `codec` in pieces of `piece` bytes, then finishes.
pub fn run(mut codec: Codec, input: &[u8], piece: usize) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    for chunk in input.chunks(piece.max(1)) {
        out.extend(codec.push(chunk)?);
    }
    out.extend(codec.finish()?);
    Ok(out)
}

pub fn encrypt(params: &[Param], secrets: &[Param], plain: &[u8], piece: usize) -> Vec<u8> {
    let codec = Codec::encryptor(params, secrets).expect("encryptor opens");
    run(codec, plain, piece).expect("encryption succeeds")
}

pub fn decrypt(secrets: &[Param], cipher: &[u8], piece: usize) -> Result<Vec<u8>, Error> {
    let codec = Codec::decryptor(&[], secrets)?;
    run(codec, cipher, piece)
}

/// Where the payload starts: just past the `---` line and the 16-byte nonce.
pub fn payload_start(cipher: &[u8]) -> usize {
    let mac = cipher
        .windows(5)
        .position(|w| w == b"\n--- ")
        .expect("header has a MAC line");
    let end = mac + 1 + cipher[mac + 1..].iter().position(|&b| b == b'\n').unwrap() + 1;
    end + 16
}

/// Armors `binary` as `age -a` does: 64 columns, LF (or CRLF) line endings.
pub fn armor(binary: &[u8], crlf: bool) -> Vec<u8> {
    use base64::Engine;
    let nl = if crlf { "\r\n" } else { "\n" };
    let b64 = base64::engine::general_purpose::STANDARD.encode(binary);
    let mut out = format!("-----BEGIN AGE ENCRYPTED FILE-----{nl}");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push_str(nl);
    }
    out.push_str(&format!("-----END AGE ENCRYPTED FILE-----{nl}"));
    out.into_bytes()
}

pub fn assert_corrupt(result: Result<Vec<u8>, Error>, what: &str) {
    match result {
        Err(Error::CorruptInput(msg)) => assert!(!msg.contains('\n'), "{what}: multi-line: {msg}"),
        Err(other) => panic!("{what}: expected corrupt-input, got {other:?}"),
        Ok(out) => panic!("{what}: expected corrupt-input, got {} bytes", out.len()),
    }
}
