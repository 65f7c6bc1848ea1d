//! Snapshots of what people read: every command's `--help`, and the exact text of the
//! errors users meet most (tests/cmd/*.trycmd, run by trycmd). A doubled cause, a garbled
//! line or a help text that changed by accident fails here; after a deliberate change,
//! `TRYCMD=overwrite cargo test --release --test integration snapshots` rewrites them, and
//! the diff is the review.

#[test]
fn help_and_common_errors_read_as_pinned() {
    let home = tempfile::tempdir().unwrap();
    let home_path = home.path().to_str().unwrap().to_string();
    trycmd::TestCases::new()
        .register_bin("twgate", std::path::Path::new(env!("CARGO_BIN_EXE_twgate")))
        // Nothing from the machine's own configuration; a store that starts empty (the
        // cases of a file run in turn); plugins compile into the tests' shared cache (a
        // case that may compile one runs with -q).
        .env("HOME", &home_path)
        .env("XDG_CONFIG_HOME", format!("{home_path}/config"))
        .env("XDG_DATA_HOME", format!("{home_path}/data"))
        .env(
            "XDG_CACHE_HOME",
            crate::util::cache_dir().parent().unwrap().to_str().unwrap(),
        )
        .env("TWGATE_STORE", format!("{home_path}/store"))
        .env("COLUMNS", "100")
        .insert_var("[HOME]", home_path.clone())
        .unwrap()
        .case("../tests/cmd/*.trycmd")
        .run();
}
