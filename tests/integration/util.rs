//! Test helpers: an isolated environment per test, the built binary, sample data.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Compiled components are shared by every test to compile each plugin once.
pub fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("twgate-test-cache")
}

/// A private store, config and data home for one test.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    /// `TWGATE_STORE`: the local `store` directory unless the test chose a remote store.
    pub store_url: String,
    /// Extra environment for twgate (a remote store's endpoint and credentials).
    pub vars: Vec<(String, String)>,
    /// Appended to every config file `config` writes, so a test's own config keeps it: the
    /// declaration of the plugin a `plugin://` store needs. Empty otherwise.
    pub config_tail: String,
    /// The WebDAV server a `plugin://webdav` store is on, stopped with the environment.
    pub webdav: Option<crate::webdav::WebdavServer>,
}

/// Cloud settings a developer's shell may hold; a test never inherits them.
const CLOUD_VARS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "STORAGE_EMULATOR_HOST",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCOUNT",
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_ENDPOINT",
];

impl TestEnv {
    pub fn new() -> TestEnv {
        let dir = tempfile::Builder::new()
            .prefix("twgate-test-")
            .tempdir()
            .unwrap();
        let store_url = dir.path().join("store").to_string_lossy().into_owned();
        TestEnv {
            dir,
            store_url,
            vars: Vec::new(),
            config_tail: String::new(),
            webdav: None,
        }
    }

    /// Writes `text` as this environment's config file (`TWGATE_CONFIG`), followed by
    /// `config_tail`.
    pub fn config(&mut self, text: &str) {
        let path = self.path("twgate.toml");
        let mut text = text.to_string();
        if !self.config_tail.is_empty() {
            text.push('\n');
            text.push_str(&self.config_tail);
        }
        std::fs::write(&path, text).unwrap();
        self.vars
            .push(("TWGATE_CONFIG".into(), path.to_string_lossy().into_owned()));
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn store(&self) -> PathBuf {
        self.path("store")
    }

    /// `twgate` with this environment's store, config and cache; no inherited config.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_twgate"));
        cmd.env("TWGATE_STORE", &self.store_url)
            .env("XDG_DATA_HOME", self.path("data"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_CACHE_HOME", cache_dir().parent().unwrap())
            .env("HOME", self.dir.path())
            .env_remove("TWGATE_CONFIG");
        for var in CLOUD_VARS {
            cmd.env_remove(var);
        }
        for (key, value) in &self.vars {
            cmd.env(key, value);
        }
        cmd
    }

    /// Runs twgate with `args`, feeding `stdin`.
    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        run_with(self.cmd().args(args), stdin)
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str], stdin: &[u8]) -> Vec<u8> {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "twgate {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Runs and asserts failure; returns stderr.
    pub fn fails(&self, args: &[&str], stdin: &[u8]) -> String {
        let out = self.run(args, stdin);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            !out.status.success(),
            "twgate {args:?} should have failed; stderr: {stderr}"
        );
        stderr
    }

    /// Pushes `data` and returns the new backup id.
    pub fn push(&self, name: &str, data: &[u8], extra: &[&str]) -> String {
        let mut args = vec!["push", name];
        args.extend_from_slice(extra);
        String::from_utf8(self.ok(&args, data))
            .unwrap()
            .trim()
            .to_string()
    }

    /// The ids `twgate list --json` shows, of one name or of all.
    pub fn backup_ids(&self, name: Option<&str>) -> Vec<String> {
        let mut args = vec!["list", "--json"];
        args.extend(name);
        let list: serde_json::Value = serde_json::from_slice(&self.ok(&args, b"")).unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    }

    /// The files in the store directory of `name`.
    pub fn stored_files(&self, name: &str) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(self.store().join(name)) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
        files.sort();
        files
    }

    pub fn data_file(&self, name: &str, id: &str) -> PathBuf {
        self.store().join(name).join(format!("{id}.data"))
    }
}

pub fn run_with(cmd: &mut Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// Deterministic bytes that do not compress (xorshift).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Deterministic bytes that compress somewhat, like a dump: text runs and noise.
pub fn sample(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x.is_multiple_of(3) {
            out.extend_from_slice(
                format!("row {} severity {} status open;", x % 100_000, x % 5).as_bytes(),
            );
        } else {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    out.truncate(len);
    out
}

pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// The SHA-256 of a file's contents, in hex (what a plugin's `sha256` pin holds).
pub fn file_sha256(path: &Path) -> String {
    sha256(&std::fs::read(path).unwrap())
}

/// A free loopback port (free when this returns; servers bind it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The BLAKE3 digest new manifests record, in hex.
pub fn blake3(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

/// Runs a stock tool, asserting it exists and succeeds; returns stdout.
pub fn tool(program: &str, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let out = run_with(Command::new(program).args(args), stdin);
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Asserts an error message is one line and names what it should.
pub fn assert_one_line_error(stderr: &str, needle: &str) {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("twgate: error"))
        .collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {stderr}");
    assert!(
        lines[0].contains(needle),
        "error should mention '{needle}': {stderr}"
    );
}

/// Builds a guest component from a cargo workspace in this repository (`manifest`, e.g.
/// `tests/plugins/Cargo.toml`) for wasm32-wasip2, as a plugin author would, and returns the
/// path of `artifact` (the `.wasm` file name). Builds go to their own target directory.
pub fn build_guest(manifest: &str, package: Option<&str>, artifact: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("guests");
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-wasip2",
        ])
        .arg("--manifest-path")
        .arg(root.join(manifest))
        .arg("--target-dir")
        .arg(&target)
        .env_remove("RUSTFLAGS");
    if let Some(package) = package {
        cargo.args(["-p", package]);
    }
    let status = cargo.status().expect("cargo runs");
    assert!(
        status.success(),
        "building {manifest} for wasm32-wasip2 failed"
    );
    target.join("wasm32-wasip2/release").join(artifact)
}

/// The hostile test plugin (`tests/plugins/hostile`), built once per test run.
pub fn hostile_wasm() -> &'static Path {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| build_guest("tests/plugins/Cargo.toml", None, "twgate_test_hostile.wasm"))
}

/// The lying destination plugin (`tests/plugins/liar`), built once per test run.
pub fn liar_wasm() -> &'static Path {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        build_guest(
            "tests/plugins/Cargo.toml",
            Some("twgate-test-liar"),
            "twgate_test_liar.wasm",
        )
    })
}
