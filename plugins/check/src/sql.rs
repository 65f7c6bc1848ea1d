//! Plain SQL from `pg_dump --format=plain` and `pg_dumpall`: complete only if it ends with
//! the closing comment its writer prints last.
//!
//! What PostgreSQL writes (`pg_backup_archiver.c` `RestoreArchive`, `pg_dumpall.c` `main`,
//! the same in the 13.16, 15.18 and 18.6 sources read): it opens with `--\n-- PostgreSQL
//! database dump\n--\n\n` (or `... database cluster dump ...`) and closes with `--\n--
//! PostgreSQL database dump complete\n--\n\n` (or `... cluster dump complete ...`).
//! From the minor releases of August 2025 (CVE-2025-8714: in the 15.18 and 18.6 sources
//! read, not in 13.16), a random key guards psql's meta-commands: `\restrict KEY` right
//! after the opening comment and, for pg_dump, `\unrestrict KEY` after the closing one;
//! pg_dumpall's closing comment is its last line. So a pg_dump whose opening has a key
//! must end with `\unrestrict` and that same key; and the last line must be followed by
//! the blank line its writer adds.
//!
//! **Invariant:** only the first [`HEAD_LEN`] and the last [`TAIL_LEN`] bytes are kept
//! (a run of line ends counts as at most [`NEWLINE_RUN_CAP`] bytes).

use crate::checker::{CheckError, Format, Report};

const F: Format = Format::PlainSql;
/// Kept from the start: the opening comment, the `\restrict` line and the version lines.
pub(crate) const HEAD_LEN: usize = 512;
/// Kept from the end: the closing comment and the `\unrestrict` line fit many times over.
pub(crate) const TAIL_LEN: usize = 1024;
/// The most kept of a run of line ends at the end.
const NEWLINE_RUN_CAP: usize = 8;

const DUMP: &str = "PostgreSQL database dump";
const CLUSTER: &str = "PostgreSQL database cluster dump";

/// Which writer opened the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `pg_dump`.
    Database,
    /// `pg_dumpall`.
    Cluster,
}

impl Kind {
    fn title(self) -> &'static str {
        match self {
            Kind::Database => DUMP,
            Kind::Cluster => CLUSTER,
        }
    }
}

/// The opening comments, with Unix and with Windows line ends.
fn headers() -> [(Kind, String); 4] {
    [
        (Kind::Database, format!("--\n-- {DUMP}\n--\n")),
        (Kind::Cluster, format!("--\n-- {CLUSTER}\n--\n")),
        (Kind::Database, format!("--\r\n-- {DUMP}\r\n--\r\n")),
        (Kind::Cluster, format!("--\r\n-- {CLUSTER}\r\n--\r\n")),
    ]
}

/// The writer, if `held` starts with an opening comment.
pub(crate) fn header_kind(held: &[u8]) -> Option<Kind> {
    headers()
        .into_iter()
        .find(|(_, h)| held.starts_with(h.as_bytes()))
        .map(|(kind, _)| kind)
}

/// True if `held` is the start of an opening comment (more input may complete it).
pub(crate) fn is_header_prefix(held: &[u8]) -> bool {
    headers()
        .iter()
        .any(|(_, h)| h.as_bytes().starts_with(held))
}

fn is_line_end(b: u8) -> bool {
    b == b'\n' || b == b'\r'
}

/// One plain SQL dump, as it streams through.
#[derive(Debug)]
pub(crate) struct Sql {
    kind: Kind,
    pos: u64,
    head: Vec<u8>,
    /// The end so far, without the run of line ends that closes it.
    tail: Vec<u8>,
    /// That run of line ends (at most `NEWLINE_RUN_CAP` of its bytes).
    newlines: Vec<u8>,
}

impl Sql {
    pub(crate) fn new(kind: Kind) -> Sql {
        Sql {
            kind,
            pos: 0,
            head: Vec::with_capacity(HEAD_LEN),
            tail: Vec::with_capacity(2 * TAIL_LEN),
            newlines: Vec::with_capacity(NEWLINE_RUN_CAP),
        }
    }

    /// Keeps the head and the tail: a few copies of at most `TAIL_LEN` bytes per chunk.
    pub(crate) fn feed(&mut self, chunk: &[u8]) {
        self.pos += chunk.len() as u64;
        let room = (HEAD_LEN - self.head.len()).min(chunk.len());
        self.head.extend_from_slice(&chunk[..room]);
        match chunk.iter().rposition(|&b| !is_line_end(b)) {
            None => {
                let room = (NEWLINE_RUN_CAP - self.newlines.len()).min(chunk.len());
                self.newlines.extend_from_slice(&chunk[..room]);
            }
            Some(last) => {
                let content = &chunk[..=last];
                if content.len() >= TAIL_LEN {
                    self.tail.clear();
                    self.tail
                        .extend_from_slice(&content[content.len() - TAIL_LEN..]);
                } else {
                    self.tail.append(&mut self.newlines);
                    self.tail.extend_from_slice(content);
                    if self.tail.len() > 2 * TAIL_LEN {
                        self.tail.drain(..self.tail.len() - TAIL_LEN);
                    }
                }
                self.newlines.clear();
                let run = &chunk[last + 1..];
                self.newlines
                    .extend_from_slice(&run[..run.len().min(NEWLINE_RUN_CAP)]);
            }
        }
    }

