//! What a component is, read from its type alone: which world it implements, what it
//! imports, and which of those imports can do anything only with a grant.
//!
//! Used by `twgate plugin inspect` and `twgate plugins`, and to explain a component that
//! cannot be linked.

use super::bindings::{DESTINATION_EXPORT, TRANSFORM_EXPORT};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Which of the contract's worlds a component implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Transform,
    Destination,
    /// Neither: not a twgate plugin (or one built against another contract version).
    Unknown,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Transform => "transform",
            Kind::Destination => "destination",
            Kind::Unknown => "unknown",
        }
    }

    pub fn world(self) -> &'static str {
        match self {
            Kind::Transform => "twgate:plugin/transform-plugin@0.1.0",
            Kind::Destination => "twgate:plugin/destination-plugin@0.1.0",
            Kind::Unknown => "none of twgate's worlds",
        }
    }
}

/// A component's shape.
#[derive(Debug, Clone)]
pub struct Shape {
    pub kind: Kind,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

impl Shape {
    pub fn of(engine: &Engine, component: &Component) -> Shape {
        let ty = component.component_type();
        let imports: Vec<String> = ty
            .imports(engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let exports: Vec<String> = ty
            .exports(engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let kind = if exports.iter().any(|e| e == TRANSFORM_EXPORT) {
            Kind::Transform
        } else if exports.iter().any(|e| e == DESTINATION_EXPORT) {
            Kind::Destination
        } else {
            Kind::Unknown
        };
        Shape {
            kind,
            imports,
            exports,
        }
    }

    /// The capabilities the imports could use, each with the grant that allows it. Rust's
    /// standard library imports the filesystem and environment interfaces in every
    /// component, so these say what a plugin *could* ask for, not what it will.
    pub fn requested_capabilities(&self) -> Vec<&'static str> {
        let mut wanted: Vec<&'static str> = self
            .imports
            .iter()
            .filter_map(|import| capability_of(import))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        wanted
    }
}

/// The grant an import needs to do anything, if any.
fn capability_of(import: &str) -> Option<&'static str> {
    let interface = import.split('@').next().unwrap_or(import);
    match interface {
        "wasi:http/outgoing-handler" => Some("http: outgoing HTTP (grant: http = [\"host:port\"])"),
        "wasi:filesystem/preopens" => {
            Some("dirs: files in granted directories (grant: dirs = [...])")
        }
        "wasi:cli/environment" => Some("env: environment variables (grant: env = [...])"),
        i if i.starts_with("wasi:sockets/") => {
            Some("sockets: raw network sockets (never granted; use wasi:http)")
        }
        _ => None,
    }
}

/// Adds to a link failure which imports twgate could not satisfy.
pub fn explain_link_error(
    engine: &Engine,
    component: &Component,
    error: wasmtime::Error,
) -> wasmtime::Error {
    let shape = Shape::of(engine, component);
    let foreign: Vec<&str> = shape
        .imports
        .iter()
        .map(String::as_str)
        .filter(|i| !i.starts_with("wasi:"))
        .collect();
    if foreign.is_empty() {
        error.context("it imports an interface twgate does not provide (twgate provides WASI 0.2 and wasi:http)")
    } else {
        error.context(format!(
            "it imports {}, which twgate does not provide",
            foreign.join(", ")
        ))
    }
}
