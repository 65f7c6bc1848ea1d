//! Native tests of the age codec: round trips in both modes and many push sizes,
//! truncation, corruption, wrong keys, configuration errors and `describe`.

mod common;

use common::*;
use twgate_plugin_age::codec::Codec;
use twgate_plugin_sdk::Error;

const CHUNK: usize = 65536;
const ENCRYPTED_CHUNK: usize = CHUNK + 16;

/// Sizes and push sizes exercised in both modes.
const CASES: &[(usize, usize)] = &[
    (0, 1),
    (1, 1),
    (CHUNK - 1, 7777),
    (CHUNK, 7777),
    (CHUNK, CHUNK),
    (CHUNK + 1, 300 * 1024),
    (2 * CHUNK, 7777),
    (2 * CHUNK, 300 * 1024),
];

fn recipient_case() -> (Vec<Param>, Vec<Param>) {
    let (identity, recipient) = keypair();
    (
        vec![param("recipient", recipient)],
        vec![param("identity", identity)],
    )
}

#[test]
fn recipients_round_trip_sizes() {
    let (enc, dec) = recipient_case();
    for &(len, piece) in CASES {
        let plain = data(len);
        let cipher = encrypt(&enc, &[], &plain, piece);
        assert!(cipher.starts_with(b"age-encryption.org/v1\n-> X25519 "));
        for dec_piece in [piece, 1, 300 * 1024] {
            if dec_piece == 1 && len > 3 * CHUNK {
                continue;
            }
            let back = decrypt(&dec, &cipher, dec_piece).expect("decrypts");
            assert_eq!(back, plain, "len {len}, push {piece}/{dec_piece}");
        }
    }
}

#[test]
fn recipients_many_chunks_varied_pushes() {
    let (enc, dec) = recipient_case();
    let plain = data(3 * 1024 * 1024 + 12345);
    for piece in [7777, 300 * 1024, 256 * 1024] {
        let cipher = encrypt(&enc, &[], &plain, piece);
        for dec_piece in [7777, 300 * 1024, ENCRYPTED_CHUNK, 1 << 20] {
            assert_eq!(decrypt(&dec, &cipher, dec_piece).unwrap(), plain);
        }
    }
}

#[test]
fn one_byte_pushes_both_ways_on_a_small_stream() {
    let (enc, dec) = recipient_case();
    let plain = data(2 * CHUNK + 999);
    let cipher = encrypt(&enc, &[], &plain, 1);
    assert_eq!(decrypt(&dec, &cipher, 1).unwrap(), plain);
}

/// Output comes out as the input goes in, in bounded pieces: every chunk but the last is
/// returned by `push`, and no push returns much more than it was given.
#[test]
fn decryption_streams_in_bounded_pieces() {
    let (enc, dec) = recipient_case();
    let plain = data(4 * 1024 * 1024);
    let cipher = encrypt(&enc, &[], &plain, 256 * 1024);
    let piece = 256 * 1024;
    let mut codec = Codec::decryptor(&[], &dec).unwrap();
    let mut out = Vec::new();
    for chunk in cipher.chunks(piece) {
        let got = codec.push(chunk).unwrap();
        assert!(
            got.len() <= piece + CHUNK,
            "push returned {} bytes",
            got.len()
        );
        out.extend(got);
    }
    assert!(
        out.len() >= plain.len() - CHUNK,
        "only {} bytes before finish",
        out.len()
    );
    out.extend(codec.finish().unwrap());
    assert_eq!(out, plain);

    // Encryption likewise.
    let mut codec = Codec::encryptor(&enc, &[]).unwrap();
    let mut total = 0;
    for chunk in plain.chunks(piece) {
        let got = codec.push(chunk).unwrap();
        assert!(got.len() <= piece + ENCRYPTED_CHUNK + 1024);
        total += got.len();
    }
    assert!(total >= plain.len() - CHUNK);
}

#[test]
fn passphrase_round_trip_sizes() {
    let secrets = vec![param("passphrase", "correct horse battery staple")];
    for &(len, piece) in &[(0, 1), (1, 1), (CHUNK, 7777), (2 * CHUNK, 300 * 1024)] {
        let plain = data(len);
        let cipher = encrypt(&[], &secrets, &plain, piece);
        assert!(cipher.starts_with(b"age-encryption.org/v1\n-> scrypt "));
        assert!(
            String::from_utf8_lossy(&cipher[..cipher.len().min(200)]).contains(" 18\n"),
            "work factor 18"
        );
        assert_eq!(
            decrypt(&secrets, &cipher, piece).unwrap(),
            plain,
            "len {len}"
        );
    }
}

