//! Interoperability with the stock `age` command line tool, both ways.
//!
//! Skipped (with a note) where `age` and `age-keygen` are not installed.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use twgate_plugin_age::codec::Codec;

const CHUNK: usize = 65536;
const SIZES: &[usize] = &[
    0,
    1,
    CHUNK - 1,
    CHUNK,
    CHUNK + 1,
    2 * CHUNK,
    3 * 1024 * 1024 + 5,
];

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "twgate-age-test-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The stock tools are required: a missing tool fails the test, never skips it.
fn have_cli() -> bool {
    let found = Command::new("age").arg("--version").output().is_ok()
        && Command::new("age-keygen").arg("--version").output().is_ok();
    assert!(
        found,
        "the age command line tools are required (`./run test` installs Debian's age)"
    );
    found
}

/// Runs `age args` with `input` on stdin; returns stdout, panicking on failure.
fn age(args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new("age")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("age runs");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "age {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A key made by `age-keygen -o`: (key file path, identity file text, recipient).
fn cli_key(dir: &Path) -> (String, String, String) {
    let path = dir.join("key.txt");
    let status = Command::new("age-keygen")
        .arg("-o")
        .arg(&path)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let out = Command::new("age-keygen")
        .arg("-y")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let recipient = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let text = std::fs::read_to_string(&path).unwrap();
    (path.to_str().unwrap().to_string(), text, recipient)
}

#[test]
fn plugin_output_decrypts_with_age_cli() {
    if !have_cli() {
        return;
    }
    let dir = TempDir::new();
    let (key_file, _, recipient) = cli_key(&dir.0);
    let (_, other) = keypair();
    for &len in SIZES {
        let plain = data(len);
        for params in [
            vec![param("recipient", &recipient)],
            vec![
                param("recipient", &other),
                param("recipients-file", format!("# cli key\n{recipient}\n")),
            ],
        ] {
            let cipher = encrypt(&params, &[], &plain, 7777);
            assert_eq!(age(&["-d", "-i", &key_file], &cipher), plain, "len {len}");
        }
    }
}

#[test]
fn age_cli_output_decrypts_with_plugin() {
    if !have_cli() {
        return;
    }
    let dir = TempDir::new();
    let (_, identity, recipient) = cli_key(&dir.0);
    let secrets = vec![param("identity", &identity)];
    for &len in SIZES {
        let plain = data(len);
        let binary = age(&["-r", &recipient], &plain);
        let armored = age(&["-a", "-r", &recipient], &plain);
        assert!(armored.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----\n"));
        for piece in [7777, 300 * 1024] {
            assert_eq!(
                decrypt(&secrets, &binary, piece).unwrap(),
                plain,
                "len {len}"
            );
            assert_eq!(
                decrypt(&secrets, &armored, piece).unwrap(),
                plain,
                "armored, len {len}"
            );
        }
        if len <= 2 * CHUNK {
            assert_eq!(decrypt(&secrets, &binary, 1).unwrap(), plain);
            assert_eq!(decrypt(&secrets, &armored, 1).unwrap(), plain);
        }
    }
    // Truncated CLI output fails too.
    let binary = age(&["-r", &recipient], &data(3 * CHUNK));
    assert_corrupt(
        decrypt(&secrets, &binary[..binary.len() - 100], 7777),
        "cut CLI file",
    );
    assert_corrupt(
        decrypt(
            &secrets,
            &binary[..payload_start(&binary) + CHUNK + 16],
            7777,
        ),
        "CLI file cut at a chunk boundary",
    );
}

#[test]
fn plugin_and_cli_agree_on_describe() {
    if !have_cli() {
        return;
    }
    let dir = TempDir::new();
    let (_, identity, recipient) = cli_key(&dir.0);
    let cipher = age(&["-r", &recipient], b"describe");
    let mut codec = Codec::decryptor(&[], &[param("identity", &identity)]).unwrap();
    let mut out = codec.push(&cipher).unwrap();
    out.extend(codec.finish().unwrap());
    assert_eq!(out, b"describe");
    assert_eq!(
        codec.describe(),
        vec![
            ("mode".to_string(), "recipients".to_string()),
            ("recipient".to_string(), recipient),
        ]
    );
}
