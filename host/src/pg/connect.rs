//! Connections to PostgreSQL with tokio-postgres: from libpq's `PG*` variables (as `psql`
//! reads them), or to a cluster's private socket directory.
//!
//! Without TLS: `PGSSLMODE` may be `disable`, `allow` or `prefer` (libpq's default), which
//! connect in the clear; `require` and `verify-*` are refused before connecting, rather than
//! silently weakened. A password is handed to tokio-postgres and never printed.

use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::{Client, Config, NoTls};

/// Where libpq looks for the server's socket when `PGHOST` is unset (Debian's and most
/// distributions' build); `localhost` over TCP when it does not exist.
pub const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";

/// What a connection's settings or the connection itself ran into.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{var}={value} is not valid: {reason}")]
    Invalid {
        var: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error(
        "PGSSLMODE={mode}: TLS connections to PostgreSQL are not supported yet; connect through \
         the server's socket directory (PGHOST=/var/run/postgresql) or use PGSSLMODE=prefer"
    )]
    TlsRequired { mode: String },
    #[error("PGUSER is not set and the OS user's name could not be found: set PGUSER")]
    NoUser,
    #[error(
        "cannot connect to PostgreSQL at {target} as user {user}, database {dbname}: {reason}"
    )]
    Connect {
        target: String,
        user: String,
        dbname: String,
        reason: String,
    },
}

/// The defaults libpq takes from the machine rather than from variables.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    /// The OS user's name: the user when `PGUSER` is unset.
    pub os_user: Option<String>,
    /// The socket directory when `PGHOST` is unset, if it exists; `None`: `localhost`.
    pub socket_dir: Option<PathBuf>,
}

impl Defaults {
    /// This process's: the effective user's name, and [`DEFAULT_SOCKET_DIR`] if it is a
    /// directory.
    pub fn of_this_machine() -> Defaults {
        let socket_dir = Path::new(DEFAULT_SOCKET_DIR);
        Defaults {
            os_user: effective_user_name(),
            socket_dir: socket_dir.is_dir().then(|| socket_dir.to_path_buf()),
        }
    }
}

/// The connection settings libpq's variables describe, in this process's environment.
pub fn from_env() -> Result<Config, ConnectError> {
    from_lookup(|var| std::env::var(var).ok(), &Defaults::of_this_machine())
}

/// The connection settings the variables `var` returns describe (`PGHOST`, `PGPORT`,
/// `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGCONNECT_TIMEOUT`, `PGAPPNAME`, `PGSSLMODE`);
/// an empty variable counts as unset, as in libpq. Pure: the environment and the machine
/// come in through `var` and `defaults`.
pub fn from_lookup(
    var: impl Fn(&str) -> Option<String>,
    defaults: &Defaults,
) -> Result<Config, ConnectError> {
    let var = |name: &str| var(name).filter(|v| !v.is_empty());
    let mut config = Config::new();

    config.ssl_mode(match var("PGSSLMODE").as_deref() {
        None | Some("prefer") => SslMode::Prefer,
        // Without TLS, "allow" (clear first, TLS if the server insists) is "disable".
        Some("disable") | Some("allow") => SslMode::Disable,
        Some(mode @ ("require" | "verify-ca" | "verify-full")) => {
            return Err(ConnectError::TlsRequired { mode: mode.into() })
        }
        Some(other) => {
            return Err(ConnectError::Invalid {
                var: "PGSSLMODE",
                value: crate::ui::untrusted(other),
                reason: "expected disable, allow, prefer, require, verify-ca or verify-full",
            })
        }
    });

    // PGHOST: host names, addresses or socket directories (a leading '/'), comma-separated.
    match var("PGHOST") {
        Some(hosts) => {
            for host in hosts.split(',') {
                let host = host.trim();
                if host.is_empty() {
                    return Err(ConnectError::Invalid {
                        var: "PGHOST",
                        value: crate::ui::untrusted(&hosts),
                        reason: "an empty host in the list",
                    });
                }
                match host.starts_with('/') {
                    true => config.host_path(host),
                    false => config.host(host),
                };
            }
        }
        None => {
            match &defaults.socket_dir {
                Some(dir) => config.host_path(dir),
                None => config.host("localhost"),
            };
        }
    }

    if let Some(ports) = var("PGPORT") {
        let invalid = |reason| ConnectError::Invalid {
            var: "PGPORT",
            value: crate::ui::untrusted(&ports),
            reason,
        };
        let parsed = ports
            .split(',')
            .map(|p| p.trim().parse::<u16>().ok().filter(|&p| p != 0))
            .collect::<Option<Vec<u16>>>()
            .ok_or_else(|| invalid("expected a port number from 1 to 65535"))?;
        if parsed.len() != 1 && parsed.len() != config.get_hosts().len() {
            return Err(invalid("expected one port, or one per host of PGHOST"));
        }
        for port in parsed {
            config.port(port);
        }
    }

    let user = match var("PGUSER") {
        Some(user) => user,
        None => defaults.os_user.clone().ok_or(ConnectError::NoUser)?,
    };
    config.dbname(var("PGDATABASE").unwrap_or_else(|| user.clone()));
    config.user(user);
    if let Some(password) = var("PGPASSWORD") {
        config.password(password);
    }

    if let Some(timeout) = var("PGCONNECT_TIMEOUT") {
        let secs: i64 = timeout.trim().parse().map_err(|_| ConnectError::Invalid {
            var: "PGCONNECT_TIMEOUT",
            value: crate::ui::untrusted(&timeout),
            reason: "expected a whole number of seconds",
        })?;
        // As libpq: zero or less waits indefinitely, and less than two seconds is two.
        if secs > 0 {
            config.connect_timeout(Duration::from_secs(secs.max(2) as u64));
        }
    }

    config.application_name(var("PGAPPNAME").unwrap_or_else(|| "twgate".into()));
    Ok(config)
}

