//! Write a twgate plugin in plain Rust: a transform or a destination.
//!
//! A plugin is a WebAssembly component for `wasm32-wasip2` that exports one world of
//! `wit/plugin.wit`. This crate is the one place that generates the component bindings for
//! those worlds; a plugin implements plain-Rust traits and invokes one export macro once.
//!
//! # Transforms
//!
//! A transform (world `transform-plugin`) turns one byte stream into another and back. It
//! implements [`Transform`] on the type that holds one stream's state and invokes
//! [`export_transform!`]:
//!
//! ```
//! use twgate_plugin_sdk::{export_transform, Direction, Error, Params, Transform};
//!
//! /// Passes bytes through unchanged.
//! pub struct Identity;
//!
//! impl Transform for Identity {
//!     const NAME: &'static str = "identity";
//!     const VERSION: &'static str = "0.1.0";
//!     const SUMMARY: &'static str = "passes bytes through unchanged";
//!
//!     fn open(_direction: Direction, params: &Params, _secrets: &Params) -> Result<Self, Error> {
//!         if let Some(key) = params.first_unknown(&[]) {
//!             return Err(Error::BadConfig(format!("identity does not take a parameter '{key}'")));
//!         }
//!         Ok(Identity)
//!     }
//!     fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, Error> {
//!         Ok(chunk.to_vec())
//!     }
//!     fn finish(&mut self) -> Result<Vec<u8>, Error> {
//!         Ok(Vec::new())
//!     }
//! }
//!
//! export_transform!(Identity);
//! # fn main() {
//! # let mut stage = Identity::open(Direction::Forward, &Params::new(), &Params::new()).unwrap();
//! # assert_eq!(twgate_plugin_sdk::run(&mut stage, b"abc", 1).unwrap(), b"abc");
//! # }
//! ```
//!
//! # Destinations
//!
//! A destination (world `destination-plugin`) keeps stored objects: a custom store. It
//! implements [`Destination`] (which connects), [`Connection`] (create, read, stat, list,
//! delete), [`Upload`] and [`Download`], and invokes [`export_destination!`]:
//!
//! ```
//! use std::cell::RefCell;
//! use std::collections::BTreeMap;
//! use std::rc::Rc;
//! use twgate_plugin_sdk::{
//!     export_destination, Connection, Destination, Download, Error, ObjectEntry, Params, Upload,
//! };
//!
//! type Objects = Rc<RefCell<BTreeMap<String, Vec<u8>>>>;
//!
//! /// Keeps objects in memory, for as long as the connection lives.
//! pub struct Memory;
//! pub struct Store(Objects);
//! /// A real destination streams each chunk to a staging object instead.
//! pub struct Staged { objects: Objects, path: String, data: Vec<u8> }
//! pub struct Bytes(Vec<u8>);
//!
//! impl Destination for Memory {
//!     const NAME: &'static str = "memory";
//!     const VERSION: &'static str = "0.1.0";
//!     const SUMMARY: &'static str = "keeps objects in memory";
//!     type Connection = Store;
//!
//!     fn connect(params: &Params, _secrets: &Params) -> Result<Store, Error> {
//!         if let Some(key) = params.first_unknown(&[]) {
//!             return Err(Error::BadConfig(format!("memory does not take a parameter '{key}'")));
//!         }
//!         Ok(Store(Objects::default()))
//!     }
//! }
//!
//! impl Connection for Store {
//!     type Upload = Staged;
//!     type Download = Bytes;
//!
//!     fn create(&mut self, path: &str) -> Result<Staged, Error> {
//!         Ok(Staged { objects: self.0.clone(), path: path.into(), data: Vec::new() })
//!     }
//!     fn read(&mut self, path: &str, offset: u64, length: u64) -> Result<Option<Bytes>, Error> {
//!         Ok(self.0.borrow().get(path).map(|data| {
//!             let start = usize::try_from(offset).unwrap_or(usize::MAX).min(data.len());
//!             let length = usize::try_from(length).unwrap_or(usize::MAX);
//!             let end = start.saturating_add(length).min(data.len());
//!             Bytes(data[start..end].to_vec())
//!         }))
//!     }
//!     fn stat(&mut self, path: &str) -> Result<Option<ObjectEntry>, Error> {
//!         Ok(self.list_objects(path)?.into_iter().find(|entry| entry.path == path))
//!     }
//!     fn list_objects(&mut self, prefix: &str) -> Result<Vec<ObjectEntry>, Error> {
//!         let objects = self.0.borrow();
//!         let matching = objects.iter().filter(|(path, _)| path.starts_with(prefix));
//!         Ok(matching
//!             .map(|(path, data)| ObjectEntry {
//!                 path: path.clone(),
//!                 size: data.len() as u64,
//!                 modified: None,
//!             })
//!             .collect())
//!     }
//!     fn delete(&mut self, path: &str) -> Result<(), Error> {
//!         self.0.borrow_mut().remove(path);
//!         Ok(())
//!     }
//! }
//!
//! impl Upload for Staged {
//!     fn write(&mut self, chunk: &[u8]) -> Result<(), Error> {
//!         self.data.extend_from_slice(chunk);
//!         Ok(())
//!     }
//!     fn commit(self) -> Result<(), Error> {
//!         self.objects.borrow_mut().insert(self.path, self.data);
//!         Ok(())
//!     }
//!     fn abort(self) -> Result<(), Error> {
//!         Ok(())
//!     }
//! }
//!
//! impl Download for Bytes {
//!     /// At most 1 MiB per call; empty at the end.
//!     fn next(&mut self) -> Result<Vec<u8>, Error> {
//!         let n = self.0.len().min(1 << 20);
//!         Ok(self.0.drain(..n).collect())
//!     }
//! }
//!
//! export_destination!(Memory);
//! # fn main() {
//! # use twgate_plugin_sdk::{read_object, write_object};
//! # let mut store = Memory::connect(&Params::new(), &Params::new()).unwrap();
//! # write_object(&mut store, "db/a", b"abcdef", 4).unwrap();
//! # assert_eq!(read_object(&mut store, "db/a", 2, 3).unwrap().as_deref(), Some(&b"cde"[..]));
//! # assert_eq!(store.stat("db/b").unwrap(), None);
//! # }
//! ```
//!
//! On `wasm32` the export macros expand to the component's exports; on any other target
//! they only check that the type implements the trait, so the same crate (as an `rlib`) is
//! tested natively with `cargo test`: [`run`] drives a stage the way the host does, and
//! [`write_object`] and [`read_object`] drive a connection.

