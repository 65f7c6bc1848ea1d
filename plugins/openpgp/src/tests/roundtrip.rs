//! Round trips through the plugin itself: sizes, piece sizes, truncation, corruption,
//! wrong keys, configuration errors and the shape of what forward writes.

use super::*;
use crate::packets::{tag, Event, Framer};
use twgate_plugin_sdk::Error;

const PW: &str = "correct horse battery staple";

fn sizes() -> Vec<(usize, usize)> {
    // (message length, push size)
    vec![
        (0, 1),
        (1, 1),
        (65536, 65536),
        (5000, 1),
        (3_000_000, 7777),
        (3_000_000, 300 * 1024),
    ]
}

/// Encrypts with `params`/`secrets` and decrypts with each of `decrypt_with`.
fn check_roundtrips(params: &Params, secrets: &Params, decrypt_with: &[Params]) {
    let big = data(3_000_000, 7);
    for (len, step) in sizes() {
        let plain = &big[..len];
        let ct = encrypt(params, secrets, plain, step);
        for secrets in decrypt_with {
            let back = decrypt(secrets, &ct, step).unwrap();
            assert!(back == plain, "len {len} step {step}");
        }
    }
}

#[test]
fn passphrase_round_trips() {
    let s = vec![p("passphrase", PW)];
    check_roundtrips(&vec![], &s, std::slice::from_ref(&s));
}

#[test]
fn cert_round_trips() {
    let (_, public, secret) = new_cert(None);
    check_roundtrips(
        &vec![p("cert", public)],
        &vec![],
        &[vec![p("identity", secret)]],
    );
}

#[test]
fn certs_and_passphrase_each_decrypt() {
    let (_, pub1, sec1) = new_cert(None);
    let (_, pub2, sec2) = new_cert(Some("unlock me"));
    let params = vec![p("cert", pub1), p("cert", pub2)];
    let plain = data(200_000, 3);
    let ct = encrypt(&params, &vec![p("passphrase", PW)], &plain, 4096);
    for secrets in [
        vec![p("passphrase", PW)],
        vec![p("identity", &sec1)],
        // A protected key, unlocked with the passphrase; the age identity is skipped.
        vec![
            p("identity", b"AGE-SECRET-KEY-1QQQQ\n"),
            p("identity", &sec2),
            p("passphrase", "unlock me"),
        ],
    ] {
        assert_eq!(decrypt(&secrets, &ct, 10_000).unwrap(), plain);
    }
}

#[test]
fn keyring_encrypts_to_every_cert() {
    let (c1, _, sec1) = new_cert(None);
    let (c2, _, sec2) = new_cert(None);
    let mut ring = c1.armored().to_vec().unwrap();
    ring.extend(c2.armored().to_vec().unwrap());
    let s = Stream::open(Direction::Forward, &[p("cert", &ring)], &[]).unwrap();
    let d = s.describe();
    assert_eq!(d[0], ("mode".into(), "certs".into()));
    assert_eq!(d[1], ("cipher".into(), "AES256".into()));
    assert_eq!(d[2], ("recipient".into(), c1.fingerprint().to_hex()));
    assert_eq!(d[3], ("recipient".into(), c2.fingerprint().to_hex()));
    let ct = run_stream(s, b"hello", 1).unwrap();
    for sec in [sec1, sec2] {
        assert_eq!(
            decrypt(&vec![p("identity", sec)], &ct, 3).unwrap(),
            b"hello"
        );
    }
}

#[test]
fn describe_never_shows_the_passphrase() {
    let s = Stream::open(Direction::Forward, &[], &[p("passphrase", PW)]).unwrap();
    let d = s.describe();
    assert_eq!(
        d,
        vec![
            ("mode".into(), "passphrase".into()),
            ("cipher".into(), "AES256".into())
        ]
    );
    let (_, public, _) = new_cert(None);
    let s = Stream::open(
        Direction::Forward,
        &[p("cert", public)],
        &[p("passphrase", PW)],
    )
    .unwrap();
    assert_eq!(s.describe()[0].1, "certs+passphrase");
    assert!(!format!("{:?}", s.describe()).contains(PW));
}

