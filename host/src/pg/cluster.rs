//! A throwaway PostgreSQL cluster for restore drills: a private directory (mode 0700,
//! owned by the server's user), `initdb` into it or a base backup unpacked into it, a
//! server listening only on a socket in that directory, and everything stopped and
//! removed when the cluster is dropped (unless kept).
//!
//! No TCP port is opened: with `trust` authentication (the drill knows no password) a
//! loopback port would let every local user read the restored data. The socket's
//! directory is private, so only the server's user and root can connect. The port
//! number, picked free on loopback, only names the socket (`psql -h DIR -p PORT`).

use super::os_user::OsUser;
use super::programs::Programs;
use crate::ui;
use anyhow::{bail, Context as _, Result};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// How long `pg_ctl start` may take to accept connections (a base backup's recovery is
/// waited for separately): crash recovery of a big cluster can take minutes.
const START_TIMEOUT: Duration = Duration::from_secs(600);

/// The superuser `initdb` creates; a base backup brings its own, found at connect time.
pub const SUPERUSER: &str = "postgres";

pub struct Cluster {
    /// Removed on drop, unless kept.
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    pub data: PathBuf,
    pub port: u16,
    programs: Programs,
    user: Option<OsUser>,
    running: bool,
}

impl Cluster {
    /// Makes the cluster's private directory under `parent` (default: `$TMPDIR`); nothing
    /// runs yet.
    pub fn prepare(
        programs: Programs,
        user: Option<OsUser>,
        parent: Option<&Path>,
    ) -> Result<Cluster> {
        let parent = parent
            .map(Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        let dir = tempfile::Builder::new()
            .prefix("twgate-drill-")
            .tempdir_in(&parent)
            .with_context(|| format!("cannot make a drill directory in {}", parent.display()))?;
        let path = dir.path().to_path_buf();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))?;
        if let Some(user) = &user {
            user.chown(&path)?;
        }
        let port = free_port()?;
        Ok(Cluster {
            data: path.join("data"),
            dir: Some(dir),
            path,
            port,
            programs,
            user,
            running: false,
        })
    }

    /// The cluster's directory (the socket's, the log's and the data directory's parent).
    pub fn dir(&self) -> &Path {
        &self.path
    }

    pub fn programs(&self) -> &Programs {
        &self.programs
    }

    pub fn user(&self) -> Option<&OsUser> {
        self.user.as_ref()
    }

    fn log_path(&self) -> PathBuf {
        self.path.join("server.log")
    }

    /// A PostgreSQL program, run as the server's user, in the cluster's directory, with
    /// libpq pointed at the cluster's socket.
    pub fn command(&self, program: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(self.programs.program(program));
        if let Some(user) = &self.user {
            user.apply(&mut command);
        }
        command
            .current_dir(&self.path)
            .env("PGHOST", &self.path)
            .env("PGPORT", self.port.to_string())
            .env("PGUSER", SUPERUSER)
            .env_remove("PGPASSWORD")
            .env_remove("PGSERVICE")
            .env_remove("PGDATABASE")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Runs a program to completion; fails with its output's last lines.
    async fn run(&self, program: &str, args: &[&str]) -> Result<()> {
        let out = self
            .command(program)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .await
            .with_context(|| format!("cannot run {}", self.programs.program(program).display()))?;
        if !out.status.success() {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            bail!(
                "{program} failed ({}): {}",
                out.status,
                last_lines(&text, 5)
            );
        }
        Ok(())
    }

    /// `initdb`: a new, empty cluster (UTF-8, C locale, trust authentication on the
    /// private socket only).
    pub async fn initdb(&self) -> Result<()> {
        let data = self.data.to_string_lossy().into_owned();
        self.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                SUPERUSER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
        )
        .await
    }

    /// Settings the drill's server needs, whatever the data directory says: appended to
    /// `postgresql.auto.conf`, which PostgreSQL reads last. `extra` is more `name = value`
    /// lines (recovery settings).
    pub fn configure(&self, extra: &str) -> Result<()> {
        // A base backup taken where the configuration lives outside the data directory
        // (Debian: /etc/postgresql) has no postgresql.conf or pg_hba.conf.
        for file in ["postgresql.conf", "pg_ident.conf"] {
            let path = self.data.join(file);
            if !path.exists() {
                std::fs::write(&path, "")?;
            }
        }
        // Only this cluster's own socket, and only its superuser, without a password.
        std::fs::write(self.data.join("pg_hba.conf"), "local all all trust\n")?;
        let socket_dir = quote(&self.path.to_string_lossy());
        let mut auto = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data.join("postgresql.auto.conf"))?;
        write!(
            auto,
            "\n# twgate drill: a private socket, no TCP, no archiving into the real archive.\n\
             listen_addresses = ''\n\
             port = {port}\n\
             unix_socket_directories = {socket_dir}\n\
             hba_file = {hba}\n\
             ident_file = {ident}\n\
             archive_mode = off\n\
             logging_collector = off\n\
             shared_preload_libraries = ''\n\
             {extra}",
            port = self.port,
            hba = quote(&self.data.join("pg_hba.conf").to_string_lossy()),
            ident = quote(&self.data.join("pg_ident.conf").to_string_lossy()),
        )?;
        if let Some(user) = &self.user {
            for file in [
                "postgresql.conf",
                "pg_hba.conf",
                "pg_ident.conf",
                "postgresql.auto.conf",
            ] {
                user.chown(&self.data.join(file))?;
            }
        }
        Ok(())
    }

    /// Starts the server and waits until it accepts connections.
    pub async fn start(&mut self) -> Result<()> {
        let data = self.data.to_string_lossy().into_owned();
        let log = self.log_path().to_string_lossy().into_owned();
        let timeout = START_TIMEOUT.as_secs().to_string();
        let mut command = self.command("pg_ctl");
        // Its own process group: a Ctrl-C meant for twgate reaches twgate, which stops
        // the server itself, in order.
        command.process_group(0);
        self.running = true;
        let out = command
            .args(["-D", &data, "-l", &log, "-w", "-t", &timeout, "start"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .await
            .context("cannot run pg_ctl")?;
        if !out.status.success() {
            bail!(
                "the drill's PostgreSQL server did not start; its log ends: {}",
                self.log_tail(8)
            );
        }
        Ok(())
    }

    /// A connection to `database` over the private socket.
    pub async fn connect(&self, database: &str) -> Result<tokio_postgres::Client> {
        let mut config = tokio_postgres::Config::new();
        config
            .host_path(&self.path)
            .port(self.port)
            .user(SUPERUSER)
            .dbname(database)
            .application_name("twgate drill")
            .connect_timeout(Duration::from_secs(30));
        let (client, connection) =
            config
                .connect(tokio_postgres::NoTls)
                .await
                .with_context(|| {
                    format!(
                        "cannot connect to the drill's database '{}'",
                        ui::untrusted(database)
                    )
                })?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    /// The server log's last `n` lines, sanitized, on one line.
    pub fn log_tail(&self, n: usize) -> String {
        match std::fs::read(self.log_path()) {
            Ok(bytes) => last_lines(&String::from_utf8_lossy(&bytes), n),
            Err(e) => format!("(no server log: {e})"),
        }
    }

    /// Stops the server (fast, then immediate), if it runs.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        self.running = false;
        if !self.data.join("postmaster.pid").exists() {
            return; // it never started, or has stopped
        }
        for mode in ["fast", "immediate"] {
            let mut command = std::process::Command::new(self.programs.program("pg_ctl"));
            if let Some(user) = &self.user {
                use std::os::unix::process::CommandExt;
                command.uid(user.uid).gid(user.gid);
            }
            let stopped = command
                .arg("-D")
                .arg(&self.data)
                .args(["-m", mode, "-w", "-t", "60", "stop"])
                .current_dir(&self.path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if stopped {
                return;
            }
        }
        ui::warn(&format!(
            "could not stop the drill's server (data directory {}): stop it with pg_ctl -D {} stop",
            self.data.display(),
            self.data.display()
        ));
    }

    /// Leaves the server running and its directory in place; returns the directory.
    pub fn keep(mut self) -> PathBuf {
        self.running = false;
        let dir = self.dir.take().expect("not kept twice");
        dir.keep()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.dir.is_some() {
            self.stop();
        }
    }
}

/// A port number free on loopback now: it names the socket.
fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .context("cannot find a free port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}

/// A value in single quotes for postgresql.conf.
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

/// The last `n` non-empty lines of `text`, each sanitized (and bounded), joined with " | ".
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(n);
    let lines: Vec<String> = lines[start..].iter().map(|l| ui::untrusted(l)).collect();
    lines.join(" | ")
}

#[cfg(test)]
mod tests {
    use super::{last_lines, quote};

    #[test]
    fn conf_values_are_quoted() {
        assert_eq!(quote("/tmp/a'b"), "'/tmp/a''b'");
        assert_eq!(quote("C:\\x"), "'C:\\\\x'");
    }

    #[test]
    fn last_lines_are_one_sanitized_line() {
        let text = "a\n\nb\nc\x1b[31m\n";
        assert_eq!(last_lines(text, 2), "b | c\\u{1b}[31m");
    }
}
