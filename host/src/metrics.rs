//! `--metrics-file PATH`: the outcome of a push, pull, verify, prune or WAL command in
//! Prometheus' text format, for node_exporter's textfile collector.
//!
//! The file keeps one set of samples per (command, backup name): a run replaces its own
//! and leaves the others, so one file can serve a whole cron job, and a failed run keeps
//! the last *successful* run's timestamp and sizes (that is what an alert compares with
//! now). The file is replaced atomically (temporary file, then rename), as the collector
//! requires.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Bytes a command moved: what its pipeline read and wrote (zero for commands without one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Moved {
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// One finished command, as the metrics file sees it.
pub struct Run<'a> {
    pub command: &'a str,
    pub name: &'a str,
    /// What the command moved if it succeeded; `None` if it failed.
    pub succeeded: Option<Moved>,
    pub duration: Duration,
}

const HELP: &[(&str, &str)] = &[
    (
        "twgate_last_run_timestamp_seconds",
        "When the command last ran, successful or not.",
    ),
    (
        "twgate_last_run_success",
        "1 if the command's last run succeeded, else 0.",
    ),
    (
        "twgate_last_success_timestamp_seconds",
        "When the command last succeeded.",
    ),
    (
        "twgate_last_success_duration_seconds",
        "How long the last successful run took.",
    ),
    (
        "twgate_last_success_bytes_in",
        "Bytes read by the last successful run (the dump, for push).",
    ),
    (
        "twgate_last_success_bytes_out",
        "Bytes written by the last successful run (stored bytes, for push).",
    ),
    (
        "twgate_last_success_ratio",
        "bytes_out / bytes_in of the last successful run.",
    ),
];

/// Writes `run` into the metrics file at `path`, keeping every other command's samples.
pub fn write(path: &Path, run: &Run) -> std::io::Result<()> {
    let mut samples = read_samples(path);
    let labels = format!(
        "command=\"{}\",name=\"{}\"",
        escape(run.command),
        escape(run.name)
    );
    let now = jiff::Timestamp::now().as_millisecond() as f64 / 1000.0;
    let mut set = |metric: &str, value: f64| {
        samples.insert((metric.to_string(), labels.clone()), format_value(value));
    };
    set("twgate_last_run_timestamp_seconds", now);
    set(
        "twgate_last_run_success",
        if run.succeeded.is_some() { 1.0 } else { 0.0 },
    );
    if let Some(moved) = run.succeeded {
        set("twgate_last_success_timestamp_seconds", now);
        set(
            "twgate_last_success_duration_seconds",
            run.duration.as_secs_f64(),
        );
        set("twgate_last_success_bytes_in", moved.bytes_in as f64);
        set("twgate_last_success_bytes_out", moved.bytes_out as f64);
        if moved.bytes_in > 0 {
            set(
                "twgate_last_success_ratio",
                moved.bytes_out as f64 / moved.bytes_in as f64,
            );
        }
    }
    let mut text = String::new();
    for (metric, help) in HELP {
        let lines: Vec<_> = samples.iter().filter(|((m, _), _)| m == metric).collect();
        if lines.is_empty() {
            continue;
        }
        text.push_str(&format!("# HELP {metric} {help}\n# TYPE {metric} gauge\n"));
        for ((_, labels), value) in lines {
            text.push_str(&format!("{metric}{{{labels}}} {value}\n"));
        }
    }
    let tmp = path.with_file_name(format!(
        ".{}.tmp-{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// The samples of an earlier file (ours), keyed by metric and labels; unreadable or
/// foreign lines are dropped.
fn read_samples(path: &Path) -> BTreeMap<(String, String), String> {
    let mut samples = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return samples;
    };
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Some((metric, labels)) = series.strip_suffix('}').and_then(|s| s.split_once('{'))
        else {
            continue;
        };
        if HELP.iter().any(|(m, _)| *m == metric) {
            samples.insert((metric.to_string(), labels.to_string()), value.to_string());
        }
    }
    samples
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn format_value(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_run_keeps_the_last_success_and_other_commands_stay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("twgate.prom");
        let run = |command, success: bool| Run {
            command,
            name: "db",
            succeeded: success.then_some(Moved {
                bytes_in: 1000,
                bytes_out: 250,
            }),
            duration: Duration::from_millis(1500),
        };
        write(&path, &run("push", true)).unwrap();
        write(&path, &run("verify", true)).unwrap();
        let first = std::fs::read_to_string(&path).unwrap();
        assert!(
            first.contains("twgate_last_success_bytes_in{command=\"push\",name=\"db\"} 1000\n"),
            "{first}"
        );
        assert!(
            first.contains("twgate_last_success_ratio{command=\"push\",name=\"db\"} 0.250\n"),
            "{first}"
        );
        assert!(
            first.contains("# TYPE twgate_last_run_success gauge\n"),
            "{first}"
        );
        let success_line = |text: &str| {
            text.lines()
                .find(|l| l.starts_with("twgate_last_success_timestamp_seconds{command=\"push\""))
                .unwrap()
                .to_string()
        };
        write(&path, &run("push", false)).unwrap();
        let second = std::fs::read_to_string(&path).unwrap();
        assert!(
            second.contains("twgate_last_run_success{command=\"push\",name=\"db\"} 0\n"),
            "{second}"
        );
        assert_eq!(success_line(&first), success_line(&second));
        assert!(
            second.contains("twgate_last_run_success{command=\"verify\",name=\"db\"} 1\n"),
            "{second}"
        );
        assert_eq!(second.matches("# HELP twgate_last_run_success ").count(), 1);
    }
}