/// Output arrives as input does: after the pushes, all but a small tail is out.
#[test]
fn decryption_streams() {
    let s = vec![p("passphrase", PW)];
    let plain = data(3_000_000, 11);
    let ct = encrypt(&vec![], &s, &plain, 1 << 20);
    let mut d = Stream::open(Direction::Inverse, &[], &s).unwrap();
    let mut out = Vec::new();
    for piece in ct.chunks(256 * 1024) {
        let got = d.push(piece).unwrap();
        assert!(got.len() <= piece.len() + 64);
        out.extend(got);
    }
    assert!(
        out.len() + 64 * 1024 >= plain.len(),
        "only {} of {} out",
        out.len(),
        plain.len()
    );
    out.extend(d.finish().unwrap());
    assert!(out == plain);
}

fn assert_corrupt(r: Result<Vec<u8>>, what: &str) {
    match r {
        Err(Error::CorruptInput(m)) => assert!(!m.contains(PW), "{what}: {m}"),
        other => panic!(
            "{what}: expected corrupt-input, got {:?}",
            other.map(|v| v.len())
        ),
    }
}

#[test]
fn truncation_fails_everywhere() {
    let (_, public, secret) = new_cert(None);
    let plain = data(300_000, 5);
    for (params, secrets, dec) in [
        (vec![], vec![p("passphrase", PW)], vec![p("passphrase", PW)]),
        (vec![p("cert", public)], vec![], vec![p("identity", secret)]),
    ] {
        let ct = encrypt(&params, &secrets, &plain, 65536);
        let n = ct.len();
        for cut in [
            0,
            1,
            2,
            5,
            30,
            200,
            n / 3,
            n / 2,
            n - 23,
            n - 22,
            n - 21,
            n - 2,
            n - 1,
        ] {
            for step in [1000, 1 << 20] {
                if step == 1000 && cut > 100_000 {
                    continue;
                }
                assert_corrupt(
                    decrypt(&dec, &ct[..cut], step),
                    &format!("cut at {cut}/{n}"),
                );
            }
        }
        // Trailing garbage after the message is refused too.
        let mut longer = ct.clone();
        longer.extend(b"\xc0\x01x");
        assert_corrupt(decrypt(&dec, &longer, 4096), "trailing packet");
    }
}

#[test]
fn corruption_fails() {
    let s = vec![p("passphrase", PW)];
    let plain = data(500_000, 9);
    let ct = encrypt(&vec![], &s, &plain, 65536);
    for at in [ct.len() / 2, ct.len() - 5, ct.len() - 30, 120] {
        let mut bad = ct.clone();
        bad[at] ^= 0x20;
        let r = decrypt(&s, &bad, 65536);
        assert!(
            matches!(r, Err(Error::CorruptInput(_)) | Err(Error::WrongKey(_))),
            "flip at {at}: {:?}",
            r.map(|v| v.len())
        );
        if at > 1000 {
            assert_corrupt(r, &format!("flip at {at}"));
        }
    }
}

#[test]
fn wrong_keys_are_wrong_key() {
    let plain = data(10_000, 1);
    let ct = encrypt(&vec![], &vec![p("passphrase", PW)], &plain, 4096);
    let r = decrypt(&vec![p("passphrase", "not it")], &ct, 4096);
    assert!(matches!(r, Err(Error::WrongKey(_))), "{r:?}");

    let (_, public, _) = new_cert(None);
    let (_, _, other_secret) = new_cert(None);
    let ct = encrypt(&vec![p("cert", public)], &vec![], &plain, 4096);
    let r = decrypt(&vec![p("identity", other_secret)], &ct, 4096);
    match r {
        Err(Error::WrongKey(m)) => assert!(m.contains("none of the given identities"), "{m}"),
        other => panic!("{other:?}"),
    }
    let r = decrypt(&vec![p("passphrase", PW)], &ct, 4096);
    assert!(matches!(r, Err(Error::WrongKey(_))), "{r:?}");
}

