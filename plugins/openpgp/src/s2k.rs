//! OpenPGP's string-to-key (RFC 4880 §3.7.1, RFC 9580 §3.7.1) with the hashing lent by the
//! host: simple, salted and iterated+salted S2K over SHA-1, SHA-256 and SHA-512.
//!
//! Sequoia's `S2K::derive_key` hashes in WebAssembly, and the iterated S2K that sequoia
//! writes (and gpg calibrates to ~100 ms natively) hashes tens of megabytes: about 0.2 s of
//! fixed cost per passphrase stream. Here the same bytes go to the host's
//! [`Hasher`](twgate_plugin_sdk::crypto::Hasher) in pieces of about 1 MiB, so a default S2K
//! is some 60 host calls. Other hashes (and Argon2, and unknown S2Ks) fall back to sequoia.
//!
//! [`skesk4`] builds the SKESK v4 packet this plugin writes and [`decrypt_skesk`] opens
//! one; sequoia still parses and serialises the packets.

use sequoia_openpgp::crypto::{Password, SessionKey, S2K};
use sequoia_openpgp::packet::skesk::SKESK4;
use sequoia_openpgp::packet::SKESK;
use sequoia_openpgp::types::{HashAlgorithm as PgpHash, SymmetricAlgorithm};
use twgate_plugin_sdk::crypto::{BlockCipher, Cfb as HostCfb, HashAlgorithm, Hasher};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{self, Result};
use twgate_plugin_sdk::Error;

/// About how many bytes each host `update` carries: a whole number of (salt || passphrase)
/// repetitions, so consecutive pieces continue the repetition seamlessly.
const PIECE: usize = 1 << 20;

fn internal(e: impl std::fmt::Display) -> Error {
    error::internal(format!("key derivation failed: {e}"))
}

/// The host's hash for `hash`, and its digest size; `None` if the host has none.
fn host_hash(hash: PgpHash) -> Option<(HashAlgorithm, usize)> {
    match hash {
        PgpHash::SHA1 => Some((HashAlgorithm::Sha1, 20)),
        PgpHash::SHA256 => Some((HashAlgorithm::Sha256, 32)),
        PgpHash::SHA512 => Some((HashAlgorithm::Sha512, 64)),
        _ => None,
    }
}

/// The parts of a simple, salted or iterated+salted S2K whose hash the host has:
/// `(hash, salt, count)` (count `None`: the salt and passphrase are hashed once).
#[allow(deprecated)] // Simple and Salted: only to read old messages.
fn host_params(s2k: &S2K) -> Option<(HashAlgorithm, usize, &[u8], Option<u32>)> {
    let (hash, salt, count): (PgpHash, &[u8], _) = match s2k {
        S2K::Simple { hash } => (*hash, &[], None),
        S2K::Salted { hash, salt } => (*hash, &salt[..], None),
        S2K::Iterated {
            hash,
            salt,
            hash_bytes,
        } => (*hash, &salt[..], Some(*hash_bytes)),
        _ => return None,
    };
    let (algo, digest) = host_hash(hash)?;
    Some((algo, digest, salt, count))
}

/// Whether [`derive_key`] runs `s2k` on the host (rather than in sequoia).
pub fn on_host(s2k: &S2K) -> bool {
    host_params(s2k).is_some()
}

/// Derives a key of `key_size` bytes from `password`, as sequoia's `S2K::derive_key` does.
pub fn derive_key(s2k: &S2K, password: &Password, key_size: usize) -> Result<SessionKey> {
    match host_params(s2k) {
        Some((algo, digest, salt, count)) => {
            password.map(|p| derive(algo, digest, salt, p, count, key_size))
        }
        None => s2k.derive_key(password, key_size).map_err(internal),
    }
}

