//! Outgoing HTTP for plugins: the host side of `wasi:http/outgoing-handler`, behind an
//! allowlist.
//!
//! A request leaves only if its `host:port` is exactly an entry of the plugin's `http`
//! grant. The host name is then resolved here, every address is checked, and the
//! connection goes to an address that passed (never to a second lookup's answer), so DNS
//! cannot point an allowed name at the cloud metadata service or the local network. TLS is
//! verified against the name with the platform's trust store.
//!
//! **Invariant:** a refused request never opens a socket; the refusal is recorded so the
//! error the user sees names the capability, whatever the plugin makes of it.

use http_body_util::BodyExt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(300);

/// Where one plugin may send requests.
#[derive(Debug, Clone, Default)]
pub struct HttpPolicy {
    /// The plugin's name, for messages.
    plugin: String,
    allowed: Vec<Endpoint>,
    private_addresses: bool,
}

/// One exact `host:port` allowlist entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Endpoint {
    /// Lowercase host name, or an IP address without brackets.
    host: String,
    port: u16,
}

impl Endpoint {
    /// Parses `host:port` (`[v6]:port` for IPv6).
    fn parse(entry: &str) -> Option<Endpoint> {
        let (host, port) = entry.rsplit_once(':')?;
        let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
            .to_ascii_lowercase();
        let valid_name = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        (valid_name || host.parse::<IpAddr>().is_ok()).then_some(Endpoint { host, port })
    }

