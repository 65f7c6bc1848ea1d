//! Builds the built-in plugins in `../plugins` for `wasm32-wasip2` and generates
//! `builtin_plugins.rs` in `OUT_DIR`, which embeds each component with its version, the
//! stream formats it writes and reads (`[package.metadata.twgate]` in its Cargo.toml) and
//! its sha256.
//!
//! **Invariant:** no `.wasm` file is ever read from the source tree; every component the
//! binary embeds was compiled from `plugins/` by this script.
//!
//! The plugins build in `target/plugins` (release profile, kept between runs) so a warm
//! build costs nothing. This crate has no dependencies, so cargo runs this script at the
//! start of a build, beside the host's dependencies. `TWGATE_BUILD_PLUGINS=zstd,age` limits which plugins are built
//! (for working on one plugin while another is broken); the default is all of them.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The built-in plugins: directory under `plugins/` and the crate's library name.
const PLUGINS: &[(&str, &str)] = &[
    ("zstd", "twgate_plugin_zstd"),
    ("age", "twgate_plugin_age"),
    ("openpgp", "twgate_plugin_openpgp"),
    ("check", "twgate_plugin_check"),
];
const TARGET: &str = "wasm32-wasip2";

fn main() {
    // This crate is `host/builtins`: the checkout is two levels up.
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.ancestors().nth(2).unwrap().to_path_buf();
    let plugins_dir = root.join("plugins");
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());

    println!("cargo:rerun-if-env-changed=TWGATE_BUILD_PLUGINS");
    // The C toolchain for the guests changes the embedded bytes: rebuild when it changes.
    for key in [
        "CC_wasm32_wasip2",
        "AR_wasm32_wasip2",
        "CFLAGS_wasm32_wasip2",
    ] {
        println!("cargo:rerun-if-env-changed={key}");
    }
    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    println!(
        "cargo:rerun-if-changed={}",
        plugins_dir.join("Cargo.toml").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        plugins_dir.join("Cargo.lock").display()
    );
    let selected: Vec<&(&str, &str)> = match env::var("TWGATE_BUILD_PLUGINS") {
        Ok(list) => PLUGINS
            .iter()
            .filter(|(dir, _)| list.split(',').any(|p| p.trim() == *dir))
            .collect(),
        Err(_) => PLUGINS.iter().collect(),
    };
    for (dir, _) in &selected {
        println!("cargo:rerun-if-changed={}", plugins_dir.join(dir).display());
    }
    // Every built-in plugin is built on the SDK.
    println!(
        "cargo:rerun-if-changed={}",
        plugins_dir.join("sdk").display()
    );
    // The zstd plugin's C (patched zstd-sys, see plugins/vendor/README.md).
    println!(
        "cargo:rerun-if-changed={}",
        plugins_dir.join("vendor").display()
    );

    check_target_installed();
    let target_dir = root.join("target").join("plugins");
    let mut cargo = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(&plugins_dir)
        .args(["build", "--release", "--target", TARGET, "--target-dir"])
        .arg(&target_dir);
    for (dir, _) in &selected {
        cargo.args(["-p", &format!("twgate-plugin-{dir}")]);
    }
    // The outer build's flags are for the host target, not for wasm; and `cargo clippy`'s
    // wrapper would lint the plugins again, through clippy-driver, on every host lint.
    for key in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cargo.env_remove(key);
    }
    // Panic locations carry source paths: remapped, the embedded components do not name
    // the build machine's directories, and two checkouts of one commit build the same
    // bytes (a reproducible build, which an auditor can check against a manifest's
    // sha256). Restores do not depend on it: a pull matches built-ins by stream format.
    cargo.env("CARGO_ENCODED_RUSTFLAGS", remap_flags(&root));
    // zstd-sys compiles C: it needs a wasm-aware clang and WASI's libc headers.
    set_default_env(&mut cargo, "CC_wasm32_wasip2", "clang");
    set_default_env(&mut cargo, "AR_wasm32_wasip2", &find_llvm_ar());
    set_default_env(&mut cargo, "CFLAGS_wasm32_wasip2", "--target=wasm32-wasi");
    let status = cargo
        .status()
        .expect("could not run cargo to build the plugins");
    if !status.success() {
        panic!(
            "building the plugins in {} for {TARGET} failed (see above). \
             They need `rustup target add {TARGET}` and Debian's clang, lld and wasi-libc; \
             `./run test` installs all of them.",
            plugins_dir.display()
        );
    }

    let mut generated = String::from(
        "/// The built-in plugins, compiled from `plugins/` by `build.rs`.\n\
         pub static BUILTIN: [Builtin; COUNT] = [\n",
    );
    for (dir, lib) in &selected {
        let built = target_dir
            .join(TARGET)
            .join("release")
            .join(format!("{lib}.wasm"));
        let bytes = std::fs::read(&built)
            .unwrap_or_else(|e| panic!("plugin {dir} was not built at {}: {e}", built.display()));
        let embedded = out_dir.join(format!("{dir}.wasm"));
        std::fs::write(&embedded, &bytes).unwrap();
        let package = PackageFacts::read(&plugins_dir.join(dir).join("Cargo.toml"));
        writeln!(
            generated,
            "    Builtin {{ name: {dir:?}, version: {:?}, writes: {:?}, reads: &{:?}, \
             bytes: include_bytes!({:?}), sha256: OnceLock::new() }},",
            package.version,
            package.writes,
            package.reads,
            embedded.display()
        )
        .unwrap();
    }
    generated.push_str("];\n");
    generated.push_str(&format!(
        "/// How many plugins are built in.\npub const COUNT: usize = {};\n",
        selected.len()
    ));
    std::fs::write(out_dir.join("builtin_plugins.rs"), generated).unwrap();
}

