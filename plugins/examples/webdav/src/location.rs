//! Where things are on the server: the base URL from the parameter `url`, object paths
//! checked and turned into percent-encoded request paths, and the hrefs of a PROPFIND answer
//! turned back into object paths.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use twgate_plugin_sdk::Error;

/// What is left as is in a path segment: RFC 3986's unreserved characters. Everything else,
/// `/` included, is percent-encoded, which every server decodes.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// The WebDAV collection under which every object lives, e.g.
/// `http://127.0.0.1:8080/backups/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    scheme: Scheme,
    /// `host` or `host:port`, exactly as given: it is also the `Host` header, which a MOVE's
    /// `Destination` must match.
    authority: String,
    /// The base path's segments, percent-decoded.
    segments: Vec<String>,
}

fn bad_url(why: &str) -> Error {
    Error::BadConfig(format!("parameter 'url' {why}"))
}

/// Whether `authority` is `host`, `host:port` or `[v6]:port`, with a port in range.
fn valid_authority(authority: &str) -> bool {
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (authority, None),
    };
    let host_ok = if let Some(v6) = host.strip_prefix('[') {
        v6.strip_suffix(']').is_some_and(|v6| {
            !v6.is_empty()
                && v6
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        })
    } else {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    host_ok && port_ok
}

/// Percent-decodes one path segment; `None` unless it decodes to UTF-8.
fn decode_segment(segment: &str) -> Option<String> {
    percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

fn encode_segment(segment: &str) -> String {
    utf8_percent_encode(segment, SEGMENT).to_string()
}

impl BaseUrl {
    /// Parses `url`: `http` or `https`, a host and optional port, an optional path; no
    /// credentials, query or fragment. Messages never repeat the URL, which might hold a
    /// password.
    pub fn parse(url: &str) -> Result<BaseUrl, Error> {
        let (scheme, rest) = match url.split_once("://") {
            Some((s, rest)) if s.eq_ignore_ascii_case("http") => (Scheme::Http, rest),
            Some((s, rest)) if s.eq_ignore_ascii_case("https") => (Scheme::Https, rest),
            _ => return Err(bad_url("must start with http:// or https://")),
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.contains('@') {
            return Err(bad_url(
                "must not contain credentials: use the parameter 'user' and the secret 'password'",
            ));
        }
        if path.contains(['?', '#']) || authority.contains(['?', '#']) {
            return Err(bad_url("must not have a query or a fragment"));
        }
        if !valid_authority(authority) {
            return Err(bad_url(
                "needs a host name and an optional port, e.g. http://127.0.0.1:8080/backups",
            ));
        }
        let mut segments = Vec::new();
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            match decode_segment(segment) {
                Some(s) if s != "." && s != ".." => segments.push(s),
                _ => return Err(bad_url("has a path segment that is '.', '..' or not UTF-8")),
            }
        }
        Ok(BaseUrl {
            scheme,
            authority: authority.to_owned(),
            segments,
        })
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The request path of the collection `dir` (object-path segments under the base),
    /// percent-encoded, with a trailing `/`. `&[]` is the base itself.
    pub fn collection_path(&self, dir: &[&str]) -> String {
        let mut path = String::from("/");
        for segment in self
            .segments
            .iter()
            .map(String::as_str)
            .chain(dir.iter().copied())
        {
            path.push_str(&encode_segment(segment));
            path.push('/');
        }
        path
    }

    /// The request path of the object whose path has `segments`, percent-encoded.
    pub fn object_path(&self, segments: &[&str]) -> String {
        let (name, dir) = segments.split_last().expect("an object path has a segment");
        let mut path = self.collection_path(dir);
        path.push_str(&encode_segment(name));
        path
    }

    /// `scheme://authority` followed by the request path `path`: for a MOVE's `Destination`
    /// header, and for messages.
    pub fn absolute(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme.as_str(), self.authority)
    }

    /// The object path, relative to the base and percent-decoded, that a PROPFIND `href`
    /// names (an absolute path, or a full URL): `Some("")` for the base itself, `None` for
    /// anything outside it or not decodable. A collection's trailing `/` is dropped.
    pub fn relative_path(&self, href: &str) -> Option<String> {
        let path = match href.split_once("://") {
            Some((_, rest)) => &rest[rest.find('/').unwrap_or(rest.len())..],
            None => href,
        };
        if !path.starts_with('/') {
            return None;
        }
        let mut decoded = Vec::new();
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            decoded.push(decode_segment(segment)?);
        }
        let rest = decoded.strip_prefix(self.segments.as_slice())?;
        Some(rest.join("/"))
    }
}

