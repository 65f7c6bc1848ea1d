//! Restoring one backup: its stored object through the inverse of the stages its manifest
//! records, into a sink, with both ends checked against the manifest.
//!
//! **Invariant:** a restore succeeds only if the stored object has the size and checksum
//! its manifest recorded and the restored bytes have the original's checksum; otherwise
//! it fails and the caller must discard what the sink received (`pull -o` does).

use crate::manifest::Manifest;
use crate::metrics::Moved;
use crate::pipeline::{self, Sink, Step};
use crate::plan::{self, Params};
use crate::plugin::Catalog;
use crate::runtime::{Direction, Runtime};
use crate::storage::{BackupRef, Store};
use crate::ui;
use anyhow::{bail, Result};
use futures::StreamExt;

/// Why the backup is restored: named in progress and errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Pull,
    Verify,
    Drill,
}

impl Purpose {
    fn verb(self) -> &'static str {
        match self {
            Purpose::Pull => "pull",
            Purpose::Verify => "verify",
            Purpose::Drill => "drill",
        }
    }
}

/// What decoding needs: the plugins, the runtime and the user's keys.
pub struct Decoding<'a> {
    pub catalog: &'a Catalog,
    pub runtime: &'a Runtime,
    /// Identities and passphrase, for the stages that take keys.
    pub secrets: &'a Params,
    /// Decode a custom stage with another build of its plugin.
    pub allow_plugin_change: bool,
}

/// A backup ready to restore: its manifest, and its inverse stages opened (none when the
/// stored object itself is wanted).
pub struct Restore {
    pub manifest: Manifest,
    steps: Vec<Step>,
    /// `false`: the stored bytes as they are (`pull --raw`, `verify --stored-only`).
    decoded: bool,
}

impl Restore {
    /// Resolves `backup` in `store` and opens its inverse stages with `decoding`; with
    /// `None`, the stored object is read as it is.
    pub async fn open(
        store: &Store,
        backup: &BackupRef,
        decoding: Option<Decoding<'_>>,
    ) -> Result<Restore> {
        let manifest = store.resolve(backup).await?;
        let Some(decoding) = decoding else {
            return Ok(Restore {
                manifest,
                steps: Vec::new(),
                decoded: false,
            });
        };
        let specs = plan::inverse_stages(
            decoding.catalog,
            &manifest,
            decoding.secrets,
            decoding.allow_plugin_change,
        )?;
        let mut steps = Vec::new();
        for spec in &specs {
            steps.push(pipeline::open_step(
                decoding.runtime,
                &spec.step(),
                Direction::Inverse,
            )?);
        }
        Ok(Restore {
            manifest,
            steps,
            decoded: true,
        })
    }

    /// Streams the stored object through the stages into `sink` and checks both ends.
    /// The stages run once: a second call finds none and fails its check.
    pub async fn run<S: Sink + Send>(
        &mut self,
        store: &Store,
        sink: &mut S,
        purpose: Purpose,
    ) -> Result<Moved> {
        let (manifest, steps, decoded) = (
            &self.manifest,
            std::mem::take(&mut self.steps),
            self.decoded,
        );
        let verb = purpose.verb();
        let what = format!("{}@{}", manifest.name, manifest.id);
        let stream = store
            .data_stream(manifest)
            .await?
            .map(|r| r.map_err(anyhow::Error::from));
        let mut progress = ui::Progress::new(verb);
        // Both ends are checked: the stored object as it is read (a damaged or swapped
        // object fails even where its plugins would decode it), and the restored bytes,
        // end to end. Each end is hashed on a thread of its own, with the function its
        // manifest names (SHA-256 for version 1 backups). Undecoded, the output is the
        // stored object itself, hashed once.
        let stored = manifest.stored.checksum();
        let expected = match decoded {
            true => manifest.original.checksum(),
            false => stored.clone(),
        };
        let hashes = pipeline::Hashes {
            input: decoded.then_some(stored.algorithm),
            output: Some(expected.algorithm),
        };
        let outcome = pipeline::run(Box::new(stream), steps, hashes, sink, |i, o| {
            progress.update(i, o)
        })
        .await;
        progress.done();
        let outcome =
            outcome.map_err(|e| anyhow::Error::new(e).context(format!("{verb} {what} failed")))?;
        if outcome.input.size != manifest.stored.size
            || (decoded && outcome.input.checksum.as_ref() != Some(&stored))
        {
            bail!(
                "{verb} {what} failed: the stored object {} is corrupted or truncated \
                 ({} bytes read, {} expected; its {} checksum does not match the manifest); the output is not usable",
                manifest.stored.object,
                outcome.input.size,
                manifest.stored.size,
                stored.algorithm.name()
            );
        }
        if outcome.output.checksum.as_ref() != Some(&expected) {
            bail!(
                "{verb} {what} failed: the restored bytes do not match the original's {} checksum (the stored object was changed, or a plugin decoded it wrongly; `twgate verify` tells which); the output is not usable",
                expected.algorithm.name()
            );
        }
        Ok(Moved {
            bytes_in: outcome.input.size,
            bytes_out: outcome.output.size,
        })
    }
}
