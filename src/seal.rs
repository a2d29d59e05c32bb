//! Sealing small values (session cookies, later shared-store values) with an AEAD and key ids.
//!
//! A [`Sealer`] is built from an ordered list of 32-byte secrets: the first seals, every one
//! opens, so rotation is "put the new secret first, keep the old one until its cookies expire".
//! Each secret is stretched with HKDF-SHA256 into an AES-256-GCM key and a 4-byte key id; the id
//! travels in the sealed value so `open` picks the right key without trying them all, and it
//! reveals nothing about the secret. Every seal draws a fresh random 96-bit nonce
//! (`RandomizedNonceKey`). The [`Purpose`] is the associated data, so a value sealed as a session
//! cookie never opens as a state cookie or a store value, even under the same key.
//!
//! Wire form, base64url without padding: `version (1) ‖ key id (4) ‖ nonce (12) ‖ ciphertext ‖
//! tag (16)`. Anything that does not open (tampered, truncated, foreign or retired key, another
//! purpose) is simply `None`: the caller treats it as "no value" and fails closed.
//!
//! No secret is kept: the derived key bytes are zeroized as soon as aws-lc has them, and aws-lc
//! cleanses its key context when it is freed. `Debug` prints key ids only.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, KeyType, Salt};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

/// Length of a secret, in bytes.
pub const SECRET_LEN: usize = 32;
/// Length of a key id, in bytes.
pub const KEY_ID_LEN: usize = 4;
/// The format version byte that starts every sealed value.
const VERSION: u8 = 1;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;
/// Longest sealed text `open` looks at; a browser keeps at most ~4 KiB per cookie anyway.
pub const MAX_SEALED_LEN: usize = 4096;
/// Longest purpose string.
pub const MAX_PURPOSE_LEN: usize = 128;

const HKDF_SALT: &[u8] = b"verigate seal v1";
const INFO_KEY: &[u8] = b"aes-256-gcm key";
const INFO_ID: &[u8] = b"key id";
const AAD_PREFIX: &[u8] = b"verigate seal v1\0";

/// Why a [`Sealer`], a [`Purpose`] or a secret was refused. Never contains secret bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("at least one secret is required")]
    NoSecrets,
    #[error("secret {index} is {len} bytes; exactly {SECRET_LEN} are required")]
    WrongLength { index: usize, len: usize },
    #[error("secret {index} repeats secret {first}")]
    Duplicate { index: usize, first: usize },
    #[error("secret {index} is not valid base64 (standard alphabet)")]
    NotBase64 { index: usize },
    #[error("the purpose must be 1 to {MAX_PURPOSE_LEN} bytes")]
    BadPurpose,
    #[error("the AEAD refused the operation")]
    Crypto,
}

/// Decodes the configured secret number `index`: standard base64 (padding optional) of exactly
/// 32 bytes. The bytes are zeroized when the result is dropped.
pub fn decode_secret(index: usize, text: &str) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let text = text.trim();
    let bytes = Zeroizing::new(
        STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
            .map_err(|_| SealError::NotBase64 { index })?,
    );
    if bytes.len() != SECRET_LEN {
        return Err(SealError::WrongLength {
            index,
            len: bytes.len(),
        });
    }
    Ok(bytes)
}

/// What a sealed value is for: the associated data of the AEAD. Built once (from a cookie name,
/// a store namespace…), so opening allocates nothing for it.
#[derive(Clone, PartialEq, Eq)]
pub struct Purpose(Box<[u8]>);

impl Purpose {
    /// A purpose named `name` (1 to [`MAX_PURPOSE_LEN`] bytes).
    pub fn new(name: &str) -> Result<Self, SealError> {
        if name.is_empty() || name.len() > MAX_PURPOSE_LEN {
            return Err(SealError::BadPurpose);
        }
        let mut aad = Vec::with_capacity(AAD_PREFIX.len() + name.len());
        aad.extend_from_slice(AAD_PREFIX);
        aad.extend_from_slice(name.as_bytes());
        Ok(Purpose(aad.into_boxed_slice()))
    }

