//! pg_dump custom-format archives (`pg_dump --format=custom`), read as a stream: the
//! header, the table of contents (TOC), then every data block the TOC promises, each to its
//! end, and nothing after the last one.
//!
//! The layout is PostgreSQL's own (`src/bin/pg_dump` of 13.16, 15.18 and 18.6, whose
//! readers gate every field by archive version):
//! `pg_backup_archiver.c` `WriteHead`/`ReadHead`, `WriteToc`/`ReadToc`,
//! `WriteInt`/`ReadInt`, `WriteStr`/`ReadStr`, `WriteOffset`/`ReadOffset`;
//! `pg_backup_custom.c` `_WriteExtraToc`, `_StartData`/`_EndData`, `_StartLOs`/`_StartLO`/
//! `_EndLO`/`_EndLOs`, `_CustomWriteFunc`, `_readBlockHeader`, `_skipData`, `_skipLOs`.
//!
//! - An integer is a sign byte (0 or 1) then `intSize` bytes, least significant first; a
//!   string is an integer length (-1 for NULL) then that many bytes; an offset is a state
//!   byte (1 not set, 2 set, 3 no data) then `offSize` bytes.
//! - Header: `PGDMP`, version major, minor, revision, `intSize`, `offSize`, format (1 =
//!   custom); the compression level as an integer before 1.15 (PostgreSQL 12 to 15 write
//!   1.14), the compression algorithm as one byte from 1.15 (PostgreSQL 16); seven integers
//!   of the creation date; the database name, the server's and pg_dump's versions.
//! - TOC: a count, then per entry dumpId, hadDumper, tableoid, oid, tag, desc, section,
//!   defn, dropStmt, copyStmt, namespace, tablespace, tableam (from 1.14), relkind (an
//!   integer, from 1.16: PostgreSQL 17), owner, the `withOids` string, dependencies (strings
//!   ending with a NULL one), and the data offset.
//! - Data: `WriteDataChunks` writes one block per entry with a data dumper, in TOC order:
//!   a type byte (1 data, 3 large objects) and the dumpId; data is length-prefixed chunks
//!   ending with a zero length; large objects are, per object, its OID then such chunks,
//!   ending with OID 0. Chunks are skipped by length, never decompressed (every
//!   compressor, gzip, lz4, zstd or none, writes through `_CustomWriteFunc`).
//! - Each block's block type must match its entry (`BLOBS` has large objects) and its
//!   dumpId the next entry with data; a cut anywhere, a missing block or a byte after the
//!   last block fails. Offsets that are set (a file written with `-f`) are accepted, not
//!   checked against positions: `pg_dump > file` with an offset file position would differ.
//!
//! Versions 1.12 to 1.16 are read; others pass unchecked, reported as unknown, rather
//! than refusing every dump of a later pg_dump.
//!
//! **Invariant:** memory is bounded: strings and chunks are skipped by counting; only the
//! header strings and the current entry's tag, desc and namespace are kept, capped; per TOC
//! entry with data, the table keeps its dumpId and a label from a capped budget.

use crate::checker::{Capped, CheckError, Format, Report};

const F: Format = Format::PgDumpCustom;

/// `MAKE_ARCHIVE_VERSION` in `pg_backup_archiver.h`.
const fn version(major: u8, minor: u8, rev: u8) -> u32 {
    ((major as u32) * 256 + minor as u32) * 256 + rev as u32
}
/// The oldest archive version this check reads (PostgreSQL 9.0 on).
const K_VERS_1_12: u32 = version(1, 12, 0);
/// `tableam` in TOC entries (PostgreSQL 12).
const K_VERS_1_14: u32 = version(1, 14, 0);
/// The compression algorithm as a header byte instead of a level (PostgreSQL 16).
const K_VERS_1_15: u32 = version(1, 15, 0);
/// `relkind` in TOC entries, several `BLOBS` entries (PostgreSQL 17).
const K_VERS_1_16: u32 = version(1, 16, 0);
/// The newest archive version this check reads: `K_VERS_MAX` of PostgreSQL 17 and 18.
const K_VERS_MAX: u32 = version(1, 16, 255);