#[test]
fn a_protected_key_without_its_passphrase_is_bad_config() {
    let (_, _, secret) = new_cert(Some("sesame"));
    let r = Stream::open(Direction::Inverse, &[], &[p("identity", secret)]);
    match r {
        Err(Error::BadConfig(m)) => assert!(m.contains("passphrase-protected"), "{m}"),
        _ => panic!("expected bad-config"),
    }
}

#[test]
fn bad_configs() {
    let bad = |d, params: &[(String, Vec<u8>)], secrets: &[(String, Vec<u8>)]| match Stream::open(
        d, params, secrets,
    ) {
        Err(Error::BadConfig(m)) => m,
        Err(e) => panic!("expected bad-config, got {e:?}"),
        Ok(_) => panic!("expected bad-config, got a stream"),
    };
    let m = bad(Direction::Forward, &[], &[]);
    assert_eq!(
        m,
        "openpgp: openpgp needs --recipient CERTFILE or --passphrase-env VAR"
    );
    bad(Direction::Forward, &[p("cert", b"not a cert")], &[]);
    bad(
        Direction::Forward,
        &[p("level", b"3")],
        &[p("passphrase", PW)],
    );
    bad(Direction::Forward, &[], &[p("passphrase", "")]);
    bad(Direction::Inverse, &[], &[]);
    bad(
        Direction::Inverse,
        &[],
        &[p("identity", b"AGE-SECRET-KEY-1QQQQ")],
    );
    // A public certificate is not an identity.
    let (_, public, _) = new_cert(None);
    bad(Direction::Inverse, &[], &[p("identity", &public)]);

    // A certificate without an encryption subkey is refused by fingerprint.
    let (signing_only, _) = CertBuilder::new()
        .add_userid("Signer <s@example.invalid>")
        .add_signing_subkey()
        .generate()
        .unwrap();
    let m = bad(
        Direction::Forward,
        &[p("cert", signing_only.to_vec().unwrap())],
        &[],
    );
    assert!(m.contains(&signing_only.fingerprint().to_hex()), "{m}");

    // The manifest's recorded settings are accepted on the way back.
    let ok = Stream::open(
        Direction::Inverse,
        &[p("mode", "passphrase"), p("cipher", "AES256")],
        &[p("passphrase", PW)],
    );
    assert!(ok.is_ok());
}

#[test]
fn not_openpgp_and_unsupported_inputs_are_corrupt() {
    let s = vec![p("passphrase", PW)];
    assert_corrupt(decrypt(&s, b"", 1), "empty");
    assert_corrupt(decrypt(&s, b"hello world, not pgp", 3), "text");
    assert_corrupt(decrypt(&s, &data(10_000, 2), 1000), "random");
    let (cert, _, _) = new_cert(None);
    assert_corrupt(decrypt(&s, &cert.to_vec().unwrap(), 1000), "a certificate");
    // A bare literal data packet: OpenPGP, but not encrypted.
    assert_corrupt(
        decrypt(&s, b"\xcb\x0ab\x00\x00\x00\x00\x00hello", 1),
        "literal",
    );
}

/// Collects the outer packets of a message: (tag, body).
fn outer_packets(msg: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut f = Framer::new("test");
    let mut out: Vec<(u8, Vec<u8>)> = Vec::new();
    let mut input = msg;
    while let Some(ev) = f.next(&mut input).unwrap() {
        match ev {
            Event::Start(t) => out.push((t, Vec::new())),
            Event::Body(b) => out.last_mut().unwrap().1.extend_from_slice(b),
            Event::End => {}
        }
    }
    assert!(!f.end_of_input().unwrap());
    out
}

