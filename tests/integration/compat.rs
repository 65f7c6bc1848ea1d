//! Backward compatibility, forever: every backup of the corpus in `tests/compat` (written
//! by earlier builds, manifest versions 1 to the current one) restores byte for byte with
//! this build; built-in stages are matched by stream format, not by the build that wrote
//! them; custom plugins stay pinned by sha256.

use crate::util::{assert_one_line_error, hostile_wasm, sample, sha256, TestEnv};
use std::path::{Path, PathBuf};

/// Where the corpus lives in the checkout.
fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/compat")
}

/// The environment variable the passphrase backups are opened with.
const PASSPHRASE_VAR: &str = "TWGATE_CORPUS_PASSPHRASE";

/// One row of `corpus.tsv`.
#[derive(Debug)]
struct Entry {
    /// `NAME@ID`.
    backup: String,
    /// `pull`, or `wal` for a WAL segment restored with `wal fetch`.
    how: String,
    /// Which key opens it: `none`, `age-identity`, `openpgp-secret` or `passphrase`.
    keys: String,
    /// The file in `inputs/` it restores to (`.zst`: kept compressed).
    input: String,
    written_by: String,
}

impl Entry {
    fn name(&self) -> &str {
        self.backup.split_once('@').unwrap().0
    }

    fn id(&self) -> &str {
        self.backup.split_once('@').unwrap().1
    }

    fn label(&self) -> &str {
        self.backup.split_once('-').unwrap().0
    }

    /// The flags that hand this backup's key to twgate.
    fn key_args(&self) -> Vec<String> {
        let key = |file: &str| {
            vec![
                "--identity".to_string(),
                corpus_dir().join("keys").join(file).display().to_string(),
            ]
        };
        match self.keys.as_str() {
            "none" => Vec::new(),
            "age-identity" => key("age-identity.txt"),
            "openpgp-secret" => key("openpgp-secret.asc"),
            "passphrase" => vec!["--passphrase-env".into(), PASSPHRASE_VAR.into()],
            other => panic!("corpus.tsv: unknown keys '{other}' for {}", self.backup),
        }
    }

    /// The bytes it must restore to.
    fn expected(&self) -> Vec<u8> {
        let bytes = std::fs::read(corpus_dir().join("inputs").join(&self.input)).unwrap();
        if self.input.ends_with(".zst") {
            zstd::decode_all(&bytes[..]).unwrap()
        } else {
            bytes
        }
    }
}

fn corpus() -> Vec<Entry> {
    let text = std::fs::read_to_string(corpus_dir().join("corpus.tsv")).unwrap();
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 5, "corpus.tsv: five fields per row: {line}");
            Entry {
                backup: fields[0].into(),
                how: fields[1].into(),
                keys: fields[2].into(),
                input: fields[3].into(),
                written_by: fields[4].into(),
            }
        })
        .collect()
}

