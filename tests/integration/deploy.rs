//! The scheduling examples in `deploy/` work: the crontab's jobs run for real against a
//! throwaway PostgreSQL; the Kubernetes manifests parse as the CronJobs they claim to be;
//! the systemd units pass `systemd-analyze verify`.

use crate::postgres::Cluster;
use crate::util::{assert_one_line_error, TestEnv};
use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(file)
}

/// The crontab's jobs: (schedule, command), with twgate's path swapped for this build.
fn cron_jobs() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(deploy("cron/twgate-backup")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter(|l| !l.split_whitespace().next().unwrap().contains('='))
        .map(|line| {
            let mut rest = line;
            let mut fields = Vec::new();
            for _ in 0..6 {
                let trimmed = rest.trim_start();
                let end = trimmed.find(char::is_whitespace).unwrap();
                fields.push(&trimmed[..end]);
                rest = &trimmed[end..];
            }
            assert_eq!(fields[5], "postgres", "{line}");
            let command = rest
                .trim()
                .replace("/usr/local/bin/twgate", env!("CARGO_BIN_EXE_twgate"));
            (fields[..5].join(" "), command)
        })
        .collect()
}

/// Runs a cron command with `sh`, as cron does, in `env` with the cluster's PG variables.
fn run_job(env: &TestEnv, pg: &Cluster, command: &str) -> std::process::Output {
    let twgate = env.cmd();
    let mut sh = Command::new("sh");
    sh.args(["-c", command]);
    for (key, value) in twgate.get_envs() {
        match value {
            Some(value) => sh.env(key, value),
            None => sh.env_remove(key),
        };
    }
    sh.env("PGHOST", "127.0.0.1")
        .env("PGPORT", pg.port.to_string())
        .env("PGUSER", "postgres")
        .output()
        .unwrap()
}

#[test]
fn the_crontab_backs_up_verifies_prunes_and_alarms_on_a_real_database() {
    let jobs = cron_jobs();
    assert_eq!(jobs.len(), 3);
    assert_eq!(jobs[0].0, "0 2 * * *");
    assert_eq!(jobs[1].0, "30 * * * *");
    assert_eq!(jobs[2].0, "0 4 1 * *");
    let pg = Cluster::start();
    pg.load_sample("triage_warden", 2_000);
    let env = TestEnv::new();

    // Before any backup the alarm fires (here the store itself does not exist yet).
    let out = run_job(&env, &pg, &jobs[1].1);
    assert!(!out.status.success());
    assert_one_line_error(&String::from_utf8_lossy(&out.stderr), "does not exist");

    for _ in 0..2 {
        let out = run_job(&env, &pg, &jobs[0].1);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Cron mails any output; a successful night prints nothing.
        assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    }
    let status: serde_json::Value =
        serde_json::from_slice(&env.ok(&["status", "--json"], b"")).unwrap();
    assert_eq!(status[0]["backups"], 2);
    assert_eq!(status[0]["newest_verified"], true);
    let out = run_job(&env, &pg, &jobs[1].1);
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "{out:?}"
    );
    // The monthly drill: silent on success, recorded for `status --rto`.
    let out = run_job(&env, &pg, &jobs[2].1);
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "{out:?}"
    );
    let status: serde_json::Value =
        serde_json::from_slice(&env.ok(&["status", "--json", "--rto", "4h"], b"")).unwrap();
    assert_eq!(status[0]["last_drill"]["ok"], true, "{status}");
}

#[test]
fn the_kubernetes_manifests_are_the_cronjobs_they_claim_to_be() {
    let script =
        "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(deploy("kubernetes/cronjob.yaml"))
        .output()
        .expect("python3 is required");
    assert!(
        out.status.success(),
        "the YAML must parse (python3-yaml is installed by ./run test): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(docs.len(), 3);
    for doc in &docs {
        assert_eq!(doc["apiVersion"], "batch/v1");
        assert_eq!(doc["kind"], "CronJob");
        assert_eq!(doc["spec"]["concurrencyPolicy"], "Forbid");
        assert_eq!(
            doc["spec"]["schedule"].as_str().unwrap().split(' ').count(),
            5
        );
    }
    let backup = &docs[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
    let script = backup["command"][2].as_str().unwrap();
    for step in [
        "twgate --quiet push triage-warden -- \\",
        "twgate --quiet verify triage-warden",
        "twgate prune triage-warden --keep-daily 7",
    ] {
        assert!(script.contains(step), "{script}");
    }
    let alarm = &docs[1]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
    // A Job without a memory limit can take a node's memory; twgate's own use is bounded
    // (docs/performance.md), so both containers say what they may use.
    let drill = &docs[2]["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    // PostgreSQL refuses root: the drill's pod runs as the image's postgres user.
    assert_eq!(drill["securityContext"]["runAsUser"], 999);
    let drill = &drill["containers"][0];
    let args: Vec<&str> = drill["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(&args[..3], ["twgate", "drill", "triage-warden"]);
    assert!(args.windows(2).any(|w| w == ["--rto", "4h"]), "{args:?}");
    // Every argument parses as the drill's own flags.
    let mut parsed = Command::new(env!("CARGO_BIN_EXE_twgate"));
    parsed.args(&args[1..]).arg("--help");
    assert!(parsed.output().unwrap().status.success());
    for container in [backup, alarm, drill] {
        let limit = container["resources"]["limits"]["memory"]
            .as_str()
            .unwrap_or("");
        assert!(limit.ends_with("Mi"), "a memory limit in MiB: {container}");
    }
    assert_eq!(
        alarm["command"],
        serde_json::json!(["twgate", "status", "triage-warden", "--max-age", "26h"])
    );
}

#[test]
fn the_systemd_units_verify() {
    // systemd-analyze checks that ExecStart's program exists: point it at this build.
    let dir = tempfile::tempdir().unwrap();
    let units = [
        "twgate-backup.service",
        "twgate-backup.timer",
        "twgate-drill.service",
        "twgate-drill.timer",
    ];
    for unit in units {
        let text = std::fs::read_to_string(deploy(&format!("systemd/{unit}"))).unwrap();
        let text = text.replace("/usr/local/bin/twgate", env!("CARGO_BIN_EXE_twgate"));
        std::fs::write(dir.path().join(unit), text).unwrap();
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(units.map(|u| dir.path().join(u)))
        .output()
        .expect("systemd-analyze is required: ./run test installs systemd");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Only problems in our units count, not warnings about the host's own unit files.
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("twgate-backup") || l.contains("twgate-drill"))
        .collect();
    assert!(out.status.success() && ours.is_empty(), "{stderr}");
}
