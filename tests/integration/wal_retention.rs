//! WAL retention tied to base backups. On a real PostgreSQL 15 archiving through twgate,
//! with two base backups: `prune wal --keep-last 1` keeps exactly the WAL the older base
//! backup needs (from its `start-wal-file` on) and point-in-time recovery from it still
//! reaches a target after the newer one; `prune base --keep-last 1 --wal wal` removes the
//! older base backup and the WAL before the newer one's start (a dry run first lists both).
//! Without PostgreSQL: a base backup whose start is not recorded keeps the WAL archived
//! since an hour before it started.

use crate::pitr::{wait_for, Shared};
use crate::postgres::{as_postgres, is_root, must, Cluster};
use crate::util::{assert_one_line_error, sample, TestEnv};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const PGBIN: &str = "/usr/lib/postgresql/15/bin";

/// A cluster archiving its WAL through twgate, with two base backups in the store.
struct History {
    shared: Shared,
    /// Running until the test ends.
    _pg: Cluster,
    /// Each base backup's id and `start-wal-file`, older first.
    bases: Vec<(String, String)>,
    /// A time after the newer base backup: rows 1 to 300 were committed before it, 301 to
    /// 400 after.
    target: String,
}

/// Rows, a WAL switch, a base backup, rows, a switch, a base backup, rows, the target
/// time, rows, a switch: WAL before, between and after the two base backups.
fn two_base_backups() -> History {
    let shared = Shared::new();
    let archive = shared.twgate("--quiet wal push %p");
    let pg = Cluster::start_with(&format!(
        "\nwal_level = replica\narchive_mode = on\narchive_command = '{archive}'\narchive_timeout = 0\n"
    ));
    pg.psql("postgres", "CREATE TABLE t (i int PRIMARY KEY)");
    insert(&pg, 1, 100);
    switch_wal(&pg);
    base_backup(&shared, &pg);
    insert(&pg, 101, 200);
    switch_wal(&pg);
    base_backup(&shared, &pg);
    insert(&pg, 201, 300);
    std::thread::sleep(Duration::from_millis(1100));
    let target = pg.psql("postgres", "SELECT now()").trim().to_string();
    std::thread::sleep(Duration::from_millis(1100));
    insert(&pg, 301, 400);
    switch_wal(&pg);
    let bases: Vec<(String, String)> = list(&shared, "base")
        .iter()
        .map(|m| {
            let facts = m["check"]["facts"]
                .as_array()
                .expect("a checked base backup");
            let start = facts
                .iter()
                .find(|fact| fact[0] == "start-wal-file")
                .unwrap_or_else(|| panic!("no start-wal-file in {m}"))[1]
                .as_str()
                .unwrap()
                .to_string();
            (m["id"].as_str().unwrap().to_string(), start)
        })
        .collect();
    assert_eq!(bases.len(), 2);
    assert!(bases[0].1 < bases[1].1, "{bases:?}");
    History {
        shared,
        _pg: pg,
        bases,
        target,
    }
}

fn insert(pg: &Cluster, from: u32, to: u32) {
    pg.psql(
        "postgres",
        &format!("INSERT INTO t SELECT generate_series({from}, {to})"),
    );
}

/// Closes the current segment and waits until twgate archived everything ready.
fn switch_wal(pg: &Cluster) {
    let segment = pg.psql("postgres", "SELECT pg_walfile_name(pg_switch_wal())");
    let segment = segment.trim().to_string();
    wait_for("the WAL to be archived", || {
        let last = pg.psql("postgres", "SELECT last_archived_wal FROM pg_stat_archiver");
        let ready = pg.psql(
            "postgres",
            "SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'",
        );
        last.trim() >= segment.as_str() && ready.trim() == "0"
    });
}

/// `pg_basebackup --format=tar -D - | twgate push base`, as the runbook shows.
fn base_backup(shared: &Shared, pg: &Cluster) {
    shared.sh(&format!(
        "PGHOST=127.0.0.1 PGPORT={} PGUSER=postgres {PGBIN}/pg_basebackup --format=tar --wal-method=fetch --checkpoint=fast -D - | {}",
        pg.port,
        shared.twgate("--quiet push base"),
    ));
}