/// Settings for a cluster's private socket directory (a throwaway cluster twgate started
/// with `-k DIR`), in the clear.
pub fn private_socket(dir: &Path, port: u16, user: &str, dbname: &str) -> Config {
    let mut config = Config::new();
    config
        .host_path(dir)
        .port(port)
        .user(user)
        .dbname(dbname)
        .ssl_mode(SslMode::Disable)
        .application_name("twgate");
    config
}

/// Where `config` connects, for messages: `HOST:PORT` or `socket DIR/.s.PGSQL.PORT`, in
/// the order tried (libpq's default port 5432 when none is set).
pub fn describe_target(config: &Config) -> String {
    let ports = config.get_ports();
    let port_of = |i: usize| match ports {
        [] => 5432,
        [one] => *one,
        many => many.get(i).copied().unwrap_or(5432),
    };
    let targets: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| match host {
            Host::Tcp(name) if name.contains(':') => format!("[{name}]:{}", port_of(i)),
            Host::Tcp(name) => format!("{name}:{}", port_of(i)),
            Host::Unix(dir) => format!("socket {}/.s.PGSQL.{}", dir.display(), port_of(i)),
        })
        .collect();
    crate::ui::untrusted(&targets.join(", "))
}

/// Connects with `config`, in the clear, and runs the connection on its own task (it ends
/// when the client is dropped). The error names the target, the user and the database.
pub async fn connect(config: &Config) -> Result<Client, ConnectError> {
    let fail = |reason: String| ConnectError::Connect {
        target: describe_target(config),
        user: crate::ui::untrusted(config.get_user().unwrap_or("?")),
        dbname: crate::ui::untrusted(config.get_dbname().unwrap_or("?")),
        reason,
    };
    if config.get_hosts().is_empty() {
        return Err(fail("no host to connect to".into()));
    }
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| fail(describe_error(&e)))?;
    tokio::spawn(async move {
        // A connection that fails fails the client's next query, which says so.
        let _ = connection.await;
    });
    Ok(client)
}

/// A tokio-postgres error on one line: the server's own message and SQLSTATE for a server
/// error (detail and hint left out), else the error and its causes.
pub fn describe_error(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return crate::ui::untrusted(&format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        ));
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    crate::ui::untrusted(&text)
}

