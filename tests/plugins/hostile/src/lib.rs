//! A transform plugin that misbehaves on purpose, chosen by its `mode` parameter:
//! - `loop`: never returns from `push`;
//! - `grow`: allocates without bound in `push`;
//! - `trap`: passes `after` bytes (default 1 MiB) through, then traps;
//! - `flood`: returns 32 MiB from one `push`;
//! - `passwd`: tries to read `/etc/passwd` and returns it as output if it can;
//! - `env`: returns every environment variable it can see as output;
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

    fn open(_direction: Direction, params: Vec<Param>, _secrets: Vec<Param>) -> Result<Stage, PluginError> {
        let get = |key: &str| {
            params
                .iter()
                .find(|p| p.key == key)
                .map(|p| String::from_utf8_lossy(&p.value).into_owned())
        };
        let after = get("after").and_then(|a| a.parse().ok()).unwrap_or(1 << 20);
        Ok(Stage::new(Hostile {
            mode: get("mode").unwrap_or_default(),
            after,
            seen: RefCell::new(0),
            hoard: RefCell::new(Vec::new()),
        }))
    }
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
            "passwd" => match std::fs::read("/etc/passwd") {
                Ok(contents) => Ok(contents),
                Err(e) => Err(PluginError::Internal(format!("cannot read /etc/passwd: {e}"))),
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
        Ok(Vec::new())
    }

    fn finish(&self) -> Result<Vec<u8>, PluginError> {
        Ok(Vec::new())
    }

    fn describe(&self) -> Vec<(String, String)> {
        vec![("mode".into(), self.mode.clone())]
    }
}

export!(Plugin);
