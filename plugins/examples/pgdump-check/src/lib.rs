//! `pgdump-check`: refuses a backup unless the stream is a pg_dump custom-format archive.
//!
//! Forward (push), it reads the archive header as PostgreSQL's `ReadHead` does
//! (`src/bin/pg_dump/pg_backup_archiver.c`) and fails at once on anything else: plain SQL
//! from `pg_dump` without `-Fc`, an error message, an empty or cut-off stream. It holds bytes
//! back only until the header is complete, then passes every byte through unchanged.
//! Inverse (pull), it passes bytes through unchanged.
//!
//! The header: `PGDMP`, then one byte each for the archive version's major and minor number,
//! its revision (after version 1.0), the size of an integer, the size of a file offset
//! (from 1.7 on) and the archive format (1 for custom).

use twgate_plugin_sdk::{export_transform, Direction, Error, Params, Transform};

const MAGIC: &[u8] = b"PGDMP";
/// `archCustom` in pg_dump's `ArchiveFormat`.
const FORMAT_CUSTOM: u8 = 1;
const NOT_CUSTOM: &str = "input is not a pg_dump custom-format archive (expected PGDMP header): \
                          use pg_dump --format=custom";

/// One stream through the check.
pub struct PgdumpCheck {
    state: State,
    /// The archive version, e.g. `1.14.0`, once the header was read.
    version: Option<String>,
}

enum State {
    /// Forward, header incomplete: the input so far, held back.
    Checking(Vec<u8>),
    /// Header accepted, or inverse: input passes through.
    Passing,
    /// A failed stage stays failed.
    Failed(Error),
}

/// The header's fields as `ReadHead` reads them, or `None` until enough bytes have come.
fn header_fields(held: &[u8]) -> Option<[u8; 6]> {
    let mut rest = held.get(MAGIC.len()..)?.iter().copied();
    let major = rest.next()?;
    let minor = rest.next()?;
    // Version 1.0 archives have no revision byte, and those before 1.7 no offset size.
    let rev = if (major, minor) > (1, 0) {
        rest.next()?
    } else {
        0
    };
    let int_size = rest.next()?;
    let off_size = if (major, minor) >= (1, 7) {
        rest.next()?
    } else {
        int_size
    };
    let format = rest.next()?;
    Some([major, minor, rev, int_size, off_size, format])
}

/// Checks the start of the stream: `Ok(Some(version))` once a valid header is complete,
/// `Ok(None)` while it may still become one.
fn check_header(held: &[u8]) -> Result<Option<String>, Error> {
    let seen = held.len().min(MAGIC.len());
    if held[..seen] != MAGIC[..seen] {
        return Err(Error::CorruptInput(NOT_CUSTOM.into()));
    }
    let Some([major, minor, rev, int_size, off_size, format]) = header_fields(held) else {
        return Ok(None);
    };
    if major == 0 || !(1..=32).contains(&int_size) || !(1..=32).contains(&off_size) {
        return Err(Error::CorruptInput(format!(
            "the pg_dump archive header is damaged (version {major}.{minor}, integer size \
             {int_size}, offset size {off_size})"
        )));
    }
    if format != FORMAT_CUSTOM {
        return Err(Error::CorruptInput(format!(
            "the pg_dump archive has format {format}, not custom (1): use pg_dump --format=custom"
        )));
    }
    Ok(Some(format!("{major}.{minor}.{rev}")))
}

impl PgdumpCheck {
    /// Passes `held` on if it starts with a complete, valid header; holds it back while the
    /// header is incomplete, unless the input has ended.
    fn check(&mut self, held: Vec<u8>, ended: bool) -> Result<Vec<u8>, Error> {
        match check_header(&held) {
            Ok(Some(version)) => {
                self.version = Some(version);
                self.state = State::Passing;
                Ok(held)
            }
            Ok(None) if !ended => {
                self.state = State::Checking(held);
                Ok(Vec::new())
            }
            Ok(None) => self.fail(Error::CorruptInput(NOT_CUSTOM.into())),
            Err(e) => self.fail(e),
        }
    }

    fn fail(&mut self, e: Error) -> Result<Vec<u8>, Error> {
        self.state = State::Failed(e.clone());
        Err(e)
    }
}

impl Transform for PgdumpCheck {
    const NAME: &'static str = "pgdump-check";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const SUMMARY: &'static str = env!("CARGO_PKG_DESCRIPTION");

    fn open(direction: Direction, params: &Params, _secrets: &Params) -> Result<Self, Error> {
        let state = match direction {
            Direction::Forward => {
                if let Some(key) = params.first_unknown(&[]) {
                    return Err(Error::BadConfig(format!(
                        "pgdump-check does not take a parameter '{key}': it takes none"
                    )));
                }
                State::Checking(Vec::new())
            }
            // On the way back there is nothing to check: pass everything through.
            Direction::Inverse => State::Passing,
        };
        Ok(PgdumpCheck {
            state,
            version: None,
        })
    }

    fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, Error> {
        match &mut self.state {
            State::Checking(held) => {
                let mut held = std::mem::take(held);
                held.extend_from_slice(chunk);
                self.check(held, false)
            }
            State::Passing => Ok(chunk.to_vec()),
            State::Failed(e) => Err(e.clone()),
        }
    }

    fn finish(&mut self) -> Result<Vec<u8>, Error> {
        match &mut self.state {
            State::Checking(held) => {
                let held = std::mem::take(held);
                self.check(held, true)
            }
            State::Passing => Ok(Vec::new()),
            State::Failed(e) => Err(e.clone()),
        }
    }

    fn describe(&self) -> Vec<(String, String)> {
        match &self.version {
            Some(version) => vec![
                ("format".into(), "custom".into()),
                ("archive-version".into(), version.clone()),
            ],
            None => Vec::new(),
        }
    }
}

export_transform!(PgdumpCheck);
