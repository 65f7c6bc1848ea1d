//! `twgate drill` on a real PostgreSQL 15: a pg_dump backup restored into a throwaway
//! cluster (run as the `postgres` user when the tests run as root), its row counts
//! recorded beside the backup and shown by `status`; a failing check fails the drill;
//! the cluster and its files are gone afterwards; memory stays within the pull's bounds.

use crate::postgres::{is_root, Cluster};
use crate::util::TestEnv;
use serde_json::Value;
use std::path::Path;

/// Pushes `db` of `pg` as backup `name` with `pg_dump --format=custom`.
fn push_dump(env: &TestEnv, pg: &Cluster, db: &str, name: &str) {
    let out = crate::util::run_with(
        env.cmd()
            .envs(pg_env(pg))
            .args(["push", name, "--", "pg_dump", "--format=custom", db]),
        b"",
    );
    assert!(
        out.status.success(),
        "push failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn pg_env(pg: &Cluster) -> [(&'static str, String); 3] {
    [
        ("PGHOST", "127.0.0.1".to_string()),
        ("PGPORT", pg.port.to_string()),
        ("PGUSER", "postgres".to_string()),
    ]
}

/// A directory for drills that the `postgres` user may enter, and that must be empty
/// once every drill is over.
fn work_dir(env: &TestEnv) -> String {
    let dir = env.path("drills");
    std::fs::create_dir_all(&dir).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir.to_string_lossy().into_owned()
}

fn left_in(dir: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn drill_record(env: &TestEnv, name: &str) -> Value {
    let dir = env.store().join(name);
    let record = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".drill.json"))
        .unwrap_or_else(|| panic!("no drill record in {}", dir.display()));
    serde_json::from_slice(&std::fs::read(record).unwrap()).unwrap()
}

#[test]
fn drill_of_a_pg_dump_backup_records_row_counts_and_status_shows_it() {
    let pg = Cluster::start();
    let mut env = TestEnv::new();
    env.config("");
    pg.load_sample("triage_warden", 5_000);
    let incidents = pg.psql("triage_warden", "SELECT count(*) FROM incidents");
    push_dump(&env, &pg, "triage_warden", "triage-warden");
    let work = work_dir(&env);
    let metrics = env.path("twgate.prom");

    let out = env.ok(
        &[
            "--metrics-file",
            metrics.to_str().unwrap(),
            "drill",
            "triage-warden",
            "--work-dir",
            &work,
            "--check-sql",
            "SELECT count(*) = 5000 FROM incidents",
            "--check-sql",
            "SELECT EXISTS (SELECT 1 FROM incidents WHERE id = 1)",
            "--json",
        ],
        b"",
    );
    let printed: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(printed["ok"], true, "{printed}");
    assert_eq!(printed["kind"], "pg_dump custom archive");
    assert_eq!(printed["database"], "triage_warden");
    if is_root() {
        // PostgreSQL refuses to run as root: the drill ran it as `postgres`.
        assert_eq!(printed["os_user"], "postgres");
    }
    let counted = printed["row_counts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "incidents")
        .expect("incidents counted");
    assert_eq!(counted["rows"].to_string(), incidents.trim());
    assert!(printed["tables"].as_u64().unwrap() >= 2, "{printed}");
    assert_eq!(printed["checks"].as_array().unwrap().len(), 2);
    assert!(printed["restore_seconds"].as_f64().unwrap() > 0.0);

    // Recorded beside the backup, as printed.
    let record = drill_record(&env, "triage-warden");
    assert_eq!(record["ok"], true);
    assert_eq!(record["rows"], printed["rows"]);
    assert!(left_in(&work).is_empty(), "drill left {:?}", left_in(&work));

    // `status` shows it, and holds it against an RTO.
    let status: Value =
        serde_json::from_slice(&env.ok(&["status", "--json", "--rto", "4h"], b"")).unwrap();
    let drill = &status[0]["last_drill"];
    assert_eq!(drill["ok"], true, "{status}");
    assert_eq!(drill["alarm"], false);
    let table = String::from_utf8(env.ok(&["status"], b"")).unwrap();
    assert!(
        table.contains("LAST DRILL") && table.contains("ok 20"),
        "{table}"
    );
    // A restore cannot take less than a millisecond: an RTO of 0 s is missed.
    let slow = env.fails(&["status", "--rto", "0s"], b"");
    assert!(slow.contains("slower than --rto"), "{slow}");

    let prom = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        prom.contains(
            "twgate_last_success_timestamp_seconds{command=\"drill\",name=\"triage-warden\"}"
        ),
        "{prom}"
    );
    assert!(prom.contains("twgate_last_success_duration_seconds{command=\"drill\""));
}

