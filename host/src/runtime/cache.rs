//! The on-disk cache of compiled components, so a warm start does not recompile.
//!
//! Entries are keyed by the plugin's sha256 and the engine's compatibility hash (wasmtime
//! version and configuration), and written atomically (temporary file, then rename).
//!
//! **Invariant:** only files this cache wrote are deserialized; the cache directory is
//! created private (mode 0700). A stale or unreadable entry is recompiled, never trusted.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Loads `bytes` as a component, from the cache when possible.
pub fn load_or_compile(
    engine: &Engine,
    dir: Option<&Path>,
    name: &str,
    sha256: &str,
    bytes: &[u8],
) -> wasmtime::Result<Component> {
    let Some(dir) = dir else {
        return Component::new(engine, bytes);
    };
    let path = entry_path(engine, dir, name, sha256);
    if path.exists() {
        // SAFETY: the file is in our private cache directory and was written by `store`
        // below from `Engine::precompile_component`; wasmtime checks that it matches this
        // engine's version and configuration before using it.
        if let Ok(component) = unsafe { Component::deserialize_file(engine, &path) } {
            return Ok(component);
        }
    }
    crate::ui::info(&format!(
        "compiling plugin {name} (first run; cached afterwards)"
    ));
    let compiled = engine.precompile_component(bytes)?;
    if let Err(e) = store(dir, &path, &compiled) {
        crate::ui::warn(&format!(
            "could not cache compiled plugin in {}: {e}",
            dir.display()
        ));
    }
    // SAFETY: `compiled` was produced just now by this engine.
    unsafe { Component::deserialize(engine, &compiled) }
}

fn entry_path(engine: &Engine, dir: &Path, name: &str, sha256: &str) -> PathBuf {
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    dir.join(format!(
        "{name}-{}-{:016x}.cwasm",
        &sha256[..16],
        hasher.finish()
    ))
}

fn store(dir: &Path, path: &Path, compiled: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().unwrap().to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&tmp, compiled)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
