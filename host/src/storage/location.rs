//! Store URLs: which backend a `--store` names, and where in it backups live.
//!
//! - a path, or `fs:///absolute/path`: a local directory;
//! - `s3://BUCKET[/PREFIX]`, `gs://BUCKET[/PREFIX]`, `azblob://CONTAINER[/PREFIX]`;
//! - `plugin://NAME[/PREFIX]`: the destination plugin configured as `[plugins.NAME]`.
//!
//! A URL never carries credentials (those come from the environment or the config file),
//! so a `Location` is always safe to print.

use std::fmt;
use std::path::PathBuf;

/// Where a store is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Fs { root: PathBuf },
    S3 { bucket: String, prefix: String },
    Gcs { bucket: String, prefix: String },
    Azblob { container: String, prefix: String },
    Plugin { name: String, prefix: String },
}

#[derive(Debug, thiserror::Error)]
#[error("store URL '{url}' is not valid: {reason}")]
pub struct BadUrl {
    pub url: String,
    pub reason: String,
}

/// The schemes of store URLs, to catch one written with a slash missing.
const URL_SCHEMES: &[&str] = &["fs", "file", "s3", "gs", "gcs", "azblob", "az", "plugin"];

/// Whether `text` (what comes before a `:`) reads as a URL scheme: a letter, then letters,
/// digits, `+`, `-` or `.` (RFC 3986), so `s3:` or `minio:` but not `./backups:` or `/srv/a:`.
fn looks_like_scheme(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

impl Location {
    pub fn parse(url: &str) -> Result<Location, BadUrl> {
        let bad = |reason: &str| BadUrl {
            url: crate::ui::untrusted(url),
            reason: reason.into(),
        };
        let Some((scheme, rest)) = url.split_once("://") else {
            if url.is_empty() {
                return Err(bad("it is empty"));
            }
            // `s3:/bucket` or `s3:bucket` is a URL with a slash missing, not a directory
            // named `s3:` (write `./s3:/bucket` for that).
            // Any other `word:` is a scheme we do not know, not a directory either.
            if let Some((scheme, _)) = url.split_once(':').filter(|(s, _)| looks_like_scheme(s)) {
                let local = crate::ui::untrusted(url);
                return Err(bad(&match URL_SCHEMES.contains(&scheme) {
                    true => format!(
                        "it looks like a {scheme}:// URL with a slash missing: write \
                         {scheme}://BUCKET/PREFIX (or ./{local} for a local directory)"
                    ),
                    false => format!(
                        "'{}:' is not a store scheme: use s3://, gs://, azblob://, plugin:// \
                         or fs:// (or ./{local} for a local directory)",
                        crate::ui::untrusted(scheme)
                    ),
                }));
            }
            return Ok(Location::Fs { root: url.into() });
        };
        if scheme == "fs" || scheme == "file" {
            if !rest.starts_with('/') {
                return Err(bad(
                    "an fs:// URL needs an absolute path, as in fs:///var/backups",
                ));
            }
            return Ok(Location::Fs { root: rest.into() });
        }
        if rest.contains(['?', '#']) || rest.contains('@') {
            return Err(bad(
                "put credentials and options in the environment or the config file, not in the URL",
            ));
        }
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/').to_string();
        if bucket.is_empty() {
            return Err(bad("the bucket (or container) name is missing"));
        }
        if prefix.split('/').any(|part| part == "." || part == "..") {
            return Err(bad("the prefix may not contain '.' or '..' components"));
        }
        let bucket = bucket.to_string();
        match scheme {
            "s3" => Ok(Location::S3 { bucket, prefix }),
            "gs" | "gcs" => Ok(Location::Gcs { bucket, prefix }),
            "azblob" | "az" => Ok(Location::Azblob {
                container: bucket,
                prefix,
            }),
            "plugin" => Ok(Location::Plugin {
                name: bucket,
                prefix,
            }),
            _ => Err(bad(
                "use a directory path, fs:///path, s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, azblob://CONTAINER/PREFIX or plugin://NAME/PREFIX",
            )),
        }
    }

    /// The prefix as an OpenDAL root: `/` or `/a/b/`.
    pub fn root(&self) -> String {
        match self {
            Location::Fs { root } => root.to_string_lossy().into_owned(),
            Location::S3 { prefix, .. }
            | Location::Gcs { prefix, .. }
            | Location::Azblob { prefix, .. }
            | Location::Plugin { prefix, .. } => {
                if prefix.is_empty() {
                    "/".into()
                } else {
                    format!("/{prefix}/")
                }
            }
        }
    }

    pub fn is_local(&self) -> bool {
        matches!(self, Location::Fs { .. })
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (scheme, bucket, prefix) = match self {
            Location::Fs { root } => return write!(f, "{}", root.display()),
            Location::S3 { bucket, prefix } => ("s3", bucket, prefix),
            Location::Gcs { bucket, prefix } => ("gs", bucket, prefix),
            Location::Azblob { container, prefix } => ("azblob", container, prefix),
            Location::Plugin { name, prefix } => ("plugin", name, prefix),
        };
        if prefix.is_empty() {
            write!(f, "{scheme}://{bucket}")
        } else {
            write!(f, "{scheme}://{bucket}/{prefix}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_scheme() {
        let s3 = Location::parse("s3://bkt/team/db/").unwrap();
        assert_eq!(
            s3,
            Location::S3 {
                bucket: "bkt".into(),
                prefix: "team/db".into()
            }
        );
        assert_eq!(s3.root(), "/team/db/");
        assert_eq!(s3.to_string(), "s3://bkt/team/db");
        let gs = Location::parse("gs://bkt").unwrap();
        assert_eq!(gs.root(), "/");
        assert_eq!(gs.to_string(), "gs://bkt");
        assert!(matches!(
            Location::parse("azblob://c/p").unwrap(),
            Location::Azblob { .. }
        ));
        assert_eq!(
            Location::parse("fs:///var/b").unwrap(),
            Location::Fs {
                root: "/var/b".into()
            }
        );
        assert!(Location::parse("./store").unwrap().is_local());
        let plugin = Location::parse("plugin://webdav/team").unwrap();
        assert_eq!(
            plugin,
            Location::Plugin {
                name: "webdav".into(),
                prefix: "team".into()
            }
        );
        assert_eq!(plugin.to_string(), "plugin://webdav/team");
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        for url in [
            "",
            "fs://relative",
            "s3://",
            "s3:///prefix",
            "s3://key:secret@bkt/p",
            "s3://bkt/p?region=x",
            "s3://bkt/../up",
            "ftp://host/p",
            "s3:/bucket/x",
            "gs:bucket",
            "azblob:/c/p",
        ] {
            assert!(Location::parse(url).is_err(), "{url} should be refused");
        }
        let err = Location::parse("s3:/bucket/x").unwrap_err().to_string();
        assert!(err.contains("s3://BUCKET/PREFIX"), "{err}");
        // Any `word:` reads as a URL, known or not; a path says it is one.
        let err = Location::parse("minio:bucket/x").unwrap_err().to_string();
        assert!(err.contains("'minio:' is not a store scheme"), "{err}");
        assert!(err.contains("./minio:bucket/x"), "{err}");
        assert!(Location::parse("backups:2026").is_err());
        for path in ["./backups:2026", "/srv/db:1", "backups/a:b", "2026:backups"] {
            assert!(
                matches!(Location::parse(path), Ok(Location::Fs { .. })),
                "{path} is a directory"
            );
        }
    }
}