#[test]
fn passphrase_many_chunks_varied_pushes() {
    let secrets = vec![param("passphrase", "p\u{e4}ss w\u{f6}rd")];
    let plain = data(3 * 1024 * 1024 + 7);
    let cipher = encrypt(&[], &secrets, &plain, 300 * 1024);
    assert_eq!(decrypt(&secrets, &cipher, 7777).unwrap(), plain);
    assert_eq!(decrypt(&secrets, &cipher, 300 * 1024).unwrap(), plain);
    let small = data(CHUNK + 100);
    let cipher = encrypt(&[], &secrets, &small, 1);
    assert_eq!(decrypt(&secrets, &cipher, 1).unwrap(), small);
}

/// Truncations and corruptions of one file, all of which must fail with corrupt-input.
fn damaged_variants(cipher: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let start = payload_start(cipher);
    assert!(
        cipher.len() > start + 2 * ENCRYPTED_CHUNK,
        "needs three chunks"
    );
    let mac = cipher.windows(5).position(|w| w == b"\n--- ").unwrap() + 5;
    let flip = |at: usize, to: u8| {
        let mut c = cipher.to_vec();
        c[at] = if c[at] == to { to ^ 1 } else { to };
        c
    };
    let mut garbage = cipher.to_vec();
    garbage.extend_from_slice(b"x");
    vec![
        ("cut in the magic", cipher[..10].to_vec()),
        ("cut inside the header", cipher[..40].to_vec()),
        ("cut inside the MAC line", cipher[..mac + 10].to_vec()),
        ("cut before the nonce", cipher[..mac + 44].to_vec()),
        ("cut inside the nonce", cipher[..start - 3].to_vec()),
        ("cut after the nonce", cipher[..start].to_vec()),
        (
            "cut at a chunk boundary",
            cipher[..start + ENCRYPTED_CHUNK].to_vec(),
        ),
        (
            "cut at the 2nd chunk boundary",
            cipher[..start + 2 * ENCRYPTED_CHUNK].to_vec(),
        ),
        (
            "cut mid-chunk",
            cipher[..start + ENCRYPTED_CHUNK + 1000].to_vec(),
        ),
        ("cut one byte short", cipher[..cipher.len() - 1].to_vec()),
        ("MAC byte flipped", flip(mac + 3, b'A')),
        ("MAC last byte flipped", flip(mac + 42, b'A')),
        ("payload byte flipped in chunk 1", flip(start + 100, 0)),
        (
            "payload byte flipped in chunk 2",
            flip(start + ENCRYPTED_CHUNK + 5, 0),
        ),
        ("payload last byte flipped", flip(cipher.len() - 1, 0)),
        ("nonce byte flipped", flip(start - 1, 0)),
        ("trailing garbage", garbage),
        ("two chunks swapped", {
            let mut c = cipher.to_vec();
            let (a, b) = (start, start + ENCRYPTED_CHUNK);
            let first = c[a..b].to_vec();
            c.copy_within(b..b + ENCRYPTED_CHUNK, a);
            c[b..b + ENCRYPTED_CHUNK].copy_from_slice(&first);
            c
        }),
    ]
}

#[test]
fn recipients_damaged_input_is_corrupt() {
    let (enc, dec) = recipient_case();
    let cipher = encrypt(&enc, &[], &data(2 * CHUNK + 5000), 7777);
    for (what, damaged) in damaged_variants(&cipher) {
        for piece in [7777, 300 * 1024] {
            assert_corrupt(decrypt(&dec, &damaged, piece), what);
        }
    }
    // The stream is also cut at every header offset, pushed a byte at a time.
    let start = payload_start(&cipher);
    for cut in 0..start {
        assert_corrupt(decrypt(&dec, &cipher[..cut], 1), "cut in header or nonce");
    }
}

