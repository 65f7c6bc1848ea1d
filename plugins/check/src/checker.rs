//! The dispatcher: recognises the format from the first bytes and hands the stream to the
//! checker of that format (`pgdump`, `tar`, `sql`), and the public types of the check.
//!
//! It holds back at most [`SNIFF_LEN`] bytes while the format is undecided: a pg_dump custom
//! archive is known after 5 bytes (`PGDMP`), a plain SQL dump after its header comment
//! (about 40 bytes), a tar archive after its first 512-byte header. **Invariant:** memory is
//! bounded whatever the input: the checkers skip content by counting and keep only short,
//! capped strings (see [`Checker::held_bytes`]).

use std::fmt;

use crate::{pgdump, sql, tar};

/// The most bytes held back before the format is decided: one tar header block.
pub const SNIFF_LEN: usize = 512;

/// The archive formats the check knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// A pg_dump custom-format archive (`pg_dump --format=custom`), archive versions 1.12
    /// to 1.16.
    PgDumpCustom,
    /// A tar archive (`pg_basebackup --format=tar -D -`, `pg_dump --format=tar`, GNU tar).
    Tar,
    /// Plain SQL from `pg_dump` or `pg_dumpall`.
    PlainSql,
    /// Anything else: not checked.
    Unknown,
}

impl Format {
    /// How messages name the format.
    pub fn name(self) -> &'static str {
        match self {
            Format::PgDumpCustom => "pg_dump custom archive",
            Format::Tar => "tar archive",
            Format::PlainSql => "plain SQL dump",
            Format::Unknown => "unknown format",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a complete archive was found to be: its format and facts about it, `format` first
/// (e.g. `("toc-entries", "57")`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub format: Format,
    pub facts: Vec<(String, String)>,
}

impl Report {
    /// The value of fact `key`, if reported.
    pub fn fact(&self, key: &str) -> Option<&str> {
        self.facts
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Why an archive was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The input ended before the archive did.
    Truncated,
    /// The input is not what the format allows (includes bytes after the archive's end).
    Malformed,
}

/// An archive cut short or malformed. Its `Display` is one line naming the format, what
/// was cut or wrong, and the byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckError {
    format: Format,
    kind: ErrorKind,
    offset: u64,
    message: String,
}

impl CheckError {
    /// `what` says what was cut or wrong, without the format or the offset, e.g. "cut short
    /// in data block 3 of 7 (table public.incidents)".
    pub(crate) fn new(format: Format, kind: ErrorKind, offset: u64, what: String) -> CheckError {
        CheckError {
            format,
            kind,
            offset,
            message: format!("{} {what}, at byte {offset}", format.name()),
        }
    }

    pub(crate) fn truncated(format: Format, offset: u64, what: impl Into<String>) -> CheckError {
        CheckError::new(format, ErrorKind::Truncated, offset, what.into())
    }

