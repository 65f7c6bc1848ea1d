//! Finding and removing what interrupted pushes left behind: staging files, data objects
//! whose manifest was never written, and (S3) multipart uploads never completed or aborted.
//!
//! Only what is older than a grace period counts, so a push still running is never touched.
//! Pending GCS resumable uploads and uncommitted Azure blocks are invisible and expire on
//! their own after a week; they cost nothing meanwhile.

use super::{Location, Op, StorageError, Store, DATA_SUFFIX, MANIFEST_SUFFIX, TMP_DIR};
use jiff::Timestamp;
use std::collections::HashSet;

/// Something an interrupted push left behind.
#[derive(Debug, Clone)]
pub struct Orphan {
    pub kind: OrphanKind,
    /// The object's path in the store.
    pub path: String,
    pub size: Option<u64>,
    pub modified: Option<Timestamp>,
    upload_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrphanKind {
    /// A file staged by a local store's atomic write, or a writability probe.
    Staging,
    /// A data object no manifest points at.
    Data,
    /// An S3 multipart upload never completed or aborted.
    PendingUpload,
}

impl OrphanKind {
    pub fn describe(self) -> &'static str {
        match self {
            OrphanKind::Staging => "staging file",
            OrphanKind::Data => "data without a manifest",
            OrphanKind::PendingUpload => "unfinished multipart upload",
        }
    }
}

impl Store {
    /// Everything older than `grace` that no manifest accounts for.
    pub async fn orphans(&self, grace: std::time::Duration) -> Result<Vec<Orphan>, StorageError> {
        let cutoff = Timestamp::now() - jiff::SignedDuration::try_from(grace).unwrap_or_default();
        let entries = match self.op.list_with("/").recursive(true).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == opendal::ErrorKind::NotFound && self.place.is_local() => {
                Vec::new()
            }
            Err(e) => return Err(self.err(Op::List, "/", e)),
        };
        let manifests: HashSet<String> = entries
            .iter()
            .filter_map(|e| e.path().strip_suffix(MANIFEST_SUFFIX))
            .map(str::to_string)
            .collect();
        let mut found = Vec::new();
        for entry in entries {
            let path = entry.path();
            if path.ends_with('/') {
                continue;
            }
            let kind = if path.starts_with(&format!("{TMP_DIR}/")) {
                OrphanKind::Staging
            } else if let Some(stem) = path.strip_suffix(DATA_SUFFIX) {
                if manifests.contains(stem) {
                    continue;
                }
                OrphanKind::Data
            } else {
                continue;
            };
            let mut meta = entry.metadata().clone();
            if meta.last_modified().is_none() {
                meta = self
                    .op
                    .stat(path)
                    .await
                    .map_err(|e| self.err(Op::Stat, path, e))?;
            }
            let modified = meta.last_modified().map(Into::into);
            // Unknown age: keep it, rather than risk racing a push.
            if modified.is_none_or(|m: Timestamp| m > cutoff) {
                continue;
            }
            found.push(Orphan {
                kind,
                path: path.to_string(),
                size: Some(meta.content_length()),
                modified,
                upload_id: None,
            });
        }
        if let Location::S3 { .. } = &self.place {
            for upload in self.pending_uploads().await? {
                if upload.initiated.is_none_or(|t| t > cutoff) {
                    continue;
                }
                found.push(Orphan {
                    kind: OrphanKind::PendingUpload,
                    path: upload.path,
                    size: None,
                    modified: upload.initiated,
                    upload_id: Some(upload.upload_id),
                });
            }
        }
        found.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(found)
    }

    /// Removes one orphan.
    pub async fn remove_orphan(&self, orphan: &Orphan) -> Result<(), StorageError> {
        match (&orphan.kind, &orphan.upload_id) {
            (OrphanKind::PendingUpload, Some(upload_id)) => {
                self.abort_upload(&orphan.path, upload_id).await
            }
            _ => self.delete(&orphan.path).await,
        }
    }
}