/// What a built-in plugin's Cargo.toml says of it: its version and, under
/// `[package.metadata.twgate]`, the stream format it writes and every format it reads; or
/// `role = "check"` for the check, which writes and reads no stream.
struct PackageFacts {
    version: String,
    writes: Option<String>,
    reads: Vec<String>,
}

impl PackageFacts {
    fn read(path: &Path) -> PackageFacts {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let toml = SimpleToml::parse(&text);
        let string = |section: &str, key: &str| {
            toml.string(section, key).unwrap_or_else(|| {
                panic!("{} needs {key} = \"...\" under [{section}]", path.display())
            })
        };
        let version = string("package", "version");
        const META: &str = "package.metadata.twgate";
        if !toml.has_section(META) {
            panic!(
                "{} has no [{META}]: a built-in plugin names the stream format it writes and \
                 those it reads",
                path.display()
            );
        }
        if toml.string(META, "role").as_deref() == Some("check") {
            return PackageFacts {
                version,
                writes: None,
                reads: Vec::new(),
            };
        }
        let writes = string(META, "writes");
        let reads = toml
            .strings(META, "reads")
            .unwrap_or_else(|| panic!("{}: reads = [\"...\"] must list formats", path.display()));
        if !reads.contains(&writes) {
            panic!(
                "{}: reads must list the format the plugin writes ({writes})",
                path.display()
            );
        }
        PackageFacts {
            version,
            writes: Some(writes),
            reads,
        }
    }
}

/// The few shapes of TOML a plugin's Cargo.toml uses for what this script reads:
/// `[section]` headers, and `key = "string"` or `key = ["string", ...]` on one line. Read
/// by hand so that this crate has no build-dependencies (see Cargo.toml).
struct SimpleToml {
    /// (section, key, raw value), in order.
    entries: Vec<(String, String, String)>,
    sections: Vec<String>,
}

impl SimpleToml {
    fn parse(text: &str) -> SimpleToml {
        let (mut entries, mut sections, mut section) = (Vec::new(), Vec::new(), String::new());
        for line in text.lines().map(str::trim) {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.trim().to_string();
                sections.push(section.clone());
            } else if let Some((key, value)) = line.split_once('=') {
                entries.push((
                    section.clone(),
                    key.trim().to_string(),
                    value.trim().to_string(),
                ));
            }
        }
        SimpleToml { entries, sections }
    }

    fn has_section(&self, section: &str) -> bool {
        self.sections.iter().any(|s| s == section)
    }

    fn raw(&self, section: &str, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(s, k, _)| s == section && k == key)
            .map(|(_, _, v)| v.as_str())
    }

    /// `key = "value"` (no escapes: names and versions have none).
    fn string(&self, section: &str, key: &str) -> Option<String> {
        unquote(self.raw(section, key)?)
    }

    /// `key = ["a", "b"]` on one line.
    fn strings(&self, section: &str, key: &str) -> Option<Vec<String>> {
        let list = self
            .raw(section, key)?
            .strip_prefix('[')?
            .strip_suffix(']')?;
        list.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(unquote)
            .collect()
    }
}

fn unquote(value: &str) -> Option<String> {
    let inner = value.strip_prefix('"')?.split_once('"')?.0;
    (!inner.contains('\\')).then(|| inner.to_string())
}

/// `--remap-path-prefix` for the checkout and cargo's home, as `CARGO_ENCODED_RUSTFLAGS`
/// (flags separated by 0x1f).
fn remap_flags(root: &Path) -> String {
    let mut flags = vec![format!("--remap-path-prefix={}=/twgate", root.display())];
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    if let Some(home) = cargo_home {
        flags.push(format!("--remap-path-prefix={}=/cargo", home.display()));
    }
    flags.join("\x1f")
}

fn set_default_env(cmd: &mut Command, key: &str, value: &str) {
    if env::var_os(key).is_none() {
        cmd.env(key, value);
    }
}

fn find_llvm_ar() -> String {
    for candidate in ["llvm-ar", "llvm-ar-16", "llvm-ar-15", "llvm-ar-14"] {
        if Command::new(candidate)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return candidate.to_string();
        }
    }
    "llvm-ar".to_string()
}

fn check_target_installed() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(rustc).args(["--print", "sysroot"]).output();
    if let Ok(out) = sysroot {
        let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let lib = Path::new(&sysroot).join("lib/rustlib").join(TARGET);
        if !lib.exists() {
            panic!("the Rust target {TARGET} is not installed: run `rustup target add {TARGET}` (or `./run test`, which installs it)");
        }
    }
}
