//! [signing] and [[signing.keys]]: key ids, each key's material against its algorithm, the active
//! key, the JWT claims.

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use super::Checker;
use crate::config::raw::{RawKey, RawSigning, S};
use crate::secret::Secret;
use crate::signing::{
    HMAC_SECRET_MIN_BYTES, KeyAlg, KeyMaterial, SigningKey, SigningSettings, decode_hmac_secret,
};

impl Checker<'_> {
    pub(super) fn signing(&mut self, raw: S<RawSigning>) -> SigningSettings {
        let t = raw.span();
        let r = raw.into_inner();
        // Key id → offset of its first use.
        let mut seen: HashMap<String, usize> = HashMap::new();
        let keys: Vec<SigningKey> = r
            .keys
            .into_iter()
            .map(|key| self.signing_key(key, &mut seen))
            .collect();
        let active_key = r.active_key.get_ref().trim().to_string();
        if !keys.iter().any(|k| k.id == active_key) {
            let ids: Vec<&str> = keys.iter().map(|k| k.id.as_str()).collect();
            let known = if ids.is_empty() {
                "there is no [[signing.keys]] table".to_string()
            } else {
                format!("keys: {}", ids.join(", "))
            };
            self.error(
                &r.active_key.span(),
                &t,
                format!("`active_key` in [signing] names no key: `{active_key}`; {known}"),
            );
        }
        if *r.signature_ttl_secs.get_ref() == 0 {
            self.error(
                &r.signature_ttl_secs.span(),
                &t,
                "`signature_ttl_secs` in [signing] must be at least 1".to_string(),
            );
        }
        self.non_empty(&r.issuer, &t, "`issuer` in [signing]");
        self.non_empty(&r.audience, &t, "`audience` in [signing]");
        SigningSettings {
            active_key,
            signature_ttl: Duration::from_secs(*r.signature_ttl_secs.get_ref()),
            jwt: r.jwt,
            issuer: r.issuer.into_inner(),
            audience: r.audience.into_inner(),
            keys,
        }
    }

    /// One `[[signing.keys]]` entry: a unique id, and the material its algorithm takes.
    fn signing_key(&mut self, key: S<RawKey>, seen: &mut HashMap<String, usize>) -> SigningKey {
        let kt = key.span();
        let k = key.into_inner();
        let id = k.id.get_ref().trim().to_string();
        let id_ok = (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !id_ok {
            self.error(
                &k.id.span(),
                &kt,
                format!(
                    "`id` in [[signing.keys]] must be 1–64 letters, digits, `.`, `_` or `-` \
                     (it is sent as keyid and kid), not `{}`",
                    k.id.get_ref()
                ),
            );
        }
        if let Some(first) = seen.get(&id) {
            let line = self.line(*first);
            self.error(
                &k.id.span(),
                &kt,
                format!(
                    "key id `{id}` is already used by the key on line {line}; ids in \
                     [[signing.keys]] must be unique"
                ),
            );
        } else {
            seen.insert(id.clone(), k.id.span().start);
        }
        let alg = *k.alg.get_ref();
        let material = match alg {
            KeyAlg::Ed25519 => self.ed25519_material(&id, k, &kt),
            KeyAlg::HmacSha256 => self.hmac_material(&id, k, &kt),
        };
        SigningKey { id, alg, material }
    }

    fn ed25519_material(&mut self, id: &str, k: RawKey, kt: &Range<usize>) -> KeyMaterial {
        if let Some(secret) = &k.secret {
            self.error(
                &secret.span(),
                kt,
                format!("key `{id}` is ed25519: it takes `private_key_file`, not `secret`"),
            );
        }
        match k.private_key_file {
            Some(file) => {
                self.non_empty(&file, kt, &format!("`private_key_file` of key `{id}`"));
                KeyMaterial::PrivateKeyFile(PathBuf::from(file.into_inner()))
            }
            None => {
                self.error(
                    &k.alg.span(),
                    kt,
                    format!(
                        "key `{id}` is ed25519 and needs `private_key_file` (an Ed25519 PKCS#8 \
                         PEM file; `verigate keygen --alg ed25519` makes one)"
                    ),
                );
                KeyMaterial::PrivateKeyFile(PathBuf::new())
            }
        }
    }

    fn hmac_material(&mut self, id: &str, k: RawKey, kt: &Range<usize>) -> KeyMaterial {
        if let Some(file) = &k.private_key_file {
            self.error(
                &file.span(),
                kt,
                format!("key `{id}` is hmac-sha256: it takes `secret`, not `private_key_file`"),
            );
        }
        match k.secret {
            Some(secret) => {
                let span = secret.span();
                let secret = Secret::new(secret.into_inner().trim());
                if let Err(e) = decode_hmac_secret(&secret) {
                    self.error(&span, kt, format!("`secret` of key `{id}` {e}"));
                }
                KeyMaterial::HmacSecret(secret)
            }
            None => {
                self.error(
                    &k.alg.span(),
                    kt,
                    format!(
                        "key `{id}` is hmac-sha256 and needs `secret` (base64, at least \
                         {HMAC_SECRET_MIN_BYTES} bytes decoded; best as \"${{VARIABLE}}\")"
                    ),
                );
                KeyMaterial::HmacSecret(Secret::new(""))
            }
        }
    }
}