/// `archCustom` in `pg_backup.h`.
const ARCH_CUSTOM: u8 = 1;
/// Block types (`pg_backup_archiver.h`).
const BLK_DATA: u8 = 1;
const BLK_BLOBS: u8 = 3;
/// Data offset states (`pg_backup_archiver.h`).
const K_OFFSET_POS_NOT_SET: u8 = 1;
const K_OFFSET_NO_DATA: u8 = 3;
/// `SECTION_NONE` .. `SECTION_POST_DATA` (`pg_backup.h`).
const SECTIONS: std::ops::RangeInclusive<i64> = 1..=4;

/// The longest `intSize` and `offSize` `ReadHead` accepts.
const MAX_INT_SIZE: u8 = 32;
/// Caps of the strings kept.
const TAG_CAP: usize = 100;
const SHORT_CAP: usize = 64;
/// The budget of all data-block labels together; past it, blocks are named by dumpId.
const LABEL_BUDGET: usize = 1 << 20;

/// One item of the archive, in the order it comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Magic,
    VersionMajor,
    VersionMinor,
    VersionRev,
    IntSize,
    OffSize,
    ArchiveFormat,
    CompressionAlgorithm,
    CompressionLevel,
    CreationDate(u8),
    DbName,
    ServerVersion,
    DumpVersion,
    TocCount,
    DumpId,
    HadDumper,
    TableOid,
    Oid,
    Tag,
    Desc,
    Section,
    Defn,
    DropStmt,
    CopyStmt,
    Namespace,
    Tablespace,
    TableAm,
    RelKind,
    Owner,
    WithOids,
    Dependency,
    DataOffset,
    BlockType,
    BlockId,
    ChunkLength,
    ChunkData,
    BlobOid,
}

/// How a field is encoded.
enum Encoding {
    Bytes(usize),
    Int,
    Str,
    Offset,
    /// A chunk's content: skipped.
    Body,
}

impl Field {
    fn encoding(self) -> Encoding {
        use Field::*;
        match self {
            Magic => Encoding::Bytes(5),
            VersionMajor | VersionMinor | VersionRev | IntSize | OffSize | ArchiveFormat
            | CompressionAlgorithm | BlockType => Encoding::Bytes(1),
            CompressionLevel | CreationDate(_) | TocCount | DumpId | HadDumper | Section
            | RelKind | BlockId | ChunkLength | BlobOid => Encoding::Int,
            DbName | ServerVersion | DumpVersion | TableOid | Oid | Tag | Desc | Defn
            | DropStmt | CopyStmt | Namespace | Tablespace | TableAm | Owner | WithOids
            | Dependency => Encoding::Str,
            DataOffset => Encoding::Offset,
            ChunkData => Encoding::Body,
        }
    }

    fn in_header(self) -> bool {
        use Field::*;
        matches!(
            self,
            Magic
                | VersionMajor
                | VersionMinor
                | VersionRev
                | IntSize
                | OffSize
                | ArchiveFormat
                | CompressionAlgorithm
                | CompressionLevel
                | CreationDate(_)
                | DbName
                | ServerVersion
                | DumpVersion
                | TocCount
        )
    }

    fn in_block(self) -> bool {
        matches!(
            self,
            Field::BlockId | Field::ChunkLength | Field::ChunkData | Field::BlobOid
        )
    }
}

/// What the reader is collecting.
#[derive(Debug, Clone, Copy)]
enum Pending {
    /// `need` bytes of a fixed-size item (byte, integer, offset, a string's length), into
    /// `fixed`.
    Fixed { need: usize },
    /// The body of a string or a data chunk: `left` bytes to go.
    Body { left: u64 },
}