#[test]
fn forward_writes_pkesk3_skesk4_seipd1_aes256() {
    let (cert, public, _) = new_cert(None);
    let ct = encrypt(
        &vec![p("cert", public)],
        &vec![p("passphrase", PW)],
        b"x",
        1,
    );
    let packets = outer_packets(&ct);
    let tags: Vec<u8> = packets.iter().map(|(t, _)| *t).collect();
    assert_eq!(tags, vec![tag::PKESK, tag::SKESK, tag::SEIPD]);
    let pkesk = &packets[0].1;
    assert_eq!(pkesk[0], 3, "PKESK version");
    let policy = sequoia_openpgp::policy::StandardPolicy::new();
    let mut subkey = cert
        .keys()
        .subkeys()
        .with_policy(&policy, None)
        .for_storage_encryption();
    let subkey = subkey.next().unwrap().key().keyid();
    assert_eq!(
        &pkesk[1..9],
        subkey.as_bytes(),
        "PKESK names the encryption subkey"
    );
    let skesk = &packets[1].1;
    assert_eq!(&skesk[..2], &[4, 9], "SKESK v4, AES-256");
    assert_eq!(skesk[2], 3, "iterated and salted S2K");
    assert_eq!(packets[2].1[0], 1, "SEIPD v1");
}

