//! A base backup (pg_basebackup's tar) streamed into a data directory, every path checked,
//! and the recovery settings that make PostgreSQL replay archived WAL to a target.
//!
//! **Invariant:** nothing is written outside the data directory (an entry with `..`, an
//! absolute path, or a path through a link is refused), and a restore that fails leaves
//! the directory as empty as it was found.

use super::cluster::quote;
use super::os_user::OsUser;
use anyhow::{bail, Context as _, Result};
use bytes::{Buf, Bytes};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// How many chunks may wait for the unpacking thread: bounds memory (chunks are ~1 MiB).
/// One thread unpacks whatever the core count (a tar is sequential), so this scales with
/// nothing but the chunk size: 8 covers the jitter between the pipeline and the disk.
const CHUNKS_IN_FLIGHT: usize = 8;

/// What was unpacked.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unpacked {
    pub entries: u64,
    pub bytes: u64,
}

/// Unpacks a tar arriving in chunks into a directory, on a thread of its own.
pub struct Unpacker {
    tx: Option<tokio::sync::mpsc::Sender<Bytes>>,
    thread: Option<std::thread::JoinHandle<Result<Unpacked>>>,
}

/// The empty or absent directory a restore writes into, and how to undo it.
pub struct Target {
    pub dir: PathBuf,
    /// The directory existed (empty) before: on failure, empty it; else remove it.
    existed: bool,
}

