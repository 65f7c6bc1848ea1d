//! PROPFIND: the request body asking for the three properties the plugin uses, and the
//! parser of the `207 Multi-Status` answer into one [`Resource`] per `response`.
//!
//! Elements are matched by local name in the `DAV:` namespace whatever its prefix (`D:`,
//! `d:`, a default namespace), or in no namespace at all for lenient servers; elements of
//! any other namespace are ignored. Only properties in a `propstat` whose status is 2xx count
//! (servers report properties a resource lacks in a separate `404` propstat).

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::NsReader;

/// The body of every PROPFIND: the resource type, the size and the modification time.
pub const REQUEST_BODY: &str = concat!(
    r#"<?xml version="1.0" encoding="utf-8"?>"#,
    r#"<D:propfind xmlns:D="DAV:"><D:prop>"#,
    r#"<D:resourcetype/><D:getcontentlength/><D:getlastmodified/>"#,
    r#"</D:prop></D:propfind>"#
);

/// One `response` of a multistatus answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// The `href`, as sent: percent-encoded, an absolute path or a full URL.
    pub href: String,
    /// Whether `resourcetype` holds `collection`.
    pub collection: bool,
    /// `getcontentlength`.
    pub size: Option<u64>,
    /// `getlastmodified`, in seconds since the Unix epoch.
    pub modified: Option<u64>,
}

/// The elements the parser cares about; everything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Response,
    Href,
    Propstat,
    Prop,
    Status,
    ResourceType,
    Collection,
    ContentLength,
    LastModified,
    Other,
}

impl Tag {
    fn of(namespace: &ResolveResult, local_name: &str) -> Tag {
        let dav = match namespace {
            ResolveResult::Bound(Namespace(ns)) => *ns == "DAV:",
            ResolveResult::Unbound | ResolveResult::Unknown(_) => true,
        };
        if !dav {
            return Tag::Other;
        }
        match local_name {
            "response" => Tag::Response,
            "href" => Tag::Href,
            "propstat" => Tag::Propstat,
            "prop" => Tag::Prop,
            "status" => Tag::Status,
            "resourcetype" => Tag::ResourceType,
            "collection" => Tag::Collection,
            "getcontentlength" => Tag::ContentLength,
            "getlastmodified" => Tag::LastModified,
            _ => Tag::Other,
        }
    }
}

/// The properties of one `propstat`, kept only if its status is 2xx.
#[derive(Default)]
struct Props {
    collection: bool,
    size: Option<u64>,
    modified: Option<u64>,
    ok: bool,
}

/// The `response` being read.
#[derive(Default)]
struct Pending {
    href: Option<String>,
    props: Option<Props>,
    /// Properties from the 2xx propstats so far.
    collection: bool,
    size: Option<u64>,
    modified: Option<u64>,
    any_ok: bool,
    /// False once a response-level `status` says it failed.
    ok: bool,
}

/// Whether a `status` line (`HTTP/1.1 200 OK`) says 2xx.
fn status_ok(line: &str) -> bool {
    line.split_whitespace()
        .nth(1)
        .is_some_and(|code| code.len() == 3 && code.starts_with('2'))
}

