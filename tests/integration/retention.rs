//! `twgate prune NAME --keep-*`: restic-style retention on a real store, printing what it
//! keeps and why, never removing the newest verified backup (and `--json`). `twgate status`:
//! the state of each name and the RPO alarm. `--metrics-file`: Prometheus text that keeps
//! the last success across a failure.

use crate::util::{assert_one_line_error, sample, sha256, TestEnv};

/// Pushes `days` backups of `name` and backdates each to 01:00 UTC on consecutive days
/// ending 2026-11-25 (newest first), standing in for a cron job's history.
fn history(env: &TestEnv, name: &str, days: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..days {
        ids.push(env.push(name, &sample(10_000 + i, 40 + i as u64), &[]));
    }
    ids.reverse(); // newest first
    for (age, id) in ids.iter().enumerate() {
        let path = env.store().join(name).join(format!("{id}.manifest.json"));
        let mut manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let day = jiff::civil::date(2026, 11, 25) - jiff::Span::new().days(age as i64);
        let at = day
            .at(1, 0, 0, 0)
            .in_tz("UTC")
            .unwrap()
            .timestamp()
            .to_string();
        manifest["started_at"] = at.clone().into();
        manifest["finished_at"] = at.into();
        std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    }
    ids
}

#[test]
fn keep_rules_say_what_they_keep_and_dry_run_removes_nothing() {
    let env = TestEnv::new();
    let ids = history(&env, "db", 6);
    let out =
        String::from_utf8(env.ok(&["prune", "db", "--keep-daily", "2", "--dry-run"], b"")).unwrap();
    assert!(
        out.contains(&format!("keep   db@{} (2026-11-25 01:00 UTC", ids[0])),
        "{out}"
    );
    assert!(out.contains("newest, daily 2026-11-25"), "{out}");
    assert!(
        out.contains(&format!("keep   db@{} (2026-11-24 01:00 UTC", ids[1])),
        "{out}"
    );
    assert_eq!(out.matches("would remove db@").count(), 4, "{out}");
    assert_eq!(
        env.backup_ids(Some("db")).len(),
        6,
        "a dry run removes nothing"
    );

    let out = String::from_utf8(env.ok(&["prune", "db", "--keep-within", "2d"], b"")).unwrap();
    assert_eq!(out.matches("remove db@").count(), 3, "{out}");
    let mut left = env.backup_ids(Some("db"));
    left.reverse();
    assert_eq!(left, ids[..3].to_vec());
    // Removed backups leave nothing behind: only the kept ones' files remain.
    assert_eq!(env.stored_files("db").len(), 3 * 2);
}

#[test]
fn the_newest_verified_backup_survives_any_rule() {
    let env = TestEnv::new();
    let ids = history(&env, "db", 4);
    // Only the oldest has been verified (say the newer ones were never checked).
    env.ok(&["verify", &format!("db@{}", ids[3])], b"");
    let out = String::from_utf8(env.ok(&["prune", "db", "--keep-last", "1"], b"")).unwrap();
    assert!(out.contains(&format!("keep   db@{}", ids[3])), "{out}");
    assert!(out.contains("newest verified"), "{out}");
    let mut left = env.backup_ids(Some("db"));
    left.reverse();
    assert_eq!(left, vec![ids[0].clone(), ids[3].clone()]);
    // The kept backups still restore.
    assert_eq!(
        sha256(&env.ok(&["pull", &format!("db@{}", ids[3])], b"")),
        sha256(&sample(10_000, 40))
    );
}

#[test]
fn retention_applies_to_each_name_on_its_own() {
    let env = TestEnv::new();
    history(&env, "db", 3);
    history(&env, "other", 2);
    env.ok(&["prune", "--keep-last", "1"], b"");
    assert_eq!(env.backup_ids(Some("db")).len(), 1);
    assert_eq!(env.backup_ids(Some("other")).len(), 1);
}

#[test]
fn prune_without_a_rule_or_with_an_unknown_name_is_refused() {
    let env = TestEnv::new();
    history(&env, "db", 2);
    assert_one_line_error(&env.fails(&["prune"], b""), "say what to keep");
    assert_one_line_error(&env.fails(&["prune", "db"], b""), "say what to keep");
    assert_one_line_error(
        &env.fails(&["prune", "nosuch", "--keep-last", "1"], b""),
        "no backup named 'nosuch'",
    );
    assert_eq!(env.backup_ids(Some("db")).len(), 2);
}

