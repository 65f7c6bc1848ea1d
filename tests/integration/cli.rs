//! The command line as a user sees it: push, pull, list, verify, init, and the errors
//! users will hit, each one line, non-zero, with nothing half-written left visible.

use crate::util::{assert_one_line_error, blake3, sample, sha256, tool, TestEnv};

#[test]
fn push_pull_round_trip_default_pipeline() {
    let env = TestEnv::new();
    let data = sample(3_000_000, 1);
    let id = env.push("db", &data, &[]);
    let pulled = env.ok(&["pull", "db@latest"], b"");
    assert_eq!(sha256(&pulled), sha256(&data));
    let by_id = env.ok(&["pull", &format!("db@{}", &id[..12])], b"");
    assert_eq!(by_id, data);
    // The manifest is there and records both checksums and the pipeline.
    let list: serde_json::Value =
        serde_json::from_slice(&env.ok(&["list", "--json"], b"")).unwrap();
    let m = &list[0];
    assert_eq!(m["id"], id.as_str());
    assert_eq!(m["version"], 3);
    // Each built-in stage names its stream format: what decodes it on pull.
    assert_eq!(m["pipeline"][0]["plugin"], "zstd");
    assert_eq!(m["pipeline"][0]["format"], "zstd/rfc8878");
    assert_eq!(m["original"]["blake3"], blake3(&data).as_str());
    assert!(
        m["original"].get("sha256").is_none(),
        "one checksum per end"
    );
    assert_eq!(m["original"]["size"], data.len());
    assert_eq!(m["pipeline"][0]["plugin"], "zstd");
    assert_eq!(m["source"]["kind"], "stdin");
    let data_file = env.data_file("db", &id);
    let stored = std::fs::read(&data_file).unwrap();
    // The stock b3sum agrees: a stored object can be checked by hand.
    let b3sum = tool("b3sum", &["--no-names", data_file.to_str().unwrap()], b"");
    assert_eq!(
        m["stored"]["blake3"],
        String::from_utf8(b3sum).unwrap().trim()
    );
    assert!(stored.len() < data.len(), "zstd should shrink the sample");
}

