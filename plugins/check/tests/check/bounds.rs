//! The check's bounds on synthetic input: memory stays a few KiB whatever the lengths in the
//! stream, content is skipped by length (not looked at byte by byte), and input that is no
//! known format passes as unknown.

use std::time::{Duration, Instant};

use twgate_plugin_check::{Checker, Format};

use crate::check;

/// The most the checker may hold for one stream with one TOC entry.
const FEW_KIB: usize = 8 << 10;

fn int(out: &mut Vec<u8>, v: i64) {
    out.push(u8::from(v < 0));
    out.extend_from_slice(&(v.unsigned_abs() as u32).to_le_bytes());
}

fn string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => int(out, -1),
        Some(s) => {
            int(out, s.len() as i64);
            out.extend_from_slice(s.as_bytes());
        }
    }
}

/// A version 1.14 header and a TOC count of 1.
fn header() -> Vec<u8> {
    let mut out = b"PGDMP".to_vec();
    out.extend_from_slice(&[1, 14, 0, 4, 8, 1]);
    int(&mut out, 0); // no compression
    for d in [0, 0, 12, 1, 0, 125, 0] {
        int(&mut out, d);
    }
    for s in ["db", "15.0", "15.0"] {
        string(&mut out, Some(s));
    }
    int(&mut out, 1);
    out
}

/// A TOC entry for table data, from its dumpId to its defn's length: `defn_len` bytes of
/// definition must follow.
fn entry_until_defn(defn_len: i64) -> Vec<u8> {
    let mut out = Vec::new();
    int(&mut out, 7); // dumpId
    int(&mut out, 1); // hadDumper
    for s in ["0", "16386", "big", "TABLE DATA"] {
        string(&mut out, Some(s));
    }
    int(&mut out, 3); // SECTION_DATA
    int(&mut out, defn_len);
    out
}

/// The rest of that entry, with its data offset not set.
fn entry_rest() -> Vec<u8> {
    let mut out = Vec::new();
    for s in [
        Some(""),
        Some("COPY big FROM stdin;\n"),
        Some("public"),
        Some(""),
    ] {
        string(&mut out, s);
    }
    string(&mut out, Some("heap"));
    string(&mut out, Some("postgres"));
    string(&mut out, Some("false"));
    string(&mut out, Some("5"));
    string(&mut out, None);
    out.push(1); // K_OFFSET_POS_NOT_SET
    out.extend_from_slice(&[0; 8]);
    out
}

#[test]
fn a_100_mib_toc_string_and_data_chunk_hold_a_few_kib() {
    let mut checker = Checker::new();
    let mut peak = 0;
    let mut feed = |checker: &mut Checker, bytes: &[u8]| {
        checker.feed(bytes).unwrap();
        peak = peak.max(checker.held_bytes());
    };
    const MIB: usize = 1 << 20;
    let zeros = vec![b'x'; MIB];
    feed(&mut checker, &header());
    feed(&mut checker, &entry_until_defn(100 * MIB as i64));
    for _ in 0..100 {
        feed(&mut checker, &zeros);
    }
    feed(&mut checker, &entry_rest());
    // The data block: one 100 MiB chunk, then the end of the block.
    let mut block = vec![1];
    int(&mut block, 7);
    int(&mut block, 100 * MIB as i64);
    feed(&mut checker, &block);
    for _ in 0..100 {
        feed(&mut checker, &zeros);
    }
    let mut end = Vec::new();
    int(&mut end, 0);
    feed(&mut checker, &end);
    assert!(peak < FEW_KIB, "held {peak} bytes");
    let report = checker.finish().unwrap();
    assert_eq!(report.fact("data-blocks"), Some("1"));
}

#[test]
fn a_cut_synthetic_block_names_its_table() {
    let mut data = header();
    data.extend(entry_until_defn(3));
    data.extend_from_slice(b"abc");
    data.extend(entry_rest());
    data.push(1);
    int(&mut data, 7);
    int(&mut data, 1000);
    data.extend_from_slice(&[0; 500]);
    let e = check(&data, 64).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "pg_dump custom archive cut short in data block 1 of 1 (table public.big), \
             at byte {}",
            data.len()
        )
    );
}

