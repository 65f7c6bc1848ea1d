//! Real archives: complete, cut at every byte, corrupted, with trailing garbage.

use twgate_plugin_check::{ErrorKind, Format, Report};

use crate::archive;
use crate::{assert_one_line, basebackup, check, fixture, CHUNKS};

/// Facts a report must have.
type Facts = Vec<(&'static str, &'static str)>;

/// The small fixtures, their format and the facts each must report.
fn small() -> Vec<(&'static str, Format, Facts)> {
    let custom = |compression, toc, blocks| {
        vec![
            ("format", "pg_dump custom archive"),
            ("archive-version", "1.14.0"),
            ("compression", compression),
            ("dbname", "chk"),
            ("toc-entries", toc),
            ("data-blocks", blocks),
        ]
    };
    // Four members (two directories, backup_label, a file with a 150-character name).
    let gnu_tar = vec![
        ("format", "tar archive"),
        ("members", "4"),
        ("start-wal-location", "0/9000028"),
        ("start-wal-file", "000000010000000000000009"),
        ("start-timeline", "3"),
    ];
    vec![
        (
            "custom.dump",
            Format::PgDumpCustom,
            custom("gzip (default level)", "34", "5"),
        ),
        (
            "custom-z0.dump",
            Format::PgDumpCustom,
            custom("none", "34", "5"),
        ),
        (
            "custom-blobs.dump",
            Format::PgDumpCustom,
            custom("gzip (default level)", "14", "2"),
        ),
        (
            "custom-file.dump",
            Format::PgDumpCustom,
            custom("gzip (default level)", "34", "5"),
        ),
        (
            "plain.sql",
            Format::PlainSql,
            vec![("format", "plain SQL dump (pg_dump)")],
        ),
        (
            "dumpall.sql",
            Format::PlainSql,
            vec![("format", "plain SQL cluster dump (pg_dumpall)")],
        ),
        (
            "tar.tar",
            Format::Tar,
            vec![("format", "tar archive"), ("members", "9")],
        ),
        ("gnu.tar", Format::Tar, gnu_tar.clone()),
        ("pax.tar", Format::Tar, gnu_tar),
    ]
}

fn assert_facts(name: &str, report: &Report, facts: &[(&str, &str)]) {
    assert_eq!(report.facts[0].0, "format", "{name}: {report:?}");
    for (key, value) in facts {
        assert_eq!(
            report.fact(key),
            Some(*value),
            "{name}: {key} in {report:?}"
        );
    }
}

#[test]
fn complete_fixtures_pass_with_their_facts() {
    for (name, format, facts) in small() {
        let data = fixture(name);
        for chunk in CHUNKS {
            let report = check(&data, chunk).unwrap_or_else(|e| panic!("{name}/{chunk}: {e}"));
            assert_eq!(report.format, format, "{name}");
            assert_facts(name, &report, &facts);
        }
    }
    let report = check(&fixture("custom.dump"), 4096).unwrap();
    assert!(report.fact("pg-dump-version").unwrap().starts_with("15."));
    assert!(report.fact("server-version").unwrap().starts_with("15."));
    let report = check(&fixture("plain.sql"), 4096).unwrap();
    assert!(report.fact("pg-dump-version").unwrap().starts_with("15."));
}

#[test]
fn piped_archives_leave_data_offsets_unset_and_files_set() {
    for (name, state) in [
        ("custom.dump", 1),
        ("custom-z0.dump", 1),
        ("custom-blobs.dump", 1),
        ("custom-file.dump", 2),
    ] {
        let parsed = archive::parse(&fixture(name));
        let with_data = parsed.toc.iter().filter(|e| e.had_dumper == 1);
        assert!(with_data.clone().count() >= 2, "{name}");
        for entry in with_data {
            assert_eq!(entry.offset_state, state, "{name}: {}", entry.dump_id);
        }
    }
}

#[test]
fn every_cut_of_a_small_fixture_fails() {
    for (name, format, _) in small() {
        let data = fixture(name);
        // GNU tar pads its end marker with zeros to a whole record: a cut in that padding
        // loses nothing.
        let complete_at = match format {
            Format::Tar => tar_headers(&data).1 + 1024,
            _ => data.len(),
        };
        for cut in 1..data.len() {
            let part = &data[..cut];
            if cut >= complete_at {
                check(part, 4096).unwrap_or_else(|e| panic!("{name} cut at {cut}: {e}"));
                continue;
            }
            // The first bytes of a tar header cannot be told from other input: up to its
            // name and mode (108 bytes), a cut tar passes as unknown.
            if format == Format::Tar && cut < 108 {
                let report = check(part, cut).unwrap();
                assert_eq!(report.format, Format::Unknown, "{name} cut at {cut}");
                continue;
            }
            let chunk = if cut % 2 == 0 { cut } else { 7 + cut % 500 };
            let e = check(part, chunk)
                .err()
                .unwrap_or_else(|| panic!("{name} cut at {cut} passed"));
            assert_one_line(&e, format.name());
            assert_eq!(e.kind(), ErrorKind::Truncated, "{name} cut at {cut}: {e}");
            assert_eq!(e.offset(), cut as u64, "{name} cut at {cut}: {e}");
        }
    }
}