/// A TOC entry with a data block to come.
#[derive(Debug, Clone, Copy)]
struct DataEntry {
    dump_id: i64,
    /// `desc` is `BLOBS`: its block holds large objects.
    blobs: bool,
    /// Its label in `PgDump::labels`.
    label: (u32, u32),
}

/// One pg_dump custom archive, as it streams through.
#[derive(Debug)]
pub(crate) struct PgDump {
    /// Bytes consumed: the offset of the next byte.
    pos: u64,
    /// Where the field being read began.
    field_start: u64,
    field: Field,
    pending: Pending,
    fixed: [u8; 1 + MAX_INT_SIZE as usize],
    have: usize,

    major: u8,
    minor: u8,
    version: u32,
    int_size: usize,
    off_size: usize,
    compression: String,
    /// The archive's version is not one this check reads: the rest is not checked.
    unchecked: bool,
    dbname: Capped,
    server_version: Capped,
    dump_version: Capped,

    toc_count: u64,
    /// Index of the TOC entry being read.
    toc_index: u64,
    dump_id: i64,
    had_dumper: bool,
    tag: Capped,
    desc: Capped,
    namespace: Capped,

    data: Vec<DataEntry>,
    labels: String,
    /// Index in `data` of the next block expected.
    next_block: usize,
    /// In a large-objects block (a zero chunk length ends one object, not the block).
    in_blobs: bool,
}

impl Default for PgDump {
    fn default() -> PgDump {
        PgDump {
            pos: 0,
            field_start: 0,
            field: Field::Magic,
            pending: Pending::Fixed { need: 5 },
            fixed: [0; 1 + MAX_INT_SIZE as usize],
            have: 0,
            major: 0,
            minor: 0,
            version: 0,
            int_size: 0,
            off_size: 0,
            compression: String::new(),
            unchecked: false,
            dbname: Capped::default(),
            server_version: Capped::default(),
            dump_version: Capped::default(),
            toc_count: 0,
            toc_index: 0,
            dump_id: 0,
            had_dumper: false,
            tag: Capped::default(),
            desc: Capped::default(),
            namespace: Capped::default(),
            data: Vec::new(),
            labels: String::new(),
            next_block: 0,
            in_blobs: false,
        }
    }
}

impl PgDump {
    pub(crate) fn feed(&mut self, mut input: &[u8]) -> Result<(), CheckError> {
        while !input.is_empty() {
            if self.unchecked {
                self.pos += input.len() as u64;
                return Ok(());
            }
            if self.field == Field::ChunkLength && self.have == 0 {
                input = self.skip_whole_chunks(input);
                if input.is_empty() {
                    break;
                }
            }
            match self.pending {
                Pending::Fixed { need } => {
                    if self.have == 0 {
                        self.field_start = self.pos;
                    }
                    let n = (need - self.have).min(input.len());
                    self.fixed[self.have..self.have + n].copy_from_slice(&input[..n]);
                    self.have += n;
                    self.pos += n as u64;
                    input = &input[n..];
                    if self.have == need {
                        self.have = 0;
                        self.fixed_done(need)?;
                    }
                }
                Pending::Body { left } => {
                    // Skip by length: one comparison per chunk of input, whatever its size.
                    let n = left.min(input.len() as u64) as usize;
                    let cap = match self.field {
                        Field::Tag | Field::DbName => TAG_CAP,
                        _ => SHORT_CAP,
                    };
                    if let Some(kept) = self.kept_string() {
                        kept.push(&input[..n], cap);
                    }
                    self.pos += n as u64;
                    input = &input[n..];
                    if left == n as u64 {
                        self.body_done()?;
                    } else {
                        self.pending = Pending::Body {
                            left: left - n as u64,
                        };
                    }
                }
            }
        }
        Ok(())
    }

