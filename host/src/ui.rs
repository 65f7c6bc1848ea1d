//! Messages for people on stderr: warnings, notices and the progress line.
//!
//! stdout is reserved for data (`pull`) and results (`push` prints the backup id), so
//! everything here goes to stderr. `--quiet` silences notices and progress, not errors.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static QUIET: AtomicBool = AtomicBool::new(false);

/// Silences notices, warnings and progress for the rest of the process.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// A notice ("compiling plugin ...").
pub fn info(message: &str) {
    if !QUIET.load(Ordering::Relaxed) {
        eprintln!("twgate: {message}");
    }
}

/// A warning the user should act on.
pub fn warn(message: &str) {
    if !QUIET.load(Ordering::Relaxed) {
        eprintln!("twgate: warning: {message}");
    }
}

/// Text from outside twgate's control (a manifest, a store, a plugin) made safe to print:
/// control characters and invisible direction marks escaped (so no terminal escape,
/// carriage return, newline or reordered text gets through), on one line, at most 300
/// characters.
pub fn untrusted(text: &str) -> String {
    const MAX_CHARS: usize = 300;
    let mut out = String::new();
    for (count, c) in text.chars().enumerate() {
        if count == MAX_CHARS {
            out.push('…');
            break;
        }
        let invisible = matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}');
        if c.is_control() || invisible {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Formats a byte count for people: `1.5 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Formats an age for people: `45s`, `12m`, `9h 31m`, `3d 4h`.
pub fn age(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// A progress line redrawn on stderr, only when stderr is a terminal.
pub struct Progress {
    verb: &'static str,
    started: Instant,
    last_draw: Instant,
    enabled: bool,
}

impl Progress {
    pub fn new(verb: &'static str) -> Progress {
        let now = Instant::now();
        Progress {
            verb,
            started: now,
            last_draw: now,
            enabled: !QUIET.load(Ordering::Relaxed) && std::io::stderr().is_terminal(),
        }
    }

    /// Redraws at most a few times a second.
    pub fn update(&mut self, input: u64, output: u64) {
        if !self.enabled || self.last_draw.elapsed() < Duration::from_millis(250) {
            return;
        }
        self.last_draw = Instant::now();
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let ratio = if input > 0 {
            output as f64 / input as f64
        } else {
            1.0
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K{} {} in, {} out ({:.2}x), {}/s, {:.0}s",
            self.verb,
            bytes(input),
            bytes(output),
            ratio,
            bytes((input as f64 / secs) as u64),
            secs
        );
        let _ = err.flush();
    }

    /// Clears the line.
    pub fn done(&mut self) {
        if self.enabled {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_text_is_one_bounded_line_without_escapes() {
        let hostile = "zstd/9\u{1b}]0;owned\u{7}\r\nnext\u{202e}txt";
        let safe = untrusted(hostile);
        assert_eq!(
            safe,
            "zstd/9\\u{1b}]0;owned\\u{7}\\u{d}\\u{a}next\\u{202e}txt"
        );
        assert!(!safe.chars().any(|c| c.is_control()));
        let long = untrusted(&"x".repeat(10_000));
        assert_eq!(long.len(), 303);
        assert_eq!(untrusted("age-encryption.org/v1"), "age-encryption.org/v1");
    }
}
