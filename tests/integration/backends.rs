//! The stores the behaviour suite runs against: a local directory, the S3, GCS and
//! Azure servers `tests/scripts/servers.sh` starts on loopback (`just test` starts them and
//! exports their settings as `TWGATE_TEST_*`), and a `plugin://` store: the WebDAV example
//! plugin on its own `rclone serve webdav`, which the test environment starts and holds. A
//! missing server fails the test that needs it; nothing is skipped.
//!
//! Tests look at what twgate stored through their own OpenDAL operator, built here from
//! the server settings, independently of twgate's configuration code.

use crate::util::TestEnv;
use crate::webdav::{WebdavServer, DAV_PASSWORD, PASSWORD_VAR};
use std::process::Command;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Fs,
    S3,
    Gcs,
    Azblob,
    /// `plugin://webdav/<prefix>`: the WebDAV example destination plugin.
    Plugin,
}

/// The store URL scheme and plugin name of [`Backend::Plugin`].
const PLUGIN_STORE: &str = "plugin://webdav/";

/// A `TWGATE_TEST_*` setting; panics with what to do when the servers are not running.
pub fn server_var(name: &str) -> String {
    let key = format!("TWGATE_TEST_{name}");
    std::env::var(&key).unwrap_or_else(|_| {
        panic!(
            "{key} is not set: this test needs the storage servers on loopback; run `just test` \
             (it starts them), or `bash tests/scripts/servers.sh start && source target/test-servers/env`"
        )
    })
}

/// A unique prefix, so tests sharing a bucket never see each other's backups.
fn unique_prefix() -> String {
    let mut random = [0u8; 6];
    getrandom::fill(&mut random).unwrap();
    format!("t-{}", hex::encode(random))
}

impl Backend {
    pub fn s3_host_port() -> String {
        server_var("S3_ENDPOINT")
            .trim_start_matches("http://")
            .to_string()
    }

    /// The URL and environment twgate needs for a fresh, empty store on this backend. For
    /// [`Backend::Plugin`], `env` must already declare the plugin (as [`Backend::env`] does).
    pub fn store(self, env: &TestEnv) -> (String, Vec<(String, String)>) {
        let prefix = unique_prefix();
        let vars = |pairs: &[(&str, String)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<Vec<_>>()
        };
        match self {
            Backend::Fs => (env.store().to_string_lossy().into_owned(), Vec::new()),
            Backend::S3 => (
                format!("s3://{}/{prefix}", server_var("S3_BUCKET")),
                vars(&[
                    ("AWS_ENDPOINT_URL", server_var("S3_ENDPOINT")),
                    ("AWS_ACCESS_KEY_ID", server_var("S3_ACCESS_KEY")),
                    ("AWS_SECRET_ACCESS_KEY", server_var("S3_SECRET_KEY")),
                    ("AWS_REGION", "us-east-1".into()),
                ]),
            ),
            Backend::Gcs => (
                format!("gs://{}/{prefix}", server_var("GCS_BUCKET")),
                vars(&[("STORAGE_EMULATOR_HOST", server_var("GCS_ENDPOINT"))]),
            ),
            Backend::Azblob => (
                format!("azblob://{}/{prefix}", server_var("AZBLOB_CONTAINER")),
                vars(&[
                    ("AZURE_STORAGE_ACCOUNT", server_var("AZBLOB_ACCOUNT")),
                    ("AZURE_STORAGE_KEY", server_var("AZBLOB_KEY")),
                    ("AZURE_STORAGE_ENDPOINT", server_var("AZBLOB_ENDPOINT")),
                ]),
            ),
            Backend::Plugin => (
                format!("{PLUGIN_STORE}{prefix}"),
                vars(&[(PASSWORD_VAR, DAV_PASSWORD.into())]),
            ),
        }
    }

    /// A test environment whose store is a fresh prefix on this backend. For
    /// [`Backend::Plugin`] it starts a WebDAV server, held (and stopped) by the environment,
    /// and declares the plugin, granted that server, in every config the test writes.
    pub fn env(self) -> TestEnv {
        let mut env = TestEnv::new();
        if self == Backend::Plugin {
            let server = WebdavServer::start();
            env.config_tail = server.plugin_config(&server.grant());
            env.webdav = Some(server);
            env.config("");
        }
        let (url, vars) = self.store(&env);
        env.store_url = url;
        env.vars.extend(vars);
        env
    }
}