/// `twgate list --json NAME`.
fn list(shared: &Shared, name: &str) -> Vec<Value> {
    let out = shared.sh(&shared.twgate(&format!("list --json {name}")));
    serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn ids(shared: &Shared, name: &str) -> Vec<String> {
    list(shared, name)
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

/// The WAL files of `ids` a base backup starting at WAL file `start` needs: every timeline
/// history file, and every file whose log and segment (digits 9 to 24, fixed-width
/// uppercase hex, so text order is numeric order) are at or after the start's.
fn needed_from(ids: &[String], start: &str) -> Vec<String> {
    ids.iter()
        .filter(|id| id.ends_with(".history") || id[8..24] >= start[8..24])
        .cloned()
        .collect()
}

/// Runs a shell command as the postgres user and expects it to fail; returns its stderr.
fn sh_fails(command: &str) -> String {
    let out = as_postgres("sh")
        .args(["-c", command])
        .current_dir("/")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success(), "`{command}` should have failed");
    String::from_utf8(out.stderr).unwrap()
}

/// The `--json` report's entries of one name.
fn entries<'a>(report: &'a Value, name: &str) -> Vec<&'a Value> {
    report["backups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["name"] == name)
        .collect()
}

#[test]
fn wal_pruning_with_two_base_backups_keeps_exactly_what_the_older_kept_one_needs() {
    let h = two_base_backups();
    let (older, older_start) = &h.bases[0];
    let before = ids(&h.shared, "wal");
    let expected = needed_from(&before, older_start);
    assert!(
        expected.len() < before.len(),
        "some WAL precedes the older base backup ({older_start}): {before:?}"
    );

    // --keep-last 1 alone would leave one WAL file; the base backups keep theirs.
    let out = h
        .shared
        .sh(&h.shared.twgate("prune wal --keep-last 1 --json"));
    let report: Value = serde_json::from_str(&out).unwrap();
    let needed = format!("needed by base@{older}");
    for entry in entries(&report, "wal") {
        let id = entry["id"].as_str().unwrap();
        if expected.iter().any(|e| e == id) {
            assert_eq!(entry["action"], "keep", "{entry}");
            assert!(
                entry["reasons"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r == &needed),
                "{entry}"
            );
        } else {
            assert_eq!(entry["action"], "removed", "{entry}");
        }
    }
    assert_eq!(ids(&h.shared, "wal"), expected);
    assert_eq!(
        ids(&h.shared, "base").len(),
        2,
        "prune wal touches no base backup"
    );

    // Point-in-time recovery from the older base backup, past the newer one, still works.
    let fetch = h.shared.twgate("--quiet wal fetch %f %p");
    let restored = Cluster::create(|data: &Path| {
        std::fs::create_dir_all(data).unwrap();
        if is_root() {
            must(
                Command::new("chown").args(["postgres:postgres"]).arg(data),
                "chown",
            );
        }
        h.shared.sh(&format!(
            "{} | tar -x -C {}",
            h.shared.twgate(&format!("--quiet pull base@{older}")),
            data.display()
        ));
        std::fs::write(data.join("recovery.signal"), b"").unwrap();
        let mut conf =
            std::fs::read_to_string(data.join("postgresql.auto.conf")).unwrap_or_default();
        conf.push_str(&format!(
            "\narchive_mode = off\nrestore_command = '{fetch}'\nrecovery_target_time = '{}'\nrecovery_target_action = 'promote'\n",
            h.target
        ));
        std::fs::write(data.join("postgresql.auto.conf"), conf).unwrap();
    });
    wait_for("recovery to reach the target and promote", || {
        restored
            .psql("postgres", "SELECT pg_is_in_recovery()")
            .trim()
            == "f"
    });
    let rows = restored.psql("postgres", "SELECT count(*), min(i), max(i) FROM t");
    assert_eq!(
        rows.trim(),
        "300|1|300",
        "rows up to the target, none after: {}",
        restored.log()
    );
}

