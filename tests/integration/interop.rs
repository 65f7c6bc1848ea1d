//! Interoperability with the stock tools, both ways: what twgate stores (`pull --raw`)
//! decodes with `zstd -d`, `age -d` and `gpg --decrypt`; what `zstd`, `age -r` and `gpg`
//! write decodes with the plugins.

use crate::plugins::{p, run_stage, runtime};
use crate::util::{noise, run_with, sample, tool, TestEnv};
use std::path::{Path, PathBuf};
use std::process::Command;
use twgate::runtime::Direction;

const PASSPHRASE_VAR: &str = "TWGATE_TEST_PASSPHRASE";
const PASSPHRASE: &str = "interop passphrase 7f3a";

/// `push db --encrypt ENCRYPT --passphrase-env VAR` with the test passphrase; asserts success.
fn push_with_passphrase(env: &TestEnv, encrypt: &str, data: &[u8]) -> std::process::Output {
    let out = run_with(
        env.cmd().env(PASSPHRASE_VAR, PASSPHRASE).args([
            "push",
            "db",
            "--encrypt",
            encrypt,
            "--passphrase-env",
            PASSPHRASE_VAR,
        ]),
        data,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn zstd_cli_output_decodes_with_the_plugin() {
    let data = sample(2_000_000, 20);
    let rt = runtime();
    for args in [&["-3", "-c"][..], &["-19", "-c", "--no-check"][..]] {
        let compressed = tool("zstd", args, &data);
        let decoded = run_stage(
            &rt,
            "zstd",
            Direction::Inverse,
            &vec![],
            &vec![],
            &compressed,
            65536,
        )
        .unwrap();
        assert!(decoded == data, "zstd {args:?}");
    }
    // Concatenated frames are one stream.
    let mut two = tool("zstd", &["-c"], &data[..1000]);
    two.extend(tool("zstd", &["-c"], &data[1000..]));
    assert!(
        run_stage(
            &rt,
            "zstd",
            Direction::Inverse,
            &vec![],
            &vec![],
            &two,
            4096
        )
        .unwrap()
            == data
    );
}

/// Text over a 64-letter alphabet from deterministic noise, like base64: almost all
/// literals, so zstd codes it with four Huffman streams, which the plugin decodes in its
/// fast loop (plugins/vendor/README.md).
fn base64_like(len: usize, seed: u64) -> Vec<u8> {
    const LETTERS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    noise(len, seed)
        .into_iter()
        .map(|b| LETTERS[(b >> 2) as usize])
        .collect()
}

fn zstd_plugin_decode(
    rt: &twgate::runtime::Runtime,
    compressed: &[u8],
    piece: usize,
) -> Result<Vec<u8>, twgate::runtime::StageError> {
    run_stage(
        rt,
        "zstd",
        Direction::Inverse,
        &vec![],
        &vec![],
        compressed,
        piece,
    )
}

/// The plugin's zstd runs with 64-bit bit containers on wasm32, a patch of ours
/// (plugins/vendor/README.md): it must decode what stock zstd writes at every setting
/// that changes how bits are read (fast, default and high levels, Huffman-heavy text, and
/// offsets of more than 25 bits from a 64 MiB window), and stock zstd must decode what it
/// writes.
#[test]
fn zstd_wide_bit_containers_agree_with_stock_zstd() {
    let rt = runtime();
    let text = base64_like(3_000_000, 11);
    let rows = sample(3_000_000, 12);
    for data in [&text, &rows] {
        for args in [
            &["--fast=5", "-c"][..],
            &["-1", "-c"],
            &["-3", "-c"],
            &["-12", "-c"],
            &["-19", "-c"],
        ] {
            let compressed = tool("zstd", args, data);
            let decoded = zstd_plugin_decode(&rt, &compressed, 65536).unwrap();
            assert!(&decoded == data, "zstd {args:?} of {} bytes", data.len());
        }
        let ours = run_stage(
            &rt,
            "zstd",
            Direction::Forward,
            &vec![],
            &vec![],
            data,
            65536,
        )
        .unwrap();
        assert!(
            &tool("zstd", &["-d", "-c"], &ours) == data,
            "stock zstd -d of the plugin's frame"
        );
    }
    // A repeat 35 MiB back: offsets of 26 bits, beyond what a 32-bit container reads at once.
    let mut far = text[..1 << 20].to_vec();
    far.extend(noise(34 << 20, 0x9e37_79b9));
    far.extend_from_slice(&text[..1 << 20]);
    let compressed = tool("zstd", &["--long=26", "-3", "-c"], &far);
    assert!(
        compressed.len() < far.len() - (900 << 10),
        "zstd --long=26 should have found the far repeat"
    );
    assert!(
        zstd_plugin_decode(&rt, &compressed, 1 << 20).unwrap() == far,
        "zstd --long=26"
    );
}

/// Native zstd 1.5.7 (64-bit) compressing `data` as the plugin does: streamed, with a
/// checksum; `unsplit` turns off the pre-splitter, as the plugin's patched C does at
/// levels 4 and below.
fn native_zstd(data: &[u8], level: i32, unsplit: bool) -> Vec<u8> {
    use zstd::zstd_safe::zstd_sys::*;
    // SAFETY: plain use of zstd's C API on buffers that outlive each call.
    unsafe {
        let cctx = ZSTD_createCCtx();
        let set =
            |param, value| assert_eq!(ZSTD_isError(ZSTD_CCtx_setParameter(cctx, param, value)), 0);
        set(ZSTD_cParameter::ZSTD_c_compressionLevel, level);
        set(ZSTD_cParameter::ZSTD_c_checksumFlag, 1);
        if unsplit {
            // ZSTD_c_blockSplitterLevel: 1 is "no splitting".
            set(ZSTD_cParameter::ZSTD_c_experimentalParam20, 1);
        }
        let mut out = vec![0u8; ZSTD_compressBound(data.len()) + 1024];
        let mut output = ZSTD_outBuffer {
            dst: out.as_mut_ptr().cast(),
            size: out.len(),
            pos: 0,
        };
        let mut input = ZSTD_inBuffer {
            src: data.as_ptr().cast(),
            size: data.len(),
            pos: 0,
        };
        // Input first, the end apart: as a stream, whose frame header has no content size.
        while input.pos < input.size {
            let r = ZSTD_compressStream2(
                cctx,
                &mut output,
                &mut input,
                ZSTD_EndDirective::ZSTD_e_continue,
            );
            assert_eq!(ZSTD_isError(r), 0);
        }
        let mut empty = ZSTD_inBuffer {
            src: data.as_ptr().cast(),
            size: 0,
            pos: 0,
        };
        loop {
            let left =
                ZSTD_compressStream2(cctx, &mut output, &mut empty, ZSTD_EndDirective::ZSTD_e_end);
            assert_eq!(ZSTD_isError(left), 0);
            if left == 0 {
                break;
            }
        }
        ZSTD_freeCCtx(cctx);
        out.truncate(output.pos);
        out
    }
}

/// The patches change how zstd holds bits on wasm32, not what it writes: the plugin's
/// frames equal native zstd's (the same C version, 64-bit) byte for byte, at fast,
/// default and high levels (the pre-splitter off at the first two, as in the plugin).
#[test]
fn zstd_plugin_frames_equal_native_zstd() {
    assert!(
        zstd::zstd_safe::version_string() == "1.5.7",
        "the native zstd must be the plugin's version (1.5.7), not {}",
        zstd::zstd_safe::version_string()
    );
    let rt = runtime();
    let text = base64_like(2_000_000, 17);
    let rows = sample(2_000_000, 18);
    // Text and rows in turns of 40 KB: blocks whose statistics change inside them, which
    // zstd 1.5.7's pre-splitter splits.
    let turns: Vec<u8> = text
        .chunks(40_000)
        .zip(rows.chunks(40_000))
        .flat_map(|(t, r)| t.iter().chain(r))
        .copied()
        .collect();
    assert!(
        native_zstd(&turns, 3, false) != native_zstd(&turns, 3, true),
        "the turns must exercise the pre-splitter, or this test shows nothing about it"
    );
    for data in [&text, &rows, &turns] {
        for level in [1, 3, 19] {
            let native = native_zstd(data, level, level <= 4);
            let ours = run_stage(
                &rt,
                "zstd",
                Direction::Forward,
                &vec![p("level", level.to_string().as_bytes())],
                &vec![],
                data,
                65536,
            )
            .unwrap();
            assert!(
                ours == native,
                "level {level}: the plugin's frame differs from native zstd's"
            );
        }
    }
}

/// Damaged frames fail as corrupt input, never as a trap (an out-of-bounds access in the
/// sandbox) or a wrong stream: one byte flipped at a time, all through a Huffman-heavy
/// frame and through sequence-heavy ones.
#[test]
fn zstd_damaged_frames_fail_as_corrupt_input() {
    use twgate::runtime::StageError;
    let rt = runtime();
    let text = base64_like(1_000_000, 13);
    let rows = sample(1_000_000, 14);
    // (input, zstd arguments, whether the frame has a checksum)
    let cases: [(&[u8], &[&str], bool); 3] = [
        (&text, &["-3", "-c"], true),
        (&rows, &["-19", "-c", "--no-check"], false),
        (&rows, &["--fast=3", "-c", "--no-check"], false),
    ];
    for (data, args, checked) in cases {
        let compressed = tool("zstd", args, data);
        let step = compressed.len() / 150;
        for at in (0..compressed.len())
            .step_by(step)
            .chain([compressed.len() - 1])
        {
            let mut bad = compressed.clone();
            bad[at] ^= 0x5a;
            match zstd_plugin_decode(&rt, &bad, 65536) {
                Err(StageError::CorruptInput { .. }) => {}
                // Without a checksum a flip can decode to other bytes, which the host's
                // BLAKE3 of the whole stream catches; what matters here is no trap.
                Ok(_) if !checked => {}
                Ok(out) => panic!(
                    "zstd {args:?}, byte {at} flipped: decoded {} bytes without an error",
                    out.len()
                ),
                Err(other) => {
                    panic!("zstd {args:?}, byte {at} flipped: {other} (wanted corrupt input)")
                }
            }
        }
    }
}

/// An age key pair made by the stock `age-keygen`.
fn age_keygen(dir: &Path) -> (PathBuf, String) {
    let key = dir.join("age-key.txt");
    tool("age-keygen", &["-o", key.to_str().unwrap()], b"");
    let public =
        String::from_utf8(tool("age-keygen", &["-y", key.to_str().unwrap()], b"")).unwrap();
    (key, public.trim().to_string())
}

#[test]
fn age_both_ways() {
    let env = TestEnv::new();
    let (key, recipient) = age_keygen(env.dir.path());
    let data = sample(1_500_000, 21);
    env.push("db", &data, &["--encrypt", "age", "-r", &recipient]);
    let raw = env.ok(&["pull", "db", "--raw"], b"");
    let decrypted = tool("age", &["-d", "-i", key.to_str().unwrap()], &raw);
    assert!(
        tool("zstd", &["-d", "-c"], &decrypted) == data,
        "age -d | zstd -d"
    );
    assert_eq!(
        env.ok(&["pull", "db", "-i", key.to_str().unwrap()], b""),
        data
    );

    // The stock CLI's output decodes with the plugin, binary and armored.
    let rt = runtime();
    let identity = std::fs::read(&key).unwrap();
    for armor in [false, true] {
        let mut args = vec!["-r", recipient.as_str()];
        if armor {
            args.push("-a");
        }
        let encrypted = tool("age", &args, &data);
        let decoded = run_stage(
            &rt,
            "age",
            Direction::Inverse,
            &vec![],
            &vec![p("identity", &identity)],
            &encrypted,
            100_000,
        );
        match decoded {
            Ok(decoded) => assert!(decoded == data, "age -r (armor {armor})"),
            Err(e) if armor => panic!("armored age input: {e}"),
            Err(e) => panic!("age -r output: {e}"),
        }
    }
}

#[test]
fn age_recipients_file_and_wrong_identity() {
    let env = TestEnv::new();
    let (key, recipient) = age_keygen(env.dir.path());
    let (other_key, _) = {
        let d = env.path("other");
        std::fs::create_dir_all(&d).unwrap();
        age_keygen(&d)
    };
    let recipients = env.path("recipients.txt");
    std::fs::write(&recipients, format!("# ops team\n{recipient}\n\n")).unwrap();
    env.push(
        "db",
        b"secret rows",
        &["--encrypt", "age", "-r", recipients.to_str().unwrap()],
    );
    let stderr = env.fails(&["pull", "db", "-i", other_key.to_str().unwrap()], b"");
    crate::util::assert_one_line_error(&stderr, "wrong key");
    assert!(
        !stderr.contains("AGE-SECRET-KEY"),
        "no key material in errors"
    );
    let stderr = env.fails(&["pull", "db"], b"");
    crate::util::assert_one_line_error(&stderr, "--identity");
    assert_eq!(
        env.ok(&["pull", "db", "-i", key.to_str().unwrap()], b""),
        b"secret rows"
    );
}

#[test]
fn age_passphrase_mode_never_leaks_the_passphrase() {
    let env = TestEnv::new();
    let data = sample(300_000, 22);
    let out = push_with_passphrase(&env, "age", &data);
    let pulled = run_with(
        env.cmd().env(PASSPHRASE_VAR, PASSPHRASE).args([
            "pull",
            "db",
            "--passphrase-env",
            PASSPHRASE_VAR,
        ]),
        b"",
    );
    assert!(
        pulled.status.success(),
        "{}",
        String::from_utf8_lossy(&pulled.stderr)
    );
    assert!(pulled.stdout == data);
    let wrong = run_with(
        env.cmd().env(PASSPHRASE_VAR, "nope").args([
            "pull",
            "db",
            "--passphrase-env",
            PASSPHRASE_VAR,
        ]),
        b"",
    );
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("wrong key"));
    for file in std::fs::read_dir(env.store().join("db")).unwrap() {
        let bytes = std::fs::read(file.unwrap().path()).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains(PASSPHRASE));
    }
    for out in [&out, &pulled, &wrong] {
        assert!(!String::from_utf8_lossy(&out.stderr).contains(PASSPHRASE));
    }
}