/// Backups written before BLAKE3 (manifest version 1, `sha256` fields) still restore and
/// verify, checked with SHA-256; and a mismatch under that function is still caught.
#[test]
fn version_1_sha256_manifests_still_restore_and_verify() {
    let env = TestEnv::new();
    let data = sample(2_000_000, 7);
    let id = env.push("old", &data, &[]);
    let stored = std::fs::read(env.data_file("old", &id)).unwrap();
    let path = env.store().join("old").join(format!("{id}.manifest.json"));
    let as_version_1 = |original_sha256: &str| {
        let mut m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        m["version"] = 1.into();
        for (end, sha) in [("original", original_sha256), ("stored", &sha256(&stored))] {
            let end = m[end].as_object_mut().unwrap();
            end.remove("blake3");
            end.insert("sha256".into(), sha.into());
        }
        std::fs::write(&path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    };
    as_version_1(&sha256(&data));
    assert!(env.ok(&["pull", "old"], b"") == data);
    let report = String::from_utf8(env.ok(&["verify", "old"], b"")).unwrap();
    assert!(report.contains("sha256"), "{report}");

    as_version_1(&sha256(b"something else"));
    let err = env.fails(&["pull", "old"], b"");
    assert_one_line_error(&err, "do not match the original's sha256");
}

#[test]
fn empty_input_is_not_a_backup_unless_allowed() {
    let env = TestEnv::new();
    // `pg_basebackup ... | twgate push base` with the server down: nothing comes.
    let err = env.fails(&["push", "empty"], b"");
    assert_one_line_error(&err, "read nothing from standard input");
    assert!(
        err.contains("-- COMMAND") && err.contains("--allow-empty"),
        "{err}"
    );
    let err = env.fails(&["push", "empty", "--", "true"], b"");
    assert_one_line_error(&err, "read nothing from `true`");
    assert!(env.backup_ids(None).is_empty());
    assert!(env.stored_files("empty").is_empty(), "nothing stored");

    env.push("empty", b"", &["--allow-empty"]);
    assert_eq!(env.ok(&["pull", "empty"], b""), b"");
    env.ok(&["verify", "empty"], b"");
}

#[test]
fn unencrypted_push_warns() {
    let env = TestEnv::new();
    let out = env.run(&["push", "db"], b"x");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not encrypted"));
}

#[test]
fn latest_is_the_newest_and_list_is_oldest_first() {
    let env = TestEnv::new();
    let first = env.push("db", b"one", &[]);
    let second = env.push("db", b"two", &[]);
    env.push("other", b"three", &[]);
    assert_eq!(env.ok(&["pull", "db@latest"], b""), b"two");
    assert_eq!(env.ok(&["pull", "db"], b""), b"two");
    assert_eq!(env.ok(&["pull", &format!("db@{first}")], b""), b"one");
    let list = String::from_utf8(env.ok(&["list", "db"], b"")).unwrap();
    let (a, b) = (list.find(&first).unwrap(), list.find(&second).unwrap());
    assert!(a < b);
    assert!(!list.contains("other"));
}

#[test]
fn push_runs_a_command_and_records_it_without_passwords() {
    let env = TestEnv::new();
    let id = env.push(
        "cmd",
        b"",
        &[
            "--",
            "sh",
            "-c",
            "printf hello; : postgresql://u:hunter2@db/x",
        ],
    );
    assert_eq!(env.ok(&["pull", "cmd"], b""), b"hello");
    let manifest =
        std::fs::read_to_string(env.store().join("cmd").join(format!("{id}.manifest.json")))
            .unwrap();
    assert!(manifest.contains("\"exit_status\": 0"), "{manifest}");
    assert!(manifest.contains("postgresql://u:***@db/x"), "{manifest}");
    assert!(!manifest.contains("hunter2"));
}

#[test]
fn failing_command_stores_nothing() {
    let env = TestEnv::new();
    let stderr = env.fails(
        &[
            "push",
            "db",
            "--",
            "sh",
            "-c",
            "head -c 1000000 /dev/zero; exit 3",
        ],
        b"",
    );
    assert_one_line_error(&stderr, "exit status: 3");
    assert!(stderr.contains("nothing was stored"));
    assert_eq!(env.ok(&["list", "--json"], b""), b"[]\n");
    assert!(
        env.stored_files("db").is_empty(),
        "{:?}",
        env.stored_files("db")
    );
    let stderr = env.fails(&["push", "db", "--", "/nonexistent/pg_dump"], b"");
    assert_one_line_error(&stderr, "could not start `/nonexistent/pg_dump`");
}

#[test]
fn unknown_name_and_id_are_clear_errors() {
    let env = TestEnv::new();
    assert_one_line_error(
        &env.fails(&["pull", "nope"], b""),
        "does not exist: check --store",
    );
    env.push("db", b"x", &[]);
    assert_one_line_error(&env.fails(&["pull", "nope"], b""), "no backup named 'nope'");
    assert_one_line_error(&env.fails(&["pull", "db@1999"], b""), "no backup 'db@1999'");
    assert_one_line_error(
        &env.fails(&["push", "../escape"], b"x"),
        "not a valid backup name",
    );
}

#[test]
fn corrupted_stored_object_fails_pull_and_verify() {
    let env = TestEnv::new();
    let data = sample(2_000_000, 2);
    let id = env.push("db", &data, &[]);
    let path = env.data_file("db", &id);
    let mut stored = std::fs::read(&path).unwrap();
    let mid = stored.len() / 2;
    stored[mid] ^= 0x55;
    std::fs::write(&path, &stored).unwrap();
    let stderr = env.fails(&["pull", "db"], b"");
    assert_one_line_error(&stderr, "pull db@");
    let stderr = env.fails(&["verify", "db"], b"");
    assert_one_line_error(&stderr, "verify db@");
    // -o never leaves a file behind on failure.
    let out = env.path("restored.dump");
    env.fails(&["pull", "db", "-o", out.to_str().unwrap()], b"");
    assert!(!out.exists());
    assert!(std::fs::read_dir(env.dir.path()).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains("partial")));
}

#[test]
fn truncated_stored_object_fails() {
    let env = TestEnv::new();
    let data = sample(1_000_000, 3);
    let id = env.push("db", &data, &[]);
    let path = env.data_file("db", &id);
    let stored = std::fs::read(&path).unwrap();
    std::fs::write(&path, &stored[..stored.len() - 100]).unwrap();
    let stderr = env.fails(&["pull", "db"], b"");
    assert_one_line_error(&stderr, "truncated");
}

#[test]
fn pull_to_file_is_atomic_and_raw_is_standard_zstd() {
    let env = TestEnv::new();
    let data = sample(500_000, 4);
    env.push("db", &data, &["--compress", "zstd:9"]);
    let out = env.path("db.dump");
    env.ok(&["pull", "db", "-o", out.to_str().unwrap()], b"");
    assert_eq!(std::fs::read(&out).unwrap(), data);
    let raw = env.ok(&["pull", "db", "--raw"], b"");
    assert_eq!(crate::util::tool("zstd", &["-d", "-c"], &raw), data);
}