/// Parses an HTTP date (`Wed, 25 Nov 2026 10:52:21 GMT`, or the two obsolete forms) into
/// seconds since the Unix epoch.
pub fn parse_http_date(text: &str) -> Option<u64> {
    let time = httpdate::parse_http_date(text.trim()).ok()?;
    time.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// Parses a `multistatus` document into its responses, skipping those without an `href`,
/// without a 2xx propstat, or with a failed response-level status.
pub fn parse_multistatus(xml: &str) -> Result<Vec<Resource>, String> {
    let mut reader = NsReader::from_str(xml);
    reader.config_mut().expand_empty_elements = true;
    let mut stack: Vec<Tag> = Vec::new();
    let mut text = String::new();
    let mut pending: Option<Pending> = None;
    let mut resources = Vec::new();
    loop {
        let (namespace, event) = reader
            .read_resolved_event()
            .map_err(|e| format!("the PROPFIND answer is not XML: {e}"))?;
        match event {
            Event::Start(start) => {
                let tag = Tag::of(&namespace, start.local_name().as_ref());
                let parent = stack.last().copied();
                match (parent, tag) {
                    (_, Tag::Response) => {
                        pending = Some(Pending {
                            ok: true,
                            ..Pending::default()
                        })
                    }
                    (Some(Tag::Response), Tag::Propstat) => {
                        if let Some(p) = pending.as_mut() {
                            p.props = Some(Props::default());
                        }
                    }
                    (Some(Tag::ResourceType), Tag::Collection) => {
                        if let Some(props) = pending.as_mut().and_then(|p| p.props.as_mut()) {
                            props.collection = true;
                        }
                    }
                    _ => {}
                }
                stack.push(tag);
                text.clear();
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::CData(t) => text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    text.push(c);
                } else if let Some(s) = resolve_predefined_entity(&r) {
                    text.push_str(s);
                }
            }
            Event::End(_) => {
                let tag = stack.pop().unwrap_or(Tag::Other);
                let parent = stack.last().copied();
                let Some(p) = pending.as_mut() else {
                    continue;
                };
                let value = text.trim();
                match (parent, tag) {
                    (Some(Tag::Response), Tag::Href) => p.href = Some(value.to_owned()),
                    (Some(Tag::Response), Tag::Status) => p.ok = status_ok(value),
                    (Some(Tag::Propstat), Tag::Status) => {
                        if let Some(props) = p.props.as_mut() {
                            props.ok = status_ok(value);
                        }
                    }
                    (Some(Tag::Prop), Tag::ContentLength) => {
                        if let Some(props) = p.props.as_mut() {
                            props.size = value.parse().ok();
                        }
                    }
                    (Some(Tag::Prop), Tag::LastModified) => {
                        if let Some(props) = p.props.as_mut() {
                            props.modified = parse_http_date(value);
                        }
                    }
                    (Some(Tag::Response), Tag::Propstat) => {
                        if let Some(props) = p.props.take().filter(|props| props.ok) {
                            p.any_ok = true;
                            p.collection |= props.collection;
                            p.size = props.size.or(p.size);
                            p.modified = props.modified.or(p.modified);
                        }
                    }
                    (_, Tag::Response) => {
                        let p = pending.take().expect("checked above");
                        if let (Some(href), true, true) = (p.href, p.any_ok, p.ok) {
                            resources.push(Resource {
                                href,
                                collection: p.collection,
                                size: p.size,
                                modified: p.modified,
                            });
                        }
                    }
                    _ => {}
                }
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err("the PROPFIND answer ends before its last element does".into());
    }
    Ok(resources)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `rclone serve webdav` (v1.60) answering a Depth: 1 PROPFIND of `/db/`, verbatim: a
    /// collection with a 404 propstat for its missing length, a file, a sub-collection.
    const RCLONE: &str = r#"<?xml version="1.0" encoding="UTF-8"?><D:multistatus xmlns:D="DAV:"><D:response><D:href>/db/</D:href><D:propstat><D:prop><D:resourcetype><D:collection xmlns:D="DAV:"/></D:resourcetype><D:getlastmodified>Wed, 25 Nov 2026 10:52:21 GMT</D:getlastmodified></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat><D:propstat><D:prop><D:getcontentlength></D:getcontentlength></D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat></D:response><D:response><D:href>/db/a.data</D:href><D:propstat><D:prop><D:resourcetype></D:resourcetype><D:getcontentlength>6</D:getcontentlength><D:getlastmodified>Wed, 25 Nov 2026 10:52:21 GMT</D:getlastmodified></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response><D:response><D:href>/db/sub/</D:href><D:propstat><D:prop><D:resourcetype><D:collection xmlns:D="DAV:"/></D:resourcetype><D:getlastmodified>Wed, 25 Nov 2026 10:52:21 GMT</D:getlastmodified></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat><D:propstat><D:prop><D:getcontentlength></D:getcontentlength></D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat></D:response></D:multistatus>"#;

    /// 2026-11-25T10:52:21Z.
    const MODIFIED: u64 = 1_795_603_941;

    #[test]
    fn parses_rclone() {
        let resources = parse_multistatus(RCLONE).unwrap();
        assert_eq!(
            resources,
            [
                Resource {
                    href: "/db/".into(),
                    collection: true,
                    size: None,
                    modified: Some(MODIFIED),
                },
                Resource {
                    href: "/db/a.data".into(),
                    collection: false,
                    size: Some(6),
                    modified: Some(MODIFIED),
                },
                Resource {
                    href: "/db/sub/".into(),
                    collection: true,
                    size: None,
                    modified: Some(MODIFIED),
                },
            ]
        );
    }

    /// Apache mod_dav style: lower-case prefix, full-URL href, escaped characters, pretty
    /// printed, with a property from another namespace that must not be taken for DAV's.
    #[test]
    fn parses_other_prefixes_and_ignores_foreign_namespaces() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<d:multistatus xmlns:d="DAV:" xmlns:x="urn:example">
  <d:response>
    <d:href>https://dav.example.com/backups/we%20ird&amp;name%25.txt</d:href>
    <d:propstat>
      <d:prop>
        <d:resourcetype/>
        <x:getcontentlength>999</x:getcontentlength>
        <d:getcontentlength> 2 </d:getcontentlength>
        <d:getlastmodified>Wed, 25 Nov 2026 10:52:21 GMT</d:getlastmodified>
      </d:prop>
      <d:status>HTTP/1.1 200 OK</d:status>
    </d:propstat>
  </d:response>
</d:multistatus>"#;
        assert_eq!(
            parse_multistatus(xml).unwrap(),
            [Resource {
                href: "https://dav.example.com/backups/we%20ird&name%25.txt".into(),
                collection: false,
                size: Some(2),
                modified: Some(MODIFIED),
            }]
        );
    }

    #[test]
    fn parses_a_default_namespace_and_no_namespace() {
        for xml in [
            r#"<multistatus xmlns="DAV:"><response><href>/a/</href><propstat><prop><resourcetype><collection/></resourcetype></prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>"#,
            r#"<multistatus><response><href>/a/</href><propstat><prop><resourcetype><collection/></resourcetype></prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>"#,
        ] {
            let resources = parse_multistatus(xml).unwrap();
            assert_eq!(resources.len(), 1, "{xml}");
            assert!(resources[0].collection);
            assert_eq!(resources[0].href, "/a/");
        }
    }

    #[test]
    fn skips_failed_responses() {
        let xml = r#"<D:multistatus xmlns:D="DAV:">
            <D:response><D:href>/gone</D:href><D:status>HTTP/1.1 404 Not Found</D:status></D:response>
            <D:response><D:href>/locked</D:href><D:propstat><D:prop><D:getcontentlength>1</D:getcontentlength></D:prop><D:status>HTTP/1.1 403 Forbidden</D:status></D:propstat></D:response>
            <D:response><D:href>/ok</D:href><D:propstat><D:prop><D:getcontentlength>1</D:getcontentlength></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
        </D:multistatus>"#;
        let hrefs: Vec<String> = parse_multistatus(xml)
            .unwrap()
            .into_iter()
            .map(|r| r.href)
            .collect();
        assert_eq!(hrefs, ["/ok"]);
    }

    #[test]
    fn refuses_broken_xml() {
        assert!(parse_multistatus("<D:multistatus xmlns:D=\"DAV:\"><D:response>").is_err());
        assert!(parse_multistatus("<a></b>").is_err());
    }

    #[test]
    fn parses_http_dates() {
        assert_eq!(
            parse_http_date("Wed, 25 Nov 2026 10:52:21 GMT"),
            Some(MODIFIED)
        );
        assert_eq!(parse_http_date(" Thu, 01 Jan 1970 00:00:00 GMT "), Some(0));
        // RFC 850 and asctime, which HTTP/1.1 says to accept.
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_date("Sun Nov  6 08:49:37 1994"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("2026-11-25T10:52:21Z"), None);
        assert_eq!(parse_http_date(""), None);
    }
}
