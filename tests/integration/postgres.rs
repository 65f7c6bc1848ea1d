//! A real PostgreSQL round trip: `push -- pg_dump -Fc`, `pull | pg_restore` into a new
//! database, same row counts and per-table checksums. The cluster is a throwaway one on
//! 127.0.0.1, started here and stopped on drop.

use crate::util::TestEnv;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const PGBIN: &str = "/usr/lib/postgresql/15/bin";

/// A throwaway cluster. Runs as the `postgres` user when the tests run as root.
pub struct Cluster {
    dir: PathBuf,
    pub port: u16,
    /// Where its programs are: PostgreSQL 15's from Debian, or a copy of 16's.
    bin: PathBuf,
}

/// Which PostgreSQL a cluster runs.
enum Programs {
    /// Debian 12's PostgreSQL 15 ([`PGBIN`]).
    Debian,
    /// A relocatable install (PyPI pgserver's PostgreSQL 16, unpacked by
    /// tests/scripts/servers.sh under `$TWGATE_TEST_PG16`), copied into the cluster's own
    /// directory so that the `postgres` user can run it wherever the checkout is.
    Copied(PathBuf),
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

pub fn as_postgres(program: &str) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--", program]);
        cmd
    } else {
        Command::new(program)
    }
}

pub fn must(cmd: &mut Command, what: &str) {
    let out = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `initdb` of the programs in `bin` into `data`, with `conf` appended to postgresql.conf.
fn initdb(bin: &Path, data: &Path, conf: &str) {
    must(
        as_postgres(bin.join("initdb").to_str().unwrap())
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "-D",
            ])
            .arg(data),
        "initdb",
    );
    let mut text = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
    text.push_str(conf);
    std::fs::write(data.join("postgresql.conf"), text).unwrap();
}

impl Cluster {
    pub fn start() -> Cluster {
        Cluster::start_with("")
    }

    /// A new PostgreSQL 16 cluster: its pg_dump writes archive format 1.15.
    pub fn start_pg16() -> Cluster {
        let root = std::env::var_os("TWGATE_TEST_PG16")
            .expect("PostgreSQL 16 is required: ./run test installs it (TWGATE_TEST_PG16)");
        Cluster::create_with(Programs::Copied(root.into()), |data, bin| {
            initdb(bin, data, "")
        })
    }

    /// A new cluster with `conf` appended to its postgresql.conf.
    pub fn start_with(conf: &str) -> Cluster {
        Cluster::create(|data| initdb(Path::new(PGBIN), data, conf))
    }

    /// A cluster whose data directory `fill` makes (e.g. from a base backup), started.
    pub fn create(fill: impl FnOnce(&Path)) -> Cluster {
        Cluster::create_with(Programs::Debian, |data, _| fill(data))
    }

    fn create_with(programs: Programs, fill: impl FnOnce(&Path, &Path)) -> Cluster {
        if let Programs::Debian = programs {
            assert!(
                Path::new(PGBIN).join("initdb").exists(),
                "PostgreSQL 15 is required: ./run test installs it"
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("twgate-pg-")
            .tempdir()
            .unwrap()
            .keep();
        let bin = match programs {
            Programs::Debian => PathBuf::from(PGBIN),
            Programs::Copied(root) => {
                let copy = dir.join("programs");
                std::fs::create_dir(&copy).unwrap();
                for part in ["pgserver", "pgserver.libs"] {
                    must(
                        Command::new("cp").arg("-a").arg(root.join(part)).arg(&copy),
                        "copy PostgreSQL 16",
                    );
                }
                copy.join("pgserver/pginstall/bin")
            }
        };
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        if is_root() {
            must(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&dir),
                "chown",
            );
        }
        let data = dir.join("data");
        fill(&data, &bin);
        if is_root() {
            must(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&data),
                "chown",
            );
        }
        must(Command::new("chmod").arg("0700").arg(&data), "chmod");
        must(
            as_postgres(bin.join("pg_ctl").to_str().unwrap())
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(dir.join("log"))
                .args(["-w", "-t", "120", "-o"])
                .arg(format!(
                    "-p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
                    dir.display()
                ))
                .arg("start"),
            "pg_ctl start",
        );
        Cluster { dir, port, bin }
    }

