//! Finding PostgreSQL's programs: `--pg-bin DIR`, else a directory on PATH that has
//! `initdb` (Debian puts only client wrappers there), else the newest
//! `/usr/lib/postgresql/*/bin` (Debian and Ubuntu's layout).

use anyhow::{bail, Context as _, Result};
use std::path::{Path, PathBuf};

/// Where the server programs are, and their major version.
#[derive(Debug, Clone)]
pub struct Programs {
    pub dir: PathBuf,
    pub major: u32,
}

/// What a drill or a restore needs.
const NEEDED: &[&str] = &["initdb", "pg_ctl", "postgres", "pg_restore", "psql"];

impl Programs {
    /// Finds the programs; `explicit` must hold them all.
    pub fn find(explicit: Option<&Path>) -> Result<Programs> {
        if let Some(dir) = explicit {
            return Programs::at(dir).with_context(|| {
                format!(
                    "--pg-bin {}: not a directory of PostgreSQL's server programs",
                    dir.display()
                )
            });
        }
        let on_path = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .unwrap_or_default();
        for dir in on_path {
            if dir.join("initdb").is_file() {
                if let Ok(found) = Programs::at(&dir) {
                    return Ok(found);
                }
            }
        }
        let mut installed: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let major = e.file_name().to_str()?.parse::<u32>().ok()?;
                Some((major, e.path().join("bin")))
            })
            .collect();
        installed.sort();
        if let Some((_, dir)) = installed.last() {
            return Programs::at(dir);
        }
        bail!(
            "PostgreSQL's server programs (initdb, pg_ctl, postgres) are not installed: install \
             the server package (Debian: postgresql), or pass --pg-bin DIR"
        )
    }

    fn at(dir: &Path) -> Result<Programs> {
        for program in NEEDED {
            if !dir.join(program).is_file() {
                bail!("{} has no {program}", dir.display());
            }
        }
        let out = std::process::Command::new(dir.join("pg_ctl"))
            .arg("--version")
            .output()
            .with_context(|| format!("cannot run {}/pg_ctl", dir.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let major = parse_major(&text).with_context(|| {
            format!(
                "cannot read the version from `{}/pg_ctl --version`: {}",
                dir.display(),
                crate::ui::untrusted(text.trim())
            )
        })?;
        Ok(Programs {
            dir: dir.to_path_buf(),
            major,
        })
    }

    /// One program's path.
    pub fn program(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Refuses programs older than the server a dump came from: pg_restore and the server
    /// must be at least that version.
    pub fn check_at_least(&self, dumped_from: Option<&str>) -> Result<()> {
        let Some(wanted) = dumped_from.and_then(|v| parse_major(&format!("x {v}"))) else {
            return Ok(());
        };
        if wanted > self.major {
            bail!(
                "the backup comes from PostgreSQL {wanted}, but the programs in {} are version {}: \
                 install PostgreSQL {wanted} or newer, or pass --pg-bin DIR",
                self.dir.display(),
                self.major
            );
        }
        Ok(())
    }
}

/// The major version in `pg_ctl (PostgreSQL) 15.10 (Debian ...)` or `x 16.4`: the first
/// number after the first space (9.6 and older are not supported).
fn parse_major(text: &str) -> Option<u32> {
    text.split_whitespace()
        .find_map(|word| {
            let digits: String = word.chars().take_while(|c| c.is_ascii_digit()).collect();
            (!digits.is_empty() && word.starts_with(|c: char| c.is_ascii_digit())).then_some(digits)
        })?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::parse_major;

    #[test]
    fn major_versions() {
        assert_eq!(
            parse_major("pg_ctl (PostgreSQL) 15.10 (Debian 15.10-0+deb12u1)"),
            Some(15)
        );
        assert_eq!(parse_major("pg_ctl (PostgreSQL) 16.4"), Some(16));
        assert_eq!(parse_major("x 17beta1"), Some(17));
        assert_eq!(parse_major("pg_ctl (PostgreSQL)"), None);
    }
}
