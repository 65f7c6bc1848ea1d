//! A transform plugin that misbehaves on purpose, chosen by its `mode` parameter:
//! - `loop`: never returns from `push`;
//! - `loop-on-pull`: passes bytes through on push, and never returns from `push` on pull;
//! - `grow`: allocates without bound in `push`;
//! - `trap`: passes `after` bytes (default 1 MiB) through, then traps;
//! - `flood`: returns 32 MiB from one `push`;
//! - `passwd`: tries to read `/etc/passwd` and returns it as output if it can;
//! - `env`: returns every environment variable it can see as output;
//! - `http`: on `open` forward, GETs the URL in the parameter `url` through wasi:http and
//!   fails with `internal` naming wasi:http's error code (e.g. `HttpRequestDenied`) if no
//!   answer comes; with an answer, whatever its status, it passes bytes through unchanged;
//! - `crypto-hoard`: creates host crypto hashers until the host refuses one, and fails with
//!   the host's message;
//! - `crypto-huge`: hands the host a 17 MiB crypto call, and fails with the host's message;
//! - `sleep`: blocks in `push` on a one-hour `wasi:clocks` pollable (inside the host);
//! - `drain-forever`: passes `push` through, and returns 1 MiB from every `drain`;
//! - `shout`: fails `push` with a 10 MiB message full of newlines and terminal escapes;
//! - `stack`: overflows its stack in `push`;
//! - `trap-finish`: passes bytes through, then panics in `finish`;
//! - `describe-flood`: passes bytes through, and describes itself in 200,000 entries;
//! - anything else: passes bytes through unchanged.

wit_bindgen::generate!({ path: "../../../wit", world: "transform-plugin" });

use exports::twgate::plugin::transform::{Guest, GuestStage, Stage};
use std::cell::RefCell;
use twgate::plugin::types::{Direction, Param, PluginError, PluginInfo};

struct Plugin;

struct Hostile {
    mode: String,
    after: usize,
    seen: RefCell<usize>,
    hoard: RefCell<Vec<Vec<u8>>>,
}

impl Guest for Plugin {
    type Stage = Hostile;

    fn info() -> PluginInfo {
        PluginInfo {
            name: "hostile".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            abi_version: 1,
            summary: env!("CARGO_PKG_DESCRIPTION").into(),
        }
    }

    fn open(
        direction: Direction,
        params: Vec<Param>,
        _secrets: Vec<Param>,
    ) -> Result<Stage, PluginError> {
        let get = |key: &str| {
            params
                .iter()
                .find(|p| p.key == key)
                .map(|p| String::from_utf8_lossy(&p.value).into_owned())
        };
        let after = get("after").and_then(|a| a.parse().ok()).unwrap_or(1 << 20);
        let mut mode = get("mode").unwrap_or_default();
        if mode == "loop-on-pull" && matches!(direction, Direction::Inverse) {
            mode = "loop".into();
        }
        if mode == "http" && matches!(direction, Direction::Forward) {
            http_get(&get("url").unwrap_or_default()).map_err(PluginError::Internal)?;
        }
        Ok(Stage::new(Hostile {
            mode,
            after,
            seen: RefCell::new(0),
            hoard: RefCell::new(Vec::new()),
        }))
    }
}

/// GETs `url` (`http://host:port/path` or `https://...`) and returns its status, or a
/// message with wasi:http's error code.
fn http_get(url: &str) -> Result<u16, String> {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{Fields, OutgoingRequest, Scheme};

    let (scheme, rest) = match url.split_once("://") {
        Some(("http", rest)) => (Scheme::Http, rest),
        Some(("https", rest)) => (Scheme::Https, rest),
        _ => {
            return Err(format!(
                "mode http needs a parameter url=http://host:port/path, not '{url}'"
            ))
        }
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let request = OutgoingRequest::new(Fields::new());
    let refused = |what: &str| format!("HTTP GET {url}: the host refused the {what}");
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| refused("scheme"))?;
    request
        .set_authority(Some(authority))
        .map_err(|()| refused("authority"))?;
    request
        .set_path_with_query(Some(if path.is_empty() { "/" } else { path }))
        .map_err(|()| refused("path"))?;
    let failed = |code| format!("HTTP GET {url} failed: {code:?}");
    let future = outgoing_handler::handle(request, None).map_err(failed)?;
    let response = loop {
        match future.get() {
            Some(Ok(result)) => break result.map_err(failed)?,
            Some(Err(())) => return Err(format!("HTTP GET {url}: the response was taken twice")),
            None => future.subscribe().block(),
        }
    };
    Ok(response.status())
}

