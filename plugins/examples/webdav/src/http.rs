//! A small blocking HTTP client on wasi:http's `outgoing-handler`: one request at a time to
//! the base URL's server, a request body either given whole or streamed chunk by chunk,
//! and a response body read in pieces. It also turns transport failures and unexpected
//! statuses into one-line errors that name the request and never the credentials.
//!
//! The host decides which servers may be reached (it answers others with
//! `HttpRequestDenied`), and opens a new connection per request.

use std::rc::Rc;

use twgate_plugin_sdk::Error;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, IncomingBody, IncomingResponse, Method,
    OutgoingBody, OutgoingRequest, RequestOptions, Scheme as WasiScheme,
};
use wasip2::io::streams::{InputStream, OutputStream, StreamError};

use crate::config::Authorization;
use crate::location::{BaseUrl, Scheme};

const SECOND: u64 = 1_000_000_000;
/// How long a server may take to accept a connection.
const CONNECT_TIMEOUT: u64 = 30 * SECOND;
/// How long a streamed request may take until the answer's head arrives: the whole upload,
/// since a server answers a PUT only once it has the body. The host's per-call time limit
/// still bounds each call. (wasmtime's default, 600 s, would cut off long backups.)
const STREAMED_FIRST_BYTE_TIMEOUT: u64 = 7 * 24 * 3600 * SECOND;
/// How long to wait for the answer to a streamed request that failed or was abandoned.
const ABANDON_WAIT: u64 = 5 * SECOND;

/// The server, and how to authenticate to it.
pub struct Client {
    base: BaseUrl,
    authorization: Option<Authorization>,
}

/// One request, for messages: `PUT http://127.0.0.1:8080/backups/db/x`, the server, and
/// whether credentials were sent.
#[derive(Debug, Clone)]
pub struct Target {
    what: String,
    server: String,
    authority: String,
    with_credentials: bool,
}

/// The name of a status code, for messages.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        423 => "Locked",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        507 => "Insufficient Storage",
        _ => "",
    }
}

/// wasi:http's name for `code`, e.g. `ConnectionRefused` or `DnsError(...)`.
pub fn code_name(code: &ErrorCode) -> String {
    let name = format!("{code:?}");
    name.strip_prefix("ErrorCode::").unwrap_or(&name).to_owned()
}

impl Target {
    /// `METHOD url`, e.g. `PUT http://127.0.0.1:8080/backups/db/x`.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// The error for a request the server answered with an unexpected `status`.
    pub fn status_error(&self, status: u16) -> Error {
        let server = &self.server;
        let message = match status {
            401 if self.with_credentials => {
                format!("WebDAV server at {server} refused the credentials (401)")
            }
            401 => format!(
                "WebDAV server at {server} asks for credentials (401): \
                 set the parameter 'user' and the secret 'password'"
            ),
            403 => format!("WebDAV server at {server} forbids {} (403)", self.what),
            507 => format!("WebDAV {}: the server is out of space (507)", self.what),
            _ => format!("WebDAV {} answered {status} {}", self.what, reason(status))
                .trim_end()
                .to_owned(),
        };
        Error::Internal(message)
    }

    /// The error for a request that got no answer. The Debug name of wasi:http's error code
    /// ends every message, for searching.
    pub fn transport_error(&self, code: &ErrorCode) -> Error {
        let server = &self.server;
        let message = match code {
            ErrorCode::ConnectionRefused => {
                format!("WebDAV server at {server} refused the connection (ConnectionRefused)")
            }
            ErrorCode::HttpRequestDenied => format!(
                "the host does not allow connecting to {} (HttpRequestDenied): \
                 allow it in the plugin's configuration",
                self.authority
            ),
            ErrorCode::DnsError(_) => {
                format!("cannot resolve the host name of {server} (DnsError)")
            }
            ErrorCode::DnsTimeout => {
                format!("cannot resolve the host name of {server} in time (DnsTimeout)")
            }
            ErrorCode::ConnectionTimeout => {
                format!("WebDAV server at {server} did not accept a connection in time (ConnectionTimeout)")
            }
            _ => format!("WebDAV {} failed ({})", self.what, code_name(code)),
        };
        Error::Internal(message)
    }

