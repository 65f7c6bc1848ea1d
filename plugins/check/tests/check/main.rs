//! The check on real archives (PostgreSQL 15's, made by `tests/fixtures/make.sh`, and the
//! same archives rewritten in the layouts of other archive versions) and on synthetic ones
//! for its bounds: complete archives pass with their facts whatever the chunk sizes; cut at
//! any byte, corrupted or followed by garbage, they fail with one line.

mod archive;
mod bounds;
mod fixtures;

use std::path::PathBuf;
use std::sync::OnceLock;

use twgate_plugin_check::{CheckError, Checker, Report};

/// The chunk sizes every complete archive is fed in.
pub const CHUNKS: [usize; 6] = [1, 7, 512, 4096, 65536, 524288];

pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The base backup, decompressed with the stock `zstd` tool (the crate has no
/// dependencies to do it).
pub fn basebackup() -> &'static [u8] {
    static TAR: OnceLock<Vec<u8>> = OnceLock::new();
    TAR.get_or_init(|| {
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/basebackup.tar.zst");
        let out = std::process::Command::new("zstd")
            .args(["-d", "-c", "-q"])
            .arg(&path)
            .output()
            .expect("the stock zstd command runs");
        assert!(out.status.success(), "zstd -d failed: {out:?}");
        out.stdout
    })
}

/// Feeds `data` in chunks of `chunk` bytes, then finishes.
pub fn check(data: &[u8], chunk: usize) -> Result<Report, CheckError> {
    let mut checker = Checker::new();
    for c in data.chunks(chunk) {
        checker.feed(c)?;
    }
    checker.finish()
}

/// A failure's message is one line naming the format.
pub fn assert_one_line(e: &CheckError, format_name: &str) {
    let m = e.to_string();
    assert!(!m.contains('\n'), "{m}");
    assert!(m.starts_with(format_name), "{m}");
    assert!(m.contains(", at byte "), "{m}");
}