#[test]
fn passphrase_damaged_input_is_corrupt() {
    let secrets = vec![param("passphrase", "hunter2hunter2")];
    let cipher = encrypt(&[], &secrets, &data(2 * CHUNK + 5000), 300 * 1024);
    for (what, damaged) in damaged_variants(&cipher) {
        assert_corrupt(decrypt(&secrets, &damaged, 300 * 1024), what);
    }
}

#[test]
fn empty_and_foreign_input_is_corrupt() {
    let (_, dec) = recipient_case();
    assert_corrupt(decrypt(&dec, b"", 1), "empty");
    assert_corrupt(decrypt(&dec, b"   \n", 1), "whitespace");
    assert_corrupt(decrypt(&dec, b"hello world, not age", 3), "text");
    assert_corrupt(decrypt(&dec, &[0x28, 0xb5, 0x2f, 0xfd, 0, 0], 7777), "zstd");
    assert_corrupt(
        decrypt(&dec, b"age-encryption.org/v2\nstuff\n--- x\n", 7777),
        "unknown version",
    );
    assert_corrupt(decrypt(&dec, &[b'a'; 100], 7777), "not age");
    // A header that never ends is refused once it passes the size limit.
    let mut endless = b"age-encryption.org/v1\n-> X25519 abc\n".to_vec();
    endless.extend(std::iter::repeat_n(b'A', 300 * 1024));
    assert_corrupt(decrypt(&dec, &endless, 64 * 1024), "endless header");
}

fn expect_wrong_key(result: Result<Vec<u8>, Error>, what: &str) -> String {
    match result {
        Err(Error::WrongKey(msg)) => msg,
        other => panic!("{what}: expected wrong-key, got {other:?}"),
    }
}

#[test]
fn wrong_identity_and_wrong_passphrase_are_wrong_key() {
    let (enc, _) = recipient_case();
    let (other_identity, _) = keypair();
    let cipher = encrypt(&enc, &[], &data(1000), 7777);
    let msg = expect_wrong_key(
        decrypt(&[param("identity", &other_identity)], &cipher, 7777),
        "wrong identity",
    );
    assert!(!msg.contains("AGE-SECRET-KEY"), "{msg}");
    let msg = expect_wrong_key(
        decrypt(&[param("passphrase", "secret-pass")], &cipher, 7777),
        "passphrase for a recipients file",
    );
    assert!(msg.contains("--identity"), "{msg}");
    assert!(!msg.contains("secret-pass"), "{msg}");

    let secrets = vec![param("passphrase", "right-passphrase")];
    let cipher = encrypt(&[], &secrets, &data(1000), 7777);
    let msg = expect_wrong_key(
        decrypt(&[param("passphrase", "wrong-passphrase")], &cipher, 7777),
        "wrong passphrase",
    );
    assert!(!msg.contains("wrong-passphrase") && !msg.contains("right-passphrase"));
    let msg = expect_wrong_key(
        decrypt(&[param("identity", &other_identity)], &cipher, 7777),
        "identity for a passphrase file",
    );
    assert!(msg.contains("--passphrase-env"), "{msg}");
}

#[test]
fn several_recipients_and_identities() {
    let (id1, r1) = keypair();
    let (id2, r2) = keypair();
    let (id3, _) = keypair();
    let file = format!("# team keys\n\n{r1}\n  # another\n{r2}\r\n");
    let params = vec![param("recipients-file", file), param("recipient", &r1)];
    let codec = Codec::encryptor(&params, &[]).unwrap();
    assert_eq!(
        codec.describe(),
        vec![
            ("mode".to_string(), "recipients".to_string()),
            ("recipient".to_string(), r1.clone()),
            ("recipient".to_string(), r2.clone()),
        ]
    );
    let plain = data(CHUNK * 2 + 3);
    let cipher = run(codec, &plain, 7777).unwrap();
    for id in [&id1, &id2] {
        assert_eq!(
            decrypt(&[param("identity", id)], &cipher, 7777).unwrap(),
            plain
        );
    }
    // Several identity files, an OpenPGP key among them, one matching key.
    let pgp = b"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQdGBGV...\n-----END PGP PRIVATE KEY BLOCK-----\n";
    let binary_pgp = vec![0x95u8, 0x03, 0xc6, 0xff, 0x00, 0x80];
    let secrets = vec![
        param("identity", pgp),
        param("identity", binary_pgp),
        param("identity", &id3),
        param("identity", &id2),
    ];
    let mut codec = Codec::decryptor(&[], &secrets).unwrap();
    assert!(codec.describe().is_empty());
    let mut out = codec.push(&cipher).unwrap();
    out.extend(codec.finish().unwrap());
    assert_eq!(out, plain);
    assert_eq!(
        codec.describe(),
        vec![
            ("mode".to_string(), "recipients".to_string()),
            ("recipient".to_string(), r2.clone()),
        ]
    );
}

