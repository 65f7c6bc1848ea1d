//! The plugin author's guide cannot rot: its template files are quoted byte for byte, and
//! the template (`plugins/examples/pgdump-check`) is built from source here and run on a
//! real pg_dump, as the guide tells a user to.

use crate::postgres::Cluster;
use crate::util::{assert_one_line_error, build_guest, run_with, sha256, TestEnv};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn the_guide_quotes_the_template_files_exactly() {
    let guide = std::fs::read_to_string(root().join("docs/plugins.md")).unwrap();
    let mut quoted = 0;
    let mut lines = guide.lines();
    while let Some(line) = lines.next() {
        let Some(path) = line
            .strip_prefix("<!-- file: ")
            .and_then(|rest| rest.strip_suffix(" -->"))
        else {
            continue;
        };
        let fence = lines.next().expect("a code block after the marker");
        assert!(
            fence.starts_with("```"),
            "{path}: expected a code block, got {fence}"
        );
        let mut block = String::new();
        for line in lines.by_ref() {
            if line == "```" {
                break;
            }
            block.push_str(line);
            block.push('\n');
        }
        let file = std::fs::read_to_string(root().join(path)).unwrap();
        assert_eq!(block, file, "docs/plugins.md quotes {path} out of date");
        quoted += 1;
    }
    assert!(quoted >= 2, "the guide should quote the template's files");
}

#[test]
fn the_template_runs_on_a_real_pg_dump_and_refuses_anything_else() {
    // Built as the guide says: cargo build --release --target wasm32-wasip2.
    let wasm = build_guest(
        "plugins/Cargo.toml",
        Some("twgate-plugin-pgdump-check"),
        "twgate_plugin_pgdump_check.wasm",
    );
    let mut env = TestEnv::new();
    env.config(&format!(
        "[plugins.pgdump-check]\npath = \"{}\"\nsha256 = \"{}\"\n",
        wasm.display(),
        sha256(&std::fs::read(&wasm).unwrap())
    ));
    let pg = Cluster::start();
    pg.load_sample("db", 2_000);
    let pg_env = [
        ("PGHOST", "127.0.0.1".to_string()),
        ("PGPORT", pg.port.to_string()),
        ("PGUSER", "postgres".to_string()),
    ];
    let push = |format: &str| {
        run_with(
            env.cmd().envs(pg_env.clone()).args([
                "push",
                "db",
                "--transform",
                "pgdump-check",
                "--",
                "pg_dump",
                format,
                "db",
            ]),
            b"",
        )
    };
    let out = push("--format=custom");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value =
        serde_json::from_slice(&env.ok(&["list", "--json"], b"")).unwrap();
    let stage = &list[0]["pipeline"][0];
    assert_eq!(stage["plugin"], "pgdump-check");
    assert!(stage["params"].to_string().contains("custom"), "{stage}");
    // Through the plugin and back, still an archive pg_restore reads.
    let pulled = env.ok(&["pull", "db"], b"");
    assert_eq!(&pulled[..5], b"PGDMP");
    env.ok(&["verify", "db", "--exec", "pg_restore --list"], b"");

    let out = push("--format=plain");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_one_line_error(&stderr, "pg_dump custom-format");
    assert_eq!(
        env.backup_ids(None).len(),
        1,
        "the refused push stored nothing"
    );
}