impl Target {
    /// Checks that `dir` is empty or absent, and makes it (mode 0700, as PostgreSQL wants).
    pub fn prepare(dir: &Path, owner: Option<&OsUser>) -> Result<Target> {
        let existed = dir.exists();
        if existed {
            let mut entries =
                std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
            if entries.next().is_some() {
                bail!(
                    "{} is not empty: a restore writes only into an empty or absent data directory \
                     (move the old one aside first, and keep it until the restore is checked)",
                    dir.display()
                );
            }
        } else {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        if let Some(owner) = owner {
            owner.chown(dir)?;
        }
        Ok(Target {
            dir: dir.to_path_buf(),
            existed,
        })
    }

    /// Undoes a failed restore: the directory is left as it was found.
    pub fn discard(&self) {
        let result = match self.existed {
            true => std::fs::read_dir(&self.dir).and_then(|entries| {
                for entry in entries {
                    let path = entry?.path();
                    match std::fs::symlink_metadata(&path)?.is_dir() {
                        true => std::fs::remove_dir_all(&path)?,
                        false => std::fs::remove_file(&path)?,
                    }
                }
                Ok(())
            }),
            false => std::fs::remove_dir_all(&self.dir),
        };
        if let Err(e) = result {
            crate::ui::warn(&format!(
                "could not remove what the failed restore wrote in {}: {e}",
                self.dir.display()
            ));
        }
    }
}

impl Unpacker {
    pub fn start(dir: PathBuf) -> Unpacker {
        let (tx, rx) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT);
        let thread = std::thread::Builder::new()
            .name("twgate-untar".into())
            .spawn(move || {
                unpack(
                    ChunkReader {
                        rx,
                        current: Bytes::new(),
                    },
                    &dir,
                )
            })
            .expect("spawn the unpacking thread");
        Unpacker {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    pub async fn write(&mut self, chunk: Bytes) -> Result<()> {
        let tx = self.tx.as_ref().expect("not finished");
        if tx.send(chunk).await.is_err() {
            // The thread stopped early: `finish` says why.
            return self
                .finish()
                .await
                .and_then(|_| bail!("the tar ended early"));
        }
        Ok(())
    }

    /// The end of the stream: waits for the thread and returns what it unpacked.
    pub async fn finish(&mut self) -> Result<Unpacked> {
        self.tx = None;
        let Some(thread) = self.thread.take() else {
            bail!("the unpacking already ended");
        };
        tokio::task::spawn_blocking(move || thread.join())
            .await?
            .map_err(|_| anyhow::anyhow!("the unpacking thread panicked"))?
    }
}

/// Reads the chunks the restore sends, in order; the channel's end is the stream's end.
struct ChunkReader {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

fn unpack(reader: impl Read, dir: &Path) -> Result<Unpacked> {
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_unpack_xattrs(false);
    archive.set_overwrite(false);
    let mut unpacked = Unpacked::default();
    for entry in archive
        .entries()
        .context("cannot read the base backup's tar")?
    {
        let mut entry = entry.context("cannot read the base backup's tar")?;
        let path = entry.path()?.into_owned();
        check_path(&path)?;
        unpacked.entries += 1;
        unpacked.bytes += entry.size();
        if !entry.unpack_in(dir).with_context(|| {
            format!(
                "cannot write {}",
                crate::ui::untrusted(&path.to_string_lossy())
            )
        })? {
            bail!(
                "refusing tar entry {}: it would be written outside the data directory",
                crate::ui::untrusted(&path.to_string_lossy())
            );
        }
    }
    // Drain the padding after the end-of-archive marker, so the restore's checksum sees
    // every byte.
    let mut rest = archive.into_inner();
    std::io::copy(&mut rest, &mut std::io::sink())?;
    Ok(unpacked)
}

/// A tar entry's path must stay below the directory: relative, no `..`.
fn check_path(path: &Path) -> Result<()> {
    for component in path.components() {
        match component {
            Component::Normal(_) | Component::CurDir => {}
            _ => bail!(
                "refusing tar entry {}: only relative paths without '..' are restored",
                crate::ui::untrusted(&path.to_string_lossy())
            ),
        }
    }
    Ok(())
}

/// Where recovery should stop.
#[derive(Debug, Clone)]
pub enum RecoveryTarget {
    Time(String),
    Lsn(String),
    Name(String),
    /// The end of the archived WAL.
    Latest,
}

impl RecoveryTarget {
    fn settings(&self) -> String {
        match self {
            RecoveryTarget::Time(t) => format!("recovery_target_time = {}\n", quote(t)),
            RecoveryTarget::Lsn(l) => format!("recovery_target_lsn = {}\n", quote(l)),
            RecoveryTarget::Name(n) => format!("recovery_target_name = {}\n", quote(n)),
            RecoveryTarget::Latest => String::new(),
        }
    }
}

/// Asks for recovery: `restore_command` and the target in `postgresql.auto.conf` (read
/// last, so they win), then `recovery.signal`.
pub fn write_recovery(
    dir: &Path,
    restore_command: &str,
    target: &RecoveryTarget,
    owner: Option<&OsUser>,
    note: &str,
) -> Result<()> {
    use std::io::Write as _;
    let auto = dir.join("postgresql.auto.conf");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&auto)
        .with_context(|| format!("cannot write {}", auto.display()))?;
    write!(
        file,
        "\n# {note}\nrestore_command = {}\n{}recovery_target_action = 'promote'\n",
        quote(restore_command),
        target.settings()
    )?;
    let signal = dir.join("recovery.signal");
    std::fs::write(&signal, "")?;
    if let Some(owner) = owner {
        owner.chown(&auto)?;
        owner.chown(&signal)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{check_path, unpack, RecoveryTarget};
    use std::path::Path;

    fn tar_with(path: &[u8], body: &[u8]) -> Vec<u8> {
        let mut header = tar::Header::new_gnu();
        header.as_gnu_mut().unwrap().name[..path.len()].copy_from_slice(path);
        header.set_size(body.len() as u64);
        header.set_mode(0o600);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        let mut out = header.as_bytes().to_vec();
        out.extend_from_slice(body);
        out.resize(out.len().div_ceil(512) * 512, 0);
        out.extend_from_slice(&[0u8; 1024]);
        out
    }

    #[test]
    fn entries_unpack_below_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let tar = tar_with(b"base/1/PG_VERSION", b"15\n");
        let unpacked = unpack(&tar[..], dir.path()).unwrap();
        assert_eq!(unpacked.entries, 1);
        assert_eq!(
            std::fs::read(dir.path().join("base/1/PG_VERSION")).unwrap(),
            b"15\n"
        );
    }

    #[test]
    fn escaping_entries_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("data");
        std::fs::create_dir(&inner).unwrap();
        let tar = tar_with(b"../escaped", b"x");
        let err = unpack(&tar[..], &inner).unwrap_err().to_string();
        assert!(err.contains("refusing tar entry ../escaped"), "{err}");
        assert!(!dir.path().join("escaped").exists());
        assert!(check_path(Path::new("/etc/passwd")).is_err());
        assert!(check_path(Path::new("./global/pg_control")).is_ok());
    }

    #[test]
    fn targets_are_quoted_settings() {
        let t = RecoveryTarget::Time("2026-11-25 09:41:00+00".into());
        assert_eq!(
            t.settings(),
            "recovery_target_time = '2026-11-25 09:41:00+00'\n"
        );
        assert_eq!(
            RecoveryTarget::Name("it's".into()).settings(),
            "recovery_target_name = 'it''s'\n"
        );
        assert_eq!(RecoveryTarget::Latest.settings(), "");
    }
}