    fn stream_error(&self, error: StreamError) -> Error {
        match error {
            StreamError::Closed => {
                Error::Internal(format!("WebDAV {}: the connection closed early", self.what))
            }
            StreamError::LastOperationFailed(e) => match wasip2::http::types::http_error_code(&e) {
                Some(code) => self.transport_error(&code),
                None => Error::Internal(format!(
                    "WebDAV {} failed: {}",
                    self.what,
                    e.to_debug_string()
                )),
            },
        }
    }
}

/// Blocks until `future` has the answer's head.
fn wait(future: &FutureIncomingResponse) -> Result<IncomingResponse, ErrorCode> {
    loop {
        match future.get() {
            Some(Ok(result)) => return result,
            Some(Err(())) => unreachable!("a response is taken once"),
            None => future.subscribe().block(),
        }
    }
}

/// Like [`wait`], but gives up after `timeout` nanoseconds.
fn wait_for(
    future: &FutureIncomingResponse,
    timeout: u64,
) -> Option<Result<IncomingResponse, ErrorCode>> {
    let timer = wasip2::clocks::monotonic_clock::subscribe_duration(timeout);
    let ready = future.subscribe();
    loop {
        if let Some(result) = future.get() {
            return result.ok();
        }
        if timer.ready() {
            return None;
        }
        wasip2::io::poll::poll(&[&ready, &timer]);
    }
}

impl Client {
    pub fn new(base: BaseUrl, authorization: Option<Authorization>) -> Rc<Client> {
        Rc::new(Client {
            base,
            authorization,
        })
    }

    pub fn base(&self) -> &BaseUrl {
        &self.base
    }

    /// The request `method path`, for messages.
    pub fn target(&self, method: &str, path: &str) -> Target {
        Target {
            what: format!("{method} {}", self.base.absolute(path)),
            server: self.base.to_string(),
            authority: self.base.authority().to_owned(),
            with_credentials: self.authorization.is_some(),
        }
    }

    /// Hands the request to the host; `None` for `body` sends none.
    fn begin(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        with_body: bool,
        first_byte_timeout: Option<u64>,
    ) -> Result<(Target, Option<OutgoingBody>, FutureIncomingResponse), Error> {
        let target = self.target(method, path);
        let mut fields: Vec<(String, Vec<u8>)> = headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
            .collect();
        if let Some(authorization) = &self.authorization {
            fields.push(("authorization".into(), authorization.header_value().into()));
        }
        let fields = Fields::from_list(&fields).map_err(|e| {
            Error::Internal(format!(
                "WebDAV {}: the host refused a header ({e:?})",
                target.what
            ))
        })?;
        let request = OutgoingRequest::new(fields);
        let method = match method {
            "GET" => Method::Get,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.into()),
        };
        let scheme = match self.base.scheme() {
            Scheme::Http => WasiScheme::Http,
            Scheme::Https => WasiScheme::Https,
        };
        let refused = |what: &str| {
            Error::Internal(format!(
                "WebDAV {}: the host refused the {what}",
                target.what
            ))
        };
        request
            .set_method(&method)
            .map_err(|()| refused("method"))?;
        request
            .set_scheme(Some(&scheme))
            .map_err(|()| refused("scheme"))?;
        request
            .set_authority(Some(self.base.authority()))
            .map_err(|()| refused("host and port"))?;
        request
            .set_path_with_query(Some(path))
            .map_err(|()| refused("path"))?;
        let body = if with_body {
            Some(request.body().map_err(|()| refused("body"))?)
        } else {
            None
        };
        let options = RequestOptions::new();
        // A host may not support a timeout; its own then applies.
        let _ = options.set_connect_timeout(Some(CONNECT_TIMEOUT));
        if let Some(timeout) = first_byte_timeout {
            let _ = options.set_first_byte_timeout(Some(timeout));
        }
        let future = outgoing_handler::handle(request, Some(options))
            .map_err(|code| target.transport_error(&code))?;
        Ok((target, body, future))
    }

    /// Sends `method path` with `headers` and the whole `body` (if any), and waits for the
    /// answer's head.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Response, Error> {
        let length;
        let mut all_headers = headers.to_vec();
        if let Some(body) = body {
            length = body.len().to_string();
            all_headers.push(("content-length", &length));
        }
        let (target, outgoing, future) =
            self.begin(method, path, &all_headers, body.is_some(), None)?;
        let mut writer = BodyWriter {
            target,
            stream: None,
            body: outgoing,
            future: Some(future),
        };
        if let Some(body) = body {
            writer.open_stream()?;
            writer.write(body)?;
        }
        writer.finish()
    }

    /// Starts `method path` with `headers` and a body of unknown length (sent chunked), to
    /// be written with [`BodyWriter::write`].
    pub fn start(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<BodyWriter, Error> {
        let (target, body, future) = self.begin(
            method,
            path,
            headers,
            true,
            Some(STREAMED_FIRST_BYTE_TIMEOUT),
        )?;
        let mut writer = BodyWriter {
            target,
            stream: None,
            body,
            future: Some(future),
        };
        writer.open_stream()?;
        Ok(writer)
    }
}