#[test]
fn content_is_skipped_by_length_not_by_byte() {
    // 64 GiB of data chunks fed 512 KiB at a time: a byte loop would take minutes.
    let mut data = header();
    data.extend(entry_until_defn(0));
    data.extend(entry_rest());
    data.push(1);
    int(&mut data, 7);
    let mut checker = Checker::new();
    checker.feed(&data).unwrap();
    let piece = vec![7u8; 512 << 10];
    let chunk_len: i64 = 1 << 30;
    let start = Instant::now();
    for _ in 0..64 {
        let mut len = Vec::new();
        int(&mut len, chunk_len);
        checker.feed(&len).unwrap();
        for _ in 0..chunk_len / piece.len() as i64 {
            checker.feed(&piece).unwrap();
        }
    }
    let mut end = Vec::new();
    int(&mut end, 0);
    checker.feed(&end).unwrap();
    checker.finish().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_huge_tar_member_and_sql_dump_hold_a_few_kib() {
    // A tar header for a 3 GiB member (GNU base-256 size), fed in 1 MiB pieces.
    let mut h = [0u8; 512];
    h[..8].copy_from_slice(b"big.file");
    h[100..108].copy_from_slice(b"0000600\0");
    h[124] = 0x80;
    h[132] = 0xc0; // 3 << 30, most significant byte first
    h[156] = b'0';
    h[257..265].copy_from_slice(b"ustar\x0000");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum::<u32>() + 8 * 32;
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    let mut checker = Checker::new();
    checker.feed(&h).unwrap();
    let piece = vec![1u8; 1 << 20];
    for _ in 0..3 << 10 {
        checker.feed(&piece).unwrap();
        assert!(checker.held_bytes() < FEW_KIB);
    }
    checker.feed(&[0; 1024]).unwrap();
    let report = checker.finish().unwrap();
    assert_eq!(report.fact("members"), Some("1"));

    let mut checker = Checker::new();
    checker
        .feed(b"--\n-- PostgreSQL database dump\n--\n\n")
        .unwrap();
    let line = b"INSERT INTO t VALUES (1);\n".repeat(40_000);
    for _ in 0..100 {
        checker.feed(&line).unwrap();
        assert!(checker.held_bytes() < FEW_KIB, "{}", checker.held_bytes());
    }
    checker
        .feed(b"--\n-- PostgreSQL database dump complete\n--\n\n")
        .unwrap();
    checker.feed(&[b'\n'; 100_000]).unwrap();
    checker.finish().unwrap();
}

#[test]
fn random_bytes_and_empty_input_are_unknown_and_pass() {
    let report = check(b"", 1).unwrap();
    assert_eq!(report.format, Format::Unknown);
    assert_eq!(
        report.facts,
        [("format".to_string(), "unknown".to_string())]
    );
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let random: Vec<u8> = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    for len in [1, 100, 511, 512, 513, 1 << 20] {
        let data = &random[..len];
        assert!(!data.starts_with(b"P") && !data.starts_with(b"-"));
        for chunk in [1, 7, 4096] {
            let report = check(data, chunk).unwrap();
            assert_eq!(report.format, Format::Unknown, "{len}/{chunk}");
        }
    }
    // Text that is SQL but not pg_dump's passes too.
    let report = check(b"CREATE TABLE t (x int);\n", 3).unwrap();
    assert_eq!(report.format, Format::Unknown);
}

#[test]
fn a_failed_check_stays_failed() {
    let mut checker = Checker::new();
    let mut data = header();
    data.extend_from_slice(&[9, 0, 0, 0, 0]); // a sign byte of 9
    let e = checker.feed(&data).unwrap_err();
    assert_eq!(checker.feed(b"more").unwrap_err(), e);
    assert_eq!(checker.finish().unwrap_err(), e);
}
