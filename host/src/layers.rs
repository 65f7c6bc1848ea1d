//! The layers of the host and the rule between them, checked: each module may use only
//! the modules listed for it here (ARCHITECTURE.md, "Layers"), so no cycle can creep in
//! between layers. Read from the sources (`crate::NAME` paths), as a newcomer reads them.

/// Each top-level module and the modules it may use, lowest layer first.
const ALLOWED: &[(&str, &[&str])] = &[
    // Leaves: no other module of the crate.
    ("ui", &[]),
    ("paths", &[]),
    ("stdout", &[]),
    ("checksum", &[]),
    ("signals", &[]),
    ("age_keys", &[]),
    ("metrics", &[]),
    ("retention", &[]),
    ("builtin", &[]),
    ("wal_names", &[]),
    // The sandbox: components, limits, grants. Knows nothing of config, catalogue or storage.
    ("runtime", &["ui", "paths"]),
    // Formats: the config file, the manifest.
    ("config", &["paths", "runtime", "builtin"]),
    ("manifest", &["builtin", "checksum", "ui"]),
    // Stages over the runtime: knows components and stages, not plugins' names.
    ("pipeline", &["checksum", "runtime"]),
    // Objects in stores: knows manifests and objects, not where plugins come from.
    ("storage", &["manifest", "runtime", "config", "ui", "paths"]),
    // The catalogue: built-ins and configured plugins, as components for the runtime.
    ("plugin", &["builtin", "config", "runtime"]),
    // Flags and config into stages.
    (
        "plan",
        &["builtin", "config", "manifest", "plugin", "pipeline", "ui"],
    ),
    // A backup's life: push and restore orchestration.
    (
        "backup",
        &[
            "checksum", "manifest", "metrics", "pipeline", "plan", "plugin", "runtime", "signals",
            "storage", "ui",
        ],
    ),
    // PostgreSQL's programs, clusters, base backups and connections: no store, no plugin.
    ("pg", &["ui"]),
    // A restore drill: a restore into a throwaway cluster, its checks and its record.
    (
        "drill",
        &[
            "backup",
            "manifest",
            "metrics",
            "pg",
            "storage",
            "ui",
            "wal_names",
        ],
    ),
    ("cli", &["ui", "builtin"]),
    // Thin: parse, call, print.
    (
        "commands",
        &[
            "age_keys",
            "backup",
            "builtin",
            "checksum",
            "cli",
            "config",
            "drill",
            "manifest",
            "metrics",
            "paths",
            "pg",
            "plan",
            "plugin",
            "retention",
            "runtime",
            "signals",
            "stdout",
            "storage",
            "ui",
            "wal_names",
        ],
    ),
];

#[cfg(test)]
mod tests {
    use super::ALLOWED;
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// Every `crate::NAME` a module's files name (`crate::outln!` is `stdout`'s macro).
    fn uses(module: &str) -> BTreeSet<String> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        let single = src.join(format!("{module}.rs"));
        if single.exists() {
            files.push(single);
        }
        let dir = src.join(module);
        if dir.is_dir() {
            let mut stack = vec![dir];
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(dir).unwrap() {
                    let path = entry.unwrap().path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if path.extension().is_some_and(|e| e == "rs") {
                        files.push(path);
                    }
                }
            }
        }
        assert!(!files.is_empty(), "no source for module {module}");
        let mut used = BTreeSet::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (at, _) in text.match_indices("crate::") {
                let name: String = text[at + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let name = match name.as_str() {
                    "outln" => "stdout".to_string(),
                    _ => name,
                };
                if name != module && !name.is_empty() {
                    used.insert(name);
                }
            }
        }
        used
    }

    #[test]
    fn every_module_uses_only_the_layers_below_it() {
        let mut broken = Vec::new();
        for (module, allowed) in ALLOWED {
            for used in uses(module) {
                if !allowed.contains(&used.as_str()) {
                    broken.push(format!("{module} uses {used}"));
                }
            }
        }
        assert!(
            broken.is_empty(),
            "layer rules broken (host/src/layers.rs, ARCHITECTURE.md \"Layers\"): {}",
            broken.join("; ")
        );
    }

    #[test]
    fn the_rules_have_no_cycle_and_cover_every_module() {
        let rules: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
        // Lowest layer first: each module may use only modules listed before it.
        let mut seen = BTreeSet::new();
        for (module, allowed) in ALLOWED {
            for used in *allowed {
                assert!(
                    seen.contains(used),
                    "{module} may use {used}, listed after it"
                );
            }
            seen.insert(*module);
        }
        let lib = include_str!("lib.rs");
        for line in lib.lines() {
            if let Some(name) = line
                .strip_prefix("pub mod ")
                .and_then(|l| l.strip_suffix(';'))
            {
                assert!(
                    rules.contains_key(name),
                    "module {name} has no rule in layers.rs"
                );
            }
        }
    }
}
