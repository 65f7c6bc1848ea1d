//! The network and the process failing mid-upload: connections reset or stalled by a
//! proxy between twgate and the S3 server, and twgate killed with SIGKILL. A push either
//! succeeds with a correct backup or fails clearly, leaving no manifest and no unfinished
//! multipart upload; what a killed push leaves, `prune --orphans` removes.

use crate::backends::{pending_s3_uploads, raw_paths, Backend};
use crate::fault_proxy::{Fault, FaultProxy};
use crate::util::{assert_one_line_error, sample, sha256, TestEnv};
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;

/// An S3 test environment whose requests pass through a fault proxy.
fn s3_through(fault: Fault, config: &str) -> (TestEnv, FaultProxy) {
    let mut env = Backend::S3.env();
    let proxy = FaultProxy::start(&Backend::s3_host_port(), fault);
    env.vars.retain(|(k, _)| k != "AWS_ENDPOINT_URL");
    env.vars.push(("AWS_ENDPOINT_URL".into(), proxy.url()));
    env.config(config);
    (env, proxy)
}

/// The same store, reached directly.
fn direct(env: &TestEnv) -> TestEnv {
    let mut direct = Backend::S3.env();
    direct.store_url = env.store_url.clone();
    direct
}

#[test]
fn connections_reset_mid_upload_are_retried() {
    let (env, proxy) = s3_through(
        Fault::Reset {
            connections: &[0, 2, 3],
            after: 2 * MIB,
        },
        "[transfer]\npart_size_mib = 5\nconcurrency = 2\n",
    );
    let data = sample(24 << 20, 21);
    let id = env.push("db", &data, &["--compress", "none"]);
    assert!(proxy.broken() >= 1, "the proxy never broke a connection");
    let direct = direct(&env);
    assert_eq!(
        sha256(&direct.ok(&["pull", &format!("db@{id}")], b"")),
        sha256(&data)
    );
    assert_eq!(pending_s3_uploads(&direct), Vec::<String>::new());
}

#[test]
fn a_stalled_connection_times_out_and_is_retried() {
    let (env, proxy) = s3_through(
        Fault::Stall {
            connections: &[0, 1],
            after: 2 * MIB,
        },
        "[transfer]\npart_size_mib = 5\nconcurrency = 2\ntimeout_secs = 3\n",
    );
    let data = sample(16 << 20, 22);
    let id = env.push("db", &data, &["--compress", "none"]);
    assert!(proxy.broken() >= 1, "the proxy never stalled a connection");
    let direct = direct(&env);
    assert_eq!(
        sha256(&direct.ok(&["pull", &format!("db@{id}")], b"")),
        sha256(&data)
    );
}

#[test]
fn an_upload_that_keeps_failing_is_aborted_and_nothing_is_committed() {
    // Every request larger than 1 MiB dies; small ones (start, abort) get through.
    let (env, proxy) = s3_through(
        Fault::ResetAll { after: MIB },
        "[transfer]\npart_size_mib = 5\nconcurrency = 2\nretries = 2\n",
    );
    let err = env.fails(&["push", "db", "--compress", "none"], &sample(16 << 20, 23));
    assert!(proxy.broken() >= 1);
    assert_one_line_error(&err, "nothing was stored");
    let direct = direct(&env);
    assert_eq!(direct.backup_ids(None).len(), 0);
    let leftovers: Vec<String> = raw_paths(&direct)
        .into_iter()
        .filter(|p| p.starts_with("db/"))
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
    assert_eq!(pending_s3_uploads(&direct), Vec::<String>::new());
}

/// Starts a push whose producer writes `mib` MiB and then stalls, waits until `started`
/// says the upload is under way, and kills twgate with SIGKILL.
fn kill_push_midway(env: &TestEnv, mib: u64, started: impl Fn() -> bool) {
    let producer = format!("head -c {} /dev/urandom; sleep 3", mib * MIB);
    let mut child = env
        .cmd()
        .args([
            "push",
            "db",
            "--compress",
            "none",
            "--",
            "sh",
            "-c",
            &producer,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !started() {
        assert!(
            Instant::now() < deadline,
            "the push never started uploading"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    assert!(!child.wait().unwrap().success());
}

fn prune(env: &TestEnv, args: &[&str]) -> String {
    let mut all = vec!["prune", "--orphans"];
    all.extend_from_slice(args);
    String::from_utf8(env.ok(&all, b"")).unwrap()
}

#[test]
fn sigkill_mid_s3_upload_leaves_nothing_visible_and_prune_aborts_the_upload() {
    let mut env = Backend::S3.env();
    env.config("[transfer]\npart_size_mib = 5\n");
    let earlier = sample(100_000, 24);
    env.push("db", &earlier, &[]);
    kill_push_midway(&env, 20, || !pending_s3_uploads(&env).is_empty());

    assert_eq!(
        env.backup_ids(None).len(),
        1,
        "the killed push must not be listed"
    );
    assert_eq!(
        sha256(&env.ok(&["pull", "db@latest"], b"")),
        sha256(&earlier)
    );
    let pending = pending_s3_uploads(&env);
    assert_eq!(pending.len(), 1, "{pending:?}");

    // Within the grace period (default 24 h) nothing is touched: it may be a live push.
    prune(&env, &[]);
    assert_eq!(pending_s3_uploads(&env), pending);
    let dry = prune(&env, &["--grace", "0s", "--dry-run"]);
    assert!(
        dry.contains("would remove") && dry.contains("unfinished multipart upload"),
        "{dry}"
    );
    assert_eq!(pending_s3_uploads(&env), pending);
    let done = prune(&env, &["--grace", "0s"]);
    assert!(done.contains("removed"), "{done}");
    assert_eq!(pending_s3_uploads(&env), Vec::<String>::new());
    assert_eq!(env.backup_ids(None).len(), 1);
}

#[test]
fn sigkill_mid_local_push_then_prune_removes_the_staged_file() {
    let env = TestEnv::new();
    env.push("db", &sample(100_000, 25), &[]);
    let staged = || {
        raw_paths(&env)
            .iter()
            .any(|p| p.starts_with(".twgate-tmp/") && p.contains(".data"))
    };
    kill_push_midway(&env, 20, staged);
    assert_eq!(env.backup_ids(None).len(), 1);
    assert!(staged(), "expected the killed push's staging file");
    let done = prune(&env, &["--grace", "0s"]);
    assert!(done.contains("staging file"), "{done}");
    assert!(!staged());
    assert_eq!(env.backup_ids(None).len(), 1);
    // Nothing else is an orphan now.
    let again = env.ok(&["prune", "--orphans", "--grace", "0s"], b"");
    assert!(again.is_empty(), "{}", String::from_utf8_lossy(&again));
    let _ = std::io::stderr().flush();
}