#[test]
fn init_makes_pushes_encrypted_by_default() {
    let env = TestEnv::new();
    let out = env.ok(&["init"], b"");
    let text = String::from_utf8(out).unwrap();
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("recipient: "))
        .unwrap()
        .trim()
        .to_string();
    let identity = env.path("config/twgate/identity.txt");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&identity).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(!text.contains("AGE-SECRET-KEY"), "init prints no secret");
    let pushed = env.run(&["push", "db"], b"rows");
    assert!(!String::from_utf8_lossy(&pushed.stderr).contains("not encrypted"));
    assert_eq!(env.ok(&["pull", "db"], b""), b"rows");
    // The stored bytes are a standard age file for that recipient.
    let raw = env.ok(&["pull", "db", "--raw"], b"");
    assert!(raw.starts_with(b"age-encryption.org/v1"));
    let plain = tool("age", &["-d", "-i", identity.to_str().unwrap()], &raw);
    assert_eq!(tool("zstd", &["-d", "-c"], &plain), b"rows");
    assert!(recipient.starts_with("age1"));
    // The stock tool reads the identity twgate wrote, and derives the same recipient.
    let derived = tool("age-keygen", &["-y", identity.to_str().unwrap()], b"");
    assert_eq!(String::from_utf8(derived).unwrap().trim(), recipient);
    // A second init refuses to replace the config; with --force it does, and keeps (and
    // uses) the identity, byte for byte.
    crate::util::assert_one_line_error(&env.fails(&["init"], b""), "already exists");
    let key_before = std::fs::read(&identity).unwrap();
    let again = String::from_utf8(env.ok(&["init", "--force"], b"")).unwrap();
    assert!(
        again.contains(&format!("recipient: {recipient}")),
        "{again}"
    );
    assert_eq!(std::fs::read(&identity).unwrap(), key_before);
    assert_eq!(env.ok(&["pull", "db"], b""), b"rows");
}

