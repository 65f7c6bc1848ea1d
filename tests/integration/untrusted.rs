//! What a store says is not trusted: a stored object changed where its plugins would still
//! decode it, an edited checksum, unreadable or hostile manifests, names and ids with
//! terminal escapes. And what a user's command line says is not recorded blindly:
//! passwords in producer arguments are masked, or the command is not recorded at all.

use crate::util::{assert_one_line_error, liar_wasm, sample, sha256, TestEnv};

/// The manifest of `name@id` as JSON, to edit.
fn manifest_json(env: &TestEnv, name: &str, id: &str) -> (std::path::PathBuf, serde_json::Value) {
    let path = env.store().join(name).join(format!("{id}.manifest.json"));
    let json = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    (path, json)
}

/// The last byte of a zstd stream is its frame checksum, which a pull does not read (the
/// host's BLAKE3 covers it): the restored bytes are right, but the stored object is not
/// what was stored. Pull fails, and `-o` leaves no file.
#[test]
fn pull_checks_the_stored_bytes_too() {
    let env = TestEnv::new();
    let data = sample(300_000, 11);
    let id = env.push("db", &data, &[]);
    let path = env.data_file("db", &id);
    let mut stored = std::fs::read(&path).unwrap();
    *stored.last_mut().unwrap() ^= 0x01;
    std::fs::write(&path, &stored).unwrap();
    let out = env.path("restored");
    let err = env.fails(&["pull", "db", "-o", out.to_str().unwrap()], b"");
    assert_one_line_error(&err, "corrupted");
    assert!(!out.exists());
    assert_one_line_error(&env.fails(&["pull", "db"], b""), "corrupted");

    // The object intact, its recorded checksum edited: refused all the same.
    let mut stored = std::fs::read(&path).unwrap();
    *stored.last_mut().unwrap() ^= 0x01;
    std::fs::write(&path, &stored).unwrap();
    assert!(env.ok(&["pull", "db"], b"") == data);
    let (manifest, mut json) = manifest_json(&env, "db", &id);
    json["stored"]["blake3"] = "0".repeat(64).into();
    std::fs::write(&manifest, serde_json::to_vec(&json).unwrap()).unwrap();
    assert_one_line_error(&env.fails(&["pull", "db"], b""), "corrupted");
}

/// A manifest that cannot be parsed (garbage, or nested 200,000 deep) is reported as
/// such, by name; `@latest` never quietly means an older backup; the others still list.
#[test]
fn unreadable_manifests_are_named_and_hide_nothing() {
    let env = TestEnv::new();
    let old = env.push("db", b"older backup", &[]);
    let newer = "29991231T000000.000Z-aaaaaa";
    let broken = env
        .store()
        .join("db")
        .join(format!("{newer}.manifest.json"));
    // A well-formed manifest whose name would put escapes on the terminal.
    let (_, mut hostile) = manifest_json(&env, "db", &old);
    hostile["name"] = "db\u{1b}]0;owned\u{7}".into();
    hostile["id"] = newer.into();
    for garbage in [
        b"\x00garbage\x1b[2J".to_vec(),
        "[".repeat(200_000).into_bytes(),
        serde_json::to_vec(&hostile).unwrap(),
    ] {
        std::fs::write(&broken, &garbage).unwrap();
        let err = env.fails(&["pull", "db"], b"");
        assert_one_line_error(&err, "is unreadable");
        assert!(!err.contains('\u{1b}'), "{err:?}");
        assert!(err.contains(newer), "{err}");
        let err = env.fails(&["pull", &format!("db@{newer}")], b"");
        assert_one_line_error(&err, "is unreadable");
        // The older one is still there, by id and in the list (with a warning).
        assert_eq!(
            env.ok(&["pull", &format!("db@{old}")], b""),
            b"older backup"
        );
        let out = env.run(&["list", "--json"], b"");
        assert!(out.status.success());
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert!(String::from_utf8_lossy(&out.stderr).contains("is unreadable"));
    }
}

/// Names and ids with newlines and escapes are echoed safely.
#[test]
fn hostile_names_are_echoed_safely() {
    let env = TestEnv::new();
    for args in [
        vec!["push", "db\n\u{1b}[2Jx"],
        vec!["pull", "db@\u{1b}]0;owned\u{7}"],
    ] {
        let err = env.fails(&args, b"data");
        assert_one_line_error(&err, "twgate: error");
        assert!(!err.contains('\u{1b}'), "{err:?}");
        assert_eq!(err.lines().count(), 1, "{err:?}");
    }
}

/// Passwords in a producer's arguments never reach the manifest; with
/// `record_command = false`, the command line does not either.
#[test]
fn producer_passwords_are_masked_or_the_command_not_recorded() {
    let mut env = TestEnv::new();
    let secret = "hunter2-SECRET";
    let command: Vec<String> = vec![
        "sh".into(),
        "-c".into(),
        "printf 'dump'".into(),
        "-pSECRET1".into(),
        "--password".into(),
        secret.into(),
        format!("--password={secret}"),
        format!("postgresql://app:{secret}@db/x"),
        format!("sslpassword={secret}"),
    ];
    let mut args = vec!["push", "db", "--"];
    args.extend(command.iter().map(String::as_str));
    env.ok(&args, b"");
    let list = String::from_utf8(env.ok(&["list", "--json"], b"")).unwrap();
    assert!(!list.contains("SECRET"), "{list}");
    assert!(list.contains("printf 'dump'"), "{list}");

    env.config("record_command = false\n");
    env.ok(&args, b"");
    let list: serde_json::Value =
        serde_json::from_slice(&env.ok(&["list", "--json"], b"")).unwrap();
    assert!(list[1]["source"].get("command").is_none(), "{list}");
    assert_eq!(list[1]["source"]["kind"], "command");
}

/// A destination plugin that says "committed" and kept nothing, or less, or no manifest:
/// the push checks, fails in one line, and nothing is listed.
#[test]
fn a_destination_that_lies_about_a_commit_is_caught() {
    let wasm = liar_wasm();
    let env_for = |lie: &str| {
        let mut env = TestEnv::new();
        env.config(&format!(
            "[plugins.liar]\npath = \"{}\"\nsha256 = \"{}\"\nparams = {{ lie = \"{lie}\" }}\n",
            wasm.display(),
            sha256(&std::fs::read(wasm).unwrap())
        ));
        env.store_url = "plugin://liar/team".into();
        env
    };
    let data = sample(100_000, 12);
    for (lie, needle) in [
        ("drop-data", "is not there once committed"),
        ("short-data", "not the"),
        ("drop-manifests", "is not there once written"),
    ] {
        let env = env_for(lie);
        let err = env.fails(&["push", "db"], &data);
        assert_one_line_error(&err, needle);
        assert!(err.contains("did not keep"), "{lie}: {err}");
    }
    // The honest store: the same push succeeds.
    env_for("none").push("db", &data, &[]);
}
