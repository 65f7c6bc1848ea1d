//! Custom plugins that misbehave on purpose (`tests/plugins/hostile`, built from source here
//! for wasm32-wasip2): each is stopped with one clear line naming the plugin, nothing is
//! stored, and twgate exits normally. Also: pinning by sha256.

use crate::util::{assert_one_line_error, file_sha256, hostile_wasm, sample, sha256, TestEnv};

/// A test environment with the hostile plugin configured under tight limits.
fn hostile_env() -> TestEnv {
    hostile_env_with("")
}

/// As `hostile_env`, with `extra` added to the plugin's config.
fn hostile_env_with(extra: &str) -> TestEnv {
    hostile_env_around("", extra)
}

/// As `hostile_env`, with top-level `settings` before the plugin's table and `extra` in it.
fn hostile_env_around(settings: &str, extra: &str) -> TestEnv {
    let mut env = TestEnv::new();
    let wasm = hostile_wasm();
    env.config(&format!(
        "{settings}[plugins.hostile]\npath = \"{}\"\nsha256 = \"{}\"\nmemory_mib = 64\ntimeout_secs = 2\nmax_output_mib = 8\n{extra}",
        wasm.display(),
        file_sha256(wasm)
    ));
    env
}

/// Pushes through the hostile plugin in `mode`; asserts a clean failure and nothing stored.
fn push_is_stopped(mode: &str, input: &[u8], needle: &str) {
    let env = hostile_env();
    let transform = format!("hostile:mode={mode}");
    let out = env.run(&["push", "db", "--transform", &transform], input);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "twgate must exit normally: {stderr}"
    );
    assert_one_line_error(&stderr, needle);
    assert!(
        stderr.contains("hostile"),
        "the error must name the plugin: {stderr}"
    );
    assert!(env.backup_ids(None).is_empty());
    let leftovers: Vec<_> = env
        .stored_files("db")
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "data"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn an_infinite_loop_is_stopped_by_the_deadline() {
    push_is_stopped("loop", &sample(1000, 1), "ran longer than 2 s");
}