    fn name(&self) -> &str {
        std::str::from_utf8(&self.0[AAD_PREFIX.len()..]).unwrap_or("?")
    }
}

impl fmt::Debug for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Purpose({:?})", self.name())
    }
}

/// HKDF output length for [`KeyType`].
struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

struct SealKey {
    id: [u8; KEY_ID_LEN],
    key: RandomizedNonceKey,
}

impl SealKey {
    fn derive(secret: &[u8]) -> Result<Self, SealError> {
        let prk = Salt::new(HKDF_SHA256, HKDF_SALT).extract(secret);
        let mut key_bytes = Zeroizing::new([0u8; SECRET_LEN]);
        prk.expand(&[INFO_KEY], Len(SECRET_LEN))
            .and_then(|okm| okm.fill(&mut key_bytes[..]))
            .map_err(|_| SealError::Crypto)?;
        let mut id = [0u8; KEY_ID_LEN];
        prk.expand(&[INFO_ID], Len(KEY_ID_LEN))
            .and_then(|okm| okm.fill(&mut id))
            .map_err(|_| SealError::Crypto)?;
        let key =
            RandomizedNonceKey::new(&AES_256_GCM, &key_bytes[..]).map_err(|_| SealError::Crypto)?;
        Ok(SealKey { id, key })
    }
}

/// Which key opened a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// The sealing (first) key.
    Current,
    /// An older key still configured: the value should be re-sealed when convenient.
    Previous,
}

/// Seals with the first secret, opens with any. Cheap to share behind an `Arc`.
pub struct Sealer {
    keys: Box<[SealKey]>,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<String> = self.key_ids().collect();
        f.debug_struct("Sealer").field("key_ids", &ids).finish()
    }
}

impl Sealer {
    /// Builds a sealer from `secrets` in order: each exactly [`SECRET_LEN`] bytes, no repeats.
    pub fn new<S: AsRef<[u8]>>(secrets: &[S]) -> Result<Self, SealError> {
        if secrets.is_empty() {
            return Err(SealError::NoSecrets);
        }
        let mut keys: Vec<SealKey> = Vec::with_capacity(secrets.len());
        for (index, secret) in secrets.iter().enumerate() {
            let secret = secret.as_ref();
            if secret.len() != SECRET_LEN {
                return Err(SealError::WrongLength {
                    index,
                    len: secret.len(),
                });
            }
            let key = SealKey::derive(secret)?;
            // Equal ids mean equal secrets (or a 2^-32 accident): either way refuse, so an id
            // always names one key.
            if let Some(first) = keys.iter().position(|k| k.id == key.id) {
                return Err(SealError::Duplicate { index, first });
            }
            keys.push(key);
        }
        Ok(Sealer {
            keys: keys.into_boxed_slice(),
        })
    }

    /// The key ids in order (hex), for logs and `verigate check`; the first one seals.
    pub fn key_ids(&self) -> impl Iterator<Item = String> + '_ {
        self.keys
            .iter()
            .map(|k| k.id.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The length of the text [`Sealer::seal`] returns for a plaintext of `len` bytes.
    pub fn sealed_len(len: usize) -> usize {
        ((HEADER_LEN + len + TAG_LEN) * 4).div_ceil(3)
    }

    /// Seals `plaintext` for `purpose` under the first key.
    pub fn seal(&self, purpose: &Purpose, plaintext: &[u8]) -> Result<String, SealError> {
        let key = self.keys.first().ok_or(SealError::NoSecrets)?;
        let mut buf = Zeroizing::new(Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN));
        buf.push(VERSION);
        buf.extend_from_slice(&key.id);
        buf.extend_from_slice(&[0u8; NONCE_LEN]);
        let mut body = Zeroizing::new(Vec::with_capacity(plaintext.len() + TAG_LEN));
        body.extend_from_slice(plaintext);
        let nonce = key
            .key
            .seal_in_place_append_tag(Aad::from(&purpose.0[..]), &mut *body)
            .map_err(|_| SealError::Crypto)?;
        buf[1 + KEY_ID_LEN..HEADER_LEN].copy_from_slice(nonce.as_ref());
        buf.extend_from_slice(&body);
        Ok(URL_SAFE_NO_PAD.encode(&buf[..]))
    }