#[test]
fn seipd_v2_is_refused_clearly() {
    use sequoia_openpgp::serialize::stream::{Encryptor, LiteralWriter, Message};
    use sequoia_openpgp::types::AEADAlgorithm;
    use std::io::Write;
    let mut ct = Vec::new();
    let m = Message::new(&mut ct);
    let m = Encryptor::with_passwords(m, Some(PW))
        .aead_algo(AEADAlgorithm::default())
        .build()
        .unwrap();
    let mut m = LiteralWriter::new(m).build().unwrap();
    m.write_all(b"hello").unwrap();
    m.finalize().unwrap();
    match decrypt(&vec![p("passphrase", PW)], &ct, 7) {
        Err(Error::CorruptInput(m)) => assert!(m.contains("SEIPD v2"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// A message sequoia writes on its own (compressed, old-style) decrypts too.
#[test]
fn sequoia_compressed_messages_decrypt() {
    use sequoia_openpgp::serialize::stream::{Compressor, Encryptor, LiteralWriter, Message};
    use sequoia_openpgp::types::{CompressionAlgorithm, SymmetricAlgorithm};
    use std::io::Write;
    let plain = data(1_000_000, 77);
    for (algo, cipher) in [
        (CompressionAlgorithm::Zip, SymmetricAlgorithm::AES128),
        (CompressionAlgorithm::Zlib, SymmetricAlgorithm::AES192),
        (
            CompressionAlgorithm::Uncompressed,
            SymmetricAlgorithm::AES256,
        ),
    ] {
        let mut ct = Vec::new();
        let m = Message::new(&mut ct);
        let m = Encryptor::with_passwords(m, Some(PW))
            .symmetric_algo(cipher)
            .build()
            .unwrap();
        let m = Compressor::new(m).algo(algo).build().unwrap();
        let mut m = LiteralWriter::new(m).build().unwrap();
        m.write_all(&plain).unwrap();
        m.finalize().unwrap();
        let back = decrypt(&vec![p("passphrase", PW)], &ct, 65536).unwrap();
        assert!(back == plain, "{algo:?} {cipher:?}");
    }
}

/// Offsets in `msg` of every byte of the SEIPD packet's body (headers excluded).
fn seipd_body_offsets(msg: &[u8]) -> Vec<usize> {
    let mut f = Framer::new("test");
    let mut input = msg;
    let mut in_seipd = false;
    let mut offsets = Vec::new();
    while let Some(ev) = f.next(&mut input).unwrap() {
        match ev {
            Event::Start(t) => in_seipd = t == tag::SEIPD,
            Event::Body(b) if in_seipd => {
                let at = b.as_ptr() as usize - msg.as_ptr() as usize;
                offsets.extend(at..at + b.len());
            }
            _ => {}
        }
    }
    offsets
}

/// Sequoia's own parser reads what the hand-written SEIPD writer produces: the packet
/// structure, the literal packet's fields, the data, and a valid MDC.
#[test]
#[allow(deprecated)] // `Packet::MDC`: sequoia still parses SEIPD v1's MDC packet.
fn sequoia_reads_what_we_write() {
    use sequoia_openpgp::crypto::Password;
    use sequoia_openpgp::packet::Packet;
    use sequoia_openpgp::packet::Tag;
    use sequoia_openpgp::parse::{PacketParser, PacketParserResult, Parse};
    use sequoia_openpgp::types::DataFormat;
    let big = data(300_000, 17);
    for (len, step) in [
        (0, 1),
        (1, 1),
        (511, 1),
        (512, 100),
        (513, 513),
        (65535, 4096),
        (65536, 65536),
        (65537, 1 << 20),
        (300_000, 999),
    ] {
        let plain = &big[..len];
        let ct = encrypt(&vec![], &vec![p("passphrase", PW)], plain, step);
        let mut ppr = PacketParser::from_bytes(&ct).unwrap();
        let mut key = None;
        let mut tags = Vec::new();
        let mut body = None;
        let mut mdc_valid = None;
        while let PacketParserResult::Some(mut pp) = ppr {
            tags.push(pp.packet.tag());
            match &pp.packet {
                Packet::SKESK(s) => key = Some(s.decrypt(&Password::from(PW)).unwrap()),
                Packet::SEIP(_) => {
                    let (algo, k) = key.take().unwrap();
                    pp.decrypt(algo, &k).unwrap();
                }
                Packet::Literal(l) => {
                    assert_eq!(l.format(), DataFormat::Binary);
                    assert_eq!(l.filename(), None);
                    assert_eq!(l.date(), None);
                    body = Some(pp.buffer_unread_content().unwrap().to_vec());
                }
                Packet::MDC(m) => mdc_valid = Some(m.valid()),
                _ => {}
            }
            ppr = pp.recurse().unwrap().1;
        }
        assert_eq!(
            tags,
            vec![Tag::SKESK, Tag::SEIP, Tag::Literal, Tag::MDC],
            "len {len}"
        );
        assert!(body.unwrap() == plain, "len {len} step {step}");
        assert_eq!(mdc_valid, Some(true), "len {len}");
    }
}

/// Encryption streams: each push returns about what it was given (at most 511 bytes wait
/// in each of the two packet framings), so memory stays bounded.
#[test]
fn encryption_streams() {
    let plain = data(3_000_000, 13);
    for step in [1, 100, 4096, 65537, 1 << 20] {
        let mut s = Stream::open(Direction::Forward, &[], &[p("passphrase", PW)]).unwrap();
        let (mut fed, mut got) = (0usize, 0usize);
        for piece in plain.chunks(step).take(20_000) {
            let out = s.push(piece).unwrap();
            fed += piece.len();
            got += out.len();
            // The first push carries the SKESK (under 100 bytes).
            assert!(out.len() <= piece.len() + 2 * 512 + 128, "step {step}");
            assert!(
                got + 2 * 512 + 64 >= fed,
                "step {step}: {got} out for {fed} in"
            );
        }
        let tail = s.finish().unwrap();
        assert!(tail.len() < 2 * 512 + 64, "step {step}: {}", tail.len());
    }
}

/// A flipped byte anywhere in the encrypted data is found by the MDC when the message
/// ends, and never passes.
#[test]
fn tampering_one_byte_fails_at_finish() {
    let s = vec![p("passphrase", PW)];
    let plain = data(1_000_000, 19);
    let ct = encrypt(&vec![], &s, &plain, 1 << 20);
    let body = seipd_body_offsets(&ct);
    let n = body.len();
    // The data region, the MDC's digest, and the MDC's header (22 and 21 from the end).
    for (i, at) in [n / 4, n / 2, 3 * n / 4, n - 1, n - 10, n - 22, n - 21]
        .into_iter()
        .enumerate()
    {
        let mut bad = ct.clone();
        bad[body[at]] ^= 0x01 << (i % 8);
        let mut d = Stream::open(Direction::Inverse, &[], &s).unwrap();
        // Everything before the packet's end passes; the check comes with the end (the
        // push that carries it, or `finish`).
        let (most, last) = bad.split_at(bad.len() - 1);
        for piece in most.chunks(65536) {
            d.push(piece).unwrap();
        }
        match d.push(last).and_then(|_| d.finish()) {
            Err(Error::CorruptInput(m)) => {
                assert!(m.contains("modification detection code"), "{at}: {m}")
            }
            other => panic!("flip at body byte {at}: {:?}", other.map(|v| v.len())),
        }
    }
}
