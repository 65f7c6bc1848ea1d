//! Framing tests for every built-in plugin, through the real runtime and the real
//! components: empty, one byte, exactly one chunk, many chunks, truncated, corrupted,
//! wrong key.

use crate::util::{cache_dir, sample};
use twgate::builtin;
use twgate::plugin::Plugin;
use twgate::runtime::{Direction, Limits, Runtime, StageError};

type Params = Vec<(String, Vec<u8>)>;

pub fn runtime() -> Runtime {
    Runtime::new(Limits::default(), Some(cache_dir())).unwrap()
}

pub fn p(key: &str, value: &[u8]) -> (String, Vec<u8>) {
    (key.to_string(), value.to_vec())
}

/// Runs `data` through one stage, pushing `piece` bytes at a time.
pub fn run_stage(
    rt: &Runtime,
    plugin: &str,
    dir: Direction,
    params: &Params,
    secrets: &Params,
    data: &[u8],
    piece: usize,
) -> Result<Vec<u8>, StageError> {
    let plugin = builtin::find(plugin).unwrap_or_else(|| panic!("plugin {plugin} is not built in"));
    let mut stage = rt.open(
        &Plugin::from_builtin(plugin).component,
        dir,
        params,
        secrets,
    )?;
    let mut out = Vec::new();
    for chunk in data.chunks(piece.max(1)) {
        out.extend(stage.push(chunk)?);
    }
    out.extend(stage.finish()?);
    Ok(out)
}

/// One plugin configuration to put through the framing suite.
struct Case {
    plugin: &'static str,
    encode: Params,
    encode_secrets: Params,
    decode_secrets: Params,
    wrong_secrets: Option<Params>,
}

const CHUNK: usize = 256 * 1024;

fn framing_suite(case: Case) {
    let rt = runtime();
    let encode = |data: &[u8], piece| {
        run_stage(
            &rt,
            case.plugin,
            Direction::Forward,
            &case.encode,
            &case.encode_secrets,
            data,
            piece,
        )
        .unwrap()
    };
    let decode = |data: &[u8], piece| {
        run_stage(
            &rt,
            case.plugin,
            Direction::Inverse,
            &vec![],
            &case.decode_secrets,
            data,
            piece,
        )
    };
    let big = sample(3 * CHUNK + 12345, 7);
    for (len, piece) in [
        (0, CHUNK),
        (1, CHUNK),
        (CHUNK, CHUNK),
        (big.len(), CHUNK),
        (big.len(), 7777),
        (100_000, 1000),
    ] {
        let data = &big[..len];
        let encoded = encode(data, piece);
        for decode_piece in [CHUNK, 4093] {
            let decoded = decode(&encoded, decode_piece)
                .unwrap_or_else(|e| panic!("{}: len {len}: {e}", case.plugin));
            assert!(
                decoded == data,
                "{}: {len} bytes in pieces of {piece} did not round-trip",
                case.plugin
            );
        }
    }
    let encoded = encode(&big, CHUNK);
    for cut in [encoded.len() - 1, encoded.len() - 20, encoded.len() / 2, 10] {
        match decode(&encoded[..cut], CHUNK) {
            Err(StageError::CorruptInput { .. }) => {}
            other => panic!(
                "{}: truncated to {cut} of {}: expected corrupt-input, got {other:?}",
                case.plugin,
                encoded.len()
            ),
        }
    }
    for at in [encoded.len() / 2, encoded.len() - 5] {
        let mut corrupted = encoded.clone();
        corrupted[at] ^= 0x01;
        match decode(&corrupted, CHUNK) {
            Err(StageError::CorruptInput { .. }) => {}
            other => panic!(
                "{}: corrupted at {at}: expected corrupt-input, got {:?}",
                case.plugin,
                other.map(|v| v.len())
            ),
        }
    }
    if let Some(wrong) = &case.wrong_secrets {
        match run_stage(
            &rt,
            case.plugin,
            Direction::Inverse,
            &vec![],
            wrong,
            &encoded,
            CHUNK,
        ) {
            Err(StageError::WrongKey { .. }) => {}
            other => panic!(
                "{}: wrong key: expected wrong-key, got {:?}",
                case.plugin,
                other.map(|v| v.len())
            ),
        }
    }
}

#[test]
fn zstd_framing() {
    framing_suite(Case {
        plugin: "zstd",
        encode: vec![],
        encode_secrets: vec![],
        decode_secrets: vec![],
        wrong_secrets: None,
    });
}

#[test]
fn zstd_rejects_bad_level_as_bad_config() {
    let rt = runtime();
    match run_stage(
        &rt,
        "zstd",
        Direction::Forward,
        &vec![p("level", b"77")],
        &vec![],
        b"x",
        1,
    ) {
        Err(StageError::BadConfig { plugin, message }) => {
            assert_eq!(plugin, "zstd");
            assert!(message.contains("77"), "{message}");
        }
        other => panic!("expected bad-config, got {:?}", other.map(|v| v.len())),
    }
}

#[test]
fn age_framing_with_recipients() {
    use twgate::age_keys::Identity;
    let id = Identity::generate();
    let other = Identity::generate();
    framing_suite(Case {
        plugin: "age",
        encode: vec![p("recipient", id.recipient().as_bytes())],
        encode_secrets: vec![],
        decode_secrets: vec![p("identity", id.encode().as_bytes())],
        wrong_secrets: Some(vec![p("identity", other.encode().as_bytes())]),
    });
}

#[test]
fn openpgp_framing_with_passphrase() {
    framing_suite(Case {
        plugin: "openpgp",
        encode: vec![],
        encode_secrets: vec![p("passphrase", b"correct horse")],
        decode_secrets: vec![p("passphrase", b"correct horse")],
        wrong_secrets: Some(vec![p("passphrase", b"wrong horse")]),
    });
}

#[test]
fn plugins_get_no_capabilities_and_report_info() {
    let rt = runtime();
    for plugin in &builtin::BUILTIN {
        let info = rt.info(&Plugin::from_builtin(plugin).component).unwrap();
        assert_eq!(info.name, plugin.name);
        assert_eq!(info.abi_version, 1);
        assert!(!info.summary.is_empty());
    }
}
