//! Results on stdout, and what happens when the reader goes away.
//!
//! `twgate list | head -1` closes the pipe after one line. Rust ignores SIGPIPE, so
//! `println!` would panic on the next line (exit 101); here the write fails with
//! [`Closed`] instead, which `main` turns into a quiet exit 0, as for `ls | head`: the
//! reader has what it wanted. Only stdout is treated so: a broken pipe or socket anywhere
//! else (a store's connection) stays an error.

use std::io::Write;

/// Standard output was closed by its reader.
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed")]
pub struct Closed;

/// Maps a write error on stdout: a closed pipe is [`Closed`], anything else is an error
/// that says where it happened.
pub fn error(e: std::io::Error) -> anyhow::Error {
    match e.kind() {
        std::io::ErrorKind::BrokenPipe => Closed.into(),
        _ => anyhow::Error::new(e).context("cannot write to standard output"),
    }
}

/// Set once a result line was written.
static WROTE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether any result was written to stdout so far (a `--json` error is printed only
/// where no JSON was, so stdout always holds exactly one JSON document).
pub fn written() -> bool {
    WROTE.load(std::sync::atomic::Ordering::Relaxed)
}

/// Writes `args` and a newline to stdout (see [`outln!`](crate::outln)).
pub fn line(args: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
    WROTE.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .map_err(error)
}

/// Whether `e` is, or was caused by, a closed stdout.
pub fn closed(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| cause.is::<Closed>())
}

/// `println!` for results: returns an `anyhow::Result` that is [`Closed`] if the reader
/// has gone, instead of panicking.
#[macro_export]
macro_rules! outln {
    () => { $crate::stdout::line(format_args!("")) };
    ($($arg:tt)*) => { $crate::stdout::line(format_args!($($arg)*)) };
}
