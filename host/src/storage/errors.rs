//! Turning OpenDAL errors into one line a person can act on.
//!
//! OpenDAL's own `Display` carries the request URI and response headers, which may hold a
//! SAS token or a signed query: it is never shown. We show the error's kind, the service's
//! error code when there is one, and what to check.
//!
//! Causes are told by type (OpenDAL's `ErrorKind`, the `reqwest`, `std::io` and `reqsign`
//! errors behind it), never by their wording. Two things OpenDAL 0.59 says only in text
//! are read from it: the service's error code (S3's and Azure's XML `<Code>`, GCS's JSON
//! `reason`: the service's own structured answer, which OpenDAL keeps as text; a GCS
//! emulator's "bucket does not exist" too), and its timeout layer's "timeout reached" (an
//! `Unexpected` error with no type of its own).

use super::location::Location;
use opendal::ErrorKind;

/// What was being done to a store when it failed: named in the error ("cannot write ..."),
/// and part of the diagnosis (writing or listing cannot miss an object, only the bucket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Open,
    Write,
    ReadBack,
    Check,
    Read,
    Stat,
    List,
    Delete,
    ListUploads,
    AbortUpload,
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Op::Open => "open",
            Op::Write => "write",
            Op::ReadBack => "read back",
            Op::Check => "check",
            Op::Read => "read",
            Op::Stat => "stat",
            Op::List => "list",
            Op::Delete => "delete",
            Op::ListUploads => "list uploads in",
            Op::AbortUpload => "abort the upload of",
        })
    }
}

/// What went wrong, in a few words, without anything from the request: `kind (CODE)`.
pub fn summary(err: &opendal::Error) -> String {
    match service_code(err) {
        Some(code) => format!("{} ({code})", describe_kind(err)),
        None => describe_kind(err),
    }
}

/// What to check, given where the error happened and what was being done.
pub fn hint(err: &opendal::Error, location: &Location, action: Op) -> String {
    let code = service_code(err).unwrap_or_default();
    let credentials = credential_settings(location);
    let bucket = match location {
        Location::Azblob { container, .. } => format!("container '{container}'"),
        Location::S3 { bucket, .. } | Location::Gcs { bucket, .. } => format!("bucket '{bucket}'"),
        Location::Fs { .. } => "directory".into(),
        Location::Plugin { .. } => return plugin_hint(err),
    };
    match err.kind() {
        // Writing or listing cannot miss an object, only the bucket (GCS and its emulator
        // do not always say which).
        // (OpenDAL reports S3's NoSuchBucket as a configuration error.)
        _ if matches!(
            code.as_str(),
            "NoSuchBucket" | "ContainerNotFound" | "BucketNotFound"
        ) || (err.kind() == ErrorKind::NotFound
            && (err.message().contains("bucket does not exist")
                || (!location.is_local() && matches!(action, Op::Write | Op::List)))) =>
        {
            format!("the {bucket} does not exist: create it, or check the store URL")
        }
        ErrorKind::NotFound => "not found".into(),
        ErrorKind::RangeNotSatisfied => {
            "the stored object is shorter than its manifest says: it was truncated or replaced".into()
        }
        // reqsign found no credential (none set, or an unreadable credentials file).
        _ if is_signing_error(err) => format!(
            "no usable credentials: set {credentials}, or run where a role or metadata server provides them"
        ),
        ErrorKind::PermissionDenied if location.is_local() => {
            "permission denied; check the owner and mode of the store, or choose another --store"
                .into()
        }
        ErrorKind::PermissionDenied if is_credential_code(&code) => format!(
            "the server refused the credentials ({code}): check {credentials}"
        ),
        ErrorKind::PermissionDenied => format!(
            "permission denied{}: the credentials were accepted but may not do this in the {bucket}; check its policy or role ({credentials})",
            if code.is_empty() { String::new() } else { format!(" ({code})") }
        ),
        ErrorKind::ConfigInvalid => format!("the store's configuration is invalid: {}", first_line(err.message())),
        ErrorKind::RateLimited => "the store kept throttling requests: retry later, or lower [transfer] concurrency".into(),
        _ if is_connect_error(err) => format!(
            "cannot connect to the store's endpoint: check {}, the network and any proxy",
            endpoint_settings(location)
        ),
        _ if is_timeout(err) => format!(
            "the store stopped responding (timed out{}): check the network, or raise [transfer] timeout_secs",
            if err.is_temporary() { "" } else { " after retries" }
        ),
        _ if location.is_local() => first_line(&err.to_string()),
        _ => summary(err),
    }
}