use std::fmt;

use zeroize::Zeroize;

/// The version of the host/plugin contract this SDK implements, reported by `info()`.
pub const ABI_VERSION: u32 = 1;

/// Which way a stage runs: `Forward` on push (compress, encrypt, check), `Inverse` on pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Forward,
    Inverse,
}

/// Why a plugin refused or failed; one case per case of the contract's `plugin-error`.
///
/// This is the one error type of every plugin: a plugin's own modules return it too, so
/// nothing converts between look-alike enums at the boundary. Each case carries a one-line
/// message for people, which must never contain secret material (passphrases, key material,
/// plaintext); the message is used as given, so a plugin that prefixes its messages (e.g.
/// `"age: "`) does so itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The parameters given to `open` are wrong: unknown key, bad value, missing key.
    BadConfig(String),
    /// The input is not what this stage expects: corrupt, truncated, or another format.
    CorruptInput(String),
    /// None of the identities or passphrases given can decrypt the input.
    WrongKey(String),
    /// Any other failure inside the plugin.
    Internal(String),
}

impl Error {
    /// [`Error::BadConfig`] with `msg`.
    pub fn bad_config(msg: impl Into<String>) -> Error {
        Error::BadConfig(msg.into())
    }

    /// [`Error::CorruptInput`] with `msg`.
    pub fn corrupt(msg: impl Into<String>) -> Error {
        Error::CorruptInput(msg.into())
    }

