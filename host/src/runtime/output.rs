//! A stage's output lifted out of its sandbox with one `memcpy`.
//!
//! `push`, `drain` and `finish` return `result<list<u8>, plugin-error>`: up to a MiB per
//! call, the bulk of everything a pipeline moves. wasmtime 48 lifts a `list<u8>` into a
//! `Vec<u8>` through `Vec::extend` over a mapped iterator, which compiles to a 16-byte SSE
//! loop; glibc's `memcpy` (`rep movsb` on this kind of machine) is much faster into memory
//! that is not in cache yet, which is what a fresh output buffer is. On a pull of the
//! realistic dump the loop took 10.5% of all CPU (three times what every `memmove` took),
//! on the zstd stage's thread, the critical one; with `memcpy` the lift is gone from the
//! profile.
//!
//! [`Output`] is that `list<u8>` lifted with `<[u8]>::to_vec`. Its bounds and alignment
//! are checked by wasmtime's own [`WasmList`] first, so a plugin's pointer is trusted no
//! more than before. The calls that return it are looked up and typechecked once per
//! instance ([`OutputCalls`]), as bindgen does.
//!
//! This leans on wasmtime's hidden `Lift` and `ComponentType` methods, which are exempt from
//! semver: wasmtime is pinned exactly (`=48.0.8` in host/Cargo.toml), so an update is a
//! deliberate edit; a changed internal API fails to compile here, and every round-trip
//! test goes through these lifts.

use super::bindings::{PluginError, TRANSFORM_EXPORT};
use super::StageState;
use wasmtime::component::__internal::{CanonicalAbiInfo, InstanceType, InterfaceType, LiftContext};
use wasmtime::component::{ComponentType, Func, Instance, Lift, ResourceAny, TypedFunc, WasmList};
use wasmtime::Store;

/// Bytes a plugin returned, copied out of its memory.
pub(crate) struct Output(pub Vec<u8>);

// SAFETY: `Output` is lifted exactly as a `list<u8>` is: the same lowered form, ABI and
// typecheck, all delegated to `WasmList<u8>`.
unsafe impl ComponentType for Output {
    type Lower = <WasmList<u8> as ComponentType>::Lower;

    const ABI: CanonicalAbiInfo = <WasmList<u8> as ComponentType>::ABI;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <WasmList<u8> as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: both lifts validate through `WasmList<u8>` (bounds, alignment, fuel) before
// reading, and read only the range it validated.
unsafe impl Lift for Output {
    fn linear_lift_from_flat(
        cx: &mut LiftContext<'_>,
        ty: InterfaceType,
        src: &Self::Lower,
    ) -> wasmtime::Result<Self> {
        let list = WasmList::<u8>::linear_lift_from_flat(cx, ty, src)?;
        // As wasmtime reads a flat pointer (32-bit memories only).
        let ptr = src[0].get_u32() as usize;
        copy_out(cx, ptr, list.len())
    }

