//! One connection: each call of the contract's `connection` mapped onto WebDAV requests
//! under the base URL.

use std::rc::Rc;

use twgate_plugin_sdk::{Connection, Error, ObjectEntry};

use crate::dav::{Dav, Depth};
use crate::download::{content_range_start, range_header, RangeDownload};
use crate::listing::{self, Member};
use crate::location::object_segments;
use crate::upload::StagedUpload;

/// A connection to the WebDAV server; uploads share its client.
pub struct WebDavConnection {
    dav: Rc<Dav>,
}

impl WebDavConnection {
    pub fn new(dav: Rc<Dav>) -> WebDavConnection {
        WebDavConnection { dav }
    }

    /// The members of the collection `dir` (relative, `""` or ending in `/`), by PROPFIND
    /// with `Depth: 1`; `None` if it does not exist.
    fn members(&self, dir: &str) -> Result<Option<Vec<Member>>, Error> {
        let segments = match dir.trim_end_matches('/') {
            "" => Vec::new(),
            dir => object_segments(dir)?,
        };
        let path = self.dav.base().collection_path(&segments);
        let Some(resources) = self.dav.propfind(&path, Depth::One)? else {
            return Ok(None);
        };
        let base = self.dav.base();
        Ok(Some(
            resources
                .into_iter()
                .filter_map(|r| {
                    Some(Member {
                        path: base.relative_path(&r.href)?,
                        collection: r.collection,
                        size: r.size,
                        modified: r.modified,
                    })
                })
                .collect(),
        ))
    }
}

impl Connection for WebDavConnection {
    type Upload = StagedUpload;
    type Download = RangeDownload;

    /// MKCOL of each missing collection above `path`, then a chunked PUT of a staging
    /// object beside it (see [`StagedUpload`]).
    fn create(&mut self, path: &str) -> Result<StagedUpload, Error> {
        StagedUpload::start(self.dav.clone(), &object_segments(path)?)
    }

    /// GET with `Range`; 404 is `None`, 416 (the offset is past the end) an empty download.
    fn read(
        &mut self,
        path: &str,
        offset: u64,
        length: u64,
    ) -> Result<Option<RangeDownload>, Error> {
        let segments = object_segments(path)?;
        if length == 0 {
            return Ok(self.stat(path)?.map(|_| RangeDownload::empty()));
        }
        let range = range_header(offset, length);
        let response = self
            .dav
            .get(&self.dav.base().object_path(&segments), range.as_deref())?;
        match response.status {
            404 => Ok(None),
            416 => Ok(Some(RangeDownload::empty())),
            200 => Ok(Some(RangeDownload::new(response, offset, length))),
            206 => {
                let start = response
                    .header("content-range")
                    .and_then(content_range_start);
                if range.is_some() && start != Some(offset) {
                    return Err(Error::Internal(format!(
                        "WebDAV {} answered a range that does not start at byte {offset}",
                        response.target().what()
                    )));
                }
                Ok(Some(RangeDownload::new(response, 0, length)))
            }
            _ => Err(response.unexpected()),
        }
    }

    /// PROPFIND with `Depth: 0`; 404, or a collection, is `None`.
    fn stat(&mut self, path: &str) -> Result<Option<ObjectEntry>, Error> {
        let segments = object_segments(path)?;
        let request_path = self.dav.base().object_path(&segments);
        let Some(resources) = self.dav.propfind(&request_path, Depth::Zero)? else {
            return Ok(None);
        };
        Ok(resources
            .into_iter()
            .next()
            .filter(|r| !r.collection)
            .map(|r| ObjectEntry {
                path: path.to_owned(),
                size: r.size.unwrap_or(0),
                modified: r.modified,
            }))
    }

    /// PROPFIND with `Depth: 1`, collection by collection (see [`listing`]).
    fn list_objects(&mut self, prefix: &str) -> Result<Vec<ObjectEntry>, Error> {
        listing::list_objects(prefix, |dir| self.members(dir))
    }

    /// DELETE; 404 is success.
    fn delete(&mut self, path: &str) -> Result<(), Error> {
        let segments = object_segments(path)?;
        self.dav.delete(&self.dav.base().object_path(&segments))
    }
}