    /// Opens `sealed` for `purpose`, allocating the plaintext (zeroized on drop).
    pub fn open(&self, purpose: &Purpose, sealed: &str) -> Option<(Zeroizing<Vec<u8>>, KeyStatus)> {
        let mut buf = Zeroizing::new(Vec::new());
        let (len, status) = self.open_with(purpose, sealed, &mut buf)?.len_status();
        buf.truncate(HEADER_LEN + len);
        buf.drain(..HEADER_LEN);
        Some((buf, status))
    }

    /// Opens `sealed` for `purpose` into the caller's scratch buffer (cleared first, so a
    /// thread-local buffer makes opening allocation-free once warm). The caller should clear
    /// the buffer when done with the plaintext.
    pub fn open_with<'b>(
        &self,
        purpose: &Purpose,
        sealed: &str,
        buf: &'b mut Vec<u8>,
    ) -> Option<Opened<'b>> {
        buf.clear();
        if sealed.len() > MAX_SEALED_LEN {
            return None;
        }
        URL_SAFE_NO_PAD.decode_vec(sealed, buf).ok()?;
        if buf.len() < HEADER_LEN + TAG_LEN || buf[0] != VERSION {
            return None;
        }
        let id = &buf[1..1 + KEY_ID_LEN];
        let index = self.keys.iter().position(|k| k.id == id)?;
        let nonce = Nonce::try_assume_unique_for_key(&buf[1 + KEY_ID_LEN..HEADER_LEN]).ok()?;
        let plaintext = self.keys[index]
            .key
            .open_in_place(nonce, Aad::from(&purpose.0[..]), &mut buf[HEADER_LEN..])
            .ok()?;
        let status = if index == 0 {
            KeyStatus::Current
        } else {
            KeyStatus::Previous
        };
        Some(Opened { plaintext, status })
    }
}

/// A value opened into a caller's buffer.
#[derive(Debug)]
pub struct Opened<'b> {
    pub plaintext: &'b [u8],
    pub status: KeyStatus,
}

