//! Native tests of the pgdump-check plugin, driven through the SDK as the host drives it.

use twgate_plugin_pgdump_check::PgdumpCheck;
use twgate_plugin_sdk::{run, Direction, Error, Params, Transform};

const CHUNK_SIZES: &[usize] = &[1, 2, 3, 5, 7, 10, 11, 12, 64, 4096, 1 << 20];

/// `WriteInt` with 4-byte integers: a sign byte, then the magnitude, least significant first.
fn write_int(out: &mut Vec<u8>, i: i32) {
    out.push(u8::from(i < 0));
    out.extend_from_slice(&i.unsigned_abs().to_le_bytes());
}

/// `WriteStr`: the length as an int, then the bytes.
fn write_str(out: &mut Vec<u8>, s: &str) {
    write_int(out, s.len() as i32);
    out.extend_from_slice(s.as_bytes());
}

/// The start of an archive as `WriteHead` in pg_dump 12..15 writes it (version 1.14.0),
/// followed by some bytes standing for the TOC and data.
fn archive(minor: u8) -> Vec<u8> {
    let mut a = b"PGDMP".to_vec();
    a.extend_from_slice(&[1, minor, 0, 4, 8, 1]);
    if minor >= 15 {
        a.push(0); // compression algorithm
    } else {
        write_int(&mut a, -1); // compression level
    }
    for field in [5, 4, 3, 2, 1, 124, 0] {
        write_int(&mut a, field); // creation time: sec, min, hour, mday, mon, year, isdst
    }
    write_str(&mut a, "db");
    write_str(&mut a, "15.6");
    write_str(&mut a, "15.6");
    a.extend((0..100_000u32).map(|i| (i * 7 + i / 251) as u8));
    a
}

fn forward() -> PgdumpCheck {
    PgdumpCheck::open(Direction::Forward, &Params::new(), &Params::new()).unwrap()
}

fn describe(stage: &PgdumpCheck) -> Vec<(String, String)> {
    stage.describe()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn corrupt(result: Result<Vec<u8>, Error>) -> String {
    match result {
        Err(Error::CorruptInput(m)) => m,
        other => panic!("expected CorruptInput, got {other:?}"),
    }
}

#[test]
fn info_names_the_plugin() {
    assert_eq!(PgdumpCheck::NAME, "pgdump-check");
    assert_eq!(PgdumpCheck::VERSION, "0.1.0");
    assert!(!PgdumpCheck::SUMMARY.is_empty());
}

#[test]
fn a_custom_archive_passes_byte_identical_in_any_chunks() {
    let input = archive(14);
    for &size in CHUNK_SIZES {
        let mut stage = forward();
        assert_eq!(describe(&stage), []);
        let output = run(&mut stage, &input, size).unwrap();
        assert!(output == input, "chunk size {size}: output differs");
        assert_eq!(
            describe(&stage),
            pairs(&[("format", "custom"), ("archive-version", "1.14.0")])
        );
    }
}

#[test]
fn newer_archive_versions_are_reported() {
    for (minor, version) in [(15, "1.15.0"), (16, "1.16.0")] {
        let mut stage = forward();
        let input = archive(minor);
        assert_eq!(run(&mut stage, &input, 3).unwrap(), input);
        assert_eq!(describe(&stage)[1].1, version);
    }
}

#[test]
fn older_header_layouts_are_read_as_pg_restore_reads_them() {
    // 1.0: no revision byte, no offset size; 1.6: revision, no offset size.
    for (header, version) in [
        (&b"PGDMP\x01\x00\x04\x01rest"[..], "1.0.0"),
        (&b"PGDMP\x01\x06\x02\x04\x01rest"[..], "1.6.2"),
    ] {
        let mut stage = forward();
        assert_eq!(run(&mut stage, header, 1).unwrap(), header);
        assert_eq!(describe(&stage)[1].1, version);
    }
}

#[test]
fn output_is_held_back_only_until_the_header_is_complete() {
    let input = archive(14);
    let mut stage = forward();
    for i in 0..10 {
        assert_eq!(stage.push(&input[i..i + 1]).unwrap(), b"", "byte {i}");
    }
    assert_eq!(stage.push(&input[10..11]).unwrap(), &input[..11]);
    assert_eq!(stage.push(&input[11..20]).unwrap(), &input[11..20]);
    assert_eq!(stage.finish().unwrap(), b"");
}

#[test]
fn plain_sql_fails_at_the_first_byte() {
    let sql = b"--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\n";
    let mut stage = forward();
    let message = corrupt(stage.push(&sql[..1]));
    assert_eq!(
        message,
        "input is not a pg_dump custom-format archive (expected PGDMP header): \
         use pg_dump --format=custom"
    );
    // A failed stage stays failed.
    corrupt(stage.push(&sql[1..]));
    corrupt(stage.finish());
    assert_eq!(describe(&stage), []);
    for &size in CHUNK_SIZES {
        corrupt(run(&mut forward(), sql, size));
    }
}

#[test]
fn other_formats_and_garbage_fail() {
    let mut gzip = vec![0x1f, 0x8b, 8, 0];
    gzip.extend_from_slice(&[0; 20]);
    let mut tar = b"toc.dat".to_vec();
    tar.resize(512, 0);
    let mut directory_toc = archive(14);
    directory_toc[10] = 5; // archDirectory
    let mut huge_ints = archive(14);
    huge_ints[8] = 64;
    let mut version_zero = archive(14);
    version_zero[5] = 0;
    for (what, input) in [
        ("gzip", gzip),
        ("tar", tar),
        ("directory toc", directory_toc),
        ("integer size 64", huge_ints),
        ("version 0", version_zero),
        ("lowercase magic", b"pgdmp\x01\x0e\x00\x04\x08\x01".to_vec()),
        (
            "error text",
            b"pg_dump: error: connection to server failed\n".to_vec(),
        ),
    ] {
        for &size in CHUNK_SIZES {
            let message = corrupt(run(&mut forward(), &input, size));
            assert!(
                message.contains("--format=custom") || message.contains("damaged"),
                "{what}: {message}"
            );
        }
    }
}

#[test]
fn empty_input_fails_at_finish() {
    let mut stage = forward();
    let message = corrupt(stage.finish());
    assert!(message.contains("PGDMP"), "{message}");
}

#[test]
fn input_shorter_than_the_header_fails_at_finish() {
    let input = archive(14);
    for len in 1..11 {
        let mut stage = forward();
        assert_eq!(stage.push(&input[..len]).unwrap(), b"", "{len} bytes");
        corrupt(stage.finish());
    }
}

#[test]
fn forward_takes_no_parameters() {
    let params = Params::new().with("level", "3");
    match PgdumpCheck::open(Direction::Forward, &params, &Params::new()) {
        Err(Error::BadConfig(m)) => assert!(m.contains("'level'"), "{m}"),
        other => panic!("expected BadConfig, got {:?}", other.err()),
    }
}

#[test]
fn inverse_passes_anything_through() {
    let recorded = Params::new()
        .with("format", "custom")
        .with("archive-version", "1.14.0");
    for input in [archive(14), b"not an archive".to_vec(), Vec::new()] {
        for &size in CHUNK_SIZES {
            let mut stage =
                PgdumpCheck::open(Direction::Inverse, &recorded, &Params::new()).unwrap();
            assert_eq!(run(&mut stage, &input, size).unwrap(), input);
            assert_eq!(describe(&stage), []);
        }
    }
}