#[test]
fn cut_custom_archives_say_where() {
    let data = fixture("custom.dump");
    let e = check(&data[..20], 4096).unwrap_err();
    assert_eq!(
        e.to_string(),
        "pg_dump custom archive cut short in the header, at byte 20"
    );
    let e = check(&data[..300], 4096).unwrap_err();
    assert!(e.to_string().contains("cut short in TOC entry "), "{e}");
    // Just before the end: in the last block; just after the TOC: before the first.
    let e = check(&data[..data.len() - 1], 4096).unwrap_err();
    assert!(
        e.to_string()
            .contains("cut short in data block 5 of 5 (large objects)"),
        "{e}"
    );
    let parsed = archive::parse(&data);
    let start = parsed.data_start(data.len());
    let e = check(&data[..start], 4096).unwrap_err();
    assert!(
        e.to_string()
            .contains("cut short before data block 1 of 5 (table public.empty_table)"),
        "{e}"
    );
    // Between blocks: the cut names the block that did not come.
    let first_chunk = parsed
        .chunk_lengths()
        .iter()
        .find(|(_, chunk)| *chunk)
        .unwrap()
        .0;
    let e = check(&data[..start + first_chunk + 1], 4096).unwrap_err();
    assert!(e.to_string().contains("of 5 (table public."), "{e}");
}

#[test]
fn a_flipped_length_byte_fails() {
    // A flip that makes a length end exactly where another length begins leaves a valid
    // structure: only decompressing could tell, and the check does not. Every other flip
    // must fail.
    let mut realigned = 0;
    let mut flips = 0;
    for name in ["custom.dump", "custom-z0.dump", "custom-blobs.dump"] {
        let data = fixture(name);
        let parsed = archive::parse(&data);
        let start = parsed.data_start(data.len());
        let ints = parsed.chunk_lengths();
        let boundaries: std::collections::HashSet<usize> = ints.iter().map(|&(at, _)| at).collect();
        for &(at, _) in ints.iter().filter(|(_, chunk)| *chunk) {
            // The sign byte, then bits of the low, second and third byte of the length.
            for (byte, mask) in [(0, 1u8), (1, 0x01), (1, 0x80), (2, 0x01), (2, 0x10), (3, 1)] {
                let mut bad = data.clone();
                bad[start + at + byte] ^= mask;
                let len = i64::from_le_bytes(std::array::from_fn(|i| {
                    if i < 4 {
                        bad[start + at + 1 + i]
                    } else {
                        0
                    }
                }));
                let lands = at + 5 + len as usize;
                if bad[start + at] == 0 && boundaries.contains(&lands) {
                    realigned += 1;
                    continue;
                }
                flips += 1;
                let e = check(&bad, 4096)
                    .err()
                    .unwrap_or_else(|| panic!("{name}: byte {byte} of length at {at} flipped"));
                assert_one_line(&e, "pg_dump custom archive");
            }
        }
    }
    eprintln!("{flips} flips failed; {realigned} realigned");
    assert!(
        flips > 1000 && realigned < flips / 20,
        "{flips} {realigned}"
    );
}

#[test]
fn trailing_garbage_fails() {
    for (name, format, _) in small() {
        let mut data = fixture(name);
        data.extend_from_slice(b"garbage");
        for chunk in [1, 4096] {
            let e = check(&data, chunk)
                .err()
                .unwrap_or_else(|| panic!("{name} with garbage passed"));
            assert_one_line(&e, format.name());
            if format != Format::PlainSql {
                assert!(e.to_string().contains("trailing garbage"), "{name}: {e}");
                assert_eq!(e.kind(), ErrorKind::Malformed);
            }
        }
    }
    let mut data = basebackup().to_vec();
    data.push(1);
    let e = check(&data, 1 << 19).unwrap_err();
    assert!(e.to_string().contains("trailing garbage"), "{e}");
}

#[test]
fn long_names_name_their_members() {
    for name in ["gnu.tar", "pax.tar"] {
        let data = fixture(name);
        let (headers, _) = tar_headers(&data);
        let last = *headers.last().unwrap();
        let e = check(&data[..last + 512 + 10], 4096).unwrap_err();
        let long = "a".repeat(94);
        assert!(
            e.to_string().contains(&format!(
                "cut short in the data of member 4 (./dir/{long}...)"
            )),
            "{name}: {e}"
        );
    }
}

#[test]
fn tar_may_be_padded_with_zeros_as_gnu_tar_pads_its_records() {
    let mut data = fixture("tar.tar");
    data.resize(data.len().next_multiple_of(10240), 0);
    check(&data, 4096).unwrap();
}

#[test]
fn the_base_backup_passes_with_its_label() {
    let data = basebackup();
    assert!(data.len() > 20 << 20, "{}", data.len());
    for chunk in CHUNKS {
        let report = check(data, chunk).unwrap_or_else(|e| panic!("{chunk}: {e}"));
        assert_eq!(report.format, Format::Tar);
        assert_eq!(report.fact("start-timeline"), Some("1"), "{report:?}");
        let file = report.fact("start-wal-file").unwrap();
        assert_eq!(file.len(), 24, "{file}");
        assert!(file.bytes().all(|b| b.is_ascii_hexdigit()), "{file}");
        let location = report.fact("start-wal-location").unwrap();
        assert!(location.starts_with("0/"), "{location}");
        let members: u64 = report.fact("members").unwrap().parse().unwrap();
        assert!(members > 1000, "{members}");
    }
}