    fn literal(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.literal() {
            Some(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            _ => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

/// An `http` grant entry that is not `host:port`.
#[derive(Debug, thiserror::Error)]
#[error("[plugins.{plugin}.grants] http entry '{entry}' is not valid: write an exact host:port, such as dav.example.com:443")]
pub struct BadEndpoint {
    plugin: String,
    entry: String,
}

impl HttpPolicy {
    /// No outgoing HTTP at all.
    pub fn deny_all(plugin: &str) -> HttpPolicy {
        HttpPolicy {
            plugin: plugin.into(),
            ..HttpPolicy::default()
        }
    }

    pub fn new(
        plugin: &str,
        entries: &[String],
        private_addresses: bool,
    ) -> Result<HttpPolicy, BadEndpoint> {
        let allowed = entries
            .iter()
            .map(|entry| {
                Endpoint::parse(entry).ok_or_else(|| BadEndpoint {
                    plugin: plugin.into(),
                    entry: entry.clone(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(HttpPolicy {
            plugin: plugin.into(),
            allowed,
            private_addresses,
        })
    }

    /// The allowlist as written, for `twgate plugins`.
    pub fn describe(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.allowed.iter().map(|e| format!("http {e}")).collect();
        if self.private_addresses && !lines.is_empty() {
            lines.push("http to private addresses".into());
        }
        lines
    }

    /// Checks a request's target against the allowlist, before any lookup.
    fn admit(&self, uri: &http::Uri) -> Result<Endpoint, String> {
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let Some(authority) = uri.authority() else {
            return Err("an HTTP request without a host was refused".into());
        };
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
            .to_ascii_lowercase();
        let target = Endpoint { host, port };
        if self.allowed.contains(&target) {
            Ok(target)
        } else {
            Err(format!(
                "HTTP to {target} is not granted: add \"{target}\" to http in [plugins.{}.grants] if it should be",
                self.plugin
            ))
        }
    }

    /// Resolves an admitted target and returns the first address allowed to be dialled.
    async fn resolve(&self, target: &Endpoint) -> Result<SocketAddr, (String, HttpError)> {
        if let Some(ip) = target.literal() {
            // Written as an address in the grant: the operator chose it explicitly.
            return match classify(ip) {
                Class::Never(what) => Err((
                    format!("HTTP to {target} refused: {ip} is {what}"),
                    HttpError::DestinationIpProhibited,
                )),
                _ => Ok(SocketAddr::new(ip, target.port)),
            };
        }
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((target.host.as_str(), target.port))
            .await
            .map_err(|e| {
                (
                    format!("HTTP to {target}: cannot resolve {}: {e}", target.host),
                    HttpError::DnsError {
                        rcode: Some("lookup failed".into()),
                        info_code: None,
                    },
                )
            })?
            .collect();
        let mut refused = None;
        for addr in &addrs {
            let ip = canonical(addr.ip());
            let verdict = match classify(ip) {
                Class::Public => None,
                Class::Private(_) if self.private_addresses => None,
                Class::Private(what) => Some(format!(
                    "HTTP to {target} refused: {} resolves to {ip}, {what}; set private_addresses = true in [plugins.{}.grants] if that is intended",
                    target.host, self.plugin
                )),
                Class::Never(what) => Some(format!(
                    "HTTP to {target} refused: {} resolves to {ip}, {what}",
                    target.host
                )),
            };
            match verdict {
                None => return Ok(SocketAddr::new(ip, target.port)),
                Some(message) => refused = refused.or(Some(message)),
            }
        }
        Err((
            refused.unwrap_or_else(|| format!("HTTP to {target}: {} has no address", target.host)),
            HttpError::DestinationIpProhibited,
        ))
    }
}

/// What kind of address a name resolved to.
enum Class {
    Public,
    /// Reachable only when `private_addresses` is granted (or the entry is the address).
    Private(&'static str),
    /// Never reachable through a name.
    Never(&'static str),
}

/// Treats an IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn classify(ip: IpAddr) -> Class {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast() {
                Class::Never("not a host address")
            } else if v4.is_link_local() {
                Class::Never("a link-local address (where cloud metadata services live)")
            } else if v4.is_loopback() {
                Class::Private("a loopback address")
            } else if v4.is_private() || (a == 100 && (64..128).contains(&b)) {
                Class::Private("a private network address")
            } else {
                Class::Public
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_unspecified() || v6.is_multicast() {
                Class::Never("not a host address")
            } else if first & 0xffc0 == 0xfe80 {
                Class::Never("a link-local address (where cloud metadata services live)")
            } else if v6.is_loopback() {
                Class::Private("a loopback address")
            } else if first & 0xfe00 == 0xfc00 {
                Class::Private("a private network address")
            } else {
                Class::Public
            }
        }
    }
}

/// The `wasi:http` hooks of one plugin instance.
pub(crate) struct HttpHooks {
    policy: Arc<HttpPolicy>,
    /// Refusals during the current call, reported in the error the user sees.
    pub(crate) denials: Arc<Mutex<Vec<String>>>,
}

impl HttpHooks {
    pub(crate) fn new(policy: Arc<HttpPolicy>) -> HttpHooks {
        HttpHooks {
            policy,
            denials: Arc::default(),
        }
    }
}

type SendResult = Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ),
    HttpError,
>;

impl WasiHttpHooks for HttpHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let policy = self.policy.clone();
        let denials = self.denials.clone();
        Box::new(async move {
            let deny = |message: String, error: HttpError| {
                denials.lock().unwrap().push(message);
                error
            };
            let target = policy
                .admit(request.uri())
                .map_err(|message| deny(message, HttpError::HttpRequestDenied))?;
            let addr = policy
                .resolve(&target)
                .await
                .map_err(|(message, error)| deny(message, error))?;
            send(request, options, &target, addr).await
        })
    }
}

/// Sends one request over a new connection to `addr`, which already passed the checks.
async fn send(
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
    target: &Endpoint,
    addr: SocketAddr,
) -> SendResult {
    let connect_timeout = options
        .and_then(|o| o.connect_timeout)
        .unwrap_or(CONNECT_TIMEOUT);
    let first_byte_timeout = options
        .and_then(|o| o.first_byte_timeout)
        .unwrap_or(FIRST_BYTE_TIMEOUT);
    let https = request.uri().scheme() == Some(&http::uri::Scheme::HTTPS);

    let tcp = tokio::time::timeout(connect_timeout, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| HttpError::ConnectionTimeout)?
        .map_err(HttpError::Connect)?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Io> = if https {
        let name = match target.literal() {
            Some(ip) => rustls::pki_types::ServerName::from(ip),
            None => rustls::pki_types::ServerName::try_from(target.host.clone())
                .map_err(|_| HttpError::HttpRequestUriInvalid)?,
        };
        let tls = tokio_rustls::TlsConnector::from(tls_config()?)
            .connect(name, tcp)
            .await
            .map_err(HttpError::Tls)?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let (mut sender, connection) = tokio::time::timeout(
        connect_timeout,
        hyper::client::conn::http1::handshake(TokioIo::new(stream)),
    )
    .await
    .map_err(|_| HttpError::ConnectionTimeout)??;

    // On a direct connection the request line carries only the path.
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(
            request
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/"),
        )
        .build()
        .map_err(|_| HttpError::HttpRequestUriInvalid)?;

    // The connection runs as its own task until the response body has been read; its
    // outcome is what the returned future reports.
    let connection = tokio::spawn(connection);
    let response = tokio::time::timeout(first_byte_timeout, sender.send_request(request))
        .await
        .map_err(|_| HttpError::ConnectionReadTimeout)??;
    let io = async move {
        match connection.await {
            Ok(result) => result.map_err(HttpError::from),
            Err(_) => Err(HttpError::ConnectionTerminated),
        }
    };
    Ok((
        response.map(|body| body.map_err(HttpError::from).boxed_unsync()),
        Box::new(io),
    ))
}

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Io for T {}

/// The TLS client configuration: ring, and the platform's trust store.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, HttpError> {
    static CONFIG: std::sync::OnceLock<Option<Arc<rustls::ClientConfig>>> =
        std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            use rustls_platform_verifier::BuilderVerifierExt;
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .ok()?
                .with_platform_verifier()
                .ok()
                .map(|builder| Arc::new(builder.with_no_client_auth()))
        })
        .clone()
        .ok_or(HttpError::TlsCertificateError)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(entries: &[&str], private: bool) -> HttpPolicy {
        let entries: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        HttpPolicy::new("p", &entries, private).unwrap()
    }

    #[test]
    fn entries_must_be_exact_host_and_port() {
        for bad in [
            "example.com",
            "example.com:0",
            "http://example.com:80",
            "*.example.com:443",
            ":443",
        ] {
            assert!(
                HttpPolicy::new("p", &[bad.to_string()], false).is_err(),
                "{bad}"
            );
        }
        for good in [
            "example.com:443",
            "127.0.0.1:8080",
            "[::1]:8080",
            "Dav.Example.com:80",
        ] {
            assert!(
                HttpPolicy::new("p", &[good.to_string()], false).is_ok(),
                "{good}"
            );
        }
    }

    #[test]
    fn admits_only_listed_host_and_port() {
        let p = policy(&["dav.example.com:443", "[::1]:8080"], false);
        let uri = |s: &str| s.parse::<http::Uri>().unwrap();
        assert!(p.admit(&uri("https://dav.example.com/x")).is_ok());
        assert!(p.admit(&uri("https://DAV.example.com:443/x")).is_ok());
        assert!(p.admit(&uri("http://[::1]:8080/x")).is_ok());
        let refused = p.admit(&uri("http://dav.example.com/x")).unwrap_err();
        assert!(
            refused.contains("dav.example.com:80 is not granted"),
            "{refused}"
        );
        assert!(refused.contains("[plugins.p.grants]"), "{refused}");
        assert!(p.admit(&uri("https://evil.example.com/x")).is_err());
        assert!(p.admit(&uri("https://dav.example.com:8443/x")).is_err());
    }

    #[test]
    fn names_may_not_resolve_to_private_or_link_local_addresses() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(matches!(classify(ip("93.184.216.34")), Class::Public));
        assert!(matches!(classify(ip("2606:2800:220:1::1")), Class::Public));
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(
                matches!(classify(ip(private)), Class::Private(_)),
                "{private}"
            );
        }
        for never in [
            "169.254.169.254",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "fe80::1",
            "::",
            "::ffff:169.254.169.254",
        ] {
            assert!(matches!(classify(ip(never)), Class::Never(_)), "{never}");
        }
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_unless_granted() {
        let target = Endpoint::parse("localhost:8080").unwrap();
        let (message, _) = policy(&["localhost:8080"], false)
            .resolve(&target)
            .await
            .unwrap_err();
        assert!(message.contains("loopback"), "{message}");
        assert!(message.contains("private_addresses"), "{message}");
        let addr = policy(&["localhost:8080"], true)
            .resolve(&target)
            .await
            .unwrap();
        assert!(addr.ip().is_loopback());
        // Written as an address, the operator chose it: allowed.
        let literal = Endpoint::parse("127.0.0.1:8080").unwrap();
        assert!(policy(&["127.0.0.1:8080"], false)
            .resolve(&literal)
            .await
            .is_ok());
        let metadata = Endpoint::parse("169.254.169.254:80").unwrap();
        assert!(policy(&["169.254.169.254:80"], true)
            .resolve(&metadata)
            .await
            .is_err());
    }
}
