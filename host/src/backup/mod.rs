//! A backup's life, between the commands (which parse flags and print) and the layers
//! below: [`push`] (stages → source → pipeline → store → manifest) and [`Restore`]
//! (manifest → inverse stages → pipeline → sink, both ends checked). Each returns what it
//! moved; nothing here is global.

mod push;
mod restore;

pub use crate::pipeline::Sink;
pub use push::{push, Input, PushRequest};
pub use restore::{Decoding, Purpose, Restore};