/// The body of a request being sent.
pub struct BodyWriter {
    target: Target,
    // Drop order matters: the stream before its body, the body before the response.
    stream: Option<OutputStream>,
    /// Dropped without `finish`, the host aborts the request.
    body: Option<OutgoingBody>,
    future: Option<FutureIncomingResponse>,
}

impl BodyWriter {
    fn open_stream(&mut self) -> Result<(), Error> {
        let body = self.body.as_ref().expect("a body until finished");
        let stream = body.write().map_err(|()| {
            Error::Internal(format!(
                "WebDAV {}: the host refused the body",
                self.target.what
            ))
        })?;
        self.stream = Some(stream);
        Ok(())
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Writes all of `data`, as fast as the host takes it: its `check-write` budget bounds
    /// what is in flight, so memory stays bounded whatever the object's size.
    pub fn write(&mut self, mut data: &[u8]) -> Result<(), Error> {
        let Some(stream) = self.stream.as_ref() else {
            return Err(Error::Internal(format!(
                "WebDAV {}: the request already failed",
                self.target.what
            )));
        };
        while !data.is_empty() {
            let result = stream.check_write().and_then(|budget| {
                if budget == 0 {
                    stream.subscribe().block();
                    return Ok(0);
                }
                let n = data
                    .len()
                    .min(usize::try_from(budget).unwrap_or(usize::MAX));
                stream.write(&data[..n]).map(|()| n)
            });
            match result {
                Ok(n) => data = &data[n..],
                Err(e) => return Err(self.failed(e)),
            }
        }
        Ok(())
    }

    /// The error for a failed write: the server's early answer if it gave one (a 401, a
    /// 404 for a missing collection), else the stream's error. The request is over.
    fn failed(&mut self, error: StreamError) -> Error {
        let error = self.target.stream_error(error);
        self.stream = None;
        self.body = None;
        let future = self.future.take().expect("a response until finished");
        match wait_for(&future, ABANDON_WAIT) {
            Some(Ok(response)) if !(200..300).contains(&response.status()) => {
                self.target.status_error(response.status())
            }
            _ => error,
        }
    }

    /// Ends the body and waits for the answer's head.
    pub fn finish(mut self) -> Result<Response, Error> {
        if let Some(stream) = self.stream.take() {
            match stream.blocking_flush() {
                // Closed: the host has already taken a body of known length whole, or the
                // request ended early; the answer below tells which.
                Ok(()) | Err(StreamError::Closed) => {}
                Err(e) => {
                    self.stream = Some(stream);
                    return Err(self.failed(e));
                }
            }
        }
        if let Some(body) = self.body.take() {
            OutgoingBody::finish(body, None).map_err(|code| self.target.transport_error(&code))?;
        }
        let future = self.future.take().ok_or_else(|| {
            Error::Internal(format!(
                "WebDAV {}: the request already failed",
                self.target.what
            ))
        })?;
        let response = wait(&future).map_err(|code| self.target.transport_error(&code))?;
        drop(future);
        Ok(Response::new(self.target.clone(), response))
    }

    /// Gives up on the request: aborts the body, then waits a little for the server to
    /// notice, so that a cleanup request sent next finds the request over.
    pub fn abandon(mut self) {
        self.stream = None;
        self.body = None;
        if let Some(future) = self.future.take() {
            let _ = wait_for(&future, ABANDON_WAIT);
        }
    }
}

/// An answer: its status, its headers, and its body to read.
pub struct Response {
    pub status: u16,
    headers: Vec<(String, Vec<u8>)>,
    target: Target,
    // Drop order matters: the stream before its body, the body before the response.
    stream: Option<InputStream>,
    _body: Option<IncomingBody>,
    _response: IncomingResponse,
}

impl Response {
    fn new(target: Target, response: IncomingResponse) -> Response {
        let headers = response.headers().entries();
        let body = response.consume().ok();
        let stream = body.as_ref().and_then(|b| b.stream().ok());
        Response {
            status: response.status(),
            headers,
            target,
            stream,
            _body: body,
            _response: response,
        }
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The error for this answer, when its status is not what the caller expected.
    pub fn unexpected(&self) -> Error {
        self.target.status_error(self.status)
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The first value of the header `name`, if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// Up to `max` bytes of the body; empty at its end (or if `max` is 0).
    pub fn read(&mut self, max: usize) -> Result<Vec<u8>, Error> {
        let Some(stream) = self.stream.as_ref().filter(|_| max > 0) else {
            return Ok(Vec::new());
        };
        loop {
            match stream.blocking_read(max as u64) {
                Ok(bytes) if bytes.is_empty() => continue,
                Ok(bytes) => return Ok(bytes),
                Err(StreamError::Closed) => {
                    self.stream = None;
                    return Ok(Vec::new());
                }
                Err(e) => return Err(self.target.stream_error(e)),
            }
        }
    }

    /// Skips up to `n` bytes of the body without copying them; 0 at its end (or if `n` is 0).
    pub fn skip(&mut self, n: u64) -> Result<u64, Error> {
        let Some(stream) = self.stream.as_ref().filter(|_| n > 0) else {
            return Ok(0);
        };
        loop {
            match stream.blocking_skip(n) {
                Ok(0) => continue,
                Ok(skipped) => return Ok(skipped),
                Err(StreamError::Closed) => {
                    self.stream = None;
                    return Ok(0);
                }
                Err(e) => return Err(self.target.stream_error(e)),
            }
        }
    }

    /// The whole body, refusing one over `limit` bytes.
    pub fn read_to_end(&mut self, limit: usize) -> Result<Vec<u8>, Error> {
        let mut all = Vec::new();
        loop {
            let piece = self.read(64 * 1024)?;
            if piece.is_empty() {
                return Ok(all);
            }
            all.extend_from_slice(&piece);
            if all.len() > limit {
                return Err(Error::Internal(format!(
                    "WebDAV {}: the answer is over {} MiB",
                    self.target.what,
                    limit >> 20
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(with_credentials: bool) -> Target {
        let base = BaseUrl::parse("http://127.0.0.1:8080/backups").unwrap();
        Target {
            what: format!("PUT {}", base.absolute("/backups/db/x")),
            server: base.to_string(),
            authority: base.authority().into(),
            with_credentials,
        }
    }

    #[test]
    fn statuses_make_one_line_errors() {
        assert_eq!(
            target(true).status_error(401).message(),
            "WebDAV server at http://127.0.0.1:8080/backups/ refused the credentials (401)"
        );
        assert!(target(false)
            .status_error(401)
            .message()
            .contains("'password'"));
        assert_eq!(
            target(true).status_error(409).message(),
            "WebDAV PUT http://127.0.0.1:8080/backups/db/x answered 409 Conflict"
        );
        assert_eq!(
            target(true).status_error(599).message(),
            "WebDAV PUT http://127.0.0.1:8080/backups/db/x answered 599"
        );
    }

    #[test]
    fn transport_errors_end_with_the_error_code() {
        assert_eq!(
            target(true).transport_error(&ErrorCode::ConnectionRefused).message(),
            "WebDAV server at http://127.0.0.1:8080/backups/ refused the connection (ConnectionRefused)"
        );
        let denied = target(true).transport_error(&ErrorCode::HttpRequestDenied);
        assert!(
            denied
                .message()
                .contains("127.0.0.1:8080 (HttpRequestDenied)"),
            "{denied}"
        );
        let other = target(true).transport_error(&ErrorCode::ConnectionTerminated);
        assert!(
            other.message().ends_with("failed (ConnectionTerminated)"),
            "{other}"
        );
    }
}
