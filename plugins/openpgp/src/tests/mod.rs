//! Native tests of whole streams: round trips through [`crate::stream::Stream`] in both
//! directions ([`roundtrip`]) and interoperability with gpg ([`gpg`]).

mod gpg;
mod roundtrip;

use sequoia_openpgp::cert::CertBuilder;
use sequoia_openpgp::serialize::SerializeInto;
use sequoia_openpgp::Cert;

use crate::error::Result;
use crate::stream::{Direction, Stream};

pub type Params = Vec<(String, Vec<u8>)>;

pub fn p(key: &str, value: impl AsRef<[u8]>) -> (String, Vec<u8>) {
    (key.to_string(), value.as_ref().to_vec())
}

/// Deterministic test data: compressible text runs interleaved with pseudo-random blocks.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len);
    let mut block = 0u32;
    while out.len() < len {
        let n = (len - out.len()).min(40_000);
        if block.is_multiple_of(2) {
            for i in 0..n {
                out.push(b"INSERT INTO t VALUES (42, 'hello');\n"[(i + block as usize) % 36]);
            }
        } else {
            for _ in 0..n {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                out.push(x as u8);
            }
        }
        block += 1;
    }
    out
}

/// Pushes `input` through a stream in pieces of `step`; the output and each push's size.
pub fn run_stream(mut s: Stream, input: &[u8], step: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for piece in input.chunks(step.max(1)) {
        out.extend(s.push(piece)?);
    }
    out.extend(s.finish()?);
    Ok(out)
}

pub fn encrypt(params: &Params, secrets: &Params, input: &[u8], step: usize) -> Vec<u8> {
    let s = Stream::open(Direction::Forward, params, secrets).unwrap();
    run_stream(s, input, step).unwrap()
}

pub fn decrypt(secrets: &Params, input: &[u8], step: usize) -> Result<Vec<u8>> {
    let s = Stream::open(Direction::Inverse, &[], secrets)?;
    run_stream(s, input, step)
}

/// A fresh certificate with an encryption subkey, and its secret key file (binary TSK).
pub fn new_cert(password: Option<&str>) -> (Cert, Vec<u8>, Vec<u8>) {
    let (cert, _) = CertBuilder::general_purpose(Some("Test <test@example.invalid>"))
        .set_password(password.map(Into::into))
        .generate()
        .unwrap();
    let public = cert.armored().to_vec().unwrap();
    let secret = cert.as_tsk().to_vec().unwrap();
    (cert, public, secret)
}