#[test]
fn verify_exec_fails_when_the_command_rejects() {
    let env = TestEnv::new();
    env.push("db", b"not a pg dump", &[]);
    let ok =
        String::from_utf8(env.ok(&["verify", "db", "--exec", "grep -q 'pg dump'"], b"")).unwrap();
    assert!(ok.starts_with("ok db@"), "{ok}");
    let stderr = env.fails(&["verify", "db", "--exec", "grep -q PGDMP"], b"");
    assert_one_line_error(&stderr, "rejected the restored bytes");
    // A command that stops reading early still gets a full verification.
    env.push("big", &sample(5_000_000, 5), &[]);
    env.ok(&["verify", "big", "--exec", "head -c 10 >/dev/null"], b"");
}

#[test]
fn bad_flags_and_config_are_one_line_errors() {
    let env = TestEnv::new();
    assert_one_line_error(
        &env.fails(&["push", "db", "--compress", "zstd:99"], b"x"),
        "--compress 'zstd:99'",
    );
    assert_one_line_error(
        &env.fails(&["push", "db", "--compress", "gzip"], b"x"),
        "--compress 'gzip'",
    );
    let config = env.path("bad.toml");
    std::fs::write(&config, "encrypt = \"age\"\nstroe = \"/tmp\"\n").unwrap();
    let stderr = env.fails(&["--config", config.to_str().unwrap(), "list"], b"");
    assert_one_line_error(&stderr, "bad.toml is not valid");
    assert!(stderr.contains("stroe"), "{stderr}");
    assert_one_line_error(
        &env.fails(&["push", "db", "--encrypt", "age"], b"x"),
        "--encrypt age needs --recipient",
    );
    assert_one_line_error(
        &env.fails(
            &[
                "push",
                "db",
                "--encrypt",
                "age",
                "--passphrase-env",
                "TWGATE_TEST_UNSET",
            ],
            b"x",
        ),
        "TWGATE_TEST_UNSET",
    );
}

#[test]
fn unwritable_store_fails_before_reading_input() {
    let env = TestEnv::new();
    // A store below a regular file cannot be created, even by root.
    let file = env.path("plain-file");
    std::fs::write(&file, b"").unwrap();
    let store = file.join("store");
    let stderr = env.fails(&["--store", store.to_str().unwrap(), "push", "db"], b"data");
    assert_one_line_error(&stderr, "cannot create store directory");
    assert!(stderr.contains(store.to_str().unwrap()), "{stderr}");
}

#[test]
fn store_flag_overrides_env_and_fs_urls_work() {
    let env = TestEnv::new();
    let other = env.path("other-store");
    let url = format!("fs://{}", other.display());
    env.ok(&["--store", &url, "push", "db"], b"abc");
    assert_eq!(
        env.ok(&["--store", other.to_str().unwrap(), "pull", "db"], b""),
        b"abc"
    );
    assert_one_line_error(&env.fails(&["pull", "db"], b""), "does not exist");
    assert_one_line_error(
        &env.fails(&["--store", "ftp://x/y", "list"], b""),
        "is not valid",
    );
}

/// `--identity` replaces the config's identities (flags win); an unreadable identity file
/// says its cause once.
#[test]
fn identity_flags_replace_the_config_and_errors_say_their_cause_once() {
    let mut env = TestEnv::new();
    let key = env.path("key.txt");
    tool("age-keygen", &["-o", key.to_str().unwrap()], b"");
    let recipient =
        String::from_utf8(tool("age-keygen", &["-y", key.to_str().unwrap()], b"")).unwrap();
    let data = sample(10_000, 5);
    env.push("db", &data, &["--encrypt", "age", "-r", recipient.trim()]);
    env.config("identities = [\"/nonexistent/config-identity.txt\"]\n");
    let err = env.fails(&["pull", "db"], b"");
    assert_one_line_error(&err, "/nonexistent/config-identity.txt");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    assert_eq!(
        env.ok(&["pull", "db", "-i", key.to_str().unwrap()], b""),
        data
    );
}