#[test]
fn pruning_base_backups_with_wal_removes_the_wal_only_the_removed_ones_needed() {
    let h = two_base_backups();
    let (older, older_start) = &h.bases[0];
    let (newer, newer_start) = &h.bases[1];
    let before = ids(&h.shared, "wal");
    let kept = needed_from(&before, newer_start);
    let gone: Vec<&String> = before.iter().filter(|id| !kept.contains(id)).collect();
    assert!(
        gone.iter().any(|id| id[8..24] >= older_start[8..24]),
        "the WAL between the two base backups goes too: {gone:?}"
    );

    // --wal must name a WAL archive: one line that says what to give.
    let err = sh_fails(&h.shared.twgate("prune base --keep-last 1 --wal nosuch"));
    assert_one_line_error(&err, "no WAL archive 'nosuch'");
    let err = sh_fails(&h.shared.twgate("prune wal --keep-last 1 --wal base"));
    assert_one_line_error(&err, "'base' is not a WAL archive");
    assert_eq!(ids(&h.shared, "wal"), before);

    // A dry run lists the base backup and the WAL files that would go, and removes nothing.
    let out = h.shared.sh(&h
        .shared
        .twgate("prune base --keep-last 1 --wal wal --dry-run"));
    assert!(
        out.contains(&format!("would remove base@{older} ")),
        "{out}"
    );
    assert!(out.contains(&format!("keep   base@{newer} ")), "{out}");
    for id in &gone {
        assert!(
            out.contains(&format!("would remove wal@{id} ")),
            "{id}: {out}"
        );
    }
    assert_eq!(
        out.matches("would remove wal@").count(),
        gone.len(),
        "{out}"
    );
    assert!(out.contains(&format!("keep   wal@{newer_start} ")), "{out}");
    assert!(out.contains(&format!("needed by base@{newer}")), "{out}");
    assert_eq!(ids(&h.shared, "wal"), before);
    assert_eq!(ids(&h.shared, "base").len(), 2);

    // The real run.
    let out = h
        .shared
        .sh(&h.shared.twgate("prune base --keep-last 1 --wal wal --json"));
    let report: Value = serde_json::from_str(&out).unwrap();
    let bases = entries(&report, "base");
    assert_eq!(bases.len(), 2, "{report}");
    for entry in bases {
        let expected = if entry["id"] == older.as_str() {
            "removed"
        } else {
            "keep"
        };
        assert_eq!(entry["action"], expected, "{entry}");
    }
    let removed: Vec<&str> = entries(&report, "wal")
        .iter()
        .filter(|entry| entry["action"] == "removed")
        .map(|entry| entry["id"].as_str().unwrap())
        .collect();
    let mut gone_sorted: Vec<&str> = gone.iter().map(|id| id.as_str()).collect();
    gone_sorted.sort();
    let mut removed_sorted = removed.clone();
    removed_sorted.sort();
    assert_eq!(removed_sorted, gone_sorted);
    assert_eq!(report["wal"]["archive"], "wal");
    assert_eq!(
        report["wal"]["kept_bases"],
        serde_json::json!([format!("base@{newer}")])
    );
    assert_eq!(report["wal"]["oldest_start_wal_file"], newer_start.as_str());
    assert_eq!(ids(&h.shared, "base"), vec![newer.clone()]);
    assert_eq!(ids(&h.shared, "wal"), kept);
}

/// Sets a backup's `started_at` and `finished_at`, standing in for its real history.
fn backdate(env: &TestEnv, name: &str, id: &str, at: &str) {
    let path = env.store().join(name).join(format!("{id}.manifest.json"));
    let mut manifest: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    manifest["started_at"] = at.into();
    manifest["finished_at"] = at.into();
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
}

#[test]
fn a_base_backup_without_its_start_keeps_the_wal_archived_since_an_hour_before_it() {
    let env = TestEnv::new();
    let wal = [
        ("000000010000000000000001", "2026-11-25T10:00:00Z"),
        ("000000010000000000000002", "2026-11-25T11:00:00Z"),
        ("000000010000000000000003", "2026-11-25T12:00:00Z"),
        ("000000010000000000000004", "2026-11-25T13:00:00Z"),
        ("00000002.history", "2026-11-25T09:00:00Z"),
    ];
    for (i, (name, at)) in wal.iter().enumerate() {
        let path = env.path(name);
        std::fs::write(&path, sample(4096, 70 + i as u64)).unwrap();
        env.ok(&["wal", "push", path.to_str().unwrap()], b"");
        backdate(&env, "wal", name, at);
    }
    // Not base backups PostgreSQL made: no backup_label, so no start-wal-file recorded.
    let older = env.push("base", &sample(10_000, 80), &[]);
    let newer = env.push("base", &sample(10_000, 81), &[]);
    backdate(&env, "base", &older, "2026-11-25T11:30:00Z");
    backdate(&env, "base", &newer, "2026-11-25T13:30:00Z");

    let out =
        String::from_utf8(env.ok(&["prune", "base", "--keep-last", "1", "--wal", "wal"], b""))
            .unwrap();
    assert!(out.contains(&format!("remove base@{older} ")), "{out}");
    assert!(out.contains("its start WAL file is not recorded"), "{out}");
    assert!(
        out.contains("WAL archived since 2026-11-25 12:30 UTC"),
        "{out}"
    );
    assert!(
        out.contains("keep   wal@000000010000000000000004 (2026-11-25 13:00 UTC, "),
        "{out}"
    );
    assert!(out.contains(&format!("needed by base@{newer}")), "{out}");
    assert!(out.contains("timeline history"), "{out}");
    // Archived from 12:30 on (an hour before the kept base backup started), and history.
    assert_eq!(
        env.backup_ids(Some("wal")),
        ["000000010000000000000004", "00000002.history"]
    );
    assert_eq!(env.backup_ids(Some("base")), [newer]);
}