    pub(crate) fn finish(&mut self) -> Result<Report, CheckError> {
        let closing = format!("-- {} complete", self.kind.title());
        // The writer ends its last line and adds a blank one ("\n\n"): fewer is a cut.
        if self.newlines.iter().filter(|&&b| b == b'\n').count() < 2 {
            return Err(CheckError::truncated(
                F,
                self.pos,
                format!("cut short: it does not end with the line '{closing}' and a blank line"),
            ));
        }
        let head = String::from_utf8_lossy(&self.head);
        let key = restrict_key(&head);
        let tail = String::from_utf8_lossy(&self.tail);
        let lines: Vec<&str> = tail.lines().collect();
        // Walks back from the end over blank lines, `\unrestrict KEY`, blank lines, then
        // the closing comment's three lines.
        let mut end = lines.len();
        let skip_blank = |end: &mut usize| {
            while *end > 0 && lines[*end - 1].is_empty() {
                *end -= 1;
            }
        };
        skip_blank(&mut end);
        if let (Kind::Database, Some(key)) = (self.kind, &key) {
            if end == 0 || lines[end - 1] != format!("\\unrestrict {key}") {
                return Err(CheckError::truncated(
                    F,
                    self.pos,
                    format!(
                        "cut short: it does not end with '\\unrestrict' and the key of its \
                         '\\restrict' line after '{closing}'"
                    ),
                ));
            }
            end -= 1;
            skip_blank(&mut end);
        }
        if end < 3 || lines[end - 3..end] != ["--", closing.as_str(), "--"] {
            return Err(CheckError::truncated(
                F,
                self.pos,
                format!("cut short: it does not end with the line '{closing}'"),
            ));
        }
        let mut facts = vec![(
            "format".to_string(),
            match self.kind {
                Kind::Database => "plain SQL dump (pg_dump)",
                Kind::Cluster => "plain SQL cluster dump (pg_dumpall)",
            }
            .to_string(),
        )];
        for (prefix, key) in [
            ("-- Dumped from database version ", "server-version"),
            ("-- Dumped by pg_dump version ", "pg-dump-version"),
        ] {
            if let Some(v) = head.lines().find_map(|l| l.strip_prefix(prefix)) {
                facts.push((key.to_string(), v.to_string()));
            }
        }
        Ok(Report { format: F, facts })
    }

    pub(crate) fn held_bytes(&self) -> usize {
        self.head.capacity() + self.tail.capacity() + self.newlines.capacity()
    }
}

/// The key of the `\restrict KEY` line that follows the opening comment, if any.
fn restrict_key(head: &str) -> Option<String> {
    head.lines()
        .skip(3)
        .find(|l| !l.is_empty())
        .and_then(|l| l.strip_prefix("\\restrict "))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &[u8], chunk: usize) -> Result<Report, CheckError> {
        let kind = header_kind(input).unwrap();
        let mut sql = Sql::new(kind);
        for c in input.chunks(chunk) {
            sql.feed(c);
        }
        sql.finish()
    }

    #[test]
    fn closing_comment_and_key() {
        let ok = b"--\n-- PostgreSQL database dump\n--\n\n\\restrict abc\n\nSELECT 1;\n\n\
--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abc\n\n";
        for chunk in [1, 2, 5, 1000] {
            check(ok, chunk).unwrap();
        }
        let no_unrestrict = b"--\n-- PostgreSQL database dump\n--\n\n\\restrict abc\n\n\
--\n-- PostgreSQL database dump complete\n--\n\n";
        assert!(check(no_unrestrict, 3).is_err());
        let wrong_key = b"--\n-- PostgreSQL database dump\n--\n\n\\restrict abc\n\n\
--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abd\n";
        assert!(check(wrong_key, 3).is_err());
        let old = b"--\n-- PostgreSQL database dump\n--\n\nSELECT 1;\n\
--\n-- PostgreSQL database dump complete\n--\n\n\n\n\n\n\n\n\n\n\n\n\n\n";
        check(old, 4).unwrap();
        let crlf = b"--\r\n-- PostgreSQL database dump\r\n--\r\n\r\nSELECT 1;\r\n\
--\r\n-- PostgreSQL database dump complete\r\n--\r\n\r\n";
        check(crlf, 4).unwrap();
    }
}