fn expect_bad_config(result: Result<Codec, Error>) -> String {
    match result {
        Err(Error::BadConfig(msg)) => {
            assert!(!msg.contains('\n'), "one line: {msg}");
            msg
        }
        Err(other) => panic!("expected bad-config, got {other:?}"),
        Ok(_) => panic!("expected bad-config, got a codec"),
    }
}

#[test]
fn configuration_errors() {
    let (identity, recipient) = keypair();
    let pass = param("passphrase", "a-secret-passphrase");

    let msg = expect_bad_config(Codec::encryptor(&[], &[]));
    assert!(
        msg.contains("--recipient R") && msg.contains("--passphrase-env VAR"),
        "{msg}"
    );
    let msg = expect_bad_config(Codec::encryptor(
        &[param("recipient", &recipient)],
        std::slice::from_ref(&pass),
    ));
    assert!(msg.contains("not both"), "{msg}");
    assert!(!msg.contains("a-secret-passphrase"));

    let msg = expect_bad_config(Codec::encryptor(&[param("recipient", "age1notakey")], &[]));
    assert!(
        msg.contains("age1notakey"),
        "names the bad recipient: {msg}"
    );
    let file = format!("{recipient}\n\nssh-ed25519 AAAAC3Nza foo@bar\n");
    let msg = expect_bad_config(Codec::encryptor(&[param("recipients-file", file)], &[]));
    assert!(
        msg.contains("line 3") && msg.contains("ssh-ed25519"),
        "{msg}"
    );
    // A secret key given as a recipient is never echoed.
    let secret_line = identity.lines().last().unwrap().to_string();
    let msg = expect_bad_config(Codec::encryptor(&[param("recipient", &secret_line)], &[]));
    assert!(!msg.contains(&secret_line[20..]), "{msg}");
    let msg = expect_bad_config(Codec::encryptor(
        &[param("recipients-file", &identity)],
        &[],
    ));
    assert!(!msg.contains(&secret_line[20..]), "{msg}");

    expect_bad_config(Codec::encryptor(
        &[param("level", "3")],
        std::slice::from_ref(&pass),
    ));
    expect_bad_config(Codec::encryptor(&[], &[pass.clone(), pass.clone()]));
    expect_bad_config(Codec::encryptor(&[], &[param("passphrase", "")]));
    expect_bad_config(Codec::encryptor(
        &[],
        &[param("passphrase", [0xffu8, 0xfe])],
    ));
    expect_bad_config(Codec::encryptor(&[], &[pass.clone(), param("token", "x")]));
    // Identities handed to an encryptor are ignored.
    let codec = Codec::encryptor(
        &[param("recipient", &recipient)],
        &[param("identity", &identity)],
    );
    assert!(codec.is_ok());

    let msg = expect_bad_config(Codec::decryptor(&[], &[]));
    assert_eq!(
        msg,
        "age needs --identity FILE or --passphrase-env VAR to decrypt"
    );
    let msg = expect_bad_config(Codec::decryptor(
        &[],
        &[param(
            "identity",
            b"-----BEGIN PGP PRIVATE KEY BLOCK-----\n",
        )],
    ));
    assert_eq!(
        msg,
        "age needs --identity FILE or --passphrase-env VAR to decrypt"
    );
    expect_bad_config(Codec::decryptor(
        &[param("level", "3")],
        std::slice::from_ref(&pass),
    ));
    expect_bad_config(Codec::decryptor(&[], &[pass.clone(), param("key", "x")]));
    // A broken age identity file is reported by line number, never by content.
    let broken = format!("{identity}AGE-SECRET-KEY-1QQQQ\n");
    let msg = expect_bad_config(Codec::decryptor(&[], &[param("identity", &broken)]));
    assert!(msg.contains("line 4") && !msg.contains("QQQQ"), "{msg}");
    // What a manifest recorded may come back as parameters on restore.
    let back = vec![param("mode", "recipients"), param("recipient", &recipient)];
    assert!(Codec::decryptor(&back, &[param("identity", &identity)]).is_ok());
}

