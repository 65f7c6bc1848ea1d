//! twgate: stream database dumps through sandboxed WebAssembly plugins into a store, and
//! back. The binary (`main.rs`) is a thin shell over [`commands::run`]; see ARCHITECTURE.md
//! for the code map.

pub mod age_keys;
pub mod backup;
pub mod builtin;
pub mod checksum;
pub mod cli;
pub mod commands;
pub mod config;
pub mod drill;
pub mod manifest;
pub mod metrics;
pub mod paths;
pub mod pg;
pub mod pipeline;
pub mod plan;
pub mod plugin;
pub mod retention;
pub mod runtime;
pub mod signals;
pub mod stdout;
pub mod storage;
pub mod ui;
pub mod wal_names;

#[cfg(test)]
mod layers;