    fn linear_lift_from_memory(
        cx: &mut LiftContext<'_>,
        ty: InterfaceType,
        bytes: &[u8],
    ) -> wasmtime::Result<Self> {
        let list = WasmList::<u8>::linear_lift_from_memory(cx, ty, bytes)?;
        // As wasmtime reads a pointer from memory: little-endian u32, then the length.
        let ptr = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        copy_out(cx, ptr, list.len())
    }
}

/// Copies the validated range `ptr..ptr + len` out of the plugin's memory.
fn copy_out(cx: &mut LiftContext<'_>, ptr: usize, len: usize) -> wasmtime::Result<Output> {
    let bytes = ptr
        .checked_add(len)
        .and_then(|end| cx.memory().get(ptr..end))
        .ok_or_else(|| wasmtime::format_err!("list pointer/length out of bounds of memory"))?;
    Ok(Output(bytes.to_vec()))
}

/// What `push`, `drain` and `finish` return, as the host calls them.
type Returned = (Result<Output, PluginError>,);

/// One of the calls that return output.
pub(crate) enum Call<'a> {
    Push(&'a [u8]),
    Drain,
    Finish,
}

/// The three calls of a stage that return output, looked up in one instance and
/// typechecked once, when it is opened (as bindgen does).
pub(crate) struct OutputCalls {
    /// Checked in `new` as taking `(ResourceAny, &[u8])`; kept untyped because the chunk's
    /// lifetime is each call's own.
    push: Func,
    drain: TypedFunc<(ResourceAny,), Returned>,
    finish: TypedFunc<(ResourceAny,), Returned>,
}

impl OutputCalls {
    /// Looks the calls up in `instance`, a transform plugin, and checks their types.
    pub(crate) fn new(
        store: &mut Store<StageState>,
        instance: &Instance,
    ) -> wasmtime::Result<OutputCalls> {
        let interface = instance
            .get_export_index(&mut *store, None, TRANSFORM_EXPORT)
            .ok_or_else(|| wasmtime::format_err!("no export {TRANSFORM_EXPORT}"))?;
        let mut func = |name: &str| {
            let index = instance
                .get_export_index(&mut *store, Some(&interface), name)
                .ok_or_else(|| wasmtime::format_err!("no export {name}"))?;
            instance
                .get_func(&mut *store, index)
                .ok_or_else(|| wasmtime::format_err!("export {name} is not a function"))
        };
        let (push, drain, finish) = (
            func("[method]stage.push")?,
            func("[method]stage.drain")?,
            func("[method]stage.finish")?,
        );
        push.typed::<(ResourceAny, &[u8]), Returned>(&*store)?;
        Ok(OutputCalls {
            push,
            drain: drain.typed(&*store)?,
            finish: finish.typed(&*store)?,
        })
    }

    /// Makes one of the calls on `stage`.
    pub(crate) fn call(
        &self,
        store: &mut Store<StageState>,
        stage: ResourceAny,
        call: Call<'_>,
    ) -> wasmtime::Result<Result<Output, PluginError>> {
        let (returned,) = match call {
            Call::Push(chunk) => {
                // SAFETY: `new` typechecked `push` against exactly these params and results.
                let typed = unsafe {
                    TypedFunc::<(ResourceAny, &[u8]), Returned>::new_unchecked(self.push)
                };
                typed.call(store, (stage, chunk))?
            }
            Call::Drain => self.drain.call(store, (stage,))?,
            Call::Finish => self.finish.call(store, (stage,))?,
        };
        Ok(returned)
    }
}

#[cfg(test)]
mod tests {
    /// The wasmtime release whose hidden `Lift`/`ComponentType` API this module was
    /// written and reviewed against.
    const CHECKED_AGAINST: &str = "48.0.8";

    /// The version of `package` in the workspace's Cargo.lock.
    fn locked_version(package: &str) -> Option<String> {
        let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock"))
            .expect("Cargo.lock is beside the workspace's Cargo.toml");
        let mut lines = lock.lines();
        while let Some(line) = lines.next() {
            if line == format!("name = \"{package}\"") {
                let version = lines.next()?.strip_prefix("version = \"")?;
                return Some(version.trim_end_matches('"').to_string());
            }
        }
        None
    }

    /// Fails loudly when wasmtime moves: its hidden API may have changed in ways that still
    /// compile (a new invariant of `LiftContext`, say), so a new version needs a review of
    /// this module, not just a green build.
    #[test]
    fn wasmtime_is_the_release_the_lift_was_reviewed_against() {
        let locked = locked_version("wasmtime").expect("wasmtime is in Cargo.lock");
        assert_eq!(
            locked, CHECKED_AGAINST,
            "runtime/output.rs implements wasmtime's hidden Lift and ComponentType, reviewed \
             against wasmtime {CHECKED_AGAINST}, but Cargo.lock has {locked}: review \
             wasmtime's component::func::typed and `__internal` changes, then update \
             CHECKED_AGAINST"
        );
        let manifest = include_str!("../../Cargo.toml");
        for package in ["wasmtime", "wasmtime-wasi", "wasmtime-wasi-http"] {
            let pinned = format!("{package} = {{ version = \"={CHECKED_AGAINST}\"");
            assert!(
                manifest.contains(&pinned),
                "host/Cargo.toml must pin {package} exactly (`={CHECKED_AGAINST}`) while \
                 runtime/output.rs uses wasmtime's internals"
            );
        }
    }
}