    /// [`Error::WrongKey`] with `msg`.
    pub fn wrong_key(msg: impl Into<String>) -> Error {
        Error::WrongKey(msg.into())
    }

    /// [`Error::Internal`] with `msg`.
    pub fn internal(msg: impl Into<String>) -> Error {
        Error::Internal(msg.into())
    }

    /// The message, without the kind.
    pub fn message(&self) -> &str {
        match self {
            Error::BadConfig(m)
            | Error::CorruptInput(m)
            | Error::WrongKey(m)
            | Error::Internal(m) => m,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Error {}

/// `open`'s parameters or secrets: keys with byte values, in the order the host gave them.
///
/// A key may appear more than once (e.g. several recipients). Values are bytes because some
/// (OpenPGP certificates) are binary; most are UTF-8 text. Values are wiped from memory when
/// a `Params` is dropped, and `Debug` shows only keys and lengths, since they may be secrets.
#[derive(Default, Clone, PartialEq, Eq)]
pub struct Params {
    entries: Vec<(String, Vec<u8>)>,
}

impl Params {
    /// No parameters.
    pub fn new() -> Params {
        Params::default()
    }

    /// Appends `key` = `value`.
    pub fn push(&mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) {
        self.entries.push((key.into(), value.into()));
    }

    /// Builder form of [`Params::push`].
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Params {
        self.push(key, value);
        self
    }

    /// All entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// All entries in order, as the host passed them.
    pub fn as_pairs(&self) -> &[(String, Vec<u8>)] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every value given for `key`, in order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.iter().filter(move |(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The value of `key`, if given; `BadConfig` if it is given more than once.
    pub fn get(&self, key: &str) -> Result<Option<&[u8]>, Error> {
        let mut values = self.entries.iter().filter(|(k, _)| k == key);
        let first = values.next().map(|(_, v)| v.as_slice());
        if values.next().is_some() {
            return Err(Error::BadConfig(format!(
                "parameter '{key}' is given more than once"
            )));
        }
        Ok(first)
    }

    /// The value of `key` as UTF-8 text, if given; `BadConfig` if it is given more than once
    /// or is not UTF-8.
    pub fn get_str(&self, key: &str) -> Result<Option<&str>, Error> {
        match self.get(key)? {
            None => Ok(None),
            Some(bytes) => std::str::from_utf8(bytes)
                .map(Some)
                .map_err(|_| Error::BadConfig(format!("parameter '{key}' is not UTF-8 text"))),
        }
    }

    /// The first key that is not in `known`, if any: for refusing unknown parameters.
    pub fn first_unknown(&self, known: &[&str]) -> Option<&str> {
        self.iter().map(|(k, _)| k).find(|k| !known.contains(k))
    }
}

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.entries
                    .iter()
                    .map(|(k, v)| format!("{k}=<{} bytes>", v.len())),
            )
            .finish()
    }
}

impl<K: Into<String>, V: Into<Vec<u8>>> FromIterator<(K, V)> for Params {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Params {
        Params {
            entries: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

impl From<Vec<(String, Vec<u8>)>> for Params {
    fn from(entries: Vec<(String, Vec<u8>)>) -> Params {
        Params { entries }
    }
}

impl Drop for Params {
    fn drop(&mut self) {
        for (_, value) in self.entries.iter_mut() {
            value.zeroize();
        }
    }
}

/// One stream through a plugin, in one direction: the state of one `stage`.
///
/// The host opens a fresh stage per stream and drives it: [`push`](Transform::push) for each
/// chunk of input, [`drain`](Transform::drain) until it returns nothing, then
/// [`finish`](Transform::finish) once (and `drain` again). Errors are values: return them,
/// never panic (a panic aborts the plugin instance and the whole backup or restore).
pub trait Transform: Sized + 'static {
    /// Short lowercase name, e.g. `zstd`.
    const NAME: &'static str;
    /// The plugin's own semantic version, usually `env!("CARGO_PKG_VERSION")`.
    const VERSION: &'static str;
    /// One line for `twgate plugins`, usually `env!("CARGO_PKG_DESCRIPTION")`.
    const SUMMARY: &'static str;

    /// Starts one stream in `direction` with the non-secret `params` and the `secrets`
    /// (passphrases, identities). Both are wiped from memory when `open` returns: keep what
    /// you need.
    fn open(direction: Direction, params: &Params, secrets: &Params) -> Result<Self, Error>;

    /// Feeds the next chunk of input and returns the output that is ready, possibly empty.
    /// A stage whose output can be much larger than its input returns about 1 MiB at most
    /// and holds the rest back for `drain`.
    fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, Error>;

    /// Returns output held back by the last `push` or `finish`, or nothing when none is left.
    /// The default holds nothing back.
    fn drain(&mut self) -> Result<Vec<u8>, Error> {
        Ok(Vec::new())
    }

    /// Ends the input and returns the remaining output. Input that ends too early (a
    /// truncated stream) must fail here, never decode as a shorter valid stream.
    fn finish(&mut self) -> Result<Vec<u8>, Error>;

    /// The non-secret settings this stream really uses, normalised, for the backup's
    /// manifest. The default reports nothing.
    fn describe(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// Drives `stage` over `input` the way the host does: `push` in chunks of `chunk_size`
/// bytes, `drain` after each until it is empty, then `finish` and `drain`. Returns all the
/// output. For native tests.
pub fn run<T: Transform>(stage: &mut T, input: &[u8], chunk_size: usize) -> Result<Vec<u8>, Error> {
    assert!(chunk_size > 0, "chunk_size must be at least 1");
    let mut out = Vec::new();
    let drain = |stage: &mut T, out: &mut Vec<u8>| -> Result<(), Error> {
        loop {
            let more = stage.drain()?;
            if more.is_empty() {
                return Ok(());
            }
            out.extend_from_slice(&more);
        }
    };
    for chunk in input.chunks(chunk_size) {
        out.extend_from_slice(&stage.push(chunk)?);
        drain(stage, &mut out)?;
    }
    out.extend_from_slice(&stage.finish()?);
    drain(stage, &mut out)?;
    Ok(out)
}

/// Exports `$t`, a type implementing [`Transform`], as this crate's component.
///
/// Invoke it once, at the top level of the plugin crate (built as a `cdylib`). On `wasm32`
/// it expands to the exports of the world `twgate:plugin/transform-plugin@0.1.0`; on any
/// other target it only checks that `$t` implements [`Transform`]. The plugin crate needs no
/// dependency but this SDK.
#[cfg(target_arch = "wasm32")]
#[macro_export]
macro_rules! export_transform {
    ($t:ty) => {
        const _: () = {
            type __TwgateExported = $crate::__private::Plugin<$t>;
            $crate::__private::bindings::__export_transform_plugin!(
                __TwgateExported with_types_in $crate::__private::bindings
            );
        };
    };
}

/// Exports `$t`, a type implementing [`Transform`], as this crate's component.
///
/// Invoke it once, at the top level of the plugin crate (built as a `cdylib`). On `wasm32`
/// it expands to the exports of the world `twgate:plugin/transform-plugin@0.1.0`; on any
/// other target it only checks that `$t` implements [`Transform`]. The plugin crate needs no
/// dependency but this SDK.
#[cfg(not(target_arch = "wasm32"))]
#[macro_export]
macro_rules! export_transform {
    ($t:ty) => {
        const _: fn() = $crate::__private::assert_transform::<$t>;
    };
}

/// Exports `$t`, a type implementing [`Destination`], as this crate's component.
///
/// Invoke it once, at the top level of the plugin crate (built as a `cdylib`). On `wasm32`
/// it expands to the exports of the world `twgate:plugin/destination-plugin@0.1.0`; on any
/// other target it only checks that `$t` implements [`Destination`]. A crate exports either
/// a transform or a destination, never both.
#[cfg(target_arch = "wasm32")]
#[macro_export]
macro_rules! export_destination {
    ($t:ty) => {
        const _: () = {
            type __TwgateExported = $crate::__private::DestinationPlugin<$t>;
            $crate::__private::destination_bindings::__export_destination_plugin!(
                __TwgateExported with_types_in $crate::__private::destination_bindings
            );
        };
    };
}

/// Exports `$t`, a type implementing [`Destination`], as this crate's component.
///
/// Invoke it once, at the top level of the plugin crate (built as a `cdylib`). On `wasm32`
/// it expands to the exports of the world `twgate:plugin/destination-plugin@0.1.0`; on any
/// other target it only checks that `$t` implements [`Destination`]. A crate exports either
/// a transform or a destination, never both.
#[cfg(not(target_arch = "wasm32"))]
#[macro_export]
macro_rules! export_destination {
    ($t:ty) => {
        const _: fn() = $crate::__private::assert_destination::<$t>;
    };
}

/// What [`export_transform!`] and [`export_destination!`] expand to refers to; not part of
/// the API.
#[doc(hidden)]
pub mod __private {
    #[cfg(target_arch = "wasm32")]
    pub use crate::component::{bindings, Plugin};
    #[cfg(target_arch = "wasm32")]
    pub use crate::destination_component::{bindings as destination_bindings, DestinationPlugin};

    /// Compiles only if `T` implements [`Transform`](crate::Transform).
    pub fn assert_transform<T: crate::Transform>() {}

    /// Compiles only if `T` implements [`Destination`](crate::Destination).
    pub fn assert_destination<T: crate::Destination>() {}
}

pub mod crypto;
mod destination;

pub use destination::{
    read_object, write_object, Connection, Destination, Download, DownloadSlot, ObjectEntry,
    Upload, UploadSlot,
};

#[cfg(target_arch = "wasm32")]
mod component;
#[cfg(target_arch = "wasm32")]
mod destination_component;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_str_reads_one_utf8_value() {
        let params = Params::new().with("level", "3").with("bin", vec![0xff]);
        assert_eq!(params.get_str("level"), Ok(Some("3")));
        assert_eq!(params.get_str("missing"), Ok(None));
        assert!(matches!(params.get_str("bin"), Err(Error::BadConfig(_))));
    }

    #[test]
    fn repeated_keys_are_kept_in_order() {
        let params: Params = [("r", "a"), ("x", "b"), ("r", "c")].into_iter().collect();
        let all: Vec<&[u8]> = params.get_all("r").collect();
        assert_eq!(all, [b"a", b"c"]);
        assert!(matches!(params.get("r"), Err(Error::BadConfig(_))));
        assert_eq!(params.first_unknown(&["r"]), Some("x"));
        assert_eq!(params.first_unknown(&["r", "x"]), None);
    }

    #[test]
    fn debug_never_shows_values() {
        let params = Params::new().with("passphrase", "hunter2");
        let shown = format!("{params:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("passphrase=<7 bytes>"), "{shown}");
    }

    /// Holds output back for `drain` in 2-byte pieces, to check `run`'s drain loop.
    struct Dribble {
        held: Vec<u8>,
    }

    impl Transform for Dribble {
        const NAME: &'static str = "dribble";
        const VERSION: &'static str = "0.0.0";
        const SUMMARY: &'static str = "test";
        fn open(_: Direction, _: &Params, _: &Params) -> Result<Self, Error> {
            Ok(Dribble { held: Vec::new() })
        }
        fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, Error> {
            self.held.extend_from_slice(chunk);
            self.drain()
        }
        fn drain(&mut self) -> Result<Vec<u8>, Error> {
            let n = self.held.len().min(2);
            Ok(self.held.drain(..n).collect())
        }
        fn finish(&mut self) -> Result<Vec<u8>, Error> {
            self.drain()
        }
    }

    export_transform!(Dribble);

    #[test]
    fn run_drains_everything() {
        let input: Vec<u8> = (0..=255).collect();
        for chunk in [1, 3, 7, 256, 1000] {
            let mut stage =
                Dribble::open(Direction::Forward, &Params::new(), &Params::new()).unwrap();
            assert_eq!(run(&mut stage, &input, chunk).unwrap(), input);
        }
    }
}