/// The effective user's name from the password database, as libpq finds it.
fn effective_user_name() -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: `pwd` and `buf` outlive the call; getpwuid_r writes only within `buf`'s
    // length and sets `result` to `&mut pwd` on success or null.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(
            libc::geteuid(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        );
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        std::ffi::CStr::from_ptr(pwd.pw_name)
            .to_str()
            .ok()
            .map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)], defaults: &Defaults) -> Result<Config, ConnectError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        from_lookup(|name| vars.get(name).cloned(), defaults)
    }

    fn machine(socket: bool) -> Defaults {
        Defaults {
            os_user: Some("alice".into()),
            socket_dir: socket.then(|| PathBuf::from(DEFAULT_SOCKET_DIR)),
        }
    }

    #[test]
    fn nothing_set_means_the_socket_directory_and_the_os_user() {
        let config = parse(&[], &machine(true)).unwrap();
        assert_eq!(
            config.get_hosts(),
            &[Host::Unix(PathBuf::from("/var/run/postgresql"))]
        );
        assert_eq!(config.get_ports(), &[] as &[u16]);
        assert_eq!(config.get_user(), Some("alice"));
        assert_eq!(config.get_dbname(), Some("alice"), "database = user");
        assert_eq!(config.get_password(), None);
        assert_eq!(config.get_ssl_mode(), SslMode::Prefer);
        assert_eq!(config.get_connect_timeout(), None);
        assert_eq!(config.get_application_name(), Some("twgate"));
        assert_eq!(
            describe_target(&config),
            "socket /var/run/postgresql/.s.PGSQL.5432"
        );

        // No socket directory on this machine: localhost over TCP.
        let config = parse(&[], &machine(false)).unwrap();
        assert_eq!(config.get_hosts(), &[Host::Tcp("localhost".into())]);
        assert_eq!(describe_target(&config), "localhost:5432");

        // Empty variables count as unset.
        let config = parse(&[("PGHOST", ""), ("PGUSER", "")], &machine(false)).unwrap();
        assert_eq!(config.get_hosts(), &[Host::Tcp("localhost".into())]);
        assert_eq!(config.get_user(), Some("alice"));
        // No OS user and no PGUSER: said so, not guessed.
        let err = parse(&[], &Defaults::default()).unwrap_err();
        assert!(matches!(err, ConnectError::NoUser), "{err}");
    }

    #[test]
    fn variables_set_host_socket_port_user_database_and_more() {
        let config = parse(
            &[
                ("PGHOST", "/tmp/pg"),
                ("PGPORT", "5433"),
                ("PGUSER", "postgres"),
                ("PGPASSWORD", "s3cret"),
                ("PGDATABASE", "app"),
                ("PGCONNECT_TIMEOUT", "1"),
                ("PGAPPNAME", "checker"),
                ("PGSSLMODE", "disable"),
            ],
            &machine(true),
        )
        .unwrap();
        assert_eq!(config.get_hosts(), &[Host::Unix(PathBuf::from("/tmp/pg"))]);
        assert_eq!(config.get_ports(), &[5433]);
        assert_eq!(config.get_user(), Some("postgres"));
        assert_eq!(config.get_password(), Some(&b"s3cret"[..]));
        assert_eq!(config.get_dbname(), Some("app"));
        assert_eq!(
            config.get_connect_timeout(),
            Some(&Duration::from_secs(2)),
            "libpq's minimum"
        );
        assert_eq!(config.get_application_name(), Some("checker"));
        assert_eq!(config.get_ssl_mode(), SslMode::Disable);
        assert_eq!(describe_target(&config), "socket /tmp/pg/.s.PGSQL.5433");

        let config = parse(
            &[
                ("PGHOST", "db.example.com,127.0.0.1,::1"),
                ("PGPORT", "6432"),
                ("PGCONNECT_TIMEOUT", "0"),
                ("PGSSLMODE", "allow"),
            ],
            &machine(true),
        )
        .unwrap();
        assert_eq!(
            config.get_hosts(),
            &[
                Host::Tcp("db.example.com".into()),
                Host::Tcp("127.0.0.1".into()),
                Host::Tcp("::1".into())
            ]
        );
        assert_eq!(config.get_connect_timeout(), None, "0 waits indefinitely");
        assert_eq!(config.get_ssl_mode(), SslMode::Disable);
        assert_eq!(
            describe_target(&config),
            "db.example.com:6432, 127.0.0.1:6432, [::1]:6432"
        );

        for (var, value) in [
            ("PGPORT", "http"),
            ("PGPORT", "0"),
            ("PGPORT", "70000"),
            ("PGCONNECT_TIMEOUT", "ten"),
            ("PGHOST", "a,,b"),
            ("PGSSLMODE", "sometimes"),
        ] {
            let err = parse(&[(var, value)], &machine(true)).unwrap_err();
            assert!(
                matches!(err, ConnectError::Invalid { .. }) && err.to_string().contains(var),
                "{var}={value}: {err}"
            );
        }
        let err = parse(&[("PGHOST", "a,b,c"), ("PGPORT", "1,2")], &machine(true)).unwrap_err();
        assert!(err.to_string().contains("one per host"), "{err}");
    }

    #[test]
    fn sslmode_that_needs_tls_is_refused_with_what_to_do() {
        for mode in ["require", "verify-ca", "verify-full"] {
            let err = parse(&[("PGSSLMODE", mode)], &machine(true)).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, ConnectError::TlsRequired { .. }), "{text}");
            assert!(
                text.contains(mode)
                    && text.contains("not supported yet")
                    && text.contains("socket")
                    && text.contains("PGSSLMODE=prefer")
                    && !text.contains('\n'),
                "{text}"
            );
        }
        assert_eq!(
            parse(&[("PGSSLMODE", "prefer")], &machine(true))
                .unwrap()
                .get_ssl_mode(),
            SslMode::Prefer
        );
    }

    #[tokio::test]
    async fn a_failed_connection_names_target_and_user_but_never_the_password() {
        // A port nothing listens on: bind one, then close it.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let port = port.to_string();
        let config = parse(
            &[
                ("PGHOST", "127.0.0.1"),
                ("PGPORT", &port),
                ("PGUSER", "bob"),
                ("PGPASSWORD", "hunter2-secret"),
            ],
            &machine(false),
        )
        .unwrap();
        let err = connect(&config).await.unwrap_err().to_string();
        assert!(
            err.contains(&format!("127.0.0.1:{port}")) && err.contains("bob"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn the_os_user_has_a_name() {
        assert!(effective_user_name().is_some_and(|n| !n.is_empty()));
    }
}