impl GuestStage for Hostile {
    fn push(&self, chunk: Vec<u8>) -> Result<Vec<u8>, PluginError> {
        match self.mode.as_str() {
            "loop" => {
                let mut x: u64 = 1;
                loop {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
            "grow" => loop {
                self.hoard.borrow_mut().push(vec![1u8; 16 << 20]);
            },
            "trap" => {
                *self.seen.borrow_mut() += chunk.len();
                if *self.seen.borrow() > self.after {
                    panic!("hostile plugin trapping on purpose");
                }
                Ok(chunk)
            }
            "flood" => Ok(vec![b'x'; 32 << 20]),
            "sleep" => {
                wasip2::clocks::monotonic_clock::subscribe_duration(3_600_000_000_000).block();
                Ok(chunk)
            }
            "shout" => {
                let line = "\u{1b}]0;owned\u{7}\u{1b}[2J\rerror line\n";
                Err(PluginError::Internal(line.repeat((10 << 20) / line.len())))
            }
            "stack" => Ok(recurse(chunk.len() as u64).to_le_bytes().to_vec()),
            "crypto-hoard" => {
                let mut hashers = Vec::new();
                loop {
                    match twgate::plugin::crypto::new_hasher(
                        twgate::plugin::crypto::HashAlgorithm::Sha256,
                    ) {
                        Ok(h) => hashers.push(h),
                        Err(e) => return Err(crypto_failed(e, hashers.len())),
                    }
                }
            }
            "crypto-huge" => {
                let hasher = twgate::plugin::crypto::new_hasher(
                    twgate::plugin::crypto::HashAlgorithm::Sha256,
                )
                .map_err(|e| crypto_failed(e, 0))?;
                hasher
                    .update(&vec![0u8; 17 << 20])
                    .map_err(|e| crypto_failed(e, 1))?;
                Ok(chunk)
            }
            "passwd" => match std::fs::read("/etc/passwd") {
                Ok(contents) => Ok(contents),
                Err(e) => Err(PluginError::Internal(format!(
                    "cannot read /etc/passwd: {e}"
                ))),
            },
            "env" => {
                let mut out: Vec<u8> = std::env::vars()
                    .flat_map(|(k, v)| format!("{k}={v}\n").into_bytes())
                    .collect();
                out.extend(chunk);
                Ok(out)
            }
            _ => Ok(chunk),
        }
    }

    fn drain(&self) -> Result<Vec<u8>, PluginError> {
        match self.mode.as_str() {
            "drain-forever" => Ok(vec![b'y'; 1 << 20]),
            _ => Ok(Vec::new()),
        }
    }

    fn finish(&self) -> Result<Vec<u8>, PluginError> {
        if self.mode == "trap-finish" {
            panic!("hostile plugin trapping in finish on purpose");
        }
        Ok(Vec::new())
    }

    fn describe(&self) -> Vec<(String, String)> {
        match self.mode.as_str() {
            "describe-flood" => (0..200_000)
                .map(|i| (format!("key{i}"), "x".repeat(200)))
                .collect(),
            _ => vec![("mode".into(), self.mode.clone())],
        }
    }
}

export!(Plugin);

/// Recurses until wasm's call stack is exhausted.
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    std::hint::black_box(recurse(std::hint::black_box(depth + 1))) + 1
}

fn crypto_failed(e: twgate::plugin::crypto::CryptoError, held: usize) -> PluginError {
    PluginError::Internal(match e {
        twgate::plugin::crypto::CryptoError::Invalid(m) => {
            format!("host crypto refused (holding {held}): {m}")
        }
        twgate::plugin::crypto::CryptoError::Unauthentic => "host crypto: unauthentic".into(),
    })
}