#[test]
fn describe_passphrase_mode() {
    let secrets = vec![param("passphrase", "describe-me")];
    let codec = Codec::encryptor(&[], &secrets).unwrap();
    let passphrase_mode = vec![("mode".to_string(), "passphrase".to_string())];
    assert_eq!(codec.describe(), passphrase_mode);
    let cipher = run(codec, b"hello", 7777).unwrap();
    let mut codec = Codec::decryptor(&[], &secrets).unwrap();
    let mut out = codec.push(&cipher).unwrap();
    out.extend(codec.finish().unwrap());
    assert_eq!(out, b"hello");
    assert_eq!(codec.describe(), passphrase_mode);
    assert!(!format!("{:?}", codec.describe()).contains("describe-me"));
}

#[test]
fn armored_input_decrypts() {
    let (enc, dec) = recipient_case();
    for len in [0, 1, CHUNK, 2 * CHUNK + 17, 1024 * 1024] {
        let plain = data(len);
        let cipher = encrypt(&enc, &[], &plain, 7777);
        for crlf in [false, true] {
            let armored = armor(&cipher, crlf);
            for piece in [7777, 300 * 1024] {
                assert_eq!(decrypt(&dec, &armored, piece).unwrap(), plain, "len {len}");
            }
            if len <= CHUNK {
                assert_eq!(decrypt(&dec, &armored, 1).unwrap(), plain);
            }
        }
        // The END line may lack its newline; leading whitespace and trailing blank
        // lines are tolerated.
        let mut armored = armor(&cipher, false);
        armored.pop();
        assert_eq!(decrypt(&dec, &armored, 7777).unwrap(), plain);
        let mut spaced = b"\n  ".to_vec();
        spaced.extend(armor(&cipher, false));
        spaced.extend(b"\n\n");
        assert_eq!(decrypt(&dec, &spaced, 7777).unwrap(), plain);
    }
}

#[test]
fn damaged_armor_is_corrupt() {
    let (enc, dec) = recipient_case();
    let cipher = encrypt(&enc, &[], &data(2 * CHUNK + 5000), 7777);
    let armored = armor(&cipher, false);
    let end = armored.len() - b"-----END AGE ENCRYPTED FILE-----\n".len();
    assert_corrupt(decrypt(&dec, &armored[..end], 7777), "no END line");
    assert_corrupt(decrypt(&dec, &armored[..armored.len() / 2], 7777), "half");
    assert_corrupt(decrypt(&dec, &armored[..20], 7777), "cut in BEGIN");
    let mut garbage = armored.clone();
    garbage.extend(b"more\n");
    assert_corrupt(decrypt(&dec, &garbage, 7777), "data after END");
    let mut rewrapped = armored.clone();
    let first_nl = rewrapped.iter().position(|&b| b == b'\n').unwrap();
    rewrapped.remove(first_nl + 65); // joins two body lines
    assert_corrupt(decrypt(&dec, &rewrapped, 7777), "not wrapped at 64");
    let mut flipped = armored.clone();
    flipped[first_nl + 1 + 65 * 2000 + 5] ^= 0x01; // still base64, different bytes
    assert_corrupt(decrypt(&dec, &flipped, 7777), "payload flipped in armor");
    let mut bad_char = armored.clone();
    bad_char[first_nl + 10] = b'*';
    assert_corrupt(decrypt(&dec, &bad_char, 7777), "not base64");
    let last_line = armored[..end - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap()
        + 1;
    for cut in [first_nl + 1 + 65 * 100, last_line, end - 2] {
        let mut truncated = armored[..cut].to_vec();
        truncated.extend(b"\n-----END AGE ENCRYPTED FILE-----\n");
        assert_corrupt(decrypt(&dec, &truncated, 7777), "truncated body, END kept");
    }
}

#[test]
fn failed_stage_stays_failed() {
    let (_, dec) = recipient_case();
    let mut codec = Codec::decryptor(&[], &dec).unwrap();
    assert!(codec.push(b"nope").is_err());
    assert!(codec.push(b"age-encryption.org/v1\n").is_err());
    assert!(codec.finish().is_err());
}