impl std::fmt::Display for BaseUrl {
    /// The base as a URL, e.g. `http://127.0.0.1:8080/backups/`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.absolute(&self.collection_path(&[])))
    }
}

/// The segments of an object path as the host passes it (`db/2026/x.data`): relative,
/// `/`-separated, none of them empty, `.` or `..`.
pub fn object_segments(path: &str) -> Result<Vec<&str>, Error> {
    let segments: Vec<&str> = path.split('/').collect();
    if path.is_empty()
        || segments
            .iter()
            .any(|s| s.is_empty() || *s == "." || *s == "..")
    {
        return Err(Error::Internal(format!(
            "'{path}' is not an object path (relative, '/'-separated, no empty, '.' or '..' segment)"
        )));
    }
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(url: &str) -> BaseUrl {
        BaseUrl::parse(url).unwrap()
    }

    fn bad_config(url: &str) -> String {
        match BaseUrl::parse(url) {
            Err(Error::BadConfig(m)) => m,
            other => panic!("{url}: expected BadConfig, got {other:?}"),
        }
    }

    #[test]
    fn parses_scheme_authority_and_path() {
        let b = base("http://127.0.0.1:8080/backups");
        assert_eq!(b.scheme(), Scheme::Http);
        assert_eq!(b.authority(), "127.0.0.1:8080");
        assert_eq!(b.to_string(), "http://127.0.0.1:8080/backups/");
        assert_eq!(
            base("HTTPS://dav.example.com").to_string(),
            "https://dav.example.com/"
        );
        assert_eq!(base("http://[::1]:80/a//b/").collection_path(&[]), "/a/b/");
        assert_eq!(
            base("http://h/my%20backups").collection_path(&[]),
            "/my%20backups/"
        );
    }

    #[test]
    fn refuses_bad_urls_without_repeating_them() {
        assert!(bad_config("ftp://h/x").contains("http://"));
        assert!(bad_config("127.0.0.1:8080").contains("http://"));
        let m = bad_config("http://alice:hunter2@h/x");
        assert!(m.contains("'password'") && !m.contains("hunter2"), "{m}");
        assert!(bad_config("http://h/x?y=1").contains("query"));
        assert!(bad_config("http://h/x#top").contains("fragment"));
        assert!(bad_config("http:///x").contains("host"));
        assert!(bad_config("http://h:99999/").contains("port"));
        assert!(bad_config("http://h:/").contains("port"));
        assert!(bad_config("http://h/a/../b").contains(".."));
    }

    #[test]
    fn encodes_each_segment() {
        let b = base("http://h:1/backups");
        assert_eq!(b.collection_path(&["db"]), "/backups/db/");
        assert_eq!(
            b.object_path(&["db", "20261125T010203.000Z-a1b2c3.data"]),
            "/backups/db/20261125T010203.000Z-a1b2c3.data"
        );
        assert_eq!(
            b.object_path(&["we ird", "a&b%c?#ü"]),
            "/backups/we%20ird/a%26b%25c%3F%23%C3%BC"
        );
        assert_eq!(b.absolute("/backups/x"), "http://h:1/backups/x");
    }

    #[test]
    fn turns_hrefs_back_into_object_paths() {
        let b = base("http://h:1/backups");
        assert_eq!(b.relative_path("/backups/").as_deref(), Some(""));
        assert_eq!(b.relative_path("/backups").as_deref(), Some(""));
        assert_eq!(b.relative_path("/backups/db/").as_deref(), Some("db"));
        assert_eq!(
            b.relative_path("/backups/db/we%20ird&name%25.txt")
                .as_deref(),
            Some("db/we ird&name%.txt")
        );
        assert_eq!(
            b.relative_path("http://h:1/backups/db/a").as_deref(),
            Some("db/a")
        );
        assert_eq!(b.relative_path("/other/db/a"), None);
        assert_eq!(b.relative_path("/backupsx/a"), None);
        assert_eq!(b.relative_path("db/a"), None);
        assert_eq!(b.relative_path("/backups/%FF"), None);
        assert_eq!(
            base("http://h/").relative_path("/a/b").as_deref(),
            Some("a/b")
        );
    }

    #[test]
    fn object_paths_must_be_relative() {
        assert_eq!(object_segments("db/x.data").unwrap(), ["db", "x.data"]);
        for bad in ["", "/db/x", "db/", "db//x", "../x", "db/./x"] {
            assert!(
                matches!(object_segments(bad), Err(Error::Internal(_))),
                "{bad}"
            );
        }
    }
}
