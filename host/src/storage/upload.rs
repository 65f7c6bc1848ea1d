//! Writing one data object: straight through to a local store; in parts that grow with the
//! stream, several in flight, to an object store.
//!
//! **Parts.** A stream of unknown size cannot pick its part size up front, and S3 allows
//! at most 10,000 parts of at most 5 GiB. Parts start at `[transfer] part_size_mib` (8 MiB)
//! and, once the stream passes 1,000 × that, each part is 1/1000 of what was written so
//! far. With the defaults: 8 MiB parts up to 8 GiB, 100 MiB parts at 100 GiB, and 5 TiB
//! (S3's largest object) in about 7,500 parts.
//!
//! **Memory.** At most `concurrency` parts are in flight, one waits in OpenDAL's writer and
//! one fills here: `(concurrency + 2) × part size`, 48 MiB with the defaults.
//!
//! **Failure.** Dropping or aborting a `DataWriter` aborts the multipart upload (S3, GCS)
//! or leaves uncommitted blocks that Azure discards; no manifest ever points at it.

use super::{Op, StorageError, Store};
use bytes::Bytes;

/// The largest part: S3 allows 5 GiB, Azure 4000 MiB per block.
const MAX_PART: u64 = 4000 << 20;
/// After 1,000 parts of the base size, a part is this fraction of what was written.
const GROWTH_DIVISOR: u64 = 1000;

/// The size of the next part, given the first part's size and the bytes written so far.
pub fn part_size(base: usize, written: u64) -> usize {
    const MIB: u64 = 1 << 20;
    let grown = (written / GROWTH_DIVISOR).div_ceil(MIB) * MIB;
    (base as u64).max(grown).min(MAX_PART) as usize
}

/// The data object being written by a push. Dropping it without `commit` leaves only an
/// invisible partial object (no manifest points at it); `abort` also removes that.
pub struct DataWriter {
    writer: Option<opendal::Writer>,
    pub(super) path: String,
    /// `None` for a local store, which takes every chunk as it comes.
    parts: Option<Parts>,
}

/// The part being filled.
struct Parts {
    chunks: Vec<Bytes>,
    filled: usize,
    written: u64,
    base: usize,
}

impl DataWriter {
    pub(super) fn new(writer: opendal::Writer, path: String, part_base: Option<usize>) -> Self {
        DataWriter {
            writer: Some(writer),
            path,
            parts: part_base.map(|base| Parts {
                chunks: Vec::new(),
                filled: 0,
                written: 0,
                base,
            }),
        }
    }

    pub async fn write(&mut self, store: &Store, chunk: Bytes) -> Result<(), StorageError> {
        let writer = self.writer.as_mut().expect("write after commit or abort");
        let part = match &mut self.parts {
            None => chunk,
            Some(parts) => {
                parts.filled += chunk.len();
                parts.chunks.push(chunk);
                if parts.filled < part_size(parts.base, parts.written) {
                    return Ok(());
                }
                return self.flush_part(store).await;
            }
        };
        writer
            .write(part)
            .await
            .map_err(|e| store.err(Op::Write, &self.path, e))
    }

    async fn flush_part(&mut self, store: &Store) -> Result<(), StorageError> {
        let (Some(writer), Some(parts)) = (self.writer.as_mut(), self.parts.as_mut()) else {
            return Ok(());
        };
        if parts.chunks.is_empty() {
            return Ok(());
        }
        let chunks = std::mem::take(&mut parts.chunks);
        parts.written += parts.filled as u64;
        parts.filled = 0;
        writer
            .write(opendal::Buffer::from(chunks))
            .await
            .map_err(|e| store.err(Op::Write, &self.path, e))
    }

    /// Completes the object. It is still invisible until its manifest is written. On
    /// failure the upload is aborted, so no parts are left behind.
    pub async fn commit(mut self, store: &Store) -> Result<(), StorageError> {
        let flushed = self.flush_part(store).await;
        let mut writer = self.writer.take().expect("commit once");
        let closed = match flushed {
            Ok(()) => writer
                .close()
                .await
                .map(|_| ())
                .map_err(|e| store.err(Op::Write, &self.path, e)),
            Err(e) => Err(e),
        };
        if closed.is_err() {
            abort_or_warn(&mut writer).await;
        }
        closed
    }

    /// Discards the object: aborts a multipart upload, removes a local partial file.
    pub async fn abort(mut self) {
        if let Some(mut writer) = self.writer.take() {
            abort_or_warn(&mut writer).await;
        }
    }
}

async fn abort_or_warn(writer: &mut opendal::Writer) {
    if let Err(e) = writer.abort().await {
        crate::ui::warn(&format!(
            "could not abort the unfinished upload ({}); `twgate prune --orphans` removes it later",
            super::errors::summary(&e)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parts for a stream of `total` bytes with the given first part size.
    fn parts_for(base: usize, total: u64) -> (u64, usize) {
        let (mut written, mut count, mut largest) = (0u64, 0u64, 0usize);
        while written < total {
            let part = part_size(base, written);
            largest = largest.max(part);
            written += part as u64;
            count += 1;
        }
        (count, largest)
    }

    #[test]
    fn small_streams_use_the_base_part_size() {
        assert_eq!(part_size(8 << 20, 0), 8 << 20);
        assert_eq!(parts_for(8 << 20, 1 << 30), (128, 8 << 20));
    }

    #[test]
    fn the_largest_s3_object_fits_in_ten_thousand_parts() {
        let (count, largest) = parts_for(8 << 20, 5 << 40);
        assert!(count <= 10_000, "{count} parts");
        assert!(largest as u64 <= 5 << 30, "largest part {largest}");
        // A 100 GiB dump keeps parts near 100 MiB, not at the maximum.
        let (_, largest) = parts_for(8 << 20, 100 << 30);
        assert!(largest <= 110 << 20, "largest part {largest}");
    }
}
