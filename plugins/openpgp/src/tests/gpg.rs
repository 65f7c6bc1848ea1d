//! Interoperability with gpg 2.2, both ways, each test in its own `GNUPGHOME`.
//! Skipped (with a note) when `gpg` is not installed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use twgate_plugin_sdk::Error;

const PW: &str = "gpg interop passphrase";

/// A throwaway `GNUPGHOME`; its agent is stopped and the directory removed on drop.
struct Home(PathBuf);

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Home {
    fn new() -> Option<Home> {
        // The stock tool is required: a missing gpg fails the test, never skips it.
        assert!(
            Command::new("gpg").arg("--version").output().is_ok(),
            "gpg is required for the interop tests (`./run test` installs it)"
        );
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("twgate-opgp-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        Some(Home(dir))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// gpg in this home, batch and quiet, with loopback pinentry (for passphrases).
    fn command(&self) -> Command {
        let mut cmd = Command::new("gpg");
        cmd.env("GNUPGHOME", &self.0).args([
            "--batch",
            "--no-tty",
            "--quiet",
            "--pinentry-mode",
            "loopback",
        ]);
        cmd
    }

    /// Runs gpg in this home with `args`; panics with its stderr if it fails.
    fn gpg(&self, args: &[&str]) -> Output {
        let out = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "gpg {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Generates a key without passphrase; returns (public armored, secret binary).
    fn generate_key(&self) -> (Vec<u8>, Vec<u8>) {
        self.gpg(&[
            "--passphrase",
            "",
            "--quick-gen-key",
            "T <t@example.invalid>",
            "default",
            "default",
            "never",
        ]);
        let public = self
            .gpg(&["--armor", "--export", "t@example.invalid"])
            .stdout;
        let secret = self
            .gpg(&["--export-secret-keys", "t@example.invalid"])
            .stdout;
        assert!(!public.is_empty() && !secret.is_empty());
        (public, secret)
    }

    fn list_packets(&self, file: &Path) -> String {
        let out = self.gpg(&[
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            PW,
            "--list-packets",
            file.to_str().unwrap(),
        ]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", &self.0)
            .args(["--kill", "gpg-agent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn gpg_decrypts_our_passphrase_messages() {
    let Some(home) = Home::new() else { return };
    let pwfile = home.write("pw", PW.as_bytes());
    for (i, len) in [0usize, 1, 65536, 3_000_000].into_iter().enumerate() {
        let plain = data(len, 21 + i as u64);
        let ct = encrypt(&vec![], &vec![p("passphrase", PW)], &plain, 300 * 1024);
        let input = home.write("msg.pgp", &ct);
        let output = home.path(&format!("out{i}"));
        // --passphrase-fd 0 reads the first line of stdin.
        let mut child = home
            .command()
            .args(["--passphrase-fd", "0", "--decrypt", "-o", path_str(&output)])
            .arg(&input)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{PW}\n").as_bytes())
            .unwrap();
        let done = child.wait_with_output().unwrap();
        assert!(
            done.status.success(),
            "{}",
            String::from_utf8_lossy(&done.stderr)
        );
        assert!(std::fs::read(&output).unwrap() == plain, "length {len}");
        if len == 1 {
            let listing = home.list_packets(&input);
            assert!(
                listing.contains("symkey enc packet: version 4, cipher 9"),
                "{listing}"
            );
            assert!(listing.contains("mdc_method: 2"), "{listing}");
            assert!(listing.contains("literal data packet"), "{listing}");
            assert!(listing.contains("mode b"), "{listing}");
            assert!(!listing.contains("compressed packet"), "{listing}");
        }
    }
    // The --passphrase-file form, for a message to a passphrase and a certificate.
    let (_, public, _) = new_cert(None);
    let plain = data(100_000, 4);
    let ct = encrypt(
        &vec![p("cert", public)],
        &vec![p("passphrase", PW)],
        &plain,
        7777,
    );
    let input = home.write("both.pgp", &ct);
    let output = home.path("both.out");
    home.gpg(&[
        "--pinentry-mode",
        "loopback",
        "--passphrase-file",
        path_str(&pwfile),
        "--decrypt",
        "-o",
        path_str(&output),
        path_str(&input),
    ]);
    assert!(std::fs::read(&output).unwrap() == plain);
}

/// gpg reads our SEIPD v1 writer at every framing boundary (the 512-byte minimum first
/// partial chunk, powers of two, the final ordinary length) and a multi-MiB message,
/// pushed a byte or a few hundred bytes at a time and in big pieces.
#[test]
fn gpg_decrypts_our_messages_at_every_size_and_push_size() {
    let Some(home) = Home::new() else { return };
    let pwfile = home.write("pw", PW.as_bytes());
    let sizes = [0usize, 1, 511, 512, 513, 65535, 65536, 65537, (5 << 20) + 3];
    for (i, len) in sizes.into_iter().enumerate() {
        let plain = data(len, 61 + i as u64);
        for step in [1, 333, 4 << 20] {
            if step == 1 && len > 70_000 {
                continue;
            }
            let ct = encrypt(&vec![], &vec![p("passphrase", PW)], &plain, step);
            let input = home.write("msg.pgp", &ct);
            let output = home.path("msg.out");
            let _ = std::fs::remove_file(&output);
            home.gpg(&[
                "--pinentry-mode",
                "loopback",
                "--passphrase-file",
                path_str(&pwfile),
                "-d",
                "-o",
                path_str(&output),
                path_str(&input),
            ]);
            assert!(
                std::fs::read(&output).unwrap() == plain,
                "length {len} step {step}"
            );
            // And our own decryptor, pushed in other pieces.
            let back = decrypt(&vec![p("passphrase", PW)], &ct, 4097).unwrap();
            assert!(back == plain, "length {len} step {step}");
        }
    }
    // The structure gpg sees for a message long enough for partial lengths.
    let ct = encrypt(&vec![], &vec![p("passphrase", PW)], &data(100_000, 3), 5000);
    let listing = home.list_packets(&home.write("msg.pgp", &ct));
    assert!(
        listing.contains("symkey enc packet: version 4, cipher 9"),
        "{listing}"
    );
    assert!(
        listing.contains("encrypted data packet:\n\tlength: unknown\n\tmdc_method: 2"),
        "{listing}"
    );
    assert!(
        listing.contains("literal data packet:\n\tmode b (62), created 0, name=\"\",\n\traw data: unknown length"),
        "{listing}"
    );
    assert!(!listing.contains("compressed packet"), "{listing}");
}

/// gpg refuses our message truncated or with a flipped byte, as we do.
#[test]
fn gpg_refuses_our_damaged_messages() {
    let Some(home) = Home::new() else { return };
    let pwfile = home.write("pw", PW.as_bytes());
    let plain = data(200_000, 71);
    let ct = encrypt(&vec![], &vec![p("passphrase", PW)], &plain, 65536);
    let mut flipped = ct.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x10;
    for (what, bad) in [
        ("truncated", &ct[..ct.len() - 10]),
        ("flipped", &flipped[..]),
    ] {
        let input = home.write("bad.pgp", bad);
        let out = home
            .command()
            .args([
                "--passphrase-file",
                path_str(&pwfile),
                "-d",
                "-o",
                "/dev/null",
            ])
            .arg(&input)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "gpg accepted the {what} message");
        assert!(
            decrypt(&vec![p("passphrase", PW)], bad, 4096).is_err(),
            "{what}"
        );
    }
}

#[test]
fn gpg_decrypts_our_cert_messages() {
    let Some(home) = Home::new() else { return };
    let (public, _) = home.generate_key();
    for (i, len) in [0usize, 1, 65536, 3_000_000].into_iter().enumerate() {
        let plain = data(len, 31 + i as u64);
        let ct = encrypt(&vec![p("cert", &public)], &vec![], &plain, 7777);
        let input = home.write("msg.pgp", &ct);
        let output = home.path(&format!("out{i}"));
        home.gpg(&["--decrypt", "-o", path_str(&output), path_str(&input)]);
        assert!(std::fs::read(&output).unwrap() == plain, "length {len}");
    }
}

/// gpg --symmetric output, AES-128 and AES-256 (both on the host's CFB), with its default
/// (ZIP), no and ZLIB compression; also CAST5, which takes the software fallback.
#[test]
fn we_decrypt_gpg_symmetric_messages() {
    let Some(home) = Home::new() else { return };
    let plain = data(3_000_000, 41);
    let file = home.write("plain", &plain);
    let pwfile = home.write("pw", PW.as_bytes());
    let cases = [
        ("AES256", None),
        ("AES256", Some("none")),
        ("AES256", Some("zlib")),
        ("AES256", Some("zip")),
        ("AES128", None),
        ("AES128", Some("none")),
        ("CAST5", Some("none")),
    ];
    for (cipher, compress) in cases {
        let output = home.path("sym.gpg");
        let _ = std::fs::remove_file(&output);
        let mut args = vec![
            "--pinentry-mode",
            "loopback",
            "--passphrase-file",
            path_str(&pwfile),
        ];
        args.extend(["--symmetric", "--cipher-algo", cipher]);
        if let Some(c) = compress {
            args.extend(["--compress-algo", c]);
        }
        args.extend(["-o", path_str(&output), path_str(&file)]);
        home.gpg(&args);
        let ct = std::fs::read(&output).unwrap();
        for step in [1 << 20, 7777] {
            let back = decrypt(&vec![p("passphrase", PW)], &ct, step).unwrap();
            assert!(back == plain, "{cipher} compress {compress:?} step {step}");
        }
        let r = decrypt(&vec![p("passphrase", "wrong")], &ct, 65536);
        assert!(matches!(r, Err(Error::WrongKey(_))), "{r:?}");
        let r = decrypt(&vec![p("passphrase", PW)], &ct[..ct.len() - 100], 65536);
        assert!(matches!(r, Err(Error::CorruptInput(_))), "{r:?}");
        // One flipped byte in the middle: every push passes, `finish` fails on the MDC
        // (or, compressed, possibly earlier, on the garbled deflate stream).
        let mut bad = ct.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x04;
        let mut d = Stream::open(Direction::Inverse, &[], &[p("passphrase", PW)]).unwrap();
        let mut r = Ok(Vec::new());
        for piece in bad.chunks(65536) {
            r = d.push(piece);
            if r.is_err() {
                break;
            }
        }
        if r.is_ok() {
            r = d.finish();
        }
        match r {
            Err(Error::CorruptInput(m)) => assert!(
                compress != Some("none") || m.contains("modification detection code"),
                "{cipher} {compress:?}: {m}"
            ),
            other => panic!("{cipher} {compress:?}: {:?}", other.map(|v| v.len())),
        }
    }
    // From a pipe gpg writes 8 KiB partial body chunks, which the decryptor gathers into
    // bigger batches for the host; pushed in pieces that split chunks and headers.
    let output = home.path("pipe.gpg");
    let mut child = home
        .command()
        .args(["--passphrase-file", path_str(&pwfile), "--symmetric"])
        .args(["--cipher-algo", "AES256", "--compress-algo", "none", "-o"])
        .arg(&output)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&plain).unwrap();
    }
    let done = child.wait_with_output().unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let ct = std::fs::read(&output).unwrap();
    // The SKESK is 15 bytes; then the SEIPD's header and its first (partial) length.
    assert_eq!(
        (ct[15], ct[16] & 0xe0),
        (0xd2, 0xe0),
        "gpg wrote partial body lengths from a pipe"
    );
    for step in [1 << 20, 100_000, 8193, 1000] {
        let back = decrypt(&vec![p("passphrase", PW)], &ct, step).unwrap();
        assert!(back == plain, "piped, step {step}");
    }

    // A small message pushed a byte at a time.
    let small = home.write("small", b"a small secret\n");
    let output = home.path("small.gpg");
    home.gpg(&[
        "--pinentry-mode",
        "loopback",
        "--passphrase-file",
        path_str(&pwfile),
        "--symmetric",
        "--cipher-algo",
        "AES256",
        "-o",
        path_str(&output),
        path_str(&small),
    ]);
    let ct = std::fs::read(&output).unwrap();
    assert_eq!(
        decrypt(&vec![p("passphrase", PW)], &ct, 1).unwrap(),
        b"a small secret\n"
    );
    // Armored output is not what twgate stores: refused clearly, not misread.
    let r = decrypt(
        &vec![p("passphrase", PW)],
        b"-----BEGIN PGP MESSAGE-----\n",
        100,
    );
    assert!(matches!(r, Err(Error::CorruptInput(_))));
}

#[test]
fn bzip2_is_refused_clearly() {
    let Some(home) = Home::new() else { return };
    let file = home.write("plain", &data(100_000, 5));
    let output = home.path("bz.gpg");
    home.gpg(&[
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        PW,
        "--symmetric",
        "--cipher-algo",
        "AES256",
        "--compress-algo",
        "bzip2",
        "-o",
        path_str(&output),
        path_str(&file),
    ]);
    let ct = std::fs::read(&output).unwrap();
    match decrypt(&vec![p("passphrase", PW)], &ct, 65536) {
        Err(Error::CorruptInput(m)) => assert!(m.contains("BZip2"), "{m}"),
        other => panic!("{:?}", other.map(|v| v.len())),
    }
}

/// gpg -e -r output decrypts with the exported secret key (binary and armored).
#[test]
fn we_decrypt_gpg_public_key_messages() {
    let Some(home) = Home::new() else { return };
    let (_, secret) = home.generate_key();
    let armored_secret = home
        .gpg(&["--armor", "--export-secret-keys", "t@example.invalid"])
        .stdout;
    let plain = data(3_000_000, 51);
    let file = home.write("plain", &plain);
    // (compression, also sign): signatures are skipped, not verified.
    for (compress, sign) in [(None, false), (Some("none"), false), (None, true)] {
        let output = home.path("pk.gpg");
        let _ = std::fs::remove_file(&output);
        let mut args = vec!["--trust-model", "always", "-e", "-r", "t@example.invalid"];
        if sign {
            args.push("--sign");
        }
        if let Some(c) = compress {
            args.extend(["--compress-algo", c]);
        }
        args.extend(["-o", path_str(&output), path_str(&file)]);
        home.gpg(&args);
        let ct = std::fs::read(&output).unwrap();
        for (id, step) in [(&secret, 300 * 1024), (&armored_secret, 7777)] {
            let back = decrypt(&vec![p("identity", id)], &ct, step).unwrap();
            assert!(back == plain, "compress {compress:?} step {step}");
        }
        let (_, _, other) = new_cert(None);
        let r = decrypt(&vec![p("identity", other)], &ct, 65536);
        assert!(matches!(r, Err(Error::WrongKey(_))), "{r:?}");
    }
}

/// gpg --symmetric with each S2K digest the host hashes (SHA-1, SHA-256, SHA-512) and
/// one it does not (SHA-224, sequoia's fallback), iterated+salted at gpg's calibrated
/// count and at a given one, and salted / simple: the key derived on the host opens them.
#[test]
fn we_decrypt_gpg_messages_with_every_s2k_digest() {
    let Some(home) = Home::new() else { return };
    let plain = data(100_000, 43);
    let file = home.write("plain", &plain);
    let pwfile = home.write("pw", PW.as_bytes());
    for digest in ["SHA1", "SHA256", "SHA512", "SHA224"] {
        for mode in [
            None,
            Some(("3", Some("1000000"))),
            Some(("1", None)),
            Some(("0", None)),
        ] {
            let output = home.path("s2k.gpg");
            let _ = std::fs::remove_file(&output);
            let mut args = vec![
                "--pinentry-mode",
                "loopback",
                "--passphrase-file",
                path_str(&pwfile),
                "--symmetric",
                "--cipher-algo",
                "AES256",
                "--compress-algo",
                "none",
                "--s2k-digest-algo",
                digest,
            ];
            if let Some((m, count)) = mode {
                args.extend(["--s2k-mode", m]);
                if let Some(c) = count {
                    args.extend(["--s2k-count", c]);
                }
            }
            args.extend(["-o", path_str(&output), path_str(&file)]);
            home.gpg(&args);
            let ct = std::fs::read(&output).unwrap();
            let packets = home.list_packets(&output);
            assert!(
                packets.contains(&format!(
                    "hash {}",
                    match digest {
                        "SHA1" => 2,
                        "SHA256" => 8,
                        "SHA512" => 10,
                        _ => 11,
                    }
                )),
                "{digest} {mode:?}: {packets}"
            );
            let back = decrypt(&vec![p("passphrase", PW)], &ct, 7777).unwrap();
            assert!(back == plain, "{digest} {mode:?}");
            let r = decrypt(&vec![p("passphrase", "wrong")], &ct, 65536);
            assert!(
                matches!(r, Err(Error::WrongKey(_))),
                "{digest} {mode:?}: {r:?}"
            );
        }
    }
}
