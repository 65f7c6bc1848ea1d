//! The OS user PostgreSQL's programs run as. The server refuses to run as root, so when
//! twgate runs as root, `initdb`, `pg_ctl` and the server run as another user (`postgres`
//! by default), and the files twgate writes for them are given to that user.

use anyhow::{bail, Context as _, Result};
use std::ffi::{CStr, CString};
use std::path::Path;

/// A user to run PostgreSQL's programs as.
#[derive(Debug, Clone)]
pub struct OsUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

impl OsUser {
    /// Looks `name` up in the user database.
    pub fn lookup(name: &str) -> Result<OsUser> {
        let c_name = CString::new(name)
            .with_context(|| format!("'{}' is not a user name", crate::ui::untrusted(name)))?;
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut buf = vec![0u8; 16 * 1024];
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; `buf` outlives the use of `pwd`'s
        // strings (only `pw_uid`/`pw_gid` are read).
        let rc = unsafe {
            libc::getpwnam_r(
                c_name.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc != 0 || result.is_null() {
            bail!(
                "no OS user '{}' to run PostgreSQL as: create it (PostgreSQL refuses to run as root) or pass --os-user",
                crate::ui::untrusted(name)
            );
        }
        Ok(OsUser {
            name: name.to_string(),
            uid: pwd.pw_uid,
            gid: pwd.pw_gid,
        })
    }

    /// Who PostgreSQL's programs run as: `None` (this process's user) unless running as
    /// root, when `wanted` or `postgres`. Asking for another user without being root is
    /// refused.
    pub fn for_server(wanted: Option<&str>) -> Result<Option<OsUser>> {
        match (is_root(), wanted) {
            (true, wanted) => Ok(Some(OsUser::lookup(wanted.unwrap_or("postgres"))?)),
            (false, None) => Ok(None),
            (false, Some(name)) => {
                let me = current_user_name();
                if me.as_deref() == Some(name) {
                    return Ok(None);
                }
                bail!(
                    "--os-user {} needs root: PostgreSQL's programs run as this process's user otherwise",
                    crate::ui::untrusted(name)
                )
            }
        }
    }

    /// The owner of an existing path, as a user to run as.
    pub fn owner_of(path: &Path) -> Result<OsUser> {
        use std::os::unix::fs::MetadataExt;
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(OsUser {
            name: user_name(meta.uid()).unwrap_or_else(|| meta.uid().to_string()),
            uid: meta.uid(),
            gid: meta.gid(),
        })
    }

    /// Gives `path` to this user (not following a symbolic link).
    pub fn chown(&self, path: &Path) -> Result<()> {
        std::os::unix::fs::lchown(path, Some(self.uid), Some(self.gid))
            .with_context(|| format!("cannot give {} to user {}", path.display(), self.name))
    }

    /// Gives `dir` and everything under it to this user.
    pub fn chown_tree(&self, dir: &Path) -> Result<()> {
        self.chown(dir)?;
        let meta = std::fs::symlink_metadata(dir)?;
        if meta.is_dir() {
            for entry in std::fs::read_dir(dir)? {
                self.chown_tree(&entry?.path())?;
            }
        }
        Ok(())
    }

    /// Makes `command` run as this user (no supplementary groups).
    pub fn apply(&self, command: &mut tokio::process::Command) {
        command.uid(self.uid).gid(self.gid);
    }
}

/// The name of this process's user, if the user database has it.
pub fn current_user_name() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    user_name(unsafe { libc::geteuid() })
}

fn user_name(uid: u32) -> Option<String> {
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0u8; 16 * 1024];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: as in `lookup`; `pw_name` points into `buf`, read before it is dropped.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return None;
    }
    // SAFETY: getpwuid_r succeeded, so pw_name is a NUL-terminated string in `buf`.
    let name = unsafe { CStr::from_ptr(pwd.pw_name) };
    Some(name.to_string_lossy().into_owned())
}