/// RFC 4880 §3.7.1: one hash context per `digest` bytes of key, the i-th preloaded with i
/// zero octets, each hashing `count` bytes of (salt || passphrase) repeated (at least the
/// whole of it once; `None`: exactly once).
fn derive(
    algo: HashAlgorithm,
    digest: usize,
    salt: &[u8],
    passphrase: &[u8],
    count: Option<u32>,
    key_size: usize,
) -> Result<SessionKey> {
    let unit = salt.len() + passphrase.len();
    let total = match count {
        Some(c) => (c as usize).max(unit),
        None => unit,
    };
    let reps = (PIECE / unit.max(1))
        .max(1)
        .min(total.div_ceil(unit.max(1)));
    let mut buf = Zeroizing::new(Vec::with_capacity(reps * unit));
    for _ in 0..reps {
        buf.extend_from_slice(salt);
        buf.extend_from_slice(passphrase);
    }
    let mut hasher = Hasher::new(algo).map_err(internal)?;
    let mut key = Zeroizing::new(vec![0u8; key_size]);
    let zeros = vec![0u8; key_size.div_ceil(digest)];
    for (i, out) in key.chunks_mut(digest).enumerate() {
        if i > 0 {
            hasher.update(&zeros[..i]).map_err(internal)?;
        }
        let mut left = total;
        if !buf.is_empty() {
            while left >= buf.len() {
                hasher.update(&buf).map_err(internal)?;
                left -= buf.len();
            }
            if left > 0 {
                hasher.update(&buf[..left]).map_err(internal)?;
            }
        }
        let mut d = hasher.finish();
        if d.len() != digest {
            d.zeroize();
            return Err(internal("the hash returned a digest of the wrong length"));
        }
        out.copy_from_slice(&d[..out.len()]);
        d.zeroize();
    }
    Ok(SessionKey::from(&key[..]))
}

/// The SKESK v4 packet for `session_key` (of `algo`, which must be AES) under `password`,
/// as sequoia's `SKESK4::with_password(algo, algo, s2k, ..)` makes it: the S2K key
/// encrypts `algo || session_key` in CFB with an all-zero IV.
pub fn skesk4(
    algo: SymmetricAlgorithm,
    s2k: S2K,
    session_key: &SessionKey,
    password: &Password,
) -> Result<SKESK4> {
    let host = match algo {
        SymmetricAlgorithm::AES128 => BlockCipher::Aes128,
        SymmetricAlgorithm::AES192 => BlockCipher::Aes192,
        SymmetricAlgorithm::AES256 => BlockCipher::Aes256,
        _ => return Err(internal(format!("{algo} is not AES"))),
    };
    if session_key.len() != host.key_len() {
        return Err(internal("a session key of the wrong size"));
    }
    let key = derive_key(&s2k, password, host.key_len())?;
    let mut cfb = HostCfb::new(host, &key, &[0; 16], true).map_err(internal)?;
    drop(key);
    let mut psk = Zeroizing::new(Vec::with_capacity(1 + session_key.len()));
    psk.push(u8::from(algo));
    psk.extend_from_slice(session_key);
    let mut esk = Vec::with_capacity(psk.len());
    cfb.update(&psk, &mut esk).map_err(internal)?;
    if esk.len() != psk.len() {
        return Err(internal("CFB returned the wrong length"));
    }
    SKESK4::new(algo, s2k, Some(esk.into_boxed_slice())).map_err(internal)
}