    /// The server log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// A command with PGHOST/PGPORT/PGUSER pointing at this cluster: `program` of the
    /// cluster's own PostgreSQL when it has one of that name (pg_dump, psql, ...).
    pub fn cmd(&self, program: &str) -> Command {
        let own = self.bin.join(program);
        let mut cmd = match own.exists() && !program.contains('/') {
            true => Command::new(own),
            false => Command::new(program),
        };
        cmd.env("PGHOST", "127.0.0.1")
            .env("PGPORT", self.port.to_string())
            .env("PGUSER", "postgres");
        cmd
    }

    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = self
            .cmd("psql")
            .args([
                "-X",
                "-q",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                db,
                "-c",
                sql,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Row count and md5 of the ordered rows, per table.
    pub fn fingerprint(&self, db: &str) -> String {
        ["users", "connectors", "incidents"]
            .iter()
            .map(|t| self.psql(db, &format!("SELECT '{t}', count(*), md5(string_agg(t::text, '|' ORDER BY t.id)) FROM {t} t")))
            .collect()
    }

    pub fn load_sample(&self, db: &str, incidents: u32) {
        self.psql("postgres", &format!("CREATE DATABASE {db}"));
        self.psql(
            db,
            "CREATE TABLE users (id serial PRIMARY KEY, email text UNIQUE NOT NULL, name text)",
        );
        self.psql(db, "CREATE TABLE connectors (id serial PRIMARY KEY, kind text NOT NULL, config jsonb NOT NULL)");
        self.psql(db, "CREATE TABLE incidents (id bigserial PRIMARY KEY, title text NOT NULL, severity int, status text, assignee int REFERENCES users(id), opened_at timestamptz)");
        self.psql(db, "INSERT INTO users (email, name) SELECT 'u' || i || '@example.invalid', 'User ' || i FROM generate_series(1, 300) i");
        self.psql(db, "INSERT INTO connectors (kind, config) SELECT 'slack', jsonb_build_object('n', i) FROM generate_series(1, 20) i");
        self.psql(db, &format!("INSERT INTO incidents (title, severity, status, assignee, opened_at) SELECT 'Incident ' || md5(i::text), i % 5, (ARRAY['open','resolved'])[1 + i % 2], 1 + i % 300, timestamptz '2026-01-01' + (i || ' minutes')::interval FROM generate_series(1, {incidents}) i"));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_postgres(self.bin.join("pg_ctl").to_str().unwrap())
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn pg_dump_push_pull_pg_restore_round_trip() {
    let pg = Cluster::start();
    let env = TestEnv::new();
    pg.load_sample("triage_warden", 50_000);
    let before = pg.fingerprint("triage_warden");
    assert!(before.contains("incidents|50000|"), "{before}");

    let pg_env = [
        ("PGHOST", "127.0.0.1".to_string()),
        ("PGPORT", pg.port.to_string()),
        ("PGUSER", "postgres".to_string()),
    ];
    let out = crate::util::run_with(
        env.cmd().envs(pg_env.clone()).args([
            "push",
            "triage-warden",
            "--",
            "pg_dump",
            "--format=custom",
            "triage_warden",
        ]),
        b"",
    );
    assert!(
        out.status.success(),
        "push failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let verify = crate::util::run_with(
        env.cmd().envs(pg_env.clone()).args([
            "verify",
            "triage-warden",
            "--exec",
            "pg_restore --list",
        ]),
        b"",
    );
    assert!(
        verify.status.success(),
        "verify failed: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
    // The command's output stays on stdout (`verify --exec 'pg_restore --list' | grep`),
    // with verify's own result line after it.
    let listed = String::from_utf8_lossy(&verify.stdout);
    assert!(
        listed.contains("TABLE DATA public incidents"),
        "pg_restore --list output goes to stdout: {listed}"
    );
    assert!(listed
        .trim_end()
        .lines()
        .last()
        .unwrap()
        .starts_with("ok triage-warden@"));

    pg.psql("postgres", "CREATE DATABASE restored");
    let mut pull = env
        .cmd()
        .args(["pull", "triage-warden@latest"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let restore = pg
        .cmd("pg_restore")
        .args(["--clean", "--if-exists", "--no-owner", "-d", "restored"])
        .stdin(pull.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(pull.wait().unwrap().success());
    assert!(
        restore.status.success(),
        "pg_restore failed: {}",
        String::from_utf8_lossy(&restore.stderr)
    );
    assert_eq!(pg.fingerprint("restored"), before);
}
