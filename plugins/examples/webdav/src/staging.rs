//! Staging objects: where an upload writes before `commit` moves it into place. A staging
//! object sits next to its final path, so the MOVE stays within one collection, and its name
//! says what it is, so `list-objects` can skip it.

/// The staging name for an object named `name`: `.<name>.partial-<16 hex digits>`.
pub fn staging_name(name: &str, random: u64) -> String {
    format!(".{name}.partial-{random:016x}")
}

/// Whether the file name `name` is a staging object's (hidden, with `.partial-`).
pub fn is_staging(name: &str) -> bool {
    name.starts_with('.') && name.contains(".partial-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names_are_recognised() {
        let name = staging_name("20261125T010203.000Z-a1b2c3.data", 0xabc);
        assert_eq!(
            name,
            ".20261125T010203.000Z-a1b2c3.data.partial-0000000000000abc"
        );
        assert!(is_staging(&name));
        assert!(is_staging(&staging_name("x", u64::MAX)));
        for committed in ["x.data", "x.partial-1", ".hidden", "manifest.json"] {
            assert!(!is_staging(committed), "{committed}");
        }
    }
}