/// What `skesk.decrypt(password)` returns (the session key's algorithm, if the packet
/// says, and the key), with the S2K on the host where it can run there.
///
/// As in sequoia, a wrong passphrase is not detected here: it yields a garbage key (and
/// algorithm), which the SEIPD's quick check then rejects.
pub fn decrypt_skesk(
    skesk: &SKESK,
    password: &Password,
) -> Result<(Option<SymmetricAlgorithm>, SessionKey)> {
    let s = match skesk {
        SKESK::V4(s) if on_host(s.s2k()) => s,
        _ => return skesk.decrypt(password).map_err(internal),
    };
    let algo = s.symmetric_algo();
    let key_size = algo
        .key_size()
        .map_err(|_| error::corrupt(format!("the cipher {algo} is not supported")))?;
    let key = derive_key(s.s2k(), password, key_size)?;
    let Some(esk) = s.esk().map_err(internal)? else {
        // No encrypted session key: the S2K key is the session key.
        return Ok((Some(algo), key));
    };
    let mut cfb = crate::cfb::Cfb::new(algo, key)?;
    let mut plain = Zeroizing::new(Vec::with_capacity(esk.len()));
    cfb.update(esk, &mut plain)?;
    cfb.finish(&mut plain)?;
    if plain.len() != esk.len() || plain.is_empty() {
        return Err(internal(
            "the encrypted session key decrypted to the wrong length",
        ));
    }
    Ok((
        Some(SymmetricAlgorithm::from(plain[0])),
        SessionKey::from(&plain[1..]),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(len: usize) -> Password {
        let v: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
        Password::from(v)
    }

    #[test]
    #[allow(deprecated)]
    fn matches_sequoia() {
        let salt = [1, 2, 3, 4, 5, 6, 7, 0xfe];
        for hash in [PgpHash::SHA1, PgpHash::SHA256, PgpHash::SHA512] {
            for pw_len in [0, 1, 9, 57, 300] {
                let pw = password(pw_len);
                let mut s2ks = vec![S2K::Simple { hash }, S2K::Salted { hash, salt }];
                for count in [0, 10, 1024, 65_536 + 3, 1 << 20, 3_000_017] {
                    s2ks.push(S2K::Iterated {
                        hash,
                        salt,
                        hash_bytes: count,
                    });
                }
                for s2k in &s2ks {
                    assert!(on_host(s2k));
                    for key_size in [16, 24, 32, 40, 65, 100] {
                        let ours = derive_key(s2k, &pw, key_size).unwrap();
                        let theirs = s2k.derive_key(&pw, key_size).unwrap();
                        assert_eq!(&ours[..], &theirs[..], "{s2k:?} pw {pw_len} key {key_size}");
                    }
                }
            }
        }
        // The default S2K sequoia writes (and the largest count), SHA-1 with a key longer
        // than its digest.
        let pw = password(20);
        let mut s2k = S2K::default();
        assert!(matches!(
            s2k,
            S2K::Iterated {
                hash: PgpHash::SHA256,
                hash_bytes: 0x3e00000,
                ..
            }
        ));
        for hash in [PgpHash::SHA1, PgpHash::SHA256, PgpHash::SHA512] {
            if let S2K::Iterated { hash: h, .. } = &mut s2k {
                *h = hash;
            }
            let ours = derive_key(&s2k, &pw, 32).unwrap();
            assert_eq!(&ours[..], &s2k.derive_key(&pw, 32).unwrap()[..], "{hash}");
        }
    }

    #[test]
    fn other_hashes_fall_back_to_sequoia() {
        let pw = password(12);
        let s2k = S2K::Iterated {
            hash: PgpHash::SHA224,
            salt: [9; 8],
            hash_bytes: 65_536,
        };
        assert!(!on_host(&s2k));
        assert_eq!(
            &derive_key(&s2k, &pw, 32).unwrap()[..],
            &s2k.derive_key(&pw, 32).unwrap()[..]
        );
    }

    #[test]
    #[allow(deprecated)] // CAST5: only to read old messages, through the fallback.
    fn skesk_round_trips_with_sequoia() {
        let pw = password(15);
        let wrong = password(16);
        for algo in [
            SymmetricAlgorithm::AES128,
            SymmetricAlgorithm::AES192,
            SymmetricAlgorithm::AES256,
        ] {
            let sk = SessionKey::new(algo.key_size().unwrap()).unwrap();
            let s2k = S2K::new_iterated(PgpHash::SHA256, 100_000).unwrap();
            // Ours, opened by sequoia and by us.
            let ours = SKESK::from(skesk4(algo, s2k.clone(), &sk, &pw).unwrap());
            let (a, k) = ours.decrypt(&pw).unwrap();
            assert_eq!((a, &k[..]), (Some(algo), &sk[..]));
            let (a, k) = decrypt_skesk(&ours, &pw).unwrap();
            assert_eq!((a, &k[..]), (Some(algo), &sk[..]));
            // Sequoia's, byte for byte the same packet.
            let theirs = SKESK::from(SKESK4::with_password(algo, algo, s2k, &sk, &pw).unwrap());
            assert_eq!(ours, theirs);
            // A wrong passphrase: the same garbage as sequoia's.
            let (a, k) = decrypt_skesk(&ours, &wrong).unwrap();
            let (sa, sk2) = ours.decrypt(&wrong).unwrap();
            assert_eq!((a, &k[..]), (sa, &sk2[..]));
        }
        // Other ciphers for the ESK and no ESK at all, as gpg writes for --symmetric.
        for algo in [
            SymmetricAlgorithm::AES256,
            SymmetricAlgorithm::CAST5,
            SymmetricAlgorithm::Twofish,
        ] {
            for hash in [PgpHash::SHA1, PgpHash::SHA512] {
                let s2k = S2K::new_iterated(hash, 50_000).unwrap();
                let sk = SessionKey::new(32).unwrap();
                let mut packets = vec![SKESK::from(SKESK4::new(algo, s2k.clone(), None).unwrap())];
                packets.push(SKESK::from(
                    SKESK4::with_password(SymmetricAlgorithm::AES256, algo, s2k, &sk, &pw).unwrap(),
                ));
                for p in packets {
                    let (a, k) = decrypt_skesk(&p, &pw).unwrap();
                    let (sa, sk2) = p.decrypt(&pw).unwrap();
                    assert_eq!((a, &k[..]), (sa, &sk2[..]), "{algo} {hash}");
                }
            }
        }
    }
}
