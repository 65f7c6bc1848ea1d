//! `twgate wal push` / `wal fetch` keep PostgreSQL's archive_command and restore_command
//! contracts: idempotent pushes, loud conflicts, "not found" as exit 1, anything else as
//! exit 126 (recovery stops rather than ends early), and a restored file only when whole.

use crate::util::{assert_one_line_error, sample, sha256, TestEnv};

const SEGMENT: &str = "000000010000000000000001";

#[test]
fn wal_push_is_idempotent_and_refuses_different_content() {
    let env = TestEnv::new();
    let wal = env.path(SEGMENT);
    let content = sample(16 << 20, 60);
    std::fs::write(&wal, &content).unwrap();
    let path = wal.to_str().unwrap();

    env.ok(&["wal", "push", path], b"");
    assert_eq!(env.backup_ids(Some("wal")), vec![SEGMENT.to_string()]);
    // archive_command may run twice for one segment (after a crash): same bytes, success.
    env.ok(&["wal", "push", path], b"");
    assert_eq!(env.backup_ids(Some("wal")).len(), 1);

    // Different bytes under the same name: a loud failure, and the archive is untouched.
    let mut other = content.clone();
    other[1000] ^= 1;
    std::fs::write(&wal, &other).unwrap();
    let out = env.run(&["wal", "push", path], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_one_line_error(&String::from_utf8_lossy(&out.stderr), "different content");
    let restored = env.path("restored");
    env.ok(&["wal", "fetch", SEGMENT, restored.to_str().unwrap()], b"");
    assert_eq!(sha256(&std::fs::read(&restored).unwrap()), sha256(&content));

    // A history file and a second segment sort and list like WAL does.
    let history = env.path("00000002.history");
    std::fs::write(&history, b"1\t0/3000000\tno recovery target specified\n").unwrap();
    env.ok(&["wal", "push", history.to_str().unwrap()], b"");
    assert_eq!(env.backup_ids(Some("wal")).len(), 2);
}

#[test]
fn wal_fetch_says_not_found_with_exit_1_and_failure_with_exit_126() {
    let env = TestEnv::new();
    let wal = env.path(SEGMENT);
    std::fs::write(&wal, sample(1 << 20, 61)).unwrap();
    env.ok(&["wal", "push", wal.to_str().unwrap()], b"");

    // Not archived (PostgreSQL asks for files that never existed, like the next timeline's
    // history): exit 1, and nothing written.
    let dest = env.path("RECOVERYXLOG");
    let out = env.run(
        &[
            "wal",
            "fetch",
            "000000010000000000000002",
            dest.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(!dest.exists());

    // Archived but damaged: exit 126 (PostgreSQL stops recovery), and nothing written.
    let data = env.data_file("wal", SEGMENT);
    let mut bytes = std::fs::read(&data).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&data, bytes).unwrap();
    let out = env.run(&["wal", "fetch", SEGMENT, dest.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(126), "{out:?}");
    assert!(
        !dest.exists(),
        "a damaged WAL file must never be handed to PostgreSQL"
    );

    // Not a WAL file name: refused before touching the store.
    let out = env.run(
        &["wal", "fetch", "../etc/passwd", dest.to_str().unwrap()],
        b"",
    );
    assert_eq!(out.status.code(), Some(126));
    assert_one_line_error(
        &String::from_utf8_lossy(&out.stderr),
        "is not a WAL file name",
    );
}
