//! A plain pipe never commits an incomplete dump. Real archives from PostgreSQL 15 and 16
//! (archive formats 1.14 and 1.15; 1.12, 1.13 and 17's 1.16 are rewritten from real ones
//! in the check's own tests, as no build of those is packaged for this machine)
//! (`pg_dump -Fc` with its default compression and with `-Z0`, `-Fp`, `-Ft`, and
//! `pg_basebackup --format=tar`), cut at many offsets and piped into `twgate push` from a
//! producer that exits non-zero, are refused, and nothing is committed or listed; complete
//! ones round-trip byte for byte, with what was checked in the manifest.

use crate::postgres::Cluster;
use crate::util::{assert_one_line_error, noise, TestEnv};
use std::process::{Command, Output, Stdio};

/// `twgate push NAME ARGS...` fed by `sh -c PRODUCER` through a plain pipe: twgate cannot
/// see the producer's exit status.
fn push_from_pipe(env: &TestEnv, producer: &str, name: &str, args: &[&str]) -> Output {
    let mut sh = Command::new("sh")
        .args(["-c", producer])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = env
        .cmd()
        .args(["push", name])
        .args(args)
        .stdin(sh.stdout.take().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    sh.wait().unwrap();
    out
}

/// Cut points over a stream of `len` bytes: the very start, the first bytes of a header,
/// every 512-byte boundary near both ends (tar blocks, the end-of-archive marker), the
/// last few bytes, and a spread in between.
fn cut_points(len: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = vec![1, 2, 5, 11, 64, 100, 511, 512, 513, 1024, 1500];
    for k in 1..=6 {
        cuts.push(len.saturating_sub(512 * k));
    }
    cuts.extend([len - 1, len - 2, len - 5, len - 100]);
    cuts.extend((1..16).map(|i| len * i / 16));
    cuts.retain(|&c| c > 0 && c < len);
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// `pg_basebackup` writing the runbook's base backup (one tar) to stdout.
fn base_backup(pg: &Cluster) -> Command {
    let mut cmd = pg.cmd("pg_basebackup");
    cmd.args([
        "--format=tar",
        "--wal-method=fetch",
        "--checkpoint=fast",
        "-D",
        "-",
    ]);
    cmd
}

/// Every archive kind of a small database, as the tests pipe them: (name, bytes, the
/// format the check must report).
fn archives(pg: &Cluster) -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let dump = |args: &[&str]| {
        let out = pg.cmd("pg_dump").args(args).arg("db").output().unwrap();
        assert!(out.status.success(), "pg_dump {args:?}");
        out.stdout
    };
    let out = base_backup(pg).output().unwrap();
    assert!(
        out.status.success(),
        "pg_basebackup: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    vec![
        ("custom", dump(&["-Fc"]), "pg_dump custom archive"),
        ("custom-z0", dump(&["-Fc", "-Z0"]), "pg_dump custom archive"),
        ("plain", dump(&["-Fp"]), "plain SQL dump (pg_dump)"),
        ("tar", dump(&["-Ft"]), "tar archive"),
        ("basebackup", out.stdout, "tar archive"),
    ]
}

#[test]
fn cut_archives_are_refused_and_complete_ones_round_trip() {
    let pg = Cluster::start();
    pg.load_sample("db", 3_000);
    let env = TestEnv::new();
    refuse_cuts(&env, &pg, "1.14.0");

    // --no-check stores what it is given, unchecked, and says so in the manifest.
    let cut = env.path("custom.archive");
    let out = push_from_pipe(
        &env,
        &format!("head -c 5000 {}; exit 3", cut.display()),
        "unchecked",
        &["--no-check"],
    );
    assert!(out.status.success());
    let list: serde_json::Value =
        serde_json::from_slice(&env.ok(&["list", "--json", "unchecked"], b"")).unwrap();
    assert!(list[0].get("check").is_none(), "{list}");
}

/// PostgreSQL 16's pg_dump writes archive format 1.15 (the compression algorithm as a
/// byte where 1.14 had a zlib level): the same archives, cut the same ways.
#[test]
fn postgresql_16_archives_are_checked_as_well() {
    let pg = Cluster::start_pg16();
    pg.load_sample("db", 3_000);
    let env = TestEnv::new();
    refuse_cuts(&env, &pg, "1.15.0");
}

/// Every archive kind of `pg`'s database `db`: complete ones (the custom ones of archive
/// format `version`) pass and round-trip; each cut, from a producer that fails, is refused
/// and leaves nothing listed or stored.
fn refuse_cuts(env: &TestEnv, pg: &Cluster, version: &str) {
    for (kind, bytes, format) in archives(pg) {
        let file = env.path(&format!("{kind}.archive"));
        std::fs::write(&file, &bytes).unwrap();
        let file = file.display();

        // Complete, through a pipe whose producer succeeds: stored and checked.
        let out = push_from_pipe(env, &format!("cat {file}"), kind, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{kind}: {stderr}");
        assert!(
            !stderr.contains("cannot check"),
            "{kind} is checked: {stderr}"
        );
        assert!(env.ok(&["pull", kind], b"") == bytes, "{kind} round trip");
        let list: serde_json::Value =
            serde_json::from_slice(&env.ok(&["list", "--json", kind], b"")).unwrap();
        assert_eq!(list[0]["check"]["format"], format, "{kind}: {list}");
        if format == "pg_dump custom archive" {
            let facts = list[0]["check"]["facts"].to_string();
            assert!(
                facts.contains(&format!("\"archive-version\",\"{version}\"")),
                "{kind}: {facts}"
            );
        }

        // Cut anywhere, from a producer that fails: refused, nothing committed.
        let cut_name = format!("{kind}-cut");
        // A tar's first 108 bytes are a member's name and mode: cut there, it cannot be
        // told from other bytes and passes as an unknown format (with the pipe warning).
        // Tar writers write whole 512-byte blocks, so a real producer never stops there.
        let first = if format == "tar archive" { 108 } else { 0 };
        for cut in cut_points(bytes.len()).into_iter().filter(|&c| c >= first) {
            let producer = format!("head -c {cut} {file}; exit 3");
            let out = push_from_pipe(env, &producer, &cut_name, &[]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success(),
                "{kind} cut at {cut} of {} was committed",
                bytes.len()
            );
            assert_one_line_error(&stderr, "refused");
            assert!(stderr.contains("--no-check"), "{stderr}");
        }
        assert!(env.backup_ids(Some(&cut_name)).is_empty(), "{kind}: listed");
        let left: Vec<_> = env
            .stored_files(&cut_name)
            .into_iter()
            .filter(|f| f.extension().is_some_and(|e| e == "json"))
            .collect();
        assert!(left.is_empty(), "{kind}: manifests left: {left:?}");
    }
}

/// The issue's own line: the server is down, the pipe sends nothing; nothing is
/// committed, and the RPO alarm goes off.
#[test]
fn a_failed_base_backup_pipe_commits_nothing_and_status_alarms() {
    let env = TestEnv::new();
    let out = push_from_pipe(
        &env,
        "pg_basebackup -h 127.0.0.1 -p 1 --format=tar --wal-method=fetch -D - 2>/dev/null",
        "base",
        &[],
    );
    assert!(!out.status.success());
    assert_one_line_error(&String::from_utf8_lossy(&out.stderr), "read nothing");
    assert!(env.backup_ids(None).is_empty());
    let out = env.run(&["status", "base", "--max-age", "26h"], b"");
    assert_eq!(out.status.code(), Some(1));
}

/// A base backup's label is recorded: where its WAL starts, for recovery and retention.
#[test]
fn a_base_backup_records_its_start_wal_location() {
    let pg = Cluster::start();
    let env = TestEnv::new();
    let mut producer = base_backup(&pg).stdout(Stdio::piped()).spawn().unwrap();
    let out = env
        .cmd()
        .args(["push", "base"])
        .stdin(producer.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(producer.wait().unwrap().success());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value =
        serde_json::from_slice(&env.ok(&["list", "--json", "base"], b"")).unwrap();
    let facts = list[0]["check"]["facts"].as_array().unwrap().clone();
    let fact = |key: &str| {
        facts
            .iter()
            .find(|f| f[0] == key)
            .and_then(|f| f[1].as_str())
            .unwrap_or_else(|| panic!("no {key} in {facts:?}"))
            .to_string()
    };
    let location = fact("start-wal-location");
    assert!(location.contains('/'), "{location}");
    assert_eq!(fact("start-timeline"), "1");
    assert_eq!(fact("start-wal-file").len(), 24);
    let status: serde_json::Value =
        serde_json::from_slice(&env.ok(&["status", "--json"], b"")).unwrap();
    assert_eq!(status[0]["newest_check"]["format"], "tar archive");
}

/// Bytes in no format twgate knows pass as they are; from a pipe, twgate says once that
/// `-- COMMAND` is the safe form. A WAL push (a file) never says it.
#[test]
fn unknown_formats_pass_and_a_pipe_is_warned_once() {
    let env = TestEnv::new();
    let data = noise(100_000, 3);
    let out = env.run(&["push", "blob"], &data);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings = stderr.lines().filter(|l| l.contains("-- COMMAND")).count();
    assert_eq!(warnings, 1, "{stderr}");
    assert!(env.ok(&["pull", "blob"], b"") == data);
    let list: serde_json::Value =
        serde_json::from_slice(&env.ok(&["list", "--json", "blob"], b"")).unwrap();
    assert_eq!(list[0]["check"]["format"], "unknown");

    let segment = env.path("000000010000000000000001");
    std::fs::write(&segment, &data).unwrap();
    let out = env.run(&["wal", "push", segment.to_str().unwrap()], b"");
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("-- COMMAND"));

    // The check is no transform.
    let err = env.fails(&["push", "x", "--transform", "check"], &data);
    assert_one_line_error(&err, "built-in check");
}
