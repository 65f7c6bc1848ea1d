//! `twgate pg check` on a real PostgreSQL: with `archive_command = 'twgate wal push %p'` it
//! forces a WAL switch, finds the file in the archive, fetches it back and compares it with
//! the server's copy; with a failing archive_command it fails early, naming the file; with
//! archiving off it fails at once, naming the setting.

use crate::pitr::Shared;
use crate::postgres::Cluster;
use crate::util::{assert_one_line_error, cache_dir, run_with, TestEnv};
use std::process::{Command, Output};

/// libpq variables a developer's shell may hold; a test sets its own.
const PG_VARS: &[&str] = &[
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGPASSWORD",
    "PGDATABASE",
    "PGSSLMODE",
    "PGCONNECT_TIMEOUT",
    "PGAPPNAME",
];

/// `cmd` pointed at `pg` through libpq's variables, as a user would.
fn at_cluster<'a>(cmd: &'a mut Command, pg: &Cluster) -> &'a mut Command {
    at_port(cmd, pg.port)
}

/// `cmd` pointed at 127.0.0.1:`port` as user postgres, and no other libpq variable.
fn at_port(cmd: &mut Command, port: u16) -> &mut Command {
    for var in PG_VARS {
        cmd.env_remove(var);
    }
    cmd.env("PGHOST", "127.0.0.1")
        .env("PGPORT", port.to_string())
        .env("PGUSER", "postgres")
}

/// `twgate pg check ARGS` against `pg`, on the store archive_command writes to.
fn check_shared(shared: &Shared, pg: &Cluster, args: &[&str]) -> Output {
    check_shared_as(shared, pg, "postgres", args)
}

/// `twgate pg check ARGS` as PostgreSQL user `user` (database postgres).
fn check_shared_as(shared: &Shared, pg: &Cluster, user: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_twgate"));
    cmd.env("TWGATE_STORE", shared.path("store"))
        .env("XDG_CACHE_HOME", cache_dir().parent().unwrap())
        .env("XDG_CONFIG_HOME", shared.path("check-config"))
        .env("HOME", shared.path("check-home"))
        .env_remove("TWGATE_CONFIG")
        .args(["pg", "check"])
        .args(args);
    at_cluster(&mut cmd, pg)
        .env("PGUSER", user)
        .env("PGDATABASE", "postgres");
    run_with(&mut cmd, b"")
}

/// A cluster archiving with `archive_command` (and `extra` settings).
fn archiving(archive_command: &str, extra: &str) -> Cluster {
    Cluster::start_with(&format!(
        "\nwal_level = replica\narchive_mode = on\narchive_command = '{archive_command}'\n\
         archive_timeout = 0\n{extra}"
    ))
}

#[test]
fn pg_check_finds_the_switched_wal_file_archived_and_identical() {
    let shared = Shared::new();
    let pg = archiving(&shared.twgate("--quiet wal push %p"), "");

    // The store does not exist yet: archive_command creates it on its first push.
    let out = check_shared(&shared, &pg, &[]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "pg check failed: {stderr}\n{}",
        pg.log()
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stdout: {stdout}");
    let line = lines[0];
    assert!(line.starts_with("ok: "), "{line}");
    assert!(
        line.contains("fetched back and identical to the server's copy (16.0 MiB)"),
        "{line}"
    );
    let segment = line["ok: ".len()..].split(' ').next().unwrap();
    assert_eq!(segment.len(), 24, "{line}");
    assert!(!stderr.contains("warning"), "{stderr}");

    let listed = shared.sh(&shared.twgate("list wal"));
    assert!(listed.contains(segment), "{segment} not in: {listed}");

    // Again, as JSON: a later file, also archived and compared.
    let out = check_shared(&shared, &pg, &["--json", "--timeout", "60s"]);
    assert!(
        out.status.success(),
        "pg check --json failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["archive"], "wal", "{report}");
    assert_eq!(report["bytes"], 16 << 20, "{report}");
    assert_eq!(report["compared_with_server"], true, "{report}");
    assert!(report["seconds_to_archive"].as_f64().unwrap() < 60.0);
    assert_eq!(report["archiver"]["failed_count"], 0, "{report}");
    let second = report["segment"].as_str().unwrap();
    assert!(second > segment, "{second} after {segment}");
    let listed = shared.sh(&shared.twgate("list wal"));
    assert!(listed.contains(second), "{second} not in: {listed}");

    // A user allowed to switch WAL but not to read the server's files (nor to make a
    // restore point): the fetched file's first page header is checked instead, and the
    // line says why the server's copy was not compared.
    pg.psql("postgres", "CREATE ROLE checker LOGIN");
    pg.psql(
        "postgres",
        "GRANT EXECUTE ON FUNCTION pg_switch_wal() TO checker",
    );
    let out = check_shared_as(&shared, &pg, "checker", &[]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "pg check as checker failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("ok: ")
            && stdout.contains("with the right first page header")
            && stdout.contains("not compared with the server's copy: reading it needs a superuser or pg_read_server_files")
            && stdout.lines().count() == 1,
        "{stdout}"
    );
}

#[test]
fn pg_check_fails_early_when_archive_command_fails() {
    let pg = archiving("false", "");
    let env = TestEnv::new();
    let out = run_with(
        at_cluster(&mut env.cmd(), &pg).args(["pg", "check", "--timeout", "60s"]),
        b"",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // Reported from pg_stat_archiver's failure, not by waiting out the timeout (whose
    // message is "did not arrive ... within").
    assert!(!stderr.contains("did not arrive"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing on stdout on failure");
    assert_one_line_error(&stderr, "archive_command failed for ");
    assert!(stderr.contains("see the server log"), "{stderr}");
    // archive_command 'false' is not twgate: a warning, then the check went on.
    assert!(
        stderr.contains("warning: archive_command ('false') does not run twgate"),
        "{stderr}"
    );
    // The file named is the one the server failed to archive.
    let failed = pg.psql("postgres", "SELECT last_failed_wal FROM pg_stat_archiver");
    let failed = failed.trim();
    assert_eq!(failed.len(), 24, "{failed}");
    assert!(
        stderr.contains(&format!("archive_command failed for {failed} (")),
        "{stderr}"
    );
}

#[test]
fn pg_check_names_the_setting_when_archiving_is_off() {
    let pg = Cluster::start_with("\nwal_level = replica\narchive_mode = off\n");
    let env = TestEnv::new();
    let out = run_with(at_cluster(&mut env.cmd(), &pg).args(["pg", "check"]), b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_one_line_error(&stderr, "archive_mode is off");
    assert!(stderr.contains("set archive_mode = on"), "{stderr}");
    // With --json, the error is the JSON on stdout too.
    let out = run_with(
        at_cluster(&mut env.cmd(), &pg).args(["pg", "check", "--json"]),
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains("archive_mode is off"),
        "{report}"
    );

    // And a server nothing listens on is named, with the user.
    drop(pg);
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let out = run_with(
        at_port(&mut env.cmd(), port)
            .env("PGPASSWORD", "never-printed")
            .args(["pg", "check"]),
        b"",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_one_line_error(
        &stderr,
        &format!("cannot connect to PostgreSQL at 127.0.0.1:{port} as user postgres"),
    );
    assert!(!stderr.contains("never-printed"), "{stderr}");
}
