//! `check`: refuses a backup whose dump is cut short or malformed; passes bytes through.
//!
//! Forward (push), every chunk goes to a [`Checker`], which recognises the dump by its first
//! bytes (a pg_dump custom archive, a tar archive, plain SQL from pg_dump or pg_dumpall) and
//! follows its structure to the end; `finish` fails with one line if the archive is
//! incomplete, so that a dump cut short in a plain pipe (`pg_dump ... | twgate push db`)
//! is never committed. Input of another format passes unchecked. The plugin only judges:
//! it returns no bytes, and the host forwards the original ones itself. `describe` reports
//! the check's facts (`format` first) once the stream has finished.
//! Inverse (pull), it accepts and returns nothing: it is never run there.
//!
//! The logic is plain Rust in [`checker`] (the dispatcher), [`pgdump`], [`tar`] and
//! [`sql`], with no dependency and no decompression.

pub mod checker;
mod pgdump;
mod sql;
mod tar;

pub use checker::{CheckError, Checker, ErrorKind, Format, Report};

use twgate_plugin_sdk::{export_transform, Direction, Error, Params, Transform};

/// One stream through the check.
pub struct Check {
    /// `None` inverse: nothing is checked.
    checker: Option<Checker>,
    /// The facts of the finished check.
    facts: Vec<(String, String)>,
}

impl Transform for Check {
    const NAME: &'static str = "check";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const SUMMARY: &'static str = env!("CARGO_PKG_DESCRIPTION");

    fn open(direction: Direction, params: &Params, _secrets: &Params) -> Result<Self, Error> {
        if let Some(key) = params.first_unknown(&[]) {
            return Err(Error::BadConfig(format!(
                "check does not take a parameter '{key}': it takes none"
            )));
        }
        let checker = match direction {
            Direction::Forward => Some(Checker::new()),
            Direction::Inverse => None,
        };
        Ok(Check {
            checker,
            facts: Vec::new(),
        })
    }

    fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, Error> {
        if let Some(checker) = &mut self.checker {
            checker
                .feed(chunk)
                .map_err(|e| Error::CorruptInput(e.to_string()))?;
        }
        Ok(Vec::new())
    }

    fn finish(&mut self) -> Result<Vec<u8>, Error> {
        if let Some(checker) = &mut self.checker {
            let report = checker
                .finish()
                .map_err(|e| Error::CorruptInput(e.to_string()))?;
            self.facts = report.facts;
        }
        Ok(Vec::new())
    }

    fn describe(&self) -> Vec<(String, String)> {
        self.facts.clone()
    }
}

export_transform!(Check);

#[cfg(test)]
mod tests {
    use super::*;

    fn open(direction: Direction) -> Check {
        Check::open(direction, &Params::new(), &Params::new()).unwrap()
    }

    #[test]
    fn refuses_parameters() {
        let params = Params::new().with("level", "3");
        let Err(Error::BadConfig(m)) = Check::open(Direction::Forward, &params, &Params::new())
        else {
            panic!("a parameter was accepted");
        };
        assert!(m.contains("'level'"), "{m}");
    }

    #[test]
    fn judges_without_output() {
        let sql = b"--\n-- PostgreSQL database dump\n--\n\nSELECT 1;\n\n\
--\n-- PostgreSQL database dump complete\n--\n\n";
        let mut stage = open(Direction::Forward);
        assert_eq!(twgate_plugin_sdk::run(&mut stage, sql, 7).unwrap(), b"");
        assert_eq!(stage.describe()[0].0, "format");

        let mut stage = open(Direction::Forward);
        let Err(Error::CorruptInput(m)) = twgate_plugin_sdk::run(&mut stage, &sql[..60], 7) else {
            panic!("a cut dump passed");
        };
        assert!(m.starts_with("plain SQL dump cut short"), "{m}");
        assert!(!m.contains('\n'), "{m}");
    }

    #[test]
    fn inverse_accepts_and_returns_nothing() {
        let mut stage = open(Direction::Inverse);
        assert_eq!(twgate_plugin_sdk::run(&mut stage, b"abc", 1).unwrap(), b"");
        assert!(stage.describe().is_empty());
    }
}
