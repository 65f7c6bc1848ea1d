//! The WebDAV verbs the plugin uses, on top of [`http`](crate::http): PROPFIND, MKCOL of
//! every missing parent collection, a PUT started for streaming, MOVE, DELETE and GET, each
//! with the statuses that mean success.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;

use twgate_plugin_sdk::Error;

use crate::http::{BodyWriter, Client, Response};
use crate::location::BaseUrl;
use crate::propfind::{self, Resource};

/// The largest PROPFIND answer read: about 100 000 members of one collection.
const MAX_PROPFIND_ANSWER: usize = 64 << 20;

/// PROPFIND's `Depth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// The resource itself.
    Zero,
    /// The resource and, for a collection, its members.
    One,
}

/// A WebDAV server under the base URL.
pub struct Dav {
    client: Rc<Client>,
    /// Request paths of collections known to exist, so each is made once per connection.
    known_collections: RefCell<HashSet<String>>,
}

impl Dav {
    pub fn new(client: Rc<Client>) -> Rc<Dav> {
        Rc::new(Dav {
            client,
            known_collections: RefCell::default(),
        })
    }

    pub fn base(&self) -> &BaseUrl {
        self.client.base()
    }

    /// The resources at `path` (and its members, with `Depth::One`), or `None` if there is
    /// nothing at `path`.
    pub fn propfind(&self, path: &str, depth: Depth) -> Result<Option<Vec<Resource>>, Error> {
        let depth = match depth {
            Depth::Zero => "0",
            Depth::One => "1",
        };
        let headers = [
            ("depth", depth),
            ("content-type", "application/xml; charset=utf-8"),
        ];
        let body = propfind::REQUEST_BODY.as_bytes();
        let mut response = self.client.send("PROPFIND", path, &headers, Some(body))?;
        match response.status {
            207 => {}
            404 => return Ok(None),
            _ => return Err(response.unexpected()),
        }
        let xml = response.read_to_end(MAX_PROPFIND_ANSWER)?;
        let what =
            |why: &str| Error::Internal(format!("WebDAV {}: {why}", response.target().what()));
        let xml = std::str::from_utf8(&xml).map_err(|_| what("the answer is not UTF-8"))?;
        propfind::parse_multistatus(xml)
            .map(Some)
            .map_err(|e| what(&e))
    }

    /// Makes the base collection and the collections `dir` (object-path segments) below it,
    /// top down, unless known to exist.
    pub fn make_collections(&self, dir: &[&str]) -> Result<(), Error> {
        for depth in 0..=dir.len() {
            let path = self.base().collection_path(&dir[..depth]);
            if path == "/" || self.known_collections.borrow().contains(&path) {
                continue;
            }
            self.mkcol(&path)?;
            self.known_collections.borrow_mut().insert(path);
        }
        Ok(())
    }

    /// Forgets which collections exist, after a PUT found one missing.
    pub fn forget_collections(&self) {
        self.known_collections.borrow_mut().clear();
    }

    /// Makes the collection `path`; one that exists already is fine (405 by RFC 4918; some
    /// servers, rclone's among them, answer 201 again).
    fn mkcol(&self, path: &str) -> Result<(), Error> {
        let response = self.client.send("MKCOL", path, &[], None)?;
        match response.status {
            405 => Ok(()),
            _ if response.is_success() => Ok(()),
            409 => Err(Error::Internal(format!(
                "WebDAV {} answered 409 Conflict: the collection above it does not exist",
                response.target().what()
            ))),
            _ => Err(response.unexpected()),
        }
    }

    /// PUTs an empty object at `path`. Before a streamed PUT, this gets a refusal (401,
    /// 403, a read-only server, a full disk) answered with its status: a server that refuses
    /// a streamed PUT answers before reading the body and closes the connection, which the
    /// host's HTTP client reports only as a protocol error.
    pub fn put_empty(&self, path: &str) -> Result<(), Error> {
        let headers = [("content-type", "application/octet-stream")];
        let response = self.client.send("PUT", path, &headers, Some(&[]))?;
        if response.is_success() {
            Ok(())
        } else {
            Err(response.unexpected())
        }
    }

    /// Starts a PUT of `path` whose body is streamed chunked.
    pub fn start_put(&self, path: &str) -> Result<BodyWriter, Error> {
        self.client
            .start("PUT", path, &[("content-type", "application/octet-stream")])
    }

    /// Moves `from` to `to` (request paths), replacing whatever is at `to`.
    pub fn move_to(&self, from: &str, to: &str) -> Result<(), Error> {
        // An absolute URL with the same scheme and authority as the request's: rclone
        // answers 502 to a `Destination` on another host than `Host`.
        let destination = self.base().absolute(to);
        let headers = [("destination", destination.as_str()), ("overwrite", "T")];
        let response = self.client.send("MOVE", from, &headers, None)?;
        if response.is_success() {
            Ok(())
        } else {
            Err(response.unexpected())
        }
    }

    /// Deletes `path`; nothing there is fine.
    pub fn delete(&self, path: &str) -> Result<(), Error> {
        let response = self.client.send("DELETE", path, &[], None)?;
        if response.is_success() || response.status == 404 {
            Ok(())
        } else {
            Err(response.unexpected())
        }
    }

    /// Deletes the staging object `path` of an abandoned upload. The server may still be
    /// busy with the aborted PUT (rclone answers 423 Locked while its handler holds the
    /// file), so a 423 is retried for about 6 seconds.
    pub fn delete_staging(&self, path: &str) -> Result<(), Error> {
        let mut delay_ms: u64 = 50;
        loop {
            let response = self.client.send("DELETE", path, &[], None)?;
            match response.status {
                404 => return Ok(()),
                _ if response.is_success() => return Ok(()),
                423 if delay_ms <= 3200 => {
                    drop(response);
                    let pause =
                        wasip2::clocks::monotonic_clock::subscribe_duration(delay_ms * 1_000_000);
                    pause.block();
                    delay_ms *= 2;
                }
                _ => return Err(response.unexpected()),
            }
        }
    }

    /// GETs `path`, with the header `Range: range` if given; any status.
    pub fn get(&self, path: &str, range: Option<&str>) -> Result<Response, Error> {
        match range {
            Some(range) => self.client.send("GET", path, &[("range", range)], None),
            None => self.client.send("GET", path, &[], None),
        }
    }
}
