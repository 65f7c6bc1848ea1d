//! The host's parsers of untrusted text, fed random and mutated input for a bounded number
//! of cases on every run: manifests (a store's bytes), store URLs and backup references
//! (a user's), config files. No panic; what they accept is what they print back safely.
//! (The zstd frame scanner, private to the host, has its own in `host/src/frames.rs`.)

use proptest::prelude::*;
use twgate::manifest::Manifest;
use twgate::storage::{BackupRef, Location};

/// A real manifest from the compatibility corpus, to mutate.
fn a_manifest() -> Vec<u8> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/compat/store/v2-zstd-age-recipient");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".manifest.json"))
        .unwrap();
    std::fs::read(file).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn manifests_of_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Manifest::parse(&data, "db/x.manifest.json");
    }

    #[test]
    fn mutated_manifests(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
                         cut in any::<usize>()) {
        let mut data = a_manifest();
        for (at, byte) in flips {
            let at = at % data.len();
            data[at] ^= byte;
        }
        data.truncate(cut % (data.len() + 1));
        if let Err(e) = Manifest::parse(&data, "db/\u{1b}[2Jx.manifest.json") {
            let message = e.to_string();
            prop_assert!(!message.contains('\u{1b}'), "{message:?}");
            prop_assert!(!message.contains('\n'), "{message:?}");
        }
    }

    #[test]
    fn store_urls(url in "\\PC{0,80}") {
        let _ = Location::parse(&url);
    }

    #[test]
    fn backup_references(spec in "\\PC{0,80}") {
        if let Err(e) = BackupRef::parse(&spec) {
            let message = e.to_string();
            prop_assert!(!message.chars().any(char::is_control), "{message:?}");
        }
    }

    #[test]
    fn config_files(text in "[a-z_\\[\\]=\"\\n .0-9{}]{0,200}") {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &text).unwrap();
        let _ = twgate::config::Config::load(Some(file.path()));
    }
}