#[test]
fn init_honours_its_settings_and_a_push_only_host_holds_no_identity() {
    let env = TestEnv::new();
    // The restoring host: an identity, and the store it was told.
    let store = env.path("elsewhere");
    let store = store.to_str().unwrap();
    let out = String::from_utf8(env.ok(&["init", "--store", store, "--compress", "zstd:9"], b""))
        .unwrap();
    assert!(out.contains(&format!("store:     {store}")), "{out}");
    let recipient = out
        .lines()
        .find_map(|l| l.strip_prefix("recipient: "))
        .unwrap()
        .to_string();
    let config = std::fs::read_to_string(env.path("config/twgate/config.toml")).unwrap();
    assert!(config.contains(&format!("store = \"{store}\"")), "{config}");
    assert!(config.contains("compress = \"zstd:9\""), "{config}");
    assert!(config.contains("identities"), "{config}");
    // The push-only host: its own config, the recipient only.
    let push_only = env.path("push-only.toml");
    let push_only = push_only.to_str().unwrap();
    let out = String::from_utf8(env.ok(
        &[
            "--config", push_only, "init", "--store", store, "-r", &recipient,
        ],
        b"",
    ))
    .unwrap();
    assert!(out.contains("identity:  none on this host"), "{out}");
    let text = std::fs::read_to_string(push_only).unwrap();
    assert!(
        !text.contains("identities") && !text.contains("AGE-SECRET-KEY"),
        "{text}"
    );
    assert!(text.contains(&recipient), "{text}");
    // From here on, the configs say where the store is (TWGATE_STORE would win).
    let bare = |args: &[&str], stdin: &[u8]| {
        crate::util::run_with(env.cmd().env_remove("TWGATE_STORE").args(args), stdin)
    };
    assert!(bare(&["--config", push_only, "push", "db"], b"rows")
        .status
        .success());
    assert!(
        std::path::Path::new(store).join("db").is_dir(),
        "pushed into --store"
    );
    // It cannot decrypt, but it can check what is stored; the restoring host restores.
    assert!(!bare(&["--config", push_only, "pull", "db"], b"")
        .status
        .success());
    let stored = bare(
        &["--config", push_only, "verify", "db", "--stored-only"],
        b"",
    );
    let stored = String::from_utf8(stored.stdout).unwrap();
    assert!(
        stored.starts_with("ok db@") && stored.contains("not decrypted"),
        "{stored}"
    );
    assert_eq!(bare(&["pull", "db"], b"").stdout, b"rows");
    // Bad settings are refused before anything is written.
    let bad = env.path("bad.toml");
    let bad = bad.to_str().unwrap();
    for (args, says) in [
        (vec!["--store", "s3:/bucket"], "slash missing"),
        (vec!["--compress", "gzip"], "--compress 'gzip'"),
        (vec!["-r", "age1nope"], "not an age public key"),
    ] {
        let mut all = vec!["--config", bad, "init"];
        all.extend(args);
        crate::util::assert_one_line_error(&env.fails(&all, b""), says);
        assert!(!std::path::Path::new(bad).exists());
    }
}

