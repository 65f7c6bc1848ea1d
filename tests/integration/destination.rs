//! Custom destinations: the WebDAV example plugin (`plugins/examples/webdav`, built from
//! source here) against a real WebDAV server (`rclone serve webdav` on loopback), and the
//! outgoing-HTTP allowlist every plugin is held to.

use crate::util::{
    assert_one_line_error, file_sha256, free_port, hostile_wasm, sample, sha256, TestEnv,
};
use crate::webdav::{webdav_wasm, WebdavServer, DAV_PASSWORD, PASSWORD_VAR};
use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A test environment whose store is the WebDAV plugin, granted `http` (as given).
fn dav_env(server: &WebdavServer, http: &str) -> TestEnv {
    let mut env = TestEnv::new();
    env.config(&server.plugin_config(http));
    env.vars.push((PASSWORD_VAR.into(), DAV_PASSWORD.into()));
    env.store_url = "plugin://webdav/team".into();
    env
}

#[test]
fn backups_round_trip_through_the_webdav_plugin() {
    let server = WebdavServer::start();
    let env = dav_env(&server, &server.grant());
    let first = sample(3 << 20, 21);
    let second = sample(700_000, 22);
    let id1 = env.push("db", &first, &[]);
    let id2 = env.push("db", &second, &["--compress", "none"]);
    assert_eq!(env.backup_ids(Some("db")), vec![id1.clone(), id2.clone()]);

    // The objects are where the layout says, as the server sees them, and nothing else.
    assert_eq!(
        server.files(),
        vec![
            format!("backups/team/db/{id1}.data"),
            format!("backups/team/db/{id1}.manifest.json"),
            format!("backups/team/db/{id2}.data"),
            format!("backups/team/db/{id2}.manifest.json"),
        ]
    );
    assert_eq!(
        sha256(&env.ok(&["pull", "db@latest"], b"")),
        sha256(&second)
    );
    assert_eq!(
        sha256(&env.ok(&["pull", &format!("db@{id1}")], b"")),
        sha256(&first)
    );
    env.ok(&["verify", "db"], b"");
    // The manifest describes the object the server holds, byte for byte.
    let stored = std::fs::read(
        server
            .root
            .path()
            .join(format!("backups/team/db/{id2}.data")),
    )
    .unwrap();
    assert_eq!(sha256(&stored), sha256(&second));
}

#[test]
fn a_failed_push_to_the_webdav_plugin_leaves_nothing() {
    let server = WebdavServer::start();
    let env = dav_env(&server, &server.grant());
    let before = env.push("db", &sample(100_000, 23), &[]);
    // The producer writes 2 MiB, then fails: the upload is aborted, no manifest is written.
    let out = env.run(
        &[
            "push",
            "db",
            "--",
            "sh",
            "-c",
            "head -c 2097152 /dev/urandom; exit 3",
        ],
        b"",
    );
    assert!(!out.status.success());
    assert_eq!(env.backup_ids(Some("db")), vec![before.clone()]);
    let files = server.files();
    assert_eq!(files.len(), 2, "only the first backup remains: {files:?}");
    assert!(files.iter().all(|f| f.contains(&before)), "{files:?}");
}

#[test]
fn the_webdav_plugin_without_an_http_grant_is_refused_by_name() {
    let server = WebdavServer::start();
    let env = dav_env(&server, "");
    let out = env.run(&["push", "db"], &sample(1000, 24));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_one_line_error(
        &stderr,
        &format!("HTTP to 127.0.0.1:{} is not granted", server.port),
    );
    assert!(stderr.contains("[plugins.webdav.grants]"), "{stderr}");
    assert!(server.files().is_empty());
}