/// Moves a backup's times back by `hours`.
fn age_backup(env: &TestEnv, name: &str, id: &str, hours: i64) {
    let path = env.store().join(name).join(format!("{id}.manifest.json"));
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for field in ["started_at", "finished_at"] {
        let at: jiff::Timestamp = manifest[field].as_str().unwrap().parse().unwrap();
        manifest[field] = (at - jiff::SignedDuration::from_hours(hours))
            .to_string()
            .into();
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
}

#[test]
fn status_shows_each_name_and_alarms_on_a_stale_one() {
    let env = TestEnv::new();
    let old = env.push("db", &sample(5_000, 50), &[]);
    age_backup(&env, "db", &old, 30);
    let fresh = env.push("web", &sample(5_000, 51), &[]);
    env.ok(&["verify", &format!("web@{fresh}")], b"");

    let table = String::from_utf8(env.ok(&["status"], b"")).unwrap();
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{table}"))
            .to_string()
    };
    assert!(row("db ").contains("1d 6h"), "{table}");
    // VERIFIED, then LAST DRILL: neither was ever drilled.
    assert!(row("db ").contains("  never  "), "{table}");
    assert!(row("web ").contains("  yes  "), "{table}");
    assert!(row("web ").ends_with("  never"), "{table}");

    // The RPO alarm: db's newest backup is 30 h old.
    let err = env.fails(&["status", "--max-age", "26h"], b"");
    assert_one_line_error(&err, "db (1d 6h old)");
    assert!(!err.contains("web"), "{err}");
    env.ok(&["status", "--max-age", "2d"], b"");
    env.ok(&["status", "web", "--max-age", "1h"], b"");

    // --json still reports on stdout before the alarm's non-zero exit.
    let out = env.run(&["status", "--json", "--max-age", "26h"], b"");
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["name"], "db");
    assert_eq!(json[0]["stale"], true);
    assert_eq!(json[1]["newest_verified"], true);

    let err = env.fails(&["status", "nosuch"], b"");
    assert_one_line_error(&err, "no backup named 'nosuch'");
}

#[test]
fn prune_json_accounts_for_every_backup() {
    let env = TestEnv::new();
    let ids = history(&env, "db", 3);
    let out = env.ok(
        &["prune", "db", "--keep-last", "2", "--dry-run", "--json"],
        b"",
    );
    let report: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(report["dry_run"], true);
    let backups = report["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 3);
    assert_eq!(backups[0]["id"], ids[0].as_str());
    assert_eq!(backups[0]["action"], "keep");
    assert_eq!(
        backups[0]["reasons"],
        serde_json::json!(["newest", "last 2"])
    );
    assert_eq!(backups[2]["action"], "would remove");
    assert_eq!(env.backup_ids(Some("db")).len(), 3);
}

#[test]
fn metrics_file_records_successes_and_keeps_them_across_a_failure() {
    let env = TestEnv::new();
    let metrics = env.path("twgate.prom");
    let m = metrics.to_str().unwrap();
    env.ok(&["--metrics-file", m, "push", "db"], &sample(200_000, 70));
    env.ok(&["--metrics-file", m, "verify", "db"], b"");
    let text = std::fs::read_to_string(&metrics).unwrap();
    let value = |text: &str, series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{series} missing from:\n{text}"))
    };
    let push = "{command=\"push\",name=\"db\"}";
    assert_eq!(
        value(&text, &format!("twgate_last_success_bytes_in{push}")),
        200_000.0
    );
    let stored = value(&text, &format!("twgate_last_success_bytes_out{push}"));
    assert!(stored > 0.0 && stored < 200_000.0, "{text}");
    assert_eq!(value(&text, &format!("twgate_last_run_success{push}")), 1.0);
    let verify = "{command=\"verify\",name=\"db\"}";
    assert_eq!(
        value(&text, &format!("twgate_last_run_success{verify}")),
        1.0
    );
    let succeeded_at = value(
        &text,
        &format!("twgate_last_success_timestamp_seconds{push}"),
    );

    // A failing push: success drops to 0, the last success's time and sizes stay.
    let out = env.run(&["--metrics-file", m, "push", "db", "--", "false"], b"");
    assert!(!out.status.success());
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert_eq!(value(&text, &format!("twgate_last_run_success{push}")), 0.0);
    assert_eq!(
        value(
            &text,
            &format!("twgate_last_success_timestamp_seconds{push}")
        ),
        succeeded_at
    );
    assert_eq!(
        value(&text, &format!("twgate_last_run_success{verify}")),
        1.0
    );
    assert!(
        text.contains("# TYPE twgate_last_run_success gauge"),
        "{text}"
    );
}