impl Opened<'_> {
    fn len_status(&self) -> (usize, KeyStatus) {
        (self.plaintext.len(), self.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(b: u8) -> [u8; SECRET_LEN] {
        [b; SECRET_LEN]
    }

    fn purpose(name: &str) -> Purpose {
        Purpose::new(name).unwrap()
    }

    #[test]
    fn a_sealed_value_opens_with_the_same_purpose_and_key() {
        let s = Sealer::new(&[secret(1)]).unwrap();
        let p = purpose("__Host-verigate");
        for plain in [&b""[..], b"x", &[0xAB; 1000]] {
            let sealed = s.seal(&p, plain).unwrap();
            assert_eq!(sealed.len(), Sealer::sealed_len(plain.len()), "{plain:?}");
            let (opened, status) = s.open(&p, &sealed).unwrap();
            assert_eq!(&opened[..], plain);
            assert_eq!(status, KeyStatus::Current);
        }
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let s = Sealer::new(&[secret(1)]).unwrap();
        let p = purpose("p");
        let a = s.seal(&p, b"same").unwrap();
        let b = s.seal(&p, b"same").unwrap();
        assert_ne!(a, b);
        let nonce =
            |v: &str| URL_SAFE_NO_PAD.decode(v).unwrap()[1 + KEY_ID_LEN..HEADER_LEN].to_vec();
        assert_ne!(nonce(&a), nonce(&b));
    }

    #[test]
    fn a_value_sealed_for_one_purpose_does_not_open_for_another() {
        let s = Sealer::new(&[secret(1)]).unwrap();
        let sealed = s.seal(&purpose("__Host-verigate"), b"session").unwrap();
        assert!(s.open(&purpose("__Host-verigate_state"), &sealed).is_none());
        assert!(s.open(&purpose("__Host-verigat"), &sealed).is_none());
    }

    #[test]
    fn tampering_anywhere_is_refused() {
        let s = Sealer::new(&[secret(1)]).unwrap();
        let p = purpose("p");
        let raw = URL_SAFE_NO_PAD
            .decode(s.seal(&p, b"adult 1976-11-07").unwrap())
            .unwrap();
        for i in 0..raw.len() {
            for bit in [0x01u8, 0x80] {
                let mut t = raw.clone();
                t[i] ^= bit;
                let text = URL_SAFE_NO_PAD.encode(&t);
                assert!(s.open(&p, &text).is_none(), "byte {i} bit {bit:#x}");
            }
        }
    }

    #[test]
    fn truncated_extended_and_garbage_values_are_refused() {
        let s = Sealer::new(&[secret(1)]).unwrap();
        let p = purpose("p");
        let sealed = s.seal(&p, b"hello world").unwrap();
        let raw = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        for n in 0..raw.len() {
            assert!(
                s.open(&p, &URL_SAFE_NO_PAD.encode(&raw[..n])).is_none(),
                "{n}"
            );
        }
        let mut longer = raw.clone();
        longer.push(0);
        let cases = [
            String::new(),
            "!!!!".into(),
            format!("{sealed}="),
            format!("{sealed}.x"),
            format!(" {sealed}"),
            sealed.replace('-', "+"),
            URL_SAFE_NO_PAD.encode(&longer),
            "A".repeat(MAX_SEALED_LEN + 4),
        ];
        for case in &cases {
            if case == &sealed {
                continue;
            }
            assert!(s.open(&p, case).is_none(), "{case:?}");
        }
    }

    #[test]
    fn rotation_old_values_open_with_the_old_key_listed_second() {
        let old = Sealer::new(&[secret(1)]).unwrap();
        let rotated = Sealer::new(&[secret(2), secret(1)]).unwrap();
        let p = purpose("p");
        let sealed_old = old.seal(&p, b"v").unwrap();
        let (v, status) = rotated.open(&p, &sealed_old).unwrap();
        assert_eq!((&v[..], status), (&b"v"[..], KeyStatus::Previous));
        // New values are sealed with the new key, which the old sealer does not know.
        let sealed_new = rotated.seal(&p, b"v").unwrap();
        assert_eq!(rotated.open(&p, &sealed_new).unwrap().1, KeyStatus::Current);
        assert!(old.open(&p, &sealed_new).is_none());
    }

    #[test]
    fn foreign_and_retired_keys_do_not_open() {
        let p = purpose("p");
        let foreign = Sealer::new(&[secret(9)]).unwrap();
        let retired = Sealer::new(&[secret(1)]).unwrap();
        let current = Sealer::new(&[secret(2)]).unwrap();
        assert!(current.open(&p, &foreign.seal(&p, b"v").unwrap()).is_none());
        assert!(current.open(&p, &retired.seal(&p, b"v").unwrap()).is_none());
    }

    #[test]
    fn a_forged_key_id_does_not_open_with_another_key() {
        let a = Sealer::new(&[secret(1)]).unwrap();
        let both = Sealer::new(&[secret(2), secret(1)]).unwrap();
        let p = purpose("p");
        let mut raw = URL_SAFE_NO_PAD.decode(a.seal(&p, b"v").unwrap()).unwrap();
        let id2 = SealKey::derive(&secret(2)).unwrap().id;
        raw[1..1 + KEY_ID_LEN].copy_from_slice(&id2);
        assert!(both.open(&p, &URL_SAFE_NO_PAD.encode(&raw)).is_none());
    }

    #[test]
    fn key_ids_are_derived_not_the_secret() {
        let s = Sealer::new(&[secret(0xAA), secret(0xBB)]).unwrap();
        let ids: Vec<String> = s.key_ids().collect();
        assert_eq!(ids.len(), 2);
        assert_ne!(ids[0], ids[1]);
        for id in &ids {
            assert_eq!(id.len(), 2 * KEY_ID_LEN);
            assert_ne!(id, "aaaaaaaa");
            assert_ne!(id, "bbbbbbbb");
        }
        // Stable: the same secret always has the same id (rotation across restarts).
        let again: Vec<String> = Sealer::new(&[secret(0xAA)]).unwrap().key_ids().collect();
        assert_eq!(again[0], ids[0]);
    }

    #[test]
    fn bad_secret_lists_are_refused() {
        let none: [[u8; 32]; 0] = [];
        assert_eq!(Sealer::new(&none).unwrap_err(), SealError::NoSecrets);
        assert_eq!(
            Sealer::new(&[&[1u8; 31][..]]).unwrap_err(),
            SealError::WrongLength { index: 0, len: 31 }
        );
        assert_eq!(
            Sealer::new(&[&secret(1)[..], &[1u8; 33][..]]).unwrap_err(),
            SealError::WrongLength { index: 1, len: 33 }
        );
        assert_eq!(
            Sealer::new(&[secret(1), secret(2), secret(1)]).unwrap_err(),
            SealError::Duplicate { index: 2, first: 0 }
        );
    }

    #[test]
    fn secrets_decode_from_base64_of_exactly_32_bytes() {
        let ok = STANDARD.encode([7u8; 32]);
        assert_eq!(&decode_secret(0, &ok).unwrap()[..], &[7u8; 32]);
        assert_eq!(
            &decode_secret(0, ok.trim_end_matches('=')).unwrap()[..],
            &[7u8; 32]
        );
        assert_eq!(
            &decode_secret(0, &format!(" {ok}\n")).unwrap()[..],
            &[7u8; 32]
        );
        let short = STANDARD.encode([7u8; 16]);
        assert_eq!(
            decode_secret(2, &short).unwrap_err(),
            SealError::WrongLength { index: 2, len: 16 }
        );
        assert_eq!(
            decode_secret(0, &STANDARD.encode([7u8; 33])).unwrap_err(),
            SealError::WrongLength { index: 0, len: 33 }
        );
        assert_eq!(
            decode_secret(1, "not base64!").unwrap_err(),
            SealError::NotBase64 { index: 1 }
        );
        // A 32-character string is not read as raw key bytes (oauth2-proxy #579).
        assert!(decode_secret(0, "0123456789abcdef0123456789abcdef").is_err());
    }

    #[test]
    fn debug_prints_key_ids_never_secrets() {
        let s = Sealer::new(&[secret(0x41)]).unwrap();
        let printed = format!("{s:?}");
        assert!(printed.contains("key_ids"), "{printed}");
        assert!(
            !printed.contains("AAAA") && !printed.contains("4141"),
            "{printed}"
        );
        assert_eq!(format!("{:?}", purpose("x")), "Purpose(\"x\")");
    }

    #[test]
    fn purposes_are_bounded() {
        assert_eq!(Purpose::new("").unwrap_err(), SealError::BadPurpose);
        assert!(Purpose::new(&"p".repeat(MAX_PURPOSE_LEN)).is_ok());
        assert_eq!(
            Purpose::new(&"p".repeat(MAX_PURPOSE_LEN + 1)).unwrap_err(),
            SealError::BadPurpose
        );
    }

    #[test]
    fn open_with_reuses_the_callers_buffer() {
        let s = Sealer::new(&[secret(1)]).unwrap();
        let p = purpose("p");
        let sealed = s.seal(&p, &[5u8; 300]).unwrap();
        let mut buf = Vec::with_capacity(1024);
        let ptr = buf.as_ptr();
        for _ in 0..3 {
            let opened = s.open_with(&p, &sealed, &mut buf).unwrap();
            assert_eq!(opened.plaintext, &[5u8; 300][..]);
        }
        assert_eq!(buf.as_ptr(), ptr, "the buffer was reallocated");
    }
}
