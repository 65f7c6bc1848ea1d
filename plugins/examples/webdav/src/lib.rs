//! `webdav`: a twgate destination plugin that keeps backups on a WebDAV server (`rclone
//! serve webdav`, Apache mod_dav, nginx dav, Nextcloud), speaking HTTP through the host's
//! wasi:http. It is also the SDK's example of a destination.
//!
//! Configuration: the parameter `url` is the collection to keep objects in (`http` or
//! `https`, e.g. `http://127.0.0.1:8080/backups`), the optional parameter `user` and secret
//! `password` are HTTP Basic credentials. The host must allow the URL's `host:port`.
//!
//! Each call becomes (paths relative to `url`, segments percent-encoded):
//! - `connect`: PROPFIND `Depth: 0` of the base, to check the server answers and accepts
//!   the credentials (a missing base is made by the first upload);
//! - `create` / `write` / `commit`: MKCOL of each missing parent, one chunked PUT of
//!   `.<name>.partial-<random>` beside the object, each chunk sent as it comes, then MOVE
//!   (`Overwrite: T`) onto the object; `abort`, or a drop, DELETEs the staging object;
//! - `read`: GET with `Range`; `stat`: PROPFIND `Depth: 0`; `delete`: DELETE (404 is fine);
//! - `list-objects`: PROPFIND `Depth: 1`, collection by collection, skipping staging objects.
//!
//! Modules: `config` (parameters), `location` (URLs and paths), `http` (the wasi:http
//! client), `dav` (WebDAV verbs), `propfind` (multistatus parsing), `listing` (the walk of
//! `list-objects`), `staging` (staging names), `upload` and `download` (the two streams),
//! `connection` (the calls).

mod config;
mod connection;
mod dav;
mod download;
mod http;
mod listing;
mod location;
mod propfind;
mod staging;
mod upload;

use twgate_plugin_sdk::{export_destination, Destination, Error, Params};

pub use connection::WebDavConnection;

use config::Config;
use dav::{Dav, Depth};
use http::Client;

/// The plugin.
pub struct WebDav;

impl Destination for WebDav {
    const NAME: &'static str = "webdav";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const SUMMARY: &'static str = env!("CARGO_PKG_DESCRIPTION");
    type Connection = WebDavConnection;

    fn connect(params: &Params, secrets: &Params) -> Result<WebDavConnection, Error> {
        let config = Config::parse(params, secrets)?;
        let dav = Dav::new(Client::new(config.base, config.authorization));
        check_base(&dav)?;
        Ok(WebDavConnection::new(dav))
    }
}

/// Checks that the server answers at the base URL, accepts the credentials, and has a
/// collection there or nothing yet.
fn check_base(dav: &Dav) -> Result<(), Error> {
    let base = dav.base();
    let Some(resources) = dav.propfind(&base.collection_path(&[]), Depth::Zero)? else {
        return Ok(());
    };
    match resources.first() {
        Some(resource) if !resource.collection => Err(Error::BadConfig(format!(
            "parameter 'url': {base} is a file on the WebDAV server, not a collection"
        ))),
        _ => Ok(()),
    }
}

export_destination!(WebDav);
