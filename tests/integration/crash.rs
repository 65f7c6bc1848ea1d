//! A push stopped halfway (SIGKILL, SIGTERM) leaves no backup visible to list, pull or
//! @latest; SIGTERM also cleans up its partial object.

use crate::util::{sample, TestEnv};
use std::io::Write;
use std::process::{Child, ChildStdin, Stdio};
use std::time::{Duration, Instant};

/// Starts `push db`, feeds it `mib` MiB, and returns once its data object is being
/// written, with its stdin still open (the push is mid-stream). Output starts after the
/// first 8 MiB zstd frame, so `mib` must be well above 8.
fn push_midway(env: &TestEnv, mib: usize) -> (Child, ChildStdin) {
    let mut child = env
        .cmd()
        .args(["push", "db"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let chunk = sample(1 << 20, 10);
    for _ in 0..mib {
        stdin.write_all(&chunk).unwrap();
    }
    stdin.flush().unwrap();
    let tmp = env.store().join(".twgate-tmp");
    let writing = || {
        std::fs::read_dir(&tmp)
            .map(|d| {
                d.filter_map(Result::ok)
                    .any(|e| e.file_name().to_string_lossy().contains(".data"))
            })
            .unwrap_or(false)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !writing() {
        assert!(
            Instant::now() < deadline,
            "the push never started writing its object"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    (child, stdin)
}

#[test]
fn sigkill_mid_push_leaves_no_visible_backup() {
    let env = TestEnv::new();
    let earlier = sample(100_000, 9);
    env.push("db", &earlier, &[]);

    let (mut child, stdin) = push_midway(&env, 16);
    child.kill().unwrap(); // SIGKILL
    assert!(!child.wait().unwrap().success());
    drop(stdin);

    let list: serde_json::Value =
        serde_json::from_slice(&env.ok(&["list", "db", "--json"], b"")).unwrap();
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "only the earlier backup exists: {list}"
    );
    assert_eq!(env.ok(&["pull", "db@latest"], b""), earlier);
    // Nothing of the killed push sits where backups live.
    let data_files = env
        .stored_files("db")
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".data"))
        .count();
    assert_eq!(data_files, 1, "{:?}", env.stored_files("db"));
}

#[test]
fn sigterm_mid_push_aborts_and_cleans_up() {
    let env = TestEnv::new();
    let (child, stdin) = push_midway(&env, 16);
    // SAFETY: plain FFI call on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    crate::util::assert_one_line_error(&stderr, "interrupted by SIGTERM");
    assert!(stderr.contains("nothing was stored"), "{stderr}");
    assert!(
        env.stored_files("db").is_empty(),
        "{:?}",
        env.stored_files("db")
    );
    let tmp = env.store().join(".twgate-tmp");
    let leftovers: Vec<_> = std::fs::read_dir(&tmp)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    assert!(
        leftovers.is_empty(),
        "partial objects left behind: {leftovers:?}"
    );
}