/// A plugin the config pins to another build makes `plugins` fail, naming it, in text and
/// in JSON (where it is an entry with its error).
#[test]
fn plugins_fails_on_a_mis_pinned_plugin_and_speaks_json() {
    let mut env = TestEnv::new();
    let listed: serde_json::Value =
        serde_json::from_slice(&env.ok(&["plugins", "--json"], b"")).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["zstd", "age", "openpgp", "check"]);
    assert_eq!(listed[0]["kind"], "transform");
    assert!(listed[0]["sha256"].as_str().unwrap().len() == 64);
    let file = env.path("other-build.wasm");
    std::fs::write(&file, b"not the pinned build").unwrap();
    env.config(&format!(
        "[plugins.pinned]\npath = \"{}\"\nsha256 = \"{}\"\n",
        file.display(),
        "0".repeat(64)
    ));
    let out = env.run(&["plugins"], b"");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_one_line_error(&stderr, "1 configured plugin cannot be used");
    assert!(stderr.contains("pinned"), "{stderr}");
    // The built-ins are still listed.
    assert!(String::from_utf8_lossy(&out.stdout).contains("zstd"));
    let out = env.run(&["plugins", "--json"], b"");
    assert!(!out.status.success());
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "pinned")
        .expect("the broken plugin is listed");
    assert!(
        entry["error"].as_str().unwrap().contains("pinned"),
        "{entry}"
    );
}

/// `twgate list | head -1`: a reader that closes stdout early ends every command quietly,
/// with status 0 (Rust's `println!` would panic, exit 101). Here stdout is a pipe whose
/// reading end is already closed, so the very first write fails.
#[test]
fn a_closed_stdout_is_a_quiet_exit() {
    use std::os::fd::{FromRawFd, OwnedFd};
    let env = TestEnv::new();
    env.push("db", &sample(2_000_000, 7), &[]);
    for args in [
        &["list"][..],
        &["list", "--json"],
        &["status"],
        &["status", "--json"],
        &["plugins"],
        &["plugins", "--json"],
        &["pull", "db"],
        &["verify", "db"],
    ] {
        let mut fds = [0; 2];
        // SAFETY: pipe() fills two new descriptors, each owned exactly once below.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        drop(read);
        let out = env
            .cmd()
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::from(write))
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "twgate {args:?} with stdout closed: {:?}: {stderr}",
            out.status
        );
        assert!(
            !stderr.contains("panicked") && !stderr.contains("error"),
            "{args:?}: {stderr}"
        );
    }
}

/// `verify --exec` leaves the command's output on stdout, where a pipe can read it; with
/// --json, stdout holds the JSON alone. A --json command that fails prints `{"error": ...}`.
#[test]
fn verify_exec_output_is_on_stdout_and_json_errors_are_json() {
    let env = TestEnv::new();
    env.push("db", b"CREATE TABLE incidents;\n", &["--allow-empty"]);
    let out = String::from_utf8(env.ok(&["verify", "db", "--exec", "grep TABLE"], b"")).unwrap();
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("CREATE TABLE incidents;"));
    assert!(lines.next().unwrap().starts_with("ok db@"), "{out}");
    let json = env.ok(&["verify", "db", "--json", "--exec", "grep TABLE"], b"");
    let report: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(report["ok"], true);
    for args in [
        &["verify", "nosuch", "--json"][..],
        &["list", "nosuch/..", "--json"],
        &["prune", "--json"],
        &["status", "--json", "--store", "/nonexistent/store"],
    ] {
        let out = env.run(args, b"");
        assert!(!out.status.success(), "{args:?}");
        let value: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: stdout is not JSON ({e}): {:?}", out.stdout));
        let error = value["error"].as_str().unwrap();
        assert!(
            !error.is_empty() && !error.contains('\n'),
            "{args:?}: {error}"
        );
    }
}

/// Durations take a unit; a store argument that looks like a URL is one or is refused.
#[test]
fn bare_durations_and_unknown_schemes_are_refused() {
    let env = TestEnv::new();
    env.push("db", b"rows\n", &[]);
    for args in [
        &["prune", "--keep-within", "30"][..],
        &["status", "--max-age", "26"],
        &["prune", "--orphans", "--grace", "10"],
    ] {
        let err = env.fails(args, b"");
        assert!(
            err.contains("has no unit") && err.contains("30d"),
            "{args:?}: {err}"
        );
    }
    // Nothing was pruned by the refused runs.
    assert_eq!(env.backup_ids(Some("db")).len(), 1);
    for url in [
        "s3:/bucket/x",
        "gs:bucket",
        "minio:bucket/x",
        "backups:2026",
    ] {
        let err = env.fails(&["--store", url, "list"], b"");
        assert_one_line_error(&err, "is not valid");
        assert!(err.contains(&format!("./{url}")), "{err}");
    }
}
