//! One behaviour suite, run against every store: a local directory, S3 (SeaweedFS), GCS
//! (fake-gcs-server), Azure Blob (Azurite) and a `plugin://` store (the WebDAV example
//! plugin on `rclone serve webdav`). Each store must give the same answers.

use crate::backends::{block_on, pending_s3_uploads, raw_paths, raw_store, Backend};
use crate::util::{sample, sha256, TestEnv};

/// Small parts, so a few MiB already exercise multipart uploads and ranged reads.
const SMALL_PARTS: &str = "[transfer]\npart_size_mib = 5\nconcurrency = 3\n";

fn env_for(backend: Backend) -> TestEnv {
    let mut env = backend.env();
    env.config(SMALL_PARTS);
    env
}

/// push, list, pull by id and @latest, verify: on several parts with concurrent uploads.
pub fn round_trip(backend: Backend) {
    let env = env_for(backend);
    // 13 MiB that barely compresses: three parts of 5 MiB.
    let first = sample(13 << 20, 1);
    let second = sample(300_000, 2);
    let id1 = env.push("db", &first, &["--compress", "none"]);
    let id2 = env.push("db", &second, &[]);
    assert_eq!(env.backup_ids(Some("db")), vec![id1.clone(), id2.clone()]);
    assert_eq!(
        sha256(&env.ok(&["pull", &format!("db@{id1}")], b"")),
        sha256(&first)
    );
    assert_eq!(
        sha256(&env.ok(&["pull", "db@latest"], b"")),
        sha256(&second)
    );
    assert_eq!(sha256(&env.ok(&["pull", "db"], b"")), sha256(&second));
    let out = env.path("restored");
    env.ok(
        &["pull", &format!("db@{id1}"), "-o", out.to_str().unwrap()],
        b"",
    );
    assert_eq!(sha256(&std::fs::read(&out).unwrap()), sha256(&first));
    let verify: serde_json::Value =
        serde_json::from_slice(&env.ok(&["verify", &format!("db@{id1}"), "--json"], b"")).unwrap();
    assert_eq!(verify["ok"], true, "{verify}");
    // Only the two data objects, their manifests and the verify marker of the one that
    // was verified: no probes, no staging left over.
    let paths = raw_paths(&env);
    let mut expected: Vec<String> = [&id1, &id2]
        .iter()
        .flat_map(|id| [format!("db/{id}.data"), format!("db/{id}.manifest.json")])
        .collect();
    expected.push(format!("db/{id1}.verified.json"));
    expected.sort();
    assert_eq!(
        paths
            .into_iter()
            .filter(|p| !p.starts_with(".twgate-tmp/"))
            .collect::<Vec<_>>(),
        expected
    );
}

/// Unknown names and ids, and a manifest whose data object is gone: clear errors.
pub fn missing(backend: Backend) {
    let env = env_for(backend);
    let id = env.push("db", &sample(100_000, 3), &[]);
    let err = env.fails(&["pull", "nothing"], b"");
    assert!(err.contains("no backup named 'nothing'"), "{err}");
    let err = env.fails(&["pull", "db@19990101"], b"");
    assert!(err.contains("no backup 'db@19990101'"), "{err}");
    block_on(raw_store(&env).delete(&format!("db/{id}.data"))).unwrap();
    let err = env.fails(&["pull", "db"], b"");
    assert!(
        err.contains(&format!("db/{id}.data")) && err.contains("not found"),
        "{err}"
    );
    env.fails(&["verify", "db"], b"");
}

/// A stored object changed after the push: verify and pull refuse it.
pub fn corrupted(backend: Backend) {
    let env = env_for(backend);
    let data = sample(2 << 20, 4);
    let id = env.push("db", &data, &["--compress", "none"]);
    let op = raw_store(&env);
    let path = format!("db/{id}.data");
    let mut stored = block_on(op.read(&path)).unwrap().to_vec();
    let middle = stored.len() / 2;
    stored[middle] ^= 0x40;
    block_on(op.write(&path, stored)).unwrap();
    let err = env.fails(&["verify", "db"], b"");
    assert!(err.contains("sha256") || err.contains("checksum"), "{err}");
    let out = env.path("restored");
    let err = env.fails(&["pull", "db", "-o", out.to_str().unwrap()], b"");
    assert!(err.contains("sha256") || err.contains("checksum"), "{err}");
    assert!(
        !out.exists(),
        "a corrupted pull must not leave the output file"
    );
}

/// A producer that fails halfway: no backup, no data object, no pending upload.
pub fn interrupted(backend: Backend) {
    let env = env_for(backend);
    let err = env.fails(
        &[
            "push",
            "db",
            "--compress",
            "none",
            "--",
            "sh",
            "-c",
            "head -c 12000000 /dev/urandom; exit 3",
        ],
        b"",
    );
    assert!(err.contains("nothing was stored"), "{err}");
    assert!(env.backup_ids(Some("db")).is_empty());
    let leftovers: Vec<String> = raw_paths(&env)
        .into_iter()
        .filter(|p| p.starts_with("db/"))
        .collect();
    // This covers the WebDAV plugin's unfinished uploads too: its staging objects
    // (`.<name>.partial-*`) sit beside their final path, under `db/`.
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
    if backend == Backend::S3 {
        assert_eq!(pending_s3_uploads(&env), Vec::<String>::new());
    }
}

macro_rules! suite {
    ($($module:ident => $backend:expr),*) => {$(
        mod $module {
            use crate::backends::Backend;
            #[test]
            fn round_trip() { super::round_trip($backend) }
            #[test]
            fn missing() { super::missing($backend) }
            #[test]
            fn corrupted() { super::corrupted($backend) }
            #[test]
            fn interrupted() { super::interrupted($backend) }
        }
    )*};
}

suite!(
    fs => Backend::Fs,
    s3 => Backend::S3,
    gcs => Backend::Gcs,
    azblob => Backend::Azblob,
    plugin => Backend::Plugin
);
