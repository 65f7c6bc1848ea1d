//! Tar archives, read as a stream: every member's header (checksum, size), every member's
//! data to its 512-byte boundary, then the end-of-archive marker, and nothing after it but
//! zero bytes.
//!
//! What PostgreSQL writes (`src/port/tar.c` `tarCreateHeader`, `print_tar_number`): ustar
//! headers, numbers in octal or, when too large, GNU base-256 (a first byte of `\x80`).
//! `pg_dump --format=tar` ends with two zero blocks (`pg_backup_tar.c` `_CloseArchive`);
//! `pg_basebackup --format=tar -D -` too: the server sends no trailer and the client adds
//! two zero blocks (`bbstreamer_tar.c`, read in 15.18: its archiver and terminator). GNU
//! tar pads the two zero blocks with more zeros to its record size. So: two zero blocks, then only
//! zero bytes. Metadata members are read and skipped like the others: GNU long names
//! (`L`, kept to name the next member) and long link names (`K`), pax headers (`x`, whose
//! `path` and `size` apply to the next member; `g`), old GNU sparse headers' extension
//! blocks.
//!
//! A member `backup_label` (a base backup) is kept, up to 4 KiB, for its `START WAL
//! LOCATION` and `START TIMELINE` lines. **Invariant:** apart from that, one header block
//! and capped names, data is skipped by counting.

use crate::checker::{Capped, CheckError, Format, Report};

const F: Format = Format::Tar;
const BLOCK: usize = 512;
/// The most kept of a long name, a pax header or `backup_label`.
const KEEP_CAP: usize = 4096;
/// The most kept of a member's name for messages.
const NAME_CAP: usize = 100;

/// True if `block` (512 bytes) is a tar header: the ustar magic at offset 257, or a valid
/// checksum (old-style headers have no magic).
pub(crate) fn looks_like_tar(block: &[u8]) -> bool {
    if block[257..262] == *b"ustar" {
        return true;
    }
    !is_zero(block) && block[0] != 0 && checksum_ok(block)
}

/// True if `prefix` (shorter than a block: the whole input) is the start of a tar header:
/// a non-empty, NUL-padded name, then a mode in octal (so at least 108 bytes); or the ustar
/// magic.
pub(crate) fn looks_like_partial_header(prefix: &[u8]) -> bool {
    if prefix.len() >= 262 && prefix[257..262] == *b"ustar" {
        return true;
    }
    if prefix.len() < 108 || prefix[0] == 0 {
        return false;
    }
    let name = &prefix[..100];
    let end = name.iter().position(|&b| b == 0).unwrap_or(100);
    let printable = name[..end].iter().all(|&b| b >= 0x20 && b != 0x7f);
    let padded = is_zero(&name[end..]);
    printable && padded && parse_octal(&prefix[100..108]).is_some()
}

fn is_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

/// The header's checksum field against the sum of its bytes (the field counted as spaces),
/// unsigned as POSIX says or signed as some old tars summed.
fn checksum_ok(h: &[u8]) -> bool {
    let Some(stored) = parse_octal(&h[148..156]) else {
        return false;
    };
    let (mut unsigned, mut signed) = (8 * 32u64, 8 * 32i64);
    for (i, &b) in h.iter().enumerate() {
        if !(148..156).contains(&i) {
            unsigned += u64::from(b);
            signed += i64::from(b as i8);
        }
    }
    stored == unsigned || i64::try_from(stored) == Ok(signed)
}

/// An octal field: optional leading spaces, digits, then NUL or space to the end (GNU and
/// POSIX writers differ in the terminator). `None` if it is anything else or empty.
fn parse_octal(field: &[u8]) -> Option<u64> {
    let start = field.iter().position(|&b| b != b' ')?;
    let digits = &field[start..];
    let len = digits
        .iter()
        .position(|&b| !(b'0'..=b'7').contains(&b))
        .unwrap_or(digits.len());
    if len == 0 || !digits[len..].iter().all(|&b| b == 0 || b == b' ') {
        return None;
    }
    digits[..len].iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(8)?.checked_add(u64::from(d - b'0'))
    })
}

/// A numeric field: octal, or GNU base-256 (`print_tar_number`: `\x80` then the number,
/// most significant byte first). Negative base-256 (`\xff`) is refused.
fn parse_number(field: &[u8]) -> Option<u64> {
    match field[0] {
        0x80 => field[1..].iter().try_fold(0u64, |acc, &b| {
            acc.checked_mul(256)?.checked_add(u64::from(b))
        }),
        _ => parse_octal(field),
    }
}

