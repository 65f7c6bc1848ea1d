//! `list-objects` as a walk: PROPFIND with `Depth: 1` from the deepest collection the prefix
//! names, down into every collection that can hold a match (servers such as rclone's refuse
//! `Depth: infinity`), keeping files whose path starts with the prefix and are not staging
//! objects.

use std::collections::HashSet;

use twgate_plugin_sdk::{Error, ObjectEntry};

use crate::staging::is_staging;

/// How deep the walk goes below the base before it suspects a loop (a symlinked directory
/// served as a collection).
pub const MAX_DEPTH: usize = 64;

/// One member of a collection, as a PROPFIND reports it, with its path relative to the base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Relative and percent-decoded, without a trailing `/`; `""` for the base.
    pub path: String,
    pub collection: bool,
    pub size: Option<u64>,
    pub modified: Option<u64>,
}

/// The collection to start from for `prefix`: everything up to its last `/` (`db/` for
/// `db/2026`, `""` for `db`).
fn start_dir(prefix: &str) -> &str {
    prefix.rfind('/').map_or("", |i| &prefix[..=i])
}

/// Every object under `prefix`. `members(dir)` lists the collection `dir` (relative, `""` or
/// ending in `/`) with `Depth: 1`, itself included or not, or returns `None` if it does not
/// exist.
pub fn list_objects(
    prefix: &str,
    mut members: impl FnMut(&str) -> Result<Option<Vec<Member>>, Error>,
) -> Result<Vec<ObjectEntry>, Error> {
    let mut objects = Vec::new();
    let mut pending = vec![start_dir(prefix).to_owned()];
    let mut seen: HashSet<String> = pending.iter().cloned().collect();
    while let Some(dir) = pending.pop() {
        if dir.matches('/').count() > MAX_DEPTH {
            return Err(Error::Internal(format!(
                "the WebDAV tree is more than {MAX_DEPTH} collections deep at '{dir}' (a loop?)"
            )));
        }
        let Some(listed) = members(&dir)? else {
            continue;
        };
        for member in listed {
            // Only members strictly inside `dir`: not the collection itself, nothing a
            // confused server reports from elsewhere.
            let Some(name) = member.path.strip_prefix(dir.as_str()) else {
                continue;
            };
            if name.is_empty() || name.contains('/') {
                continue;
            }
            if member.collection {
                let sub = format!("{}/", member.path);
                let may_match = sub.starts_with(prefix) || prefix.starts_with(&sub);
                if may_match && seen.insert(sub.clone()) {
                    pending.push(sub);
                }
            } else if member.path.starts_with(prefix) && !is_staging(name) {
                objects.push(ObjectEntry {
                    path: member.path,
                    size: member.size.unwrap_or(0),
                    modified: member.modified,
                });
            }
        }
    }
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A fake server: object paths (a trailing `/` marks an empty collection).
    fn tree(paths: &[&str]) -> BTreeMap<String, bool> {
        let mut nodes = BTreeMap::new();
        for path in paths {
            let mut so_far = String::new();
            let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
            for (i, segment) in segments.iter().enumerate() {
                if !so_far.is_empty() {
                    so_far.push('/');
                }
                so_far.push_str(segment);
                let collection = i + 1 < segments.len() || path.ends_with('/');
                nodes.insert(so_far.clone(), collection);
            }
        }
        nodes
    }

    /// Lists `prefix` against `nodes`, recording which collections were asked for.
    fn list(nodes: &BTreeMap<String, bool>, prefix: &str) -> (Vec<String>, Vec<String>) {
        let mut asked = Vec::new();
        let objects = list_objects(prefix, |dir| {
            asked.push(dir.to_owned());
            let own = dir.trim_end_matches('/');
            if !own.is_empty() && nodes.get(own) != Some(&true) {
                return Ok(None);
            }
            // Depth: 1 reports the collection itself first, as real servers do.
            let mut members = vec![Member {
                path: own.to_owned(),
                collection: true,
                size: None,
                modified: None,
            }];
            for (path, collection) in nodes {
                if path
                    .strip_prefix(dir)
                    .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
                {
                    members.push(Member {
                        path: path.clone(),
                        collection: *collection,
                        size: Some(1),
                        modified: Some(7),
                    });
                }
            }
            Ok(Some(members))
        })
        .unwrap();
        let mut paths: Vec<String> = objects.into_iter().map(|o| o.path).collect();
        paths.sort();
        (paths, asked)
    }

    #[test]
    fn walks_only_what_can_match() {
        let nodes = tree(&[
            "db/2026/a.data",
            "db/2026/.a.data.partial-00000000000000ff",
            "db/2025/b.data",
            "db/20261/c.data",
            "db/top.data",
            "other/d.data",
            "empty/",
            "root.json",
        ]);
        let (all, _) = list(&nodes, "");
        assert_eq!(
            all,
            [
                "db/2025/b.data",
                "db/2026/a.data",
                "db/20261/c.data",
                "db/top.data",
                "other/d.data",
                "root.json"
            ]
        );

        let (paths, asked) = list(&nodes, "db/2026");
        assert_eq!(paths, ["db/2026/a.data", "db/20261/c.data"]);
        assert!(!asked.contains(&"db/2025/".to_owned()), "{asked:?}");
        assert_eq!(asked[0], "db/");

        let (paths, _) = list(&nodes, "db/2026/");
        assert_eq!(paths, ["db/2026/a.data"]);
        let (paths, _) = list(&nodes, "db/t");
        assert_eq!(paths, ["db/top.data"]);
        let (paths, _) = list(&nodes, "r");
        assert_eq!(paths, ["root.json"]);
    }

    #[test]
    fn a_missing_collection_lists_nothing() {
        let nodes = tree(&["db/a.data"]);
        assert_eq!(list(&nodes, "nope/").0, Vec::<String>::new());
        assert_eq!(list(&nodes, "nope/deeper/x").0, Vec::<String>::new());
        assert_eq!(list(&BTreeMap::new(), "").0, Vec::<String>::new());
    }

    #[test]
    fn reports_size_and_time() {
        let objects = list_objects("", |_| {
            Ok(Some(vec![Member {
                path: "x".into(),
                collection: false,
                size: Some(42),
                modified: Some(1_795_603_941),
            }]))
        })
        .unwrap();
        assert_eq!(
            objects,
            [ObjectEntry {
                path: "x".into(),
                size: 42,
                modified: Some(1_795_603_941)
            }]
        );
    }

    #[test]
    fn stops_at_a_loop() {
        // Every collection claims to hold a deeper one.
        let err = list_objects("", |dir| {
            Ok(Some(vec![Member {
                path: format!("{dir}loop"),
                collection: true,
                size: None,
                modified: None,
            }]))
        })
        .unwrap_err();
        assert!(err.message().contains("deep"), "{err}");
    }
}
