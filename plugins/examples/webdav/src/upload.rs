//! `create`: an object written to a staging name next to its final path, first empty (to
//! hear a refusal clearly), then with one chunked PUT, each chunk sent as it comes, and
//! moved into place by `commit`. Until then nothing is
//! at the final path; `abort` (or a drop, through the SDK) deletes the staging object.

use std::rc::Rc;

use twgate_plugin_sdk::{Error, Upload};

use crate::dav::Dav;
use crate::http::BodyWriter;
use crate::staging::staging_name;

/// One object being written.
pub struct StagedUpload {
    dav: Rc<Dav>,
    /// Request paths.
    final_path: String,
    staging_path: String,
    /// The PUT in flight; `None` once finished or abandoned.
    put: Option<BodyWriter>,
}

impl StagedUpload {
    /// Makes the collections above the object (`segments`, its path), then creates a
    /// staging object beside it and starts the PUT of its content.
    pub fn start(dav: Rc<Dav>, segments: &[&str]) -> Result<StagedUpload, Error> {
        let (name, dir) = segments.split_last().expect("an object path has a segment");
        dav.make_collections(dir)?;
        let staging = staging_name(name, wasip2::random::random::get_random_u64());
        let mut staging_segments = dir.to_vec();
        staging_segments.push(&staging);
        let staging_path = dav.base().object_path(&staging_segments);
        let final_path = dav.base().object_path(segments);
        dav.put_empty(&staging_path)?;
        let put = match dav.start_put(&staging_path) {
            Ok(put) => put,
            Err(e) => {
                let _ = dav.delete(&staging_path);
                return Err(e);
            }
        };
        Ok(StagedUpload {
            dav,
            final_path,
            staging_path,
            put: Some(put),
        })
    }

    /// Ends the PUT, checks the server stored it, and moves it into place.
    fn finish_and_move(&mut self) -> Result<(), Error> {
        let put = self.put.take().ok_or_else(|| {
            Error::Internal("the upload failed earlier and cannot be committed".into())
        })?;
        let response = put.finish()?;
        if !response.is_success() {
            if matches!(response.status, 404 | 409) {
                // A collection vanished since this connection made it.
                self.dav.forget_collections();
            }
            return Err(response.unexpected());
        }
        drop(response);
        self.dav.move_to(&self.staging_path, &self.final_path)
    }

    /// Deletes the staging object, if the server has one; errors are the caller's to ignore.
    fn discard(&mut self) -> Result<(), Error> {
        if let Some(put) = self.put.take() {
            put.abandon();
        }
        self.dav.delete_staging(&self.staging_path)
    }
}

impl Upload for StagedUpload {
    fn write(&mut self, chunk: &[u8]) -> Result<(), Error> {
        match self.put.as_mut() {
            Some(put) => put.write(chunk),
            None => Err(Error::Internal("the upload failed earlier".into())),
        }
    }

    fn commit(mut self) -> Result<(), Error> {
        let result = self.finish_and_move();
        if result.is_err() {
            // Best effort: the error that matters is the commit's.
            let _ = self.discard();
        }
        result
    }

    fn abort(mut self) -> Result<(), Error> {
        self.discard()
    }
}