/// What the data of the current member is kept for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    Nothing,
    /// A GNU long name (`L`): the next member's name.
    LongName,
    /// A pax extended header (`x`): `path` and `size` of the next member.
    Pax,
    /// The base backup's `backup_label`.
    BackupLabel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Collecting a header block; when it is all zeros, the end-of-archive marker begins.
    Header,
    /// Old GNU sparse extension blocks after a header; `data` bytes of data follow them.
    SparseExtension { data: u64 },
    /// A member's data: `data` bytes, then `padding` zero bytes to the block boundary.
    Data { data: u64, padding: u64 },
    /// After the first zero block: the second one, `left` bytes to go.
    SecondZeroBlock { left: usize },
    /// After the end-of-archive marker: only zero bytes may follow.
    Trailer,
}

/// One tar archive, as it streams through.
#[derive(Debug)]
pub(crate) struct Tar {
    pos: u64,
    state: State,
    block: Box<[u8; BLOCK]>,
    have: usize,
    /// Where the current header began.
    header_start: u64,
    /// Members seen (metadata headers `L`, `K`, `x`, `g` not counted).
    members: u64,
    /// The current (or last) member's name, for messages.
    name: Capped,
    keep: Keep,
    kept: Capped,
    /// From a preceding `L` or pax header, for the next member.
    next_name: Option<Capped>,
    next_size: Option<u64>,
    label: Option<Vec<u8>>,
}

impl Default for Tar {
    fn default() -> Tar {
        Tar {
            pos: 0,
            state: State::Header,
            block: Box::new([0; BLOCK]),
            have: 0,
            header_start: 0,
            members: 0,
            name: Capped::default(),
            keep: Keep::Nothing,
            kept: Capped::default(),
            next_name: None,
            next_size: None,
            label: None,
        }
    }
}

impl Tar {
    pub(crate) fn feed(&mut self, mut input: &[u8]) -> Result<(), CheckError> {
        while !input.is_empty() {
            match self.state {
                State::Header | State::SparseExtension { .. } => {
                    if self.have == 0 {
                        self.header_start = self.pos;
                    }
                    let n = (BLOCK - self.have).min(input.len());
                    self.block[self.have..self.have + n].copy_from_slice(&input[..n]);
                    self.have += n;
                    self.pos += n as u64;
                    input = &input[n..];
                    if self.have == BLOCK {
                        self.have = 0;
                        if let State::SparseExtension { data } = self.state {
                            self.sparse_extension_done(data);
                        } else {
                            self.header_done()?;
                        }
                    }
                }
                State::Data { data, padding } => {
                    // Skip by length; only a kept member's data is copied (capped).
                    let n = data.min(input.len() as u64) as usize;
                    if self.keep != Keep::Nothing {
                        self.kept.push(&input[..n], KEEP_CAP);
                    }
                    let data = data - n as u64;
                    let skip = padding.min((input.len() - n) as u64) as usize;
                    let padding = padding - skip as u64;
                    self.pos += (n + skip) as u64;
                    input = &input[n + skip..];
                    if data == 0 && self.keep != Keep::Nothing {
                        self.member_kept();
                    }
                    self.state = if data == 0 && padding == 0 {
                        State::Header
                    } else {
                        State::Data { data, padding }
                    };
                }
                State::SecondZeroBlock { left } => {
                    let n = left.min(input.len());
                    if let Some(i) = input[..n].iter().position(|&b| b != 0) {
                        return Err(CheckError::malformed(
                            F,
                            self.pos + i as u64,
                            "is malformed: a lone zero block is followed by data \
                             (the end-of-archive marker is two zero blocks)",
                        ));
                    }
                    self.pos += n as u64;
                    input = &input[n..];
                    self.state = if n == left {
                        State::Trailer
                    } else {
                        State::SecondZeroBlock { left: left - n }
                    };
                }
                State::Trailer => {
                    if let Some(i) = input.iter().position(|&b| b != 0) {
                        return Err(CheckError::malformed(
                            F,
                            self.pos + i as u64,
                            "has bytes after its end-of-archive marker (trailing garbage)",
                        ));
                    }
                    self.pos += input.len() as u64;
                    input = &[];
                }
            }
        }
        Ok(())
    }