#[test]
fn drill_whose_check_is_false_fails_and_is_recorded_as_failed() {
    let pg = Cluster::start();
    let mut env = TestEnv::new();
    env.config("");
    pg.load_sample("app", 1_000);
    push_dump(&env, &pg, "app", "app");
    let work = work_dir(&env);
    let out = env.run(
        &[
            "drill",
            "app@latest",
            "--jobs",
            "2",
            "--work-dir",
            &work,
            "--check-sql",
            "SELECT count(*) = 0 FROM incidents",
        ],
        b"",
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    crate::util::assert_one_line_error(&stderr, "1 of 1 checks failed");
    assert!(
        stderr.contains("SELECT count(*) = 0 FROM incidents` returned false"),
        "{stderr}"
    );
    let record = drill_record(&env, "app");
    assert_eq!(record["ok"], false);
    assert_eq!(record["jobs"], 2);
    // The restore itself worked (with pg_restore --jobs 2): the rows were counted.
    assert!(record["rows"].as_u64().unwrap() >= 1_000, "{record}");
    assert!(left_in(&work).is_empty(), "drill left {:?}", left_in(&work));
    let alarm = env.fails(&["status", "--rto", "4h"], b"");
    assert!(
        alarm.contains("app@") && alarm.contains("failed"),
        "{alarm}"
    );
}

#[test]
fn drill_of_something_that_is_not_a_dump_fails_clearly() {
    let env = TestEnv::new();
    env.push("noise", &crate::util::noise(4096, 3), &["--no-check"]);
    let work = work_dir(&env);
    let err = env.fails(&["drill", "noise", "--work-dir", &work], b"");
    crate::util::assert_one_line_error(&err, "neither a pg_dump archive nor a SQL dump");
    assert!(left_in(&work).is_empty());
    assert!(!Path::new(&work).join("data").exists());
}

/// `drill --jobs 1` streams: a dump several times the memory bound restores with the
/// drill's peak RSS within the pull's bound.
#[test]
fn drill_memory_stays_within_the_pulls_bounds() {
    let pg = Cluster::start();
    let env = TestEnv::new();
    pg.psql("postgres", "CREATE DATABASE big");
    // About 300 MB of rows, twice the memory bound.
    pg.psql(
        "big",
        "CREATE TABLE blobs AS SELECT g AS id, repeat(md5(g::text), 9) AS body \
         FROM generate_series(1, 1000000) g",
    );
    let out = crate::util::run_with(
        env.cmd().envs(pg_env(&pg)).args([
            "push",
            "big",
            "--",
            "pg_dump",
            "--format=custom",
            "--compress=0",
            "big",
        ]),
        b"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Value = serde_json::from_slice(&env.ok(&["list", "--json", "big"], b"")).unwrap();
    let size = list[0]["original"]["size"].as_u64().unwrap();
    assert!(size > 280 << 20, "dump of {size} bytes");
    let work = work_dir(&env);
    let (ok, _, rss_kib) = crate::memory::run_measured(
        &env,
        &[
            "drill",
            "big",
            "--work-dir",
            &work,
            "--check-sql",
            "SELECT count(*) = 1000000 FROM blobs",
        ],
        0,
    );
    assert!(ok, "drill failed");
    eprintln!(
        "drill peak RSS {} MiB for a {} MiB dump",
        rss_kib / 1024,
        size >> 20
    );
    assert!(
        rss_kib < crate::memory::LIMIT_KIB,
        "drill peaked at {} MiB for a {} MiB dump",
        rss_kib / 1024,
        size >> 20
    );
}