/// A test environment whose store is a copy of the corpus, so no test changes the
/// committed one.
fn corpus_env() -> TestEnv {
    let mut env = TestEnv::new();
    copy_dir(&corpus_dir().join("store"), &env.store());
    let passphrase = std::fs::read_to_string(corpus_dir().join("keys/passphrase.txt")).unwrap();
    env.vars.push((PASSPHRASE_VAR.into(), passphrase));
    env
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Restores `entry` as its kind is restored (`pull -o`, or `wal fetch`), with `extra`
/// flags; returns the restored bytes.
fn restore(env: &TestEnv, entry: &Entry, extra: &[&str]) -> Vec<u8> {
    let out = env.path(&format!("restored-{}", entry.name()));
    let out_arg = out.display().to_string();
    let mut args: Vec<String> = match entry.how.as_str() {
        "pull" => ["pull", &entry.backup, "-o", &out_arg]
            .map(String::from)
            .to_vec(),
        "wal" => [
            "wal",
            "fetch",
            entry.id(),
            &out_arg,
            "--archive",
            entry.name(),
        ]
        .map(String::from)
        .to_vec(),
        other => panic!("corpus.tsv: unknown way to restore '{other}'"),
    };
    args.extend(entry.key_args());
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    env.ok(&args, b"");
    let restored = std::fs::read(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    restored
}

/// Every manifest file in the store copy, by `NAME@ID`.
fn manifest_paths(env: &TestEnv) -> Vec<(String, PathBuf)> {
    let mut found = Vec::new();
    for dir in std::fs::read_dir(env.store()).unwrap() {
        let dir = dir.unwrap();
        if dir.file_name().to_string_lossy().starts_with('.') {
            continue; // a store's own directories (staging)
        }
        for file in std::fs::read_dir(dir.path()).unwrap() {
            let path = file.unwrap().path();
            let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
            if let Some(id) = file_name.strip_suffix(".manifest.json") {
                let name = dir.file_name().to_string_lossy().into_owned();
                found.push((format!("{name}@{id}"), path));
            }
        }
    }
    found.sort();
    found
}

/// Applies `edit` to every stage of every manifest in the store copy.
fn edit_stages(env: &TestEnv, edit: impl Fn(&mut serde_json::Value)) {
    for (_, path) in manifest_paths(env) {
        let mut manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        for stage in manifest["pipeline"].as_array_mut().unwrap() {
            edit(stage);
        }
        std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    }
}

#[test]
fn the_corpus_is_complete_and_listed() {
    let entries = corpus();
    let env = corpus_env();
    let listed: Vec<String> = entries.iter().map(|e| e.backup.clone()).collect();
    let mut sorted = listed.clone();
    sorted.sort();
    let stored: Vec<String> = manifest_paths(&env).into_iter().map(|(b, _)| b).collect();
    assert_eq!(
        sorted, stored,
        "corpus.tsv and store/ must hold the same backups"
    );
    // Each manifest version this build reads has its set of backups.
    for label in ["v1", "v2", "v3"] {
        let kinds: Vec<&str> = entries
            .iter()
            .filter(|e| e.label() == label)
            .map(|e| &e.name()[label.len() + 1..])
            .collect();
        for kind in [
            "zstd",
            "zstd-age-recipient",
            "zstd-age-passphrase",
            "zstd-openpgp-cert",
            "zstd-openpgp-passphrase",
            "wal",
        ] {
            assert!(kinds.contains(&kind), "no {label}-{kind} in the corpus");
        }
    }
    // `list` reads every manifest, whichever build wrote it.
    let list: serde_json::Value =
        serde_json::from_slice(&env.ok(&["list", "--json"], b"")).unwrap();
    let mut ids: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}@{}",
                m["name"].as_str().unwrap(),
                m["id"].as_str().unwrap()
            )
        })
        .collect();
    ids.sort();
    assert_eq!(ids, sorted);
}

#[test]
fn every_corpus_backup_restores_byte_for_byte() {
    let env = corpus_env();
    for entry in corpus() {
        let restored = restore(&env, &entry, &[]);
        assert!(
            restored == entry.expected(),
            "{} (written by {}) restored {} bytes that differ from {}",
            entry.backup,
            entry.written_by,
            restored.len(),
            entry.input
        );
        if entry.how == "pull" {
            let mut args = vec!["verify".to_string(), entry.backup.clone()];
            args.extend(entry.key_args());
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            env.ok(&args, b"");
        }
    }
}