#[test]
fn a_wrong_webdav_password_is_one_line_and_never_printed() {
    let server = WebdavServer::start();
    let mut env = dav_env(&server, &server.grant());
    env.vars.retain(|(k, _)| k != "TWGATE_TEST_DAV_PASSWORD");
    env.vars.push((
        "TWGATE_TEST_DAV_PASSWORD".into(),
        "wrong-password-xyz".into(),
    ));
    let out = env.run(&["list"], b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_one_line_error(&stderr, "401");
    assert!(!stderr.contains("wrong-password-xyz"), "{stderr}");
    assert!(!stderr.contains(DAV_PASSWORD), "{stderr}");

    // And a secret that is not set is named, not guessed.
    env.vars.retain(|(k, _)| k != "TWGATE_TEST_DAV_PASSWORD");
    let err = env.fails(&["list"], b"");
    assert_one_line_error(&err, "TWGATE_TEST_DAV_PASSWORD is not set");
}

#[test]
fn plugins_and_plugin_inspect_show_kind_capabilities_and_grants() {
    let server = WebdavServer::start();
    let env = dav_env(&server, &server.grant());
    let listing = String::from_utf8(env.ok(&["plugins"], b"")).unwrap();
    let webdav = listing
        .lines()
        .position(|l| l.starts_with("webdav "))
        .unwrap_or_else(|| panic!("{listing}"));
    let lines: Vec<&str> = listing.lines().collect();
    assert!(lines[webdav].contains("destination"), "{listing}");
    assert!(
        lines[webdav + 1].contains(&format!("granted: http 127.0.0.1:{}", server.port)),
        "{listing}"
    );
    let zstd = lines.iter().position(|l| l.starts_with("zstd ")).unwrap();
    assert!(lines[zstd].contains("transform"), "{listing}");
    assert!(lines[zstd + 1].contains("granted nothing"), "{listing}");
    assert!(
        lines[zstd + 2].contains("writes zstd/rfc8878; decodes zstd/rfc8878"),
        "{listing}"
    );
    // A destination stores objects; it has no stream format.
    assert!(
        !lines.get(webdav + 2).is_some_and(|l| l.contains("format")),
        "{listing}"
    );

    let wasm = webdav_wasm().to_str().unwrap();
    let report = String::from_utf8(env.ok(&["plugin", "inspect", wasm], b"")).unwrap();
    assert!(
        report.contains("twgate:plugin/destination-plugin@0.1.0 (destination)"),
        "{report}"
    );
    assert!(report.contains(&file_sha256(webdav_wasm())), "{report}");
    assert!(report.contains("wasi:http/outgoing-handler"), "{report}");
    assert!(report.contains("  http: outgoing HTTP"), "{report}");
    assert!(report.contains("name:     webdav"), "{report}");

    let hostile = hostile_wasm().to_str().unwrap();
    let report = String::from_utf8(env.ok(&["plugin", "inspect", hostile], b"")).unwrap();
    assert!(report.contains("(transform)"), "{report}");

    let err = env.fails(&["plugin", "inspect", "/etc/hostname"], b"");
    assert_one_line_error(&err, "not a WebAssembly component");
}

/// The hostile plugin, granted HTTP to `allowed` only, asked to fetch `url`.
fn hostile_http(allowed: &str, url: &str) -> (TestEnv, String) {
    let mut env = TestEnv::new();
    let wasm = hostile_wasm();
    env.config(&format!(
        "[plugins.hostile]\npath = \"{}\"\nsha256 = \"{}\"\n[plugins.hostile.grants]\nhttp = [\"{allowed}\"]\n",
        wasm.display(),
        file_sha256(wasm),
    ));
    let transform = format!("hostile:mode=http,url={url}");
    let out = env.run(
        &["push", "db", "--transform", &transform],
        &sample(1000, 25),
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "twgate must exit normally: {stderr}"
    );
    assert!(env.backup_ids(None).is_empty());
    (env, stderr)
}

/// Whether anything connected to `listener` (non-blocking).
fn was_contacted(listener: &TcpListener) -> bool {
    listener.set_nonblocking(true).unwrap();
    listener.accept().is_ok()
}

#[test]
fn http_to_a_host_not_on_the_allowlist_never_leaves_the_host() {
    let target = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = target.local_addr().unwrap().port();
    let (_, stderr) = hostile_http(
        &format!("127.0.0.1:{}", free_port()),
        &format!("http://127.0.0.1:{port}/steal"),
    );
    assert_one_line_error(&stderr, &format!("HTTP to 127.0.0.1:{port} is not granted"));
    assert!(stderr.contains("plugin hostile"), "{stderr}");
    assert!(
        !was_contacted(&target),
        "a refused request must open no connection"
    );
}

#[test]
fn an_allowed_name_resolving_to_a_forbidden_address_is_refused() {
    // `localhost` is on the allowlist, but it resolves to a loopback address, which a
    // name may not reach unless private_addresses is granted.
    let target = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = target.local_addr().unwrap().port();
    let (_, stderr) = hostile_http(
        &format!("localhost:{port}"),
        &format!("http://localhost:{port}/"),
    );
    assert_one_line_error(&stderr, "resolves to 127.0.0.1, a loopback address");
    assert!(stderr.contains("private_addresses"), "{stderr}");
    assert!(
        !was_contacted(&target),
        "a refused request must open no connection"
    );
}

#[test]
fn an_allowed_request_goes_through() {
    // The control for the two tests above: the same plugin, allowed, reaches the server.
    let server = WebdavServer::start();
    let mut env = TestEnv::new();
    let wasm = hostile_wasm();
    env.config(&format!(
        "[plugins.hostile]\npath = \"{}\"\nsha256 = \"{}\"\n[plugins.hostile.grants]\nhttp = [\"127.0.0.1:{}\"]\n",
        wasm.display(),
        file_sha256(wasm),
        server.port
    ));
    let data = sample(10_000, 26);
    let transform = format!("hostile:mode=http,url=http://127.0.0.1:{}/", server.port);
    env.push("db", &data, &["--transform", &transform]);
    assert_eq!(sha256(&env.ok(&["pull", "db"], b"")), sha256(&data));
}

#[test]
fn a_push_killed_mid_upload_to_the_webdav_plugin_is_invisible() {
    use std::io::Write;
    let server = WebdavServer::start();
    let env = dav_env(&server, &server.grant());
    let earlier = sample(100_000, 27);
    env.push("db", &earlier, &[]);

    let mut child = env
        .cmd()
        .args(["push", "db", "--compress", "none"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let chunk = sample(1 << 20, 28);
    for _ in 0..8 {
        stdin.write_all(&chunk).unwrap();
    }
    stdin.flush().unwrap();
    // Wait until the server holds part of the new object under its staging name.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.files().iter().any(|f| f.contains(".partial-")) {
        assert!(
            Instant::now() < deadline,
            "the push never started uploading: {:?}",
            server.files()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: no abort, no clean-up
    assert!(!child.wait().unwrap().success());
    drop(stdin);

    // The staging object is left on the server, but no backup shows it.
    assert_eq!(env.backup_ids(Some("db")).len(), 1);
    assert_eq!(env.ok(&["pull", "db@latest"], b""), earlier);
    let visible: Vec<String> = server
        .files()
        .into_iter()
        .filter(|f| !f.contains(".partial-"))
        .collect();
    assert_eq!(visible.len(), 2, "{visible:?}");
}

/// A destination plugin streams too: 512 MiB through the WebDAV plugin, each way, in
/// bounded memory (the plugin gets 1 MiB chunks and streams its PUT and GET bodies).
#[test]
fn half_a_gib_through_the_webdav_plugin_in_bounded_memory() {
    const TOTAL: u64 = 512 << 20;
    const LIMIT_KIB: u64 = 200 * 1024;
    let server = WebdavServer::start();
    let env = dav_env(&server, &server.grant());
    env.ok(&["plugins"], b""); // compile the plugins before measuring
    let (ok, _, push_rss) = crate::memory::run_measured(
        &env,
        &["push", "big", "--quiet", "--compress", "none"],
        TOTAL,
    );
    assert!(ok, "push failed");
    let (ok, pulled, pull_rss) = crate::memory::run_measured(&env, &["pull", "big", "--quiet"], 0);
    assert!(ok, "pull failed");
    assert_eq!(pulled, TOTAL);
    eprintln!(
        "WebDAV plugin peak RSS: push {} MiB, pull {} MiB",
        push_rss / 1024,
        pull_rss / 1024
    );
    assert!(push_rss < LIMIT_KIB, "push peak RSS {push_rss} KiB");
    assert!(pull_rss < LIMIT_KIB, "pull peak RSS {pull_rss} KiB");
}