    pub(crate) fn finish(&mut self) -> Result<Report, CheckError> {
        let what = match self.state {
            State::Trailer => return Ok(self.report()),
            State::Header if self.have == 0 && self.members == 0 => {
                "cut short before its first member".to_string()
            }
            State::Header if self.have == 0 => format!(
                "cut short before its end-of-archive marker (after member {} {})",
                self.members,
                self.name_shown()
            ),
            State::Header | State::SparseExtension { .. } => {
                format!("cut short in the header of member {}", self.members + 1)
            }
            State::Data { data, .. } if data > 0 => format!(
                "cut short in the data of member {} {}",
                self.members.max(1),
                self.name_shown()
            ),
            State::Data { .. } => format!(
                "cut short in the padding of member {} {}",
                self.members.max(1),
                self.name_shown()
            ),
            State::SecondZeroBlock { .. } => {
                "cut short in its end-of-archive marker (two zero blocks)".to_string()
            }
        };
        Err(CheckError::truncated(F, self.pos, what))
    }

    pub(crate) fn held_bytes(&self) -> usize {
        BLOCK
            + self.name.capacity()
            + self.kept.capacity()
            + self.next_name.as_ref().map_or(0, Capped::capacity)
            + self.label.as_ref().map_or(0, Vec::capacity)
    }

    fn name_shown(&self) -> String {
        format!("({})", self.name.text())
    }

    fn report(&self) -> Report {
        let mut facts = vec![
            ("format".to_string(), "tar archive".to_string()),
            ("members".to_string(), self.members.to_string()),
        ];
        if let Some(label) = &self.label {
            facts.extend(backup_label_facts(label));
        }
        Report { format: F, facts }
    }

    fn malformed(&self, what: impl std::fmt::Display) -> CheckError {
        CheckError::malformed(
            F,
            self.header_start,
            format!(
                "is malformed in the header of member {}: {what}",
                self.members + 1
            ),
        )
    }