/// A runtime for the tests' own (async) OpenDAL calls.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// The test's own view of `env`'s store: an OpenDAL operator rooted at the same place.
pub fn raw_store(env: &TestEnv) -> opendal::Operator {
    let _ = rustls::crypto::ring::default_provider().install_default();
    opendal_http_transport_reqwest::install_default();
    let url = &env.store_url;
    let var = |k: &str| {
        env.vars
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let split = |rest: &str| {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        (bucket.to_string(), format!("/{prefix}/"))
    };
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, root) = split(rest);
        let builder = opendal::services::S3::default()
            .bucket(&bucket)
            .root(&root)
            .endpoint(&var("AWS_ENDPOINT_URL"))
            .region("us-east-1")
            .access_key_id(&server_var("S3_ACCESS_KEY"))
            .secret_access_key(&server_var("S3_SECRET_KEY"))
            .disable_config_load()
            .disable_ec2_metadata();
        opendal::Operator::new(builder).unwrap()
    } else if let Some(rest) = url.strip_prefix("gs://") {
        let (bucket, root) = split(rest);
        let builder = opendal::services::Gcs::default()
            .bucket(&bucket)
            .root(&root)
            .endpoint(&server_var("GCS_ENDPOINT"))
            .skip_signature()
            .disable_vm_metadata()
            .disable_config_load();
        opendal::Operator::new(builder).unwrap()
    } else if let Some(rest) = url.strip_prefix("azblob://") {
        let (container, root) = split(rest);
        let builder = opendal::services::Azblob::default()
            .container(&container)
            .root(&root)
            .endpoint(&server_var("AZBLOB_ENDPOINT"))
            .account_name(&server_var("AZBLOB_ACCOUNT"))
            .account_key(&server_var("AZBLOB_KEY"));
        opendal::Operator::new(builder).unwrap()
    } else if let Some(prefix) = url.strip_prefix(PLUGIN_STORE) {
        // rclone serves a plain directory: its files are exactly what the server holds.
        let server = env.webdav.as_ref().expect("a plugin:// store's server");
        let root = server.store_dir(prefix);
        let builder = opendal::services::Fs::default().root(root.to_str().unwrap());
        opendal::Operator::new(builder).unwrap()
    } else {
        let builder = opendal::services::Fs::default().root(url);
        opendal::Operator::new(builder).unwrap()
    }
}

/// Every object path under the store (relative to its root), sorted.
pub fn raw_paths(env: &TestEnv) -> Vec<String> {
    let op = raw_store(env);
    let mut paths: Vec<String> = block_on(async { op.list_with("/").recursive(true).await })
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.path().to_string())
        .filter(|p| !p.ends_with('/'))
        .collect();
    paths.sort();
    paths
}

/// Unfinished S3 multipart uploads under the store's prefix, as listed by rclone (an
/// independent client), one `key upload-id` string each.
pub fn pending_s3_uploads(env: &TestEnv) -> Vec<String> {
    let rest = env.store_url.strip_prefix("s3://").unwrap();
    let (bucket, prefix) = rest.split_once('/').unwrap();
    let out = Command::new("rclone")
        .args(["backend", "list-multipart-uploads", &format!("s3:{bucket}")])
        .env_remove("AWS_CA_BUNDLE")
        .env("RCLONE_CONFIG", "/dev/null")
        .env("RCLONE_CONFIG_S3_TYPE", "s3")
        .env("RCLONE_CONFIG_S3_PROVIDER", "Other")
        .env("RCLONE_CONFIG_S3_ENDPOINT", server_var("S3_ENDPOINT"))
        .env(
            "RCLONE_CONFIG_S3_ACCESS_KEY_ID",
            server_var("S3_ACCESS_KEY"),
        )
        .env(
            "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY",
            server_var("S3_SECRET_KEY"),
        )
        .env("RCLONE_CONFIG_S3_REGION", "us-east-1")
        .output()
        .expect("rclone is required: ./run test installs it");
    assert!(
        out.status.success(),
        "rclone list-multipart-uploads failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut pending = Vec::new();
    for uploads in listing.as_object().into_iter().flat_map(|m| m.values()) {
        for upload in uploads.as_array().into_iter().flatten() {
            let key = upload["Key"].as_str().unwrap_or_default();
            if key.starts_with(&format!("{prefix}/")) {
                pending.push(format!("{key} {}", upload["UploadId"]));
            }
        }
    }
    pending
}
