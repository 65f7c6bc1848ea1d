//! The WebDAV example destination plugin (`plugins/examples/webdav`, built from source
//! here) and a real WebDAV server for it: `rclone serve webdav` over a temporary directory
//! on loopback. Shared by the destination tests and the `plugin://webdav` store backend.

use crate::util::{build_guest, file_sha256, free_port};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const DAV_USER: &str = "twgate";
pub const DAV_PASSWORD: &str = "dav-secret-do-not-print";
/// The variable the plugin's `password` secret is read from.
pub const PASSWORD_VAR: &str = "TWGATE_TEST_DAV_PASSWORD";
/// The collection the plugin is configured to keep objects in (its parameter `url`).
const COLLECTION: &str = "backups";

/// The WebDAV plugin, built once per test run.
pub fn webdav_wasm() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        build_guest(
            "plugins/Cargo.toml",
            Some("twgate-plugin-webdav"),
            "twgate_plugin_webdav.wasm",
        )
    })
}

/// `rclone serve webdav` over a temporary directory, with basic auth, stopped on drop.
/// It caches no directory listing, so what a test changes in the directory behind its back
/// (a deleted or rewritten object) is what the server answers at once: with rclone's
/// default cache (5 minutes) a GET of a deleted file answers 200 with a truncated body.
pub struct WebdavServer {
    child: Child,
    pub port: u16,
    pub root: tempfile::TempDir,
}

impl WebdavServer {
    pub fn start() -> WebdavServer {
        let root = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new("rclone")
            .args(["serve", "webdav"])
            .arg(root.path())
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .args(["--user", DAV_USER, "--pass", DAV_PASSWORD])
            .args(["--dir-cache-time", "0s"])
            .env_remove("AWS_CA_BUNDLE")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rclone is required: ./run test installs it");
        let server = WebdavServer { child, port, root };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "rclone serve webdav did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// Every file the server holds, relative to its root, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut dirs = vec![self.root.path().to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    let rel = path.strip_prefix(self.root.path()).unwrap();
                    out.push(rel.to_string_lossy().into_owned());
                }
            }
        }
        out.sort();
        out
    }

    /// The directory holding the objects of the store `plugin://webdav/<prefix>`.
    pub fn store_dir(&self, prefix: &str) -> PathBuf {
        self.root.path().join(COLLECTION).join(prefix)
    }

    /// This server's address as an entry of an `http` grant.
    pub fn grant(&self) -> String {
        format!("\"127.0.0.1:{}\"", self.port)
    }

    /// The config declaring the plugin `webdav` on this server, granted `http` (as given);
    /// its password is read from [`PASSWORD_VAR`].
    pub fn plugin_config(&self, http: &str) -> String {
        let wasm = webdav_wasm();
        format!(
            "[plugins.webdav]\npath = \"{}\"\nsha256 = \"{}\"\n\
             params = {{ url = \"http://127.0.0.1:{port}/{COLLECTION}\", user = \"{DAV_USER}\" }}\n\
             secrets = {{ password = \"env:{PASSWORD_VAR}\" }}\n\
             [plugins.webdav.grants]\nhttp = [{http}]\n",
            wasm.display(),
            file_sha256(wasm),
            port = self.port,
        )
    }
}

impl Drop for WebdavServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