    /// Skips the data chunks that lie whole in `input`, and returns the rest: the general
    /// path reads whatever is left (a chunk cut by the end of `input`, a block's end, a
    /// length to refuse). An uncompressed dump writes one chunk per row, so this loop is
    /// most of the check's work: one length read and one comparison per row.
    fn skip_whole_chunks<'a>(&mut self, mut input: &'a [u8]) -> &'a [u8] {
        let width = 1 + self.int_size;
        if self.int_size > 8 {
            return input;
        }
        while input.len() >= width && input[0] == 0 {
            let len = input[1..width]
                .iter()
                .rev()
                .fold(0u64, |value, &b| (value << 8) | u64::from(b));
            let whole = (width as u64).saturating_add(len);
            if len == 0 || whole > input.len() as u64 {
                break;
            }
            self.pos += whole;
            input = &input[whole as usize..];
        }
        input
    }

    pub(crate) fn finish(&mut self) -> Result<Report, CheckError> {
        let cut = self.have > 0
            || matches!(self.pending, Pending::Body { .. })
            || self.field != Field::BlockType
            || self.next_block < self.data.len();
        if cut {
            return Err(CheckError::truncated(
                F,
                self.pos,
                format!("cut short {}", self.place()),
            ));
        }
        let v = self.version;
        let facts = vec![
            ("format", "pg_dump custom archive".to_string()),
            (
                "archive-version",
                format!("{}.{}.{}", v >> 16, (v >> 8) & 255, v & 255),
            ),
            ("compression", self.compression.clone()),
            ("dbname", self.dbname.text()),
            ("toc-entries", self.toc_count.to_string()),
            ("data-blocks", self.data.len().to_string()),
            ("server-version", self.server_version.text()),
            ("pg-dump-version", self.dump_version.text()),
        ];
        Ok(Report {
            format: F,
            facts: facts.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        })
    }

    /// The archive's version is one this check does not read (older than 1.12, newer than
    /// 1.16): the stream passes unchecked rather than refusing every dump of a newer
    /// pg_dump.
    pub(crate) fn unchecked(&self) -> bool {
        self.unchecked
    }

    pub(crate) fn unchecked_report(&self) -> Report {
        crate::checker::unknown_report(vec![(
            "note".to_string(),
            format!(
                "pg_dump custom archive version {}.{} is not one this check reads \
                 (1.12 to 1.16): not checked",
                self.major, self.minor
            ),
        )])
    }

    pub(crate) fn held_bytes(&self) -> usize {
        self.fixed.len()
            + self.compression.capacity()
            + self.dbname.capacity()
            + self.server_version.capacity()
            + self.dump_version.capacity()
            + self.tag.capacity()
            + self.desc.capacity()
            + self.namespace.capacity()
            + self.data.capacity() * std::mem::size_of::<DataEntry>()
            + self.labels.capacity()
    }

    /// The string the current field's body goes to, if it is one we keep.
    fn kept_string(&mut self) -> Option<&mut Capped> {
        match self.field {
            Field::DbName => Some(&mut self.dbname),
            Field::ServerVersion => Some(&mut self.server_version),
            Field::DumpVersion => Some(&mut self.dump_version),
            Field::Tag => Some(&mut self.tag),
            Field::Desc => Some(&mut self.desc),
            Field::Namespace => Some(&mut self.namespace),
            _ => None,
        }
    }

    /// Where in the archive the reader is, for messages: "in the header", "in TOC entry 3
    /// of 57", "in data block 2 of 7 (table public.users)", "before data block ...".
    fn place(&self) -> String {
        if self.field.in_header() {
            return "in the header".to_string();
        }
        if self.field == Field::BlockType {
            return if self.next_block < self.data.len() {
                format!("before {}", self.block_name(self.next_block))
            } else {
                "after its last data block".to_string()
            };
        }
        if self.field.in_block() {
            return format!("in {}", self.block_name(self.next_block));
        }
        format!("in TOC entry {} of {}", self.toc_index + 1, self.toc_count)
    }

    /// "data block 3 of 7 (table public.incidents)".
    fn block_name(&self, index: usize) -> String {
        let entry = self.data[index];
        let (start, end) = entry.label;
        let label = if start == end {
            format!("dump id {}", entry.dump_id)
        } else {
            self.labels[start as usize..end as usize].to_string()
        };
        format!("data block {} of {} ({label})", index + 1, self.data.len())
    }

    fn malformed(&self, what: impl std::fmt::Display) -> CheckError {
        CheckError::malformed(
            F,
            self.field_start,
            format!("is malformed {}: {what}", self.place()),
        )
    }

    /// Moves on to `field`, reading it as its encoding says.
    fn expect(&mut self, field: Field) {
        self.field = field;
        self.pending = match field.encoding() {
            Encoding::Bytes(n) => Pending::Fixed { need: n },
            Encoding::Int | Encoding::Str => Pending::Fixed {
                need: 1 + self.int_size,
            },
            Encoding::Offset => Pending::Fixed {
                need: 1 + self.off_size,
            },
            Encoding::Body => unreachable!("a body follows its length"),
        };
    }

    /// `ReadInt` of the bytes in `fixed`, stricter: the sign byte must be 0 or 1 and the
    /// value must fit in 64 bits.
    fn int(&self) -> Result<i64, CheckError> {
        let sign = self.fixed[0];
        if sign > 1 {
            return Err(self.malformed(format!("integer sign byte {sign} is not 0 or 1")));
        }
        let mut value: u64 = 0;
        for (i, &b) in self.fixed[1..1 + self.int_size].iter().enumerate() {
            if i >= 8 {
                if b != 0 {
                    return Err(self.malformed("integer too large"));
                }
            } else {
                value |= u64::from(b) << (8 * i);
            }
        }
        let value = i64::try_from(value).map_err(|_| self.malformed("integer too large"))?;
        Ok(if sign == 1 { -value } else { value })
    }

    /// A fixed-size item is complete in `fixed[..len]`.
    fn fixed_done(&mut self, len: usize) -> Result<(), CheckError> {
        match self.field.encoding() {
            Encoding::Bytes(_) => self.bytes_done(len),
            Encoding::Int => {
                let value = self.int()?;
                self.int_done(value)
            }
            Encoding::Str => match self.int()? {
                -1 => {
                    if let Some(kept) = self.kept_string() {
                        kept.set_null();
                    }
                    self.string_done(true)
                }
                n if n < 0 => Err(self.malformed(format!("string length {n}"))),
                n => {
                    if let Some(kept) = self.kept_string() {
                        kept.clear();
                    }
                    if n == 0 {
                        self.string_done(false)
                    } else {
                        self.pending = Pending::Body { left: n as u64 };
                        Ok(())
                    }
                }
            },
            Encoding::Offset => self.offset_done(),
            Encoding::Body => unreachable!("bodies are not fixed-size"),
        }
    }

    fn body_done(&mut self) -> Result<(), CheckError> {
        if self.field == Field::ChunkData {
            self.expect(Field::ChunkLength);
            Ok(())
        } else {
            self.string_done(false)
        }
    }

    fn bytes_done(&mut self, len: usize) -> Result<(), CheckError> {
        let b = self.fixed[0];
        match self.field {
            Field::Magic => {
                if &self.fixed[..len] != b"PGDMP" {
                    return Err(self.malformed("no PGDMP magic string"));
                }
                self.expect(Field::VersionMajor);
            }
            Field::VersionMajor => {
                self.major = b;
                self.expect(Field::VersionMinor);
            }
            Field::VersionMinor => {
                self.minor = b;
                let v = version(self.major, self.minor, 0);
                if !(K_VERS_1_12..=K_VERS_MAX).contains(&v) {
                    self.unchecked = true;
                    return Ok(());
                }
                self.expect(Field::VersionRev);
            }
            Field::VersionRev => {
                self.version = version(self.major, self.minor, b);
                self.expect(Field::IntSize);
            }
            Field::IntSize | Field::OffSize => {
                if !(1..=MAX_INT_SIZE).contains(&b) {
                    return Err(self.malformed(format!(
                        "{} {b} is not 1 to {MAX_INT_SIZE}",
                        if self.field == Field::IntSize {
                            "integer size"
                        } else {
                            "offset size"
                        }
                    )));
                }
                if self.field == Field::IntSize {
                    self.int_size = b as usize;
                    self.expect(Field::OffSize);
                } else {
                    self.off_size = b as usize;
                    self.expect(Field::ArchiveFormat);
                }
            }
            Field::ArchiveFormat => {
                if b != ARCH_CUSTOM {
                    return Err(self.malformed(format!(
                        "archive format {b}, not custom ({ARCH_CUSTOM}): \
                         only custom archives stream through a pipe"
                    )));
                }
                if self.version >= K_VERS_1_15 {
                    self.expect(Field::CompressionAlgorithm);
                } else {
                    self.expect(Field::CompressionLevel);
                }
            }
            Field::CompressionAlgorithm => {
                // pg_compress_algorithm in src/include/common/compression.h.
                self.compression = match b {
                    0 => "none".to_string(),
                    1 => "gzip".to_string(),
                    2 => "lz4".to_string(),
                    3 => "zstd".to_string(),
                    n => format!("unknown algorithm {n}"),
                };
                self.expect(Field::CreationDate(0));
            }
            Field::BlockType => {
                if self.next_block == self.data.len() {
                    return Err(CheckError::malformed(
                        F,
                        self.field_start,
                        "has bytes after its last data block (trailing garbage)",
                    ));
                }
                let blobs = self.data[self.next_block].blobs;
                let want = if blobs { BLK_BLOBS } else { BLK_DATA };
                if b != want {
                    return Err(self.malformed(format!(
                        "block type {b} where {want} ({}) was expected",
                        if blobs { "large objects" } else { "data" }
                    )));
                }
                self.in_blobs = blobs;
                self.expect(Field::BlockId);
            }
            other => unreachable!("{other:?} is not a byte field"),
        }
        Ok(())
    }

    fn int_done(&mut self, value: i64) -> Result<(), CheckError> {
        match self.field {
            Field::CompressionLevel => {
                // Before 1.15 the header holds a zlib level: 0 none, -1 the default.
                self.compression = match value {
                    0 => "none".to_string(),
                    -1 => "gzip (default level)".to_string(),
                    n => format!("gzip level {n}"),
                };
                self.expect(Field::CreationDate(0));
            }
            Field::CreationDate(i) if i < 6 => self.expect(Field::CreationDate(i + 1)),
            Field::CreationDate(_) => self.expect(Field::DbName),
            Field::TocCount => {
                if value < 0 {
                    return Err(self.malformed(format!("TOC count {value}")));
                }
                self.toc_count = value as u64;
                self.next_entry();
            }
            Field::DumpId => {
                if value <= 0 {
                    return Err(self.malformed(format!("dump id {value} out of range")));
                }
                self.dump_id = value;
                self.expect(Field::HadDumper);
            }
            Field::HadDumper => {
                if value != 0 && value != 1 {
                    return Err(self.malformed(format!("data dumper flag {value}")));
                }
                self.had_dumper = value == 1;
                self.expect(Field::TableOid);
            }
            Field::Section => {
                if !SECTIONS.contains(&value) {
                    return Err(self.malformed(format!("section {value}")));
                }
                self.expect(Field::Defn);
            }
            Field::RelKind => self.expect(Field::Owner),
            Field::BlockId => {
                let entry = self.data[self.next_block];
                if value != entry.dump_id {
                    return Err(self.malformed(format!(
                        "found the block of dump id {value}, expected dump id {}",
                        entry.dump_id
                    )));
                }
                if self.in_blobs {
                    self.expect(Field::BlobOid);
                } else {
                    self.expect(Field::ChunkLength);
                }
            }
            Field::ChunkLength => {
                if value < 0 {
                    return Err(self.malformed(format!("chunk length {value}")));
                }
                if value > 0 {
                    self.field = Field::ChunkData;
                    self.pending = Pending::Body { left: value as u64 };
                } else if self.in_blobs {
                    // The end of one large object; its successor's OID or 0 follows.
                    self.expect(Field::BlobOid);
                } else {
                    self.block_done();
                }
            }
            Field::BlobOid => {
                // OIDs above 2^31 are written as negative integers: only 0 ends the block.
                if value == 0 {
                    self.block_done();
                } else {
                    self.expect(Field::ChunkLength);
                }
            }
            other => unreachable!("{other:?} is not an integer field"),
        }
        Ok(())
    }

    fn string_done(&mut self, null: bool) -> Result<(), CheckError> {
        let next = match self.field {
            Field::DbName => Field::ServerVersion,
            Field::ServerVersion => Field::DumpVersion,
            Field::DumpVersion => Field::TocCount,
            Field::TableOid => Field::Oid,
            Field::Oid => Field::Tag,
            Field::Tag => Field::Desc,
            Field::Desc => Field::Section,
            Field::Defn => Field::DropStmt,
            Field::DropStmt => Field::CopyStmt,
            Field::CopyStmt => Field::Namespace,
            Field::Namespace => Field::Tablespace,
            Field::Tablespace if self.version >= K_VERS_1_14 => Field::TableAm,
            Field::Tablespace => Field::Owner,
            Field::TableAm if self.version >= K_VERS_1_16 => Field::RelKind,
            Field::TableAm => Field::Owner,
            Field::Owner => Field::WithOids,
            Field::WithOids => Field::Dependency,
            Field::Dependency if null => Field::DataOffset,
            Field::Dependency => Field::Dependency,
            other => unreachable!("{other:?} is not a string field"),
        };
        self.expect(next);
        Ok(())
    }

    /// The entry's data offset (`_ReadExtraToc`) ends it.
    fn offset_done(&mut self) -> Result<(), CheckError> {
        let state = self.fixed[0];
        if !(K_OFFSET_POS_NOT_SET..=K_OFFSET_NO_DATA).contains(&state) {
            return Err(self.malformed(format!("data offset flag {state}")));
        }
        if self.fixed[1 + 8.min(self.off_size)..1 + self.off_size]
            .iter()
            .any(|&b| b != 0)
        {
            return Err(self.malformed("file offset too large"));
        }
        if self.had_dumper && state != K_OFFSET_NO_DATA {
            let label = self.label();
            let start = self.labels.len();
            if start + label.len() <= LABEL_BUDGET {
                self.labels.push_str(&label);
            }
            self.data.push(DataEntry {
                dump_id: self.dump_id,
                blobs: self.desc.bytes() == b"BLOBS",
                label: (start as u32, self.labels.len() as u32),
            });
        }
        self.toc_index += 1;
        self.next_entry();
        Ok(())
    }

    fn next_entry(&mut self) {
        if self.toc_index < self.toc_count {
            self.expect(Field::DumpId);
        } else {
            self.expect(Field::BlockType);
        }
    }

    fn block_done(&mut self) {
        self.next_block += 1;
        self.in_blobs = false;
        self.expect(Field::BlockType);
    }

    /// "table public.incidents", "large objects", "materialized view data public.v", at
    /// most 100 characters.
    fn label(&self) -> String {
        let tag = self.tag.text();
        let name = match self.namespace.bytes() {
            ns if ns.is_empty() || self.namespace.is_null() => tag.clone(),
            _ => format!("{}.{tag}", self.namespace.text()),
        };
        let mut label = match self.desc.bytes() {
            b"TABLE DATA" => format!("table {name}"),
            // PostgreSQL 17 tags each group "LARGE OBJECTS first..last".
            b"BLOBS" if tag.starts_with("LARGE OBJECTS ") => tag.to_lowercase(),
            b"BLOBS" => "large objects".to_string(),
            _ => format!("{} {name}", self.desc.text().to_lowercase()),
        };
        if label.chars().count() > TAG_CAP {
            label = label.chars().take(TAG_CAP).collect();
        }
        label
    }
}