fn describe_kind(err: &opendal::Error) -> String {
    match err.kind() {
        ErrorKind::Unexpected if is_connect_error(err) => "connection failed".into(),
        ErrorKind::Unexpected => first_line(err.message()),
        kind => kind.to_string(),
    }
}

fn is_credential_code(code: &str) -> bool {
    matches!(
        code,
        "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "AuthenticationFailed"
            | "ExpiredToken"
            | "InvalidToken"
            | "TokenRefreshRequired"
            | "AuthorizationFailure"
            | "InvalidAuthenticationInfo"
            | "401"
    )
}

fn credential_settings(location: &Location) -> &'static str {
    match location {
        Location::S3 { .. } => {
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or [s3] in the config)"
        }
        Location::Gcs { .. } => "GOOGLE_APPLICATION_CREDENTIALS (or [gcs] credential_path)",
        Location::Azblob { .. } => {
            "AZURE_STORAGE_KEY or AZURE_STORAGE_CONNECTION_STRING (or [azblob] in the config)"
        }
        Location::Fs { .. } => "the store's permissions",
        Location::Plugin { .. } => "the secrets in the plugin's config",
    }
}

fn endpoint_settings(location: &Location) -> &'static str {
    match location {
        Location::S3 { .. } => "AWS_ENDPOINT_URL (or [s3] endpoint)",
        Location::Gcs { .. } => "STORAGE_EMULATOR_HOST (or [gcs] endpoint)",
        Location::Azblob { .. } => {
            "the endpoint in the connection string or AZURE_STORAGE_ENDPOINT"
        }
        Location::Fs { .. } => "the path",
        Location::Plugin { .. } => "the plugin's params",
    }
}

/// The service's error code: S3 and Azure return XML `<Code>`, which OpenDAL keeps as
/// `code: "…"`; GCS returns JSON with a `reason` and a numeric `code`.
fn service_code(err: &opendal::Error) -> Option<String> {
    let message = err.message();
    for (open, close) in [
        ("code: \"", "\""),
        ("<Code>", "</Code>"),
        ("\"reason\": \"", "\""),
        ("\"reason\":\"", "\""),
    ] {
        if let Some(start) = message.find(open) {
            let rest = &message[start + open.len()..];
            if let Some(end) = rest.find(close) {
                let code = &rest[..end];
                if !code.is_empty()
                    && code.len() < 64
                    && code.chars().all(|c| c.is_ascii_alphanumeric())
                {
                    return Some(code.to_string());
                }
            }
        }
    }
    None
}

/// The errors behind `err`, outermost first.
fn causes(err: &opendal::Error) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
    std::iter::successors(std::error::Error::source(err), |e| e.source())
}

/// Whether the request never reached the service: DNS, a refused or reset connection, TLS.
fn is_connect_error(err: &opendal::Error) -> bool {
    causes(err).any(|cause| {
        if let Some(http) = cause.downcast_ref::<reqwest::Error>() {
            return http.is_connect();
        }
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| {
            use std::io::ErrorKind::*;
            matches!(
                io.kind(),
                ConnectionRefused
                    | ConnectionReset
                    | ConnectionAborted
                    | NotConnected
                    | AddrNotAvailable
                    | HostUnreachable
                    | NetworkUnreachable
            )
        })
    })
}

/// Whether the store stopped responding: our timeout layer's error (OpenDAL gives it no
/// type: an `Unexpected`, temporary error saying "timeout reached"), or the transport's.
fn is_timeout(err: &opendal::Error) -> bool {
    let layer = err.kind() == ErrorKind::Unexpected && err.message().ends_with("timeout reached");
    layer
        || causes(err).any(|cause| {
            cause
                .downcast_ref::<reqwest::Error>()
                .is_some_and(|e| e.is_timeout())
        })
}

/// Whether the request could not be signed: reqsign found no usable credential.
fn is_signing_error(err: &opendal::Error) -> bool {
    causes(err).any(|cause| cause.is::<reqsign_core::Error>())
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).to_string()
}

/// A destination plugin's own one-line message (already naming the plugin), which never
/// holds a request URI: that stays inside the plugin.
fn plugin_hint(err: &opendal::Error) -> String {
    match err.kind() {
        ErrorKind::NotFound => "not found".into(),
        _ => first_line(err.message()),
    }
}