/// The deadline holds on the way back too (the epoch ticker once stopped with the
/// runtime, before the pull's stages ran, and a spinning restore spun forever).
#[test]
fn an_infinite_loop_on_pull_is_stopped_by_the_deadline() {
    // A custom stage decodes with its config's params (not the recorded ones).
    let env = hostile_env_with("params = { mode = \"loop-on-pull\" }\n");
    let id = env.push("db", &sample(1000, 4), &["--transform", "hostile"]);
    let out = env.run(&["pull", &format!("db@{id}")], b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_one_line_error(&stderr, "plugin hostile ran longer than 2 s");
    assert!(out.stdout.is_empty(), "nothing may be restored");
}

/// Without interruption checks (as the built-ins run) the call cannot be stopped alone:
/// the watchdog ends twgate, with the same line, and no backup becomes visible.
#[test]
fn an_uninterruptible_infinite_loop_ends_twgate() {
    let env = hostile_env_with("interruptible = false\n");
    let out = env.run(
        &["push", "db", "--transform", "hostile:mode=loop"],
        &sample(1000, 1),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_one_line_error(&stderr, "plugin hostile ran longer than 2 s");
    assert!(env.backup_ids(None).is_empty());
}

/// `wal fetch` through a plugin that overruns without interruption checks exits 126, so
/// PostgreSQL stops recovery instead of taking the segment for missing and ending it early.
#[test]
fn an_uninterruptible_overrun_in_wal_fetch_stops_recovery() {
    let env = hostile_env_around(
        "transforms = [\"hostile\"]\n",
        "interruptible = false\nparams = { mode = \"loop-on-pull\" }\n",
    );
    let segment = "000000010000000000000001";
    let wal = env.path(segment);
    std::fs::write(&wal, sample(1 << 20, 3)).unwrap();
    env.ok(&["wal", "push", wal.to_str().unwrap()], b"");
    let restored = env.path("restored");
    let out = env.run(&["wal", "fetch", segment, restored.to_str().unwrap()], b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(126), "{stderr}");
    assert_one_line_error(&stderr, "plugin hostile ran longer than 2 s");
    assert!(!restored.exists(), "no WAL file may appear");
}

/// A call blocked inside the host (a one-hour `wasi:clocks` sleep) is out of reach of the
/// epoch checks; the watchdog's backstop ends it a second after its limit.
#[test]
fn a_call_blocked_in_the_host_is_stopped_at_its_limit() {
    let started = std::time::Instant::now();
    push_is_stopped(
        "sleep",
        &sample(1000, 5),
        "plugin hostile ran longer than 2 s",
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "not stopped: {:?}",
        started.elapsed()
    );
}

/// SIGTERM while a plugin is blocked in the host: one line, no panic from the runtime the
/// blocked thread waits on, nothing stored.
#[test]
fn sigterm_during_a_blocked_call_is_clean() {
    let env = hostile_env();
    let mut child = env
        .cmd()
        .args(["push", "db", "--transform", "hostile:mode=sleep"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&sample(1000, 6))
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1200));
    // SAFETY: kill has no preconditions; the pid is our own child's.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_one_line_error(&stderr, "interrupted by");
    assert!(env.backup_ids(None).is_empty());
}

/// A `drain` that never empties, from a one-line input: stopped by the expansion limit.
#[test]
fn endless_output_is_stopped_by_the_expansion_limit() {
    push_is_stopped("drain-forever", b"one line\n", "max_expansion");
}

/// 10 MiB of error message with newlines and terminal escapes: one short, safe line.
#[test]
fn a_flood_of_error_text_prints_one_safe_line() {
    let env = hostile_env();
    let out = env.run(
        &["push", "db", "--transform", "hostile:mode=shout"],
        &sample(1000, 7),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert_one_line_error(&stderr, "plugin hostile failed");
    assert!(stderr.len() < 2048, "{} bytes on stderr", stderr.len());
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\r'),
        "{stderr:?}"
    );
    assert!(stderr.contains('…'), "the cut is marked: {stderr}");
}

/// Traps (stack overflow; a panic in `finish`) are one line naming the plugin and the
/// kind of trap; no backtrace.
#[test]
fn traps_are_one_line_without_a_backtrace() {
    for (mode, kind) in [
        ("stack", "call stack exhausted"),
        ("trap-finish", "unreachable"),
    ] {
        let env = hostile_env();
        let transform = format!("hostile:mode={mode}");
        let out = env.run(&["push", "db", "--transform", &transform], &sample(1000, 8));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_one_line_error(&stderr, "plugin hostile crashed");
        assert!(stderr.contains(kind), "{mode}: {stderr}");
        assert!(!stderr.contains("backtrace"), "{mode}: {stderr}");
        assert!(stderr.lines().count() <= 2, "{mode}: {stderr}");
        assert!(env.backup_ids(None).is_empty());
    }
}

/// 200,000 settings from `describe`: refused in one line, nothing committed.
#[test]
fn an_oversized_description_is_refused() {
    push_is_stopped("describe-flood", &sample(1000, 9), "entries");
}

#[test]
fn unbounded_memory_growth_is_stopped() {
    push_is_stopped("grow", &sample(1000, 2), "more than 64 MiB of memory");
}

#[test]
fn a_trap_halfway_through_a_stream_is_stopped() {
    push_is_stopped("trap", &sample(4 << 20, 3), "crashed");
}

#[test]
fn too_much_output_from_one_call_is_stopped() {
    push_is_stopped("flood", &sample(1000, 4), "more than the limit of 8 MiB");
}

#[test]
fn host_crypto_refuses_a_plugin_hoarding_keys() {
    push_is_stopped(
        "crypto-hoard",
        &sample(1000, 5),
        "(holding 64): more than 64 crypto keys, ciphers and hashers at once",
    );
}

#[test]
fn host_crypto_refuses_a_huge_call() {
    push_is_stopped(
        "crypto-huge",
        &sample(1000, 6),
        "17825792 bytes in one crypto call; at most 16777216 are allowed",
    );
}

#[test]
fn reading_etc_passwd_without_a_preopen_fails() {
    push_is_stopped("passwd", &sample(1000, 5), "cannot read /etc/passwd");
}

#[test]
fn a_plugin_sees_no_environment() {
    let mut env = hostile_env();
    env.vars
        .push(("TWGATE_TEST_SECRET".into(), "do-not-leak".into()));
    let data = sample(100_000, 6);
    env.push(
        "db",
        &data,
        &["--transform", "hostile:mode=env", "--compress", "none"],
    );
    // The plugin prepends every variable it can see: there are none.
    assert_eq!(
        sha256(&env.ok(&["pull", "db", "--raw"], b"")),
        sha256(&data)
    );
}

#[test]
fn a_custom_plugin_is_pinned_by_sha256_and_recorded() {
    let env = hostile_env();
    let data = sample(300_000, 7);
    let id = env.push("db", &data, &["--transform", "hostile:mode=pass"]);
    assert_eq!(sha256(&env.ok(&["pull", "db"], b"")), sha256(&data));
    let list: serde_json::Value =
        serde_json::from_slice(&env.ok(&["list", "--json"], b"")).unwrap();
    let stage = &list[0]["pipeline"][0];
    assert_eq!(stage["plugin"], "hostile");
    assert_eq!(stage["sha256"], file_sha256(hostile_wasm()));

    // Another build under the same name: refused at push and at pull.
    let changed = env.path("changed.wasm");
    let mut bytes = std::fs::read(hostile_wasm()).unwrap();
    bytes.extend_from_slice(b"\0"); // a different file, still a loadable component
    std::fs::write(&changed, &bytes).unwrap();
    let mut other = TestEnv::new();
    other.store_url = env.store_url.clone();
    other.config(&format!(
        "[plugins.hostile]\npath = \"{}\"\nsha256 = \"{}\"\n",
        changed.display(),
        file_sha256(hostile_wasm())
    ));
    let err = other.fails(&["push", "db", "--transform", "hostile"], &data);
    assert_one_line_error(&err, "but the config pins");
    let err = other.fails(&["pull", &format!("db@{id}")], b"");
    assert_one_line_error(&err, "but the config pins");

    // No pin at all: refused, with the sha256 to review and pin.
    let mut unpinned = TestEnv::new();
    unpinned.config(&format!(
        "[plugins.hostile]\npath = \"{}\"\n",
        hostile_wasm().display()
    ));
    let err = unpinned.fails(&["push", "db", "--transform", "hostile"], &data);
    assert_one_line_error(&err, &file_sha256(hostile_wasm()));

    // Not configured at all.
    let err = TestEnv::new().fails(&["push", "db", "--transform", "nosuch"], &data);
    assert_one_line_error(&err, "[plugins.nosuch]");
}

/// The hostile plugin with `grants` added to its config.
fn granted_env(grants: &str) -> TestEnv {
    let mut env = TestEnv::new();
    let wasm = hostile_wasm();
    env.config(&format!(
        "[plugins.hostile]\npath = \"{}\"\nsha256 = \"{}\"\n[plugins.hostile.grants]\n{grants}\n",
        wasm.display(),
        file_sha256(wasm)
    ));
    env
}

#[test]
fn a_granted_directory_and_granted_variables_are_all_a_plugin_sees() {
    // With /etc granted, the same read that failed above succeeds.
    let env = granted_env("dirs = [\"/etc\"]");
    env.push(
        "db",
        b"x",
        &["--transform", "hostile:mode=passwd", "--compress", "none"],
    );
    let stored = env.ok(&["pull", "db", "--raw"], b"");
    assert_eq!(stored, std::fs::read("/etc/passwd").unwrap());

    // Only the variables named in `env` pass; the others stay invisible.
    let mut env = granted_env("env = [\"TWGATE_TEST_VISIBLE\"]");
    env.vars
        .push(("TWGATE_TEST_VISIBLE".into(), "shown".into()));
    env.vars
        .push(("TWGATE_TEST_SECRET".into(), "do-not-leak".into()));
    env.push(
        "db",
        b"x",
        &["--transform", "hostile:mode=env", "--compress", "none"],
    );
    let seen = String::from_utf8(env.ok(&["pull", "db", "--raw"], b"")).unwrap();
    assert!(seen.starts_with("TWGATE_TEST_VISIBLE=shown\n"), "{seen}");
    assert!(!seen.contains("do-not-leak"), "{seen}");

    // A grant that cannot be honoured is refused when the config is read.
    let env = granted_env("dirs = [\"/no/such/twgate/dir\"]");
    let err = env.fails(&["push", "db", "--transform", "hostile"], b"x");
    assert_one_line_error(&err, "/no/such/twgate/dir");
    let env = granted_env("http = [\"example.com\"]");
    let err = env.fails(&["push", "db", "--transform", "hostile"], b"x");
    assert_one_line_error(&err, "write an exact host:port");
}