/// A private GnuPG home, its agent stopped on drop.
struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    fn new() -> Gpg {
        let home = tempfile::Builder::new()
            .prefix("twgate-gpg-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(
            home.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        Gpg { home }
    }
    fn cmd(&self) -> Command {
        let mut cmd = Command::new("gpg");
        cmd.env("GNUPGHOME", self.home.path()).args([
            "--batch",
            "--yes",
            "--quiet",
            "--pinentry-mode",
            "loopback",
        ]);
        cmd
    }
    fn run(&self, args: &[&str], stdin: &[u8]) -> Vec<u8> {
        let out = run_with(self.cmd().args(args), stdin);
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
    /// Generates a key; returns (certificate file, secret key file).
    fn keygen(&self, dir: &Path) -> (PathBuf, PathBuf) {
        self.run(
            &[
                "--passphrase",
                "",
                "--quick-gen-key",
                "Backup <backup@example.invalid>",
                "default",
                "default",
                "never",
            ],
            b"",
        );
        let (cert, secret) = (dir.join("cert.asc"), dir.join("secret.asc"));
        std::fs::write(
            &cert,
            self.run(&["--armor", "--export", "backup@example.invalid"], b""),
        )
        .unwrap();
        std::fs::write(
            &secret,
            self.run(
                &[
                    "--passphrase",
                    "",
                    "--armor",
                    "--export-secret-keys",
                    "backup@example.invalid",
                ],
                b"",
            ),
        )
        .unwrap();
        (cert, secret)
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

#[test]
fn openpgp_passphrase_both_ways() {
    let env = TestEnv::new();
    let gpg = Gpg::new();
    let data = sample(1_200_000, 23);
    push_with_passphrase(&env, "openpgp", &data);
    let raw = env.ok(&["pull", "db", "--raw"], b"");
    let pass_file = env.path("pass");
    std::fs::write(&pass_file, PASSPHRASE).unwrap();
    let decrypted = gpg.run(
        &[
            "--passphrase-file",
            pass_file.to_str().unwrap(),
            "--decrypt",
        ],
        &raw,
    );
    assert!(
        tool("zstd", &["-d", "-c"], &decrypted) == data,
        "gpg --decrypt | zstd -d"
    );

    // The runbook's `gpg --symmetric --cipher-algo AES256` (compressed by default) decodes.
    let rt = runtime();
    for extra in [
        &[][..],
        &["--compress-algo", "none"][..],
        &["--compress-algo", "zlib"][..],
    ] {
        let mut args = vec![
            "--passphrase-file",
            pass_file.to_str().unwrap(),
            "--symmetric",
            "--cipher-algo",
            "AES256",
        ];
        args.extend_from_slice(extra);
        let encrypted = gpg.run(&args, &data);
        let decoded = run_stage(
            &rt,
            "openpgp",
            Direction::Inverse,
            &vec![],
            &vec![p("passphrase", PASSPHRASE.as_bytes())],
            &encrypted,
            65536,
        )
        .unwrap_or_else(|e| panic!("gpg {extra:?}: {e}"));
        assert!(decoded == data, "gpg --symmetric {extra:?}");
    }
}

#[test]
fn openpgp_certificate_both_ways() {
    let env = TestEnv::new();
    let gpg = Gpg::new();
    let (cert, secret) = gpg.keygen(env.dir.path());
    let data = sample(800_000, 24);
    env.push(
        "db",
        &data,
        &["--encrypt", "openpgp", "-r", cert.to_str().unwrap()],
    );
    let raw = env.ok(&["pull", "db", "--raw"], b"");
    let decrypted = gpg.run(&["--decrypt"], &raw);
    assert!(
        tool("zstd", &["-d", "-c"], &decrypted) == data,
        "gpg --decrypt | zstd -d"
    );
    assert_eq!(
        env.ok(&["pull", "db", "-i", secret.to_str().unwrap()], b""),
        data
    );

    let encrypted = gpg.run(
        &[
            "--trust-model",
            "always",
            "-e",
            "-r",
            "backup@example.invalid",
        ],
        &data,
    );
    let rt = runtime();
    let decoded = run_stage(
        &rt,
        "openpgp",
        Direction::Inverse,
        &vec![],
        &vec![p("identity", &std::fs::read(&secret).unwrap())],
        &encrypted,
        65536,
    )
    .unwrap();
    assert!(decoded == data, "gpg -e -r");
}

/// With parallel frames on (`TWGATE_ZSTD_THREADS=2`), a push compresses 8 MiB blocks on
/// two instances, one zstd frame each: the stored object is one standard zstd stream of
/// several frames, in order, which stock `zstd -d` reads, and a pull cut at frame
/// boundaries (also on two instances) or on one instance gives the input back.
/// How many frames stock `zstd -l` counts in a stored object.
fn zstd_frames(stored: &Path) -> usize {
    let listing = String::from_utf8(tool("zstd", &["-l", stored.to_str().unwrap()], b"")).unwrap();
    listing
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected `zstd -l` output: {listing}"))
}

/// By default a push cuts zstd's input into frames, one per 8 MiB block, from 2 cores up;
/// but zstd's strongest levels keep 8 MiB of history, and frames would cost them several
/// percent of size, so they write one frame.
#[test]
fn strongest_zstd_levels_write_one_frame() {
    let env = TestEnv::new();
    let data = sample(9 << 20, 32);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for (level, frames) in [("3", if cores >= 2 { 2 } else { 1 }), ("17", 1)] {
        let id = env.push(
            &format!("level{level}"),
            &data,
            &["--compress", &format!("zstd:{level}")],
        );
        let stored = env.data_file(&format!("level{level}"), &id);
        assert_eq!(
            zstd_frames(&stored),
            frames,
            "level {level} on {cores} cores"
        );
        assert!(tool("zstd", &["-d", "-c", stored.to_str().unwrap()], b"") == data);
    }
}

#[test]
fn parallel_zstd_frames_are_one_standard_stream() {
    let env = TestEnv::new();
    let threads = |n: &str| {
        let mut cmd = env.cmd();
        cmd.env("TWGATE_ZSTD_THREADS", n);
        cmd
    };
    // 30 MiB: three full blocks and a partial one.
    let data = sample(30 << 20, 31);
    let out = run_with(threads("2").args(["push", "db"]), &data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let stored = env.data_file("db", &id);
    let decoded = tool("zstd", &["-d", "-c", stored.to_str().unwrap()], b"");
    assert!(
        decoded == data,
        "stock zstd -d must give back the input, in order"
    );
    assert_eq!(zstd_frames(&stored), 4);
    // The stored bytes depend on the input and the level only: frames are cut by content
    // offset, never by timing or by how many instances ran.
    for n in ["2", "3"] {
        let out = run_with(threads(n).args(["push", "again"]), &data);
        assert!(out.status.success());
        let again = String::from_utf8(out.stdout).unwrap().trim().to_string();
        assert!(
            std::fs::read(env.data_file("again", &again)).unwrap()
                == std::fs::read(&stored).unwrap(),
            "a push on {n} instances stored other bytes than the first"
        );
    }
    for n in ["1", "2", "3"] {
        let out = run_with(threads(n).args(["pull", "db"]), b"");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout == data, "pull on {n} instances");
    }

    // An empty input is still a valid (empty) zstd stream, both ways.
    let out = run_with(threads("2").args(["push", "empty", "--allow-empty"]), b"");
    assert!(out.status.success());
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let stored = env.data_file("empty", &id);
    assert!(tool("zstd", &["-d", "-c", stored.to_str().unwrap()], b"").is_empty());
    let out = run_with(threads("2").args(["pull", "empty"]), b"");
    assert!(out.status.success() && out.stdout.is_empty());

    // A stream written on one instance is one frame; pulling it on two still works.
    let out = run_with(threads("1").args(["push", "one"]), &data[..(12 << 20)]);
    assert!(out.status.success());
    let out = run_with(threads("2").args(["pull", "one"]), b"");
    assert!(out.status.success() && out.stdout == data[..(12 << 20)]);
}
