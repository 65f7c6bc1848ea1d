//! Point-in-time recovery through twgate, on a real PostgreSQL: `archive_command = 'twgate
//! wal push %p'`, a base backup with `pg_basebackup --format=tar | twgate push base`, then a
//! restore into a new data directory with `restore_command = 'twgate wal fetch %f %p'` and
//! `recovery_target_time`: exactly the rows committed up to the target are there.

use crate::postgres::{as_postgres, is_root, must, Cluster};
use crate::util::cache_dir;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A directory the `postgres` user can use (archive_command runs as the server's user),
/// holding a copy of twgate, the store and twgate's caches.
pub(crate) struct Shared {
    dir: tempfile::TempDir,
}

impl Shared {
    pub(crate) fn new() -> Shared {
        let dir = tempfile::Builder::new()
            .prefix("twgate-pitr-")
            .tempdir()
            .unwrap();
        std::fs::copy(env!("CARGO_BIN_EXE_twgate"), dir.path().join("twgate")).unwrap();
        // Compiled plugins from the tests' cache save a compile per WAL push.
        let cache = dir.path().join("cache/twgate");
        std::fs::create_dir_all(&cache).unwrap();
        if let Ok(entries) = std::fs::read_dir(cache_dir().join("twgate")) {
            for entry in entries.flatten() {
                let _ = std::fs::copy(entry.path(), cache.join(entry.file_name()));
            }
        }
        if is_root() {
            must(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(dir.path()),
                "chown",
            );
        }
        Shared { dir }
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The environment every twgate call here gets, as `VAR=value` words for a shell.
    fn env_words(&self) -> String {
        format!(
            "TWGATE_STORE={store} XDG_CACHE_HOME={cache} XDG_CONFIG_HOME={cfg} HOME={home}",
            store = self.path("store").display(),
            cache = self.path("cache").display(),
            cfg = self.path("config").display(),
            home = self.dir.path().display(),
        )
    }

    /// `twgate ARGS` as a shell command line.
    pub(crate) fn twgate(&self, args: &str) -> String {
        format!(
            "{} {} {args}",
            self.env_words(),
            self.path("twgate").display()
        )
    }

    /// Runs a shell command as the postgres user; panics with its stderr on failure.
    pub(crate) fn sh(&self, command: &str) -> String {
        let out = as_postgres("sh")
            .args(["-c", command])
            .current_dir(self.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "`{command}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

pub(crate) fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A cluster archiving through twgate, with a base backup and rows 1-200 committed before
/// the returned target time, 201-300 after; everything archived. `conf` is appended to its
/// postgresql.conf (which the base backup carries).
fn archived_cluster(shared: &Shared, conf: &str) -> (Cluster, String) {
    let archive = shared.twgate("--quiet wal push %p");
    let pg = Cluster::start_with(&format!(
        "\nwal_level = replica\narchive_mode = on\narchive_command = '{archive}'\narchive_timeout = 0\n{conf}"
    ));
    pg.psql(
        "postgres",
        "CREATE TABLE t (i int PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())",
    );
    pg.psql(
        "postgres",
        "INSERT INTO t (i) SELECT generate_series(1, 100)",
    );

    // The base backup, streamed through twgate as the docs show.
    shared.sh(&format!(
        "PGHOST=127.0.0.1 PGPORT={} PGUSER=postgres {}/pg_basebackup --format=tar --wal-method=fetch -D - | {}",
        pg.port,
        "/usr/lib/postgresql/15/bin",
        shared.twgate("--quiet push base"),
    ));

    pg.psql(
        "postgres",
        "INSERT INTO t (i) SELECT generate_series(101, 200)",
    );
    std::thread::sleep(Duration::from_millis(1100));
    let target = pg.psql("postgres", "SELECT now()").trim().to_string();
    std::thread::sleep(Duration::from_millis(1100));
    pg.psql(
        "postgres",
        "INSERT INTO t (i) SELECT generate_series(201, 300)",
    );
    // Close the segment holding all of it, and wait until twgate archived it.
    let segment = pg.psql("postgres", "SELECT pg_walfile_name(pg_switch_wal())");
    let segment = segment.trim().to_string();
    wait_for("the last segment to be archived", || {
        pg.psql("postgres", "SELECT last_archived_wal FROM pg_stat_archiver")
            .trim()
            >= segment.as_str()
    });
    let listed = shared.sh(&shared.twgate("list wal"));
    assert!(listed.contains(&segment), "{listed}");
    (pg, target)
}

#[test]
fn point_in_time_recovery_through_twgate_restores_exactly_up_to_the_target() {
    let shared = Shared::new();
    let (_pg, target) = archived_cluster(&shared, "");

    // Restore into a new data directory: base backup, recovery.signal, restore_command.
    let fetch = shared.twgate("--quiet wal fetch %f %p");
    let restored = Cluster::create(|data: &Path| {
        std::fs::create_dir_all(data).unwrap();
        if is_root() {
            must(
                Command::new("chown").args(["postgres:postgres"]).arg(data),
                "chown",
            );
        }
        shared.sh(&format!(
            "{} | tar -x -C {}",
            shared.twgate("--quiet pull base@latest"),
            data.display()
        ));
        std::fs::write(data.join("recovery.signal"), b"").unwrap();
        let mut conf =
            std::fs::read_to_string(data.join("postgresql.auto.conf")).unwrap_or_default();
        conf.push_str(&format!(
            "\narchive_mode = off\nrestore_command = '{fetch}'\nrecovery_target_time = '{target}'\nrecovery_target_action = 'promote'\n"
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
        "200|1|200",
        "rows up to the target, none after: {}",
        restored.log()
    );
}

/// `twgate pg restore --target-time --start`: the runbook's six steps as one command, on
/// the same archive: exactly the rows committed up to the target, the server promoted.
#[test]
fn pg_restore_to_a_target_time_recovers_exactly_up_to_it() {
    let shared = Shared::new();
    // The restored server takes its settings from the base backup: a port and socket of
    // its own, so it never meets the original.
    let port = crate::util::free_port();
    let (_pg, target) = archived_cluster(
        &shared,
        &format!("port = {port}\nunix_socket_directories = '/tmp'\nlisten_addresses = ''\n"),
    );
    let data = shared.path("restored");
    let out = shared.sh(&shared.twgate(&format!(
        "pg restore --pgdata {} --target-time '{target}' --start --pg-bin /usr/lib/postgresql/15/bin --timeout 120s",
        data.display()
    )));
    let stop = || {
        let _ = as_postgres("/usr/lib/postgresql/15/bin/pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "stop"])
            .output();
    };
    let rows = as_postgres("/usr/lib/postgresql/15/bin/psql")
        .args([
            "-h",
            "/tmp",
            "-p",
            &port.to_string(),
            "-U",
            "postgres",
            "-At",
            "-c",
        ])
        .arg("SELECT count(*), min(i), max(i) FROM t")
        .arg("postgres")
        .output()
        .unwrap();
    let recovery_log =
        std::fs::read_to_string(data.join("twgate-recovery.log")).unwrap_or_default();
    stop();
    assert!(
        out.starts_with("ok base@") && out.contains("promoted on timeline 2"),
        "{out}"
    );
    assert_eq!(
        String::from_utf8_lossy(&rows.stdout).trim(),
        "200|1|200",
        "rows up to the target, none after: {} {recovery_log}",
        String::from_utf8_lossy(&rows.stderr)
    );
    let conf = std::fs::read_to_string(data.join("postgresql.auto.conf")).unwrap();
    assert!(conf.contains("wal fetch %f %p --archive wal"), "{conf}");
    // A second restore into the same, now full, directory is refused and changes nothing.
    let again = as_postgres("sh")
        .args([
            "-c",
            &shared.twgate(&format!("pg restore --pgdata {} --latest", data.display())),
        ])
        .current_dir(shared.path(""))
        .output()
        .unwrap();
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("is not empty"), "{stderr}");
    assert!(data.join("PG_VERSION").exists());
}

/// `twgate drill base`: the base backup recovered with the archived WAL to the end of the
/// archive in a throwaway cluster: every committed row is there, the record says so.
#[test]
fn drill_of_a_base_backup_recovers_to_the_end_of_the_archive() {
    let shared = Shared::new();
    let port = crate::util::free_port();
    let (_pg, _target) = archived_cluster(
        &shared,
        &format!("port = {port}\nunix_socket_directories = '/tmp'\nlisten_addresses = ''\n"),
    );
    let out = shared.sh(&shared.twgate(&format!(
        "drill base --json --pg-bin /usr/lib/postgresql/15/bin --work-dir {} \
         --check-sql 'SELECT count(*) = 300 FROM t'",
        shared.path("").display()
    )));
    let record: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(record["ok"], true, "{record}");
    assert_eq!(record["kind"], "base backup (tar)");
    let t = record["row_counts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["table"] == "t" && r["database"] == "postgres")
        .expect("t counted");
    assert_eq!(t["rows"], 300, "{record}");
    let left: Vec<_> = std::fs::read_dir(shared.path(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("twgate-drill-"))
        .collect();
    assert!(left.is_empty(), "drill left {left:?}");
}