/// Another build of the built-ins (another compiler, another machine) writes the same
/// formats: its backups restore with no flag.
#[test]
fn builtin_stages_are_matched_by_format_not_by_build() {
    let env = corpus_env();
    edit_stages(&env, |stage| stage["sha256"] = "0".repeat(64).into());
    for entry in corpus() {
        assert!(
            restore(&env, &entry, &[]) == entry.expected(),
            "{} with another build's sha256",
            entry.backup
        );
    }
    let entry = corpus()
        .into_iter()
        .find(|e| e.how == "pull" && e.keys == "age-identity")
        .unwrap();
    let mut args = vec!["verify".to_string(), entry.backup.clone()];
    args.extend(entry.key_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    env.ok(&args, b"");
}

/// A format this build does not read is one line that says to upgrade, in `pull` and in
/// `wal fetch` (exit 126: recovery stops rather than ends early).
#[test]
fn an_unknown_format_asks_for_a_newer_twgate() {
    let env = corpus_env();
    edit_stages(&env, |stage| {
        if stage["plugin"] == "zstd" {
            stage["format"] = "zstd/99\u{1b}[2J".into();
        }
    });
    // `list` still lists them, and says what they need. (Manifests before version 3 hold
    // no format: the edit means nothing to them.)
    let list = String::from_utf8(env.ok(&["list"], b"")).unwrap();
    let marked = list.lines().filter(|l| l.contains("needs a newer twgate"));
    let current = corpus().iter().filter(|e| e.label() == "v3").count();
    assert_eq!(marked.count(), current, "{list}");
    assert!(!list.contains('\u{1b}'), "escape printed raw: {list:?}");

    let entries = corpus();
    let current = entries.iter().filter(|e| e.label() == "v3");
    for entry in current {
        let mut args: Vec<String> = match entry.how.as_str() {
            "pull" => vec!["pull".into(), entry.backup.clone()],
            _ => vec![
                "wal".into(),
                "fetch".into(),
                entry.id().into(),
                env.path("segment").display().to_string(),
                "--archive".into(),
                entry.name().into(),
            ],
        };
        args.extend(entry.key_args());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = env.run(&args, b"");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_one_line_error(&stderr, "newer twgate");
        assert!(stderr.contains("zstd/99"), "{stderr}");
        assert!(!stderr.contains('\u{1b}'), "escape printed raw: {stderr:?}");
        if entry.how == "wal" {
            assert_eq!(out.status.code(), Some(126), "{stderr}");
            assert!(!env.path("segment").exists());
        }
    }
}

/// A custom plugin's format is its own: another build of it is refused unless allowed,
/// by flag or, for `wal fetch` as restore_command, in its config.
#[test]
fn a_changed_custom_plugin_is_refused_unless_allowed() {
    let mut env = TestEnv::new();
    let config = |path: &Path, extra: &str| {
        format!(
            "transforms = [\"hostile:mode=pass\"]\n\
             [plugins.hostile]\npath = \"{}\"\nsha256 = \"{}\"\n{extra}",
            path.display(),
            sha256(&std::fs::read(path).unwrap())
        )
    };
    env.config(&config(hostile_wasm(), ""));
    let data = sample(200_000, 9);
    env.push("db", &data, &[]);
    let segment = env.path("000000010000000000000007");
    std::fs::write(&segment, &data).unwrap();
    env.ok(&["wal", "push", segment.to_str().unwrap()], b"");
    let dest = env.path("restored");
    let fetch = [
        "wal",
        "fetch",
        "000000010000000000000007",
        dest.to_str().unwrap(),
    ];

    // Another build under the same name, reviewed and pinned.
    let changed = env.path("changed.wasm");
    let mut bytes = std::fs::read(hostile_wasm()).unwrap();
    // A custom section at the end: another file, the same code, still a valid component.
    let (name, payload) = (b"twgate-test", b"rebuilt");
    bytes.extend([0, (1 + name.len() + payload.len()) as u8, name.len() as u8]);
    bytes.extend(name);
    bytes.extend(payload);
    std::fs::write(&changed, &bytes).unwrap();
    env.config(&config(&changed, ""));
    let err = env.fails(&["pull", "db"], b"");
    assert_one_line_error(&err, "--allow-plugin-change");
    let out = env.run(&fetch, b"");
    assert_eq!(out.status.code(), Some(126));
    assert_one_line_error(
        &String::from_utf8_lossy(&out.stderr),
        "allow_plugin_change = true",
    );
    assert!(!dest.exists());

    let restored = env.ok(&["pull", "db", "--allow-plugin-change"], b"");
    assert_eq!(sha256(&restored), sha256(&data));
    let mut with_flag = fetch.to_vec();
    with_flag.push("--allow-plugin-change");
    env.ok(&with_flag, b"");
    assert_eq!(sha256(&std::fs::read(&dest).unwrap()), sha256(&data));
    std::fs::remove_file(&dest).unwrap();

    // restore_command takes no extra flag: the config says it once.
    env.config(&config(&changed, "allow_plugin_change = true\n"));
    env.ok(&fetch, b"");
    assert_eq!(sha256(&std::fs::read(&dest).unwrap()), sha256(&data));
    assert_eq!(sha256(&env.ok(&["pull", "db"], b"")), sha256(&data));
}