    fn header_done(&mut self) -> Result<(), CheckError> {
        let h = &*self.block;
        if is_zero(h) {
            self.state = State::SecondZeroBlock { left: BLOCK };
            return Ok(());
        }
        if !checksum_ok(h) {
            return Err(self.malformed("header checksum mismatch"));
        }
        let Some(mut size) = parse_number(&h[124..136]) else {
            return Err(self.malformed("size field is not a number"));
        };
        let typeflag = h[156];
        self.keep = Keep::Nothing;
        match typeflag {
            b'L' => self.keep = Keep::LongName,
            b'x' => self.keep = Keep::Pax,
            b'K' | b'g' => {}
            _ => {
                // A long name or pax header before it applies to this member.
                if let Some(pax_size) = self.next_size.take() {
                    size = pax_size;
                }
                self.members += 1;
                self.name = match self.next_name.take() {
                    Some(long) => long,
                    None => header_name(h),
                };
                let name = self.name.bytes();
                let regular = typeflag == b'0' || typeflag == 0;
                if regular && (name == b"backup_label" || name == b"./backup_label") {
                    self.keep = Keep::BackupLabel;
                }
            }
        }
        // Links, devices, directories and FIFOs have no data blocks, whatever the size says.
        if matches!(typeflag, b'1'..=b'6') {
            size = 0;
        }
        self.kept.clear();
        let padding = (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64;
        // An old GNU sparse member ('S') may have extension blocks before its data.
        self.state = if typeflag == b'S' && h[482] != 0 {
            State::SparseExtension { data: size }
        } else if size == 0 {
            if self.keep != Keep::Nothing {
                self.member_kept();
            }
            State::Header
        } else {
            State::Data {
                data: size,
                padding,
            }
        };
        Ok(())
    }

    /// One GNU sparse extension block is in `block`; its byte 504 says if another follows.
    fn sparse_extension_done(&mut self, data: u64) {
        self.state = if self.block[504] != 0 {
            State::SparseExtension { data }
        } else if data == 0 {
            State::Header
        } else {
            State::Data {
                data,
                padding: (BLOCK as u64 - data % BLOCK as u64) % BLOCK as u64,
            }
        };
    }

    /// A kept member's data is complete in `kept`.
    fn member_kept(&mut self) {
        let kept = std::mem::take(&mut self.kept);
        match self.keep {
            Keep::LongName => {
                let mut name = Capped::default();
                name.push(until_nul(kept.bytes()), NAME_CAP);
                self.next_name = Some(name);
            }
            Keep::Pax => {
                for (key, value) in pax_records(kept.bytes()) {
                    match key {
                        b"path" => {
                            let mut name = Capped::default();
                            name.push(value, NAME_CAP);
                            self.next_name = Some(name);
                        }
                        b"size" => {
                            self.next_size =
                                std::str::from_utf8(value).ok().and_then(|s| s.parse().ok());
                        }
                        _ => {}
                    }
                }
            }
            Keep::BackupLabel => self.label = Some(kept.bytes().to_vec()),
            Keep::Nothing => {}
        }
        self.keep = Keep::Nothing;
    }
}

/// The name in a header: POSIX ustar (`ustar\0` `00`) puts a prefix at offset 345; GNU
/// (`ustar  \0`) uses those bytes for other fields.
fn header_name(h: &[u8]) -> Capped {
    let mut name = Capped::default();
    if h[257..263] == *b"ustar\0" && h[345] != 0 {
        name.push(until_nul(&h[345..500]), NAME_CAP);
        name.push(b"/", NAME_CAP);
    }
    name.push(until_nul(&h[..100]), NAME_CAP);
    name
}

fn until_nul(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

/// The records of a pax extended header: `"%d %s=%s\n"`, the length counting the whole
/// record. Stops at the first malformed (or cut) record.
fn pax_records(mut data: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut records = Vec::new();
    while let Some(space) = data.iter().position(|&b| b == b' ') {
        let Some(len) = std::str::from_utf8(&data[..space])
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
        else {
            break;
        };
        if len <= space + 1 || len > data.len() || data[len - 1] != b'\n' {
            break;
        }
        let record = &data[space + 1..len - 1];
        if let Some(eq) = record.iter().position(|&b| b == b'=') {
            records.push((&record[..eq], &record[eq + 1..]));
        }
        data = &data[len..];
    }
    records
}

/// `start-wal-location`, `start-wal-file` and `start-timeline` from a `backup_label`:
/// `START WAL LOCATION: 0/2000028 (file 000000010000000000000002)` and
/// `START TIMELINE: 1` (`do_pg_backup_start` in `xlog.c` up to PostgreSQL 15,
/// `build_backup_content` in `xlogbackup.c` from 16).
fn backup_label_facts(label: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(label);
    let mut facts = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("START WAL LOCATION: ") {
            let (location, file) = match rest.split_once(" (file ") {
                Some((location, file)) => (location, file.strip_suffix(')')),
                None => (rest, None),
            };
            facts.push(("start-wal-location".to_string(), location.to_string()));
            if let Some(file) = file {
                facts.push(("start-wal-file".to_string(), file.to_string()));
            }
        } else if let Some(timeline) = line.strip_prefix("START TIMELINE: ") {
            facts.push(("start-timeline".to_string(), timeline.to_string()));
        }
    }
    facts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_octal_and_base_256() {
        assert_eq!(parse_number(b"00000001750 "), Some(1000));
        assert_eq!(parse_number(b"0000644\0"), Some(0o644));
        assert_eq!(parse_number(b"     12\0"), Some(10));
        let mut big = [0u8; 12];
        big[0] = 0x80;
        big[7] = 0x02; // 2 << 32
        assert_eq!(parse_number(&big), Some(2 << 32));
        assert_eq!(parse_number(b"12x4\0"), None);
        assert_eq!(parse_number(b"\0\0\0\0"), None);
    }

    #[test]
    fn pax_records_parse() {
        let data = b"30 mtime=1700000000.123456789\n20 path=a/long/name\n12 size=123\n";
        let records = pax_records(data);
        assert_eq!(records.len(), 3, "{records:?}");
        assert_eq!(records[1], (&b"path"[..], &b"a/long/name"[..]));
        assert_eq!(records[2], (&b"size"[..], &b"123"[..]));
    }

    #[test]
    fn backup_label_lines() {
        let label = b"START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n\
CHECKPOINT LOCATION: 0/2000060\nBACKUP METHOD: streamed\nSTART TIMELINE: 1\n";
        let facts = backup_label_facts(label);
        assert_eq!(
            facts,
            vec![
                ("start-wal-location".into(), "0/2000028".into()),
                ("start-wal-file".into(), "000000010000000000000002".into()),
                ("start-timeline".into(), "1".into()),
            ]
        );
    }
}