    pub(crate) fn malformed(format: Format, offset: u64, what: impl Into<String>) -> CheckError {
        CheckError::new(format, ErrorKind::Malformed, offset, what.into())
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The byte offset in the stream where the problem is (for a truncation: the end).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The one-line message, as `Display` prints it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CheckError {}

/// Decides, as a dump streams through in chunks of any size, whether it is complete.
pub struct Checker {
    state: State,
}

enum State {
    /// Format undecided: the input so far (at most [`SNIFF_LEN`] bytes).
    Sniffing(Vec<u8>),
    Custom(Box<pgdump::PgDump>),
    Tar(Box<tar::Tar>),
    Sql(Box<sql::Sql>),
    /// Not a format we know: everything passes.
    Unknown,
    /// A failed check stays failed.
    Failed(CheckError),
    /// `finish` succeeded; calling it again gives the same report.
    Done(Report),
}

/// A format a stream can open with, to wait for while the input is a prefix of one.
const PGDMP: &[u8] = b"PGDMP";

impl Default for Checker {
    fn default() -> Checker {
        Checker::new()
    }
}

impl Checker {
    pub fn new() -> Checker {
        Checker {
            state: State::Sniffing(Vec::new()),
        }
    }

    /// Feeds the next bytes. Errors as soon as the input is provably malformed (not for
    /// truncation, which only `finish` can know).
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), CheckError> {
        let result = match &mut self.state {
            State::Sniffing(held) => {
                let take = chunk.len().min(SNIFF_LEN - held.len());
                held.extend_from_slice(&chunk[..take]);
                match decide(held, false) {
                    Ok(Some(state)) => {
                        let held = std::mem::take(held);
                        self.state = state;
                        self.feed_decided(&held)
                            .and_then(|()| self.feed_decided(&chunk[take..]))
                    }
                    // Undecided means fewer than SNIFF_LEN bytes, so all of `chunk` was taken.
                    Ok(None) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            _ => self.feed_decided(chunk),
        };
        result.map_err(|e| self.fail(e))
    }

    fn feed_decided(&mut self, chunk: &[u8]) -> Result<(), CheckError> {
        if chunk.is_empty() {
            return Ok(());
        }
        match &mut self.state {
            State::Custom(c) => {
                c.feed(chunk)?;
                if c.unchecked() {
                    // A pg_dump archive version we do not read: see `PgDump::unchecked`.
                    let report = c.unchecked_report();
                    self.state = State::Done(report);
                }
                Ok(())
            }
            State::Tar(t) => t.feed(chunk),
            State::Sql(s) => {
                s.feed(chunk);
                Ok(())
            }
            State::Unknown => Ok(()),
            State::Done(report) if report.format == Format::Unknown => Ok(()),
            State::Failed(e) => Err(e.clone()),
            State::Done(report) => Err(CheckError::malformed(
                report.format,
                0,
                "was fed more input after the check finished",
            )),
            State::Sniffing(_) => unreachable!("feed_decided is called once decided"),
        }
    }

    /// The input ended: `Ok(report)` if the archive is complete (or the format is not one we
    /// know), `Err` if it was cut short or malformed.
    pub fn finish(&mut self) -> Result<Report, CheckError> {
        let result = match &mut self.state {
            State::Sniffing(held) => match decide(held, true) {
                Ok(Some(state)) => {
                    let held = std::mem::take(held);
                    self.state = state;
                    self.feed_decided(&held)
                        .and_then(|()| self.finish_decided())
                }
                Ok(None) => unreachable!("decide always decides at the end"),
                Err(e) => Err(e),
            },
            _ => self.finish_decided(),
        };
        match result {
            Ok(report) => {
                self.state = State::Done(report.clone());
                Ok(report)
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    fn finish_decided(&mut self) -> Result<Report, CheckError> {
        match &mut self.state {
            State::Custom(c) => c.finish(),
            State::Tar(t) => t.finish(),
            State::Sql(s) => s.finish(),
            State::Unknown => Ok(unknown_report(Vec::new())),
            State::Failed(e) => Err(e.clone()),
            State::Done(report) => Ok(report.clone()),
            State::Sniffing(_) => unreachable!("finish_decided is called once decided"),
        }
    }

    fn fail(&mut self, e: CheckError) -> CheckError {
        self.state = State::Failed(e.clone());
        e
    }

    /// The bytes this checker holds in memory for the stream (buffers, kept strings and
    /// the table of expected data blocks), for tests of its bounds.
    pub fn held_bytes(&self) -> usize {
        match &self.state {
            State::Sniffing(held) => held.capacity(),
            State::Custom(c) => c.held_bytes(),
            State::Tar(t) => t.held_bytes(),
            State::Sql(s) => s.held_bytes(),
            State::Unknown | State::Failed(_) | State::Done(_) => 0,
        }
    }
}

/// The report of input the check does not know, with `extra` facts after `format`.
pub(crate) fn unknown_report(extra: Vec<(String, String)>) -> Report {
    let mut facts = vec![("format".to_string(), "unknown".to_string())];
    facts.extend(extra);
    Report {
        format: Format::Unknown,
        facts,
    }
}

/// Decides the format from the first bytes: `Ok(None)` while it may still change with more
/// input (never once `ended`).
fn decide(held: &[u8], ended: bool) -> Result<Option<State>, CheckError> {
    if held.starts_with(PGDMP) {
        return Ok(Some(State::Custom(Box::default())));
    }
    if let Some(kind) = sql::header_kind(held) {
        return Ok(Some(State::Sql(Box::new(sql::Sql::new(kind)))));
    }
    let custom_prefix = !held.is_empty() && PGDMP.starts_with(held);
    let sql_prefix = !held.is_empty() && sql::is_header_prefix(held);
    if (custom_prefix || sql_prefix) && !ended {
        return Ok(None);
    }
    if held.len() >= SNIFF_LEN {
        return Ok(Some(if tar::looks_like_tar(&held[..SNIFF_LEN]) {
            State::Tar(Box::default())
        } else {
            State::Unknown
        }));
    }
    if !ended {
        return Ok(None);
    }
    // The input ended before the format was sure: refuse what is the start of one.
    let end = held.len() as u64;
    if custom_prefix {
        return Err(CheckError::truncated(
            Format::PgDumpCustom,
            end,
            "cut short in its magic string",
        ));
    }
    if sql_prefix {
        return Err(CheckError::truncated(
            Format::PlainSql,
            end,
            "cut short in its header comment",
        ));
    }
    if tar::looks_like_partial_header(held) {
        return Err(CheckError::truncated(
            Format::Tar,
            end,
            "cut short in the header of member 1",
        ));
    }
    Ok(Some(State::Unknown))
}

/// A string kept for facts and messages: at most `cap` bytes of it, the rest counted.
#[derive(Debug, Default, Clone)]
pub(crate) struct Capped {
    bytes: Vec<u8>,
    /// Bytes seen beyond `bytes`.
    dropped: u64,
    /// NULL (pg_dump strings can be), as opposed to empty.
    null: bool,
}

impl Capped {
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.dropped = 0;
        self.null = false;
    }

    pub(crate) fn set_null(&mut self) {
        self.clear();
        self.null = true;
    }

    pub(crate) fn push(&mut self, data: &[u8], cap: usize) {
        let room = cap.saturating_sub(self.bytes.len()).min(data.len());
        self.bytes.extend_from_slice(&data[..room]);
        self.dropped += (data.len() - room) as u64;
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub(crate) fn is_null(&self) -> bool {
        self.null
    }

    /// The text, lossily decoded, with `...` if it was longer than kept.
    pub(crate) fn text(&self) -> String {
        let mut s = String::from_utf8_lossy(&self.bytes).into_owned();
        if self.dropped > 0 {
            s.push_str("...");
        }
        s
    }

    pub(crate) fn capacity(&self) -> usize {
        self.bytes.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_keeps_at_most_cap() {
        let mut c = Capped::default();
        c.push(b"abcdef", 4);
        c.push(b"gh", 4);
        assert_eq!(c.bytes(), b"abcd");
        assert_eq!(c.text(), "abcd...");
    }

    #[test]
    fn errors_are_one_line_with_format_and_offset() {
        let e = CheckError::truncated(Format::PgDumpCustom, 12, "cut short in the header");
        assert_eq!(
            e.to_string(),
            "pg_dump custom archive cut short in the header, at byte 12"
        );
        assert_eq!(e.kind(), ErrorKind::Truncated);
    }
}
