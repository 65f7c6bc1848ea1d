//! Memory stays bounded: a 2 GiB stream pushed and pulled with peak RSS under 150 MiB,
//! measured from the child's resource usage (not by time).
//!
//! The child runs under GNU `time`, which reports its child's `ru_maxrss` from `wait4`.
//! Measuring our own child directly would be wrong: Rust spawns with vfork semantics, and
//! at exec the kernel folds the *parent's* high-water RSS (this test process, which holds
//! compiled components) into the child's `ru_maxrss`.

use crate::util::TestEnv;
use std::io::{Read, Write};
use std::process::{Command, Stdio};

const TOTAL: u64 = 2 << 30;
pub const LIMIT_KIB: u64 = 150 * 1024;

/// Runs twgate with `args` under GNU time, feeds it `input` bytes of a generated stream,
/// drains its stdout; returns (exit ok, bytes out, peak RSS in KiB).
pub fn run_measured(env: &TestEnv, args: &[&str], input: u64) -> (bool, u64, u64) {
    let report = env.path(&format!("rss-{}", args[0]));
    let twgate = env.cmd().get_program().to_owned();
    let cmd = env.cmd();
    // Same environment as `env.cmd()`, but the program is GNU time running twgate.
    let mut timed = Command::new("/usr/bin/time");
    timed
        .args(["-f", "%M", "-o"])
        .arg(&report)
        .arg(twgate)
        .args(args);
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => timed.env(key, value),
            None => timed.env_remove(key),
        };
    }
    let mut child = timed
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("GNU time (/usr/bin/time) is required: ./run test installs it");
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let mut block = crate::util::sample(1 << 20, 11);
        let mut sent = 0u64;
        while sent < input {
            block[0..8].copy_from_slice(&sent.to_le_bytes()); // no two blocks alike
            let n = (input - sent).min(block.len() as u64) as usize;
            if stdin.write_all(&block[..n]).is_err() {
                break;
            }
            sent += n as u64;
        }
    });
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut out = 0u64;
    loop {
        let n = stdout.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        out += n as u64;
    }
    feeder.join().unwrap();
    let ok = child.wait().unwrap().success();
    let rss = std::fs::read_to_string(&report).unwrap();
    let rss = rss
        .lines()
        .last()
        .unwrap()
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("GNU time wrote: {rss}"));
    (ok, out, rss)
}

#[test]
fn two_gib_push_and_pull_in_bounded_memory() {
    let env = TestEnv::new();
    // Compiling a component is a one-time cost (cached on disk); measure streaming.
    env.ok(&["plugins"], b"");
    let (ok, _, push_rss) = run_measured(&env, &["push", "big", "--quiet"], TOTAL);
    assert!(ok, "push failed");
    let (ok, pulled, pull_rss) = run_measured(&env, &["pull", "big", "--quiet"], 0);
    assert!(ok, "pull failed");
    assert_eq!(pulled, TOTAL);
    eprintln!(
        "peak RSS: push {} MiB, pull {} MiB",
        push_rss / 1024,
        pull_rss / 1024
    );
    assert!(push_rss < LIMIT_KIB, "push peak RSS {push_rss} KiB");
    assert!(pull_rss < LIMIT_KIB, "pull peak RSS {pull_rss} KiB");
}

/// Issue 3's bound for object stores: 1 GiB through S3 multipart uploads (8 MiB parts, 4
/// in flight) and ranged read-ahead, under 200 MiB.
#[test]
fn one_gib_push_and_pull_through_s3_in_bounded_memory() {
    const S3_TOTAL: u64 = 1 << 30;
    const S3_LIMIT_KIB: u64 = 200 * 1024;
    let env = crate::backends::Backend::S3.env();
    env.ok(&["plugins"], b"");
    let (ok, _, push_rss) = run_measured(
        &env,
        &["push", "big", "--quiet", "--compress", "none"],
        S3_TOTAL,
    );
    assert!(ok, "push failed");
    let (ok, pulled, pull_rss) = run_measured(&env, &["pull", "big", "--quiet"], 0);
    assert!(ok, "pull failed");
    assert_eq!(pulled, S3_TOTAL);
    eprintln!(
        "S3 peak RSS: push {} MiB, pull {} MiB",
        push_rss / 1024,
        pull_rss / 1024
    );
    assert!(push_rss < S3_LIMIT_KIB, "push peak RSS {push_rss} KiB");
    assert!(pull_rss < S3_LIMIT_KIB, "pull peak RSS {pull_rss} KiB");
}