/// The offsets of each member's header in a tar archive, and of its end marker.
fn tar_headers(data: &[u8]) -> (Vec<usize>, usize) {
    let mut headers = Vec::new();
    let mut at = 0;
    while data[at..at + 512].iter().any(|&b| b != 0) {
        headers.push(at);
        let size = std::str::from_utf8(&data[at + 124..at + 135]).unwrap();
        let size = usize::from_str_radix(size.trim_matches(|c| c == ' ' || c == '\0'), 8);
        at += 512 + size.unwrap().next_multiple_of(512);
    }
    (headers, at)
}

#[test]
fn cuts_of_the_base_backup_fail() {
    let data = basebackup();
    let (headers, end) = tar_headers(data);
    assert_eq!(end + 1024, data.len(), "two zero blocks end it");
    let mut cuts = Vec::new();
    // Every block boundary, and a byte either side, of the first three members, the last
    // member and the end marker.
    let spans = [(0, headers[3]), (headers[headers.len() - 1], data.len())];
    for (from, to) in spans {
        for boundary in (from..to).step_by(512) {
            cuts.extend([boundary, boundary + 1, boundary.saturating_sub(1)]);
        }
    }
    // Each header, each member's last byte, and offsets spread over the rest.
    for &h in &headers {
        cuts.extend([h, h + 511, h.saturating_sub(1)]);
    }
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..500 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        cuts.push((x % data.len() as u64) as usize);
    }
    cuts.sort_unstable();
    cuts.dedup();
    cuts.retain(|&c| c >= 108 && c < data.len());
    assert!(cuts.len() > 3000, "{}", cuts.len());
    for cut in cuts {
        let e = check(&data[..cut], 1 << 19)
            .err()
            .unwrap_or_else(|| panic!("base backup cut at {cut} passed"));
        assert_one_line(&e, "tar archive");
        assert_eq!(e.offset(), cut as u64, "{e}");
    }
}

#[test]
fn a_tar_header_with_a_bad_checksum_fails_at_once() {
    let mut data = fixture("tar.tar");
    let (headers, _) = tar_headers(&data);
    data[headers[2] + 5] ^= 0x20;
    let mut checker = twgate_plugin_check::Checker::new();
    let e = checker.feed(&data).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Malformed);
    assert!(e.to_string().contains("member 3"), "{e}");
    assert!(e.to_string().contains("checksum"), "{e}");
    assert_eq!(e.offset(), headers[2] as u64);
}

/// The custom fixture written as archive version 1.`minor`.
fn rewritten(minor: u8) -> Vec<u8> {
    archive::parse(&fixture("custom.dump")).write(minor)
}

#[test]
fn other_archive_versions_pass_and_every_cut_fails() {
    let original = fixture("custom.dump");
    let again = rewritten(14);
    let first_difference = again.iter().zip(&original).position(|(a, b)| a != b);
    assert_eq!(
        first_difference, None,
        "the rewriter reproduces 1.14 exactly"
    );
    assert_eq!(again.len(), original.len());
    for (minor, compression) in [
        (12, "gzip (default level)"),
        (13, "gzip (default level)"),
        (15, "gzip"),
        (16, "gzip"),
    ] {
        let data = rewritten(minor);
        for chunk in [1, 7, 4096] {
            let report = check(&data, chunk).unwrap_or_else(|e| panic!("1.{minor}: {e}"));
            assert_eq!(
                report.fact("archive-version"),
                Some(&*format!("1.{minor}.0"))
            );
            assert_eq!(report.fact("compression"), Some(compression));
            assert_eq!(report.fact("toc-entries"), Some("34"));
            assert_eq!(report.fact("data-blocks"), Some("5"));
        }
        for cut in 1..data.len() {
            let e = check(&data[..cut], 4096)
                .err()
                .unwrap_or_else(|| panic!("1.{minor} cut at {cut} passed"));
            assert_eq!(e.kind(), ErrorKind::Truncated, "1.{minor} at {cut}: {e}");
        }
    }
}

#[test]
fn a_version_the_check_does_not_read_passes_unchecked() {
    for minor in [11, 17] {
        let data = rewritten(minor.max(14));
        let mut data = data.clone();
        data[6] = minor;
        let report = check(&data[..data.len() / 2], 4096).unwrap();
        assert_eq!(report.format, Format::Unknown);
        let note = report.fact("note").unwrap();
        assert!(note.contains(&format!("version 1.{minor} ")), "{note}");
    }
}

#[test]
fn another_pg_dump_format_fails() {
    let mut data = fixture("custom.dump");
    data[10] = 5; // archDirectory: a toc.dat
    let e = check(&data, 4096).unwrap_err();
    assert!(e.to_string().contains("archive format 5"), "{e}");
}
