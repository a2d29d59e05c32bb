//! RFC 9421 HTTP Message Signatures, the parts verigate uses: the covered components and their
//! values, the signature parameters, the signature base (§2.5), and the `signature-input` and
//! `signature` members. The structured-field serialisation is `sfv`'s; the base is assembled
//! here because it is a few fixed lines around the signing call.
//!
//! Everything here is pure: the key, the parameters (with `created` and the `nonce` already
//! chosen) and the buffers are arguments, so the Appendix B test vectors run through the very
//! code that signs requests.

use sfv::{DictSerializer, Integer, ItemSerializer, KeyRef, StringRef};

use super::keys::Material;

/// The signature label in `signature-input` and `signature`.
pub(super) const LABEL: &KeyRef = KeyRef::constant("verigate");
/// The `tag` parameter: lets an app tell verigate's signature from any other on the request.
pub(super) const TAG: &StringRef = StringRef::constant("verigate");

pub(super) const METHOD: &StringRef = StringRef::constant("@method");
pub(super) const PATH: &StringRef = StringRef::constant("@path");
pub(super) const QUERY: &StringRef = StringRef::constant("@query");

const P_CREATED: &KeyRef = KeyRef::constant("created");
const P_EXPIRES: &KeyRef = KeyRef::constant("expires");
const P_KEYID: &KeyRef = KeyRef::constant("keyid");
const P_ALG: &KeyRef = KeyRef::constant("alg");
const P_NONCE: &KeyRef = KeyRef::constant("nonce");
const P_TAG: &KeyRef = KeyRef::constant("tag");

pub(super) const ALG_ED25519: &StringRef = StringRef::constant("ed25519");
pub(super) const ALG_HMAC_SHA256: &StringRef = StringRef::constant("hmac-sha256");

/// The value of one covered component.
#[derive(Clone, Copy)]
pub(super) enum ComponentValue<'a> {
    /// A field value or a derived value taken as is (surrounding whitespace trimmed, §2.1).
    Plain(&'a [u8]),
    /// `@query` (§2.2.7): `?` and the query, or `?` alone when there is none.
    Query(Option<&'a str>),
}

impl ComponentValue<'_> {
    fn write_to(self, out: &mut Vec<u8>) {
        match self {
            ComponentValue::Plain(v) => out.extend_from_slice(v.trim_ascii()),
            ComponentValue::Query(q) => {
                out.push(b'?');
                out.extend_from_slice(q.unwrap_or("").as_bytes());
            }
        }
    }
}

/// Signature parameters (RFC 9421 §2.3), serialised in this order; `None` ones are left out.
pub(super) struct SignatureParams<'a> {
    pub(super) created: i64,
    pub(super) expires: Option<i64>,
    pub(super) keyid: &'a StringRef,
    pub(super) alg: Option<&'a StringRef>,
    pub(super) nonce: Option<&'a StringRef>,
    pub(super) tag: Option<&'a StringRef>,
}

/// What one message signature produced: the two header values, member `label=…` each.
pub(super) struct MessageSignature {
    pub(super) input: String,
    pub(super) signature: String,
}

fn sf_integer(v: i64) -> Integer {
    // Structured-field integers reach ±999,999,999,999,999; UNIX seconds stay far below.
    Integer::try_from(v).unwrap_or(if v < 0 { Integer::MIN } else { Integer::MAX })
}

/// Serialises `label=(components);params` (the `signature-input` member) and builds the
/// signature base (RFC 9421 §2.5) into `base`: one `"identifier": value` line per component, then
/// `"@signature-params": ` and the same inner list, with no trailing newline.
fn input_and_base<'c>(
    label: &KeyRef,
    components: impl IntoIterator<Item = (&'c StringRef, ComponentValue<'c>)>,
    params: &SignatureParams<'_>,
    base: &mut Vec<u8>,
    identifier: &mut String,
) -> String {
    base.clear();
    let mut input = String::with_capacity(256);
    {
        let mut dict = DictSerializer::with_buffer(&mut input);
        let mut list = dict.inner_list(label);
        for (id, value) in components {
            list.bare_item(id);
            identifier.clear();
            let _ = ItemSerializer::with_buffer(identifier)
                .bare_item(id)
                .finish();
            base.extend_from_slice(identifier.as_bytes());
            base.extend_from_slice(b": ");
            value.write_to(base);
            base.push(b'\n');
        }
        let mut p = list
            .finish()
            .parameter(P_CREATED, sf_integer(params.created));
        if let Some(expires) = params.expires {
            p = p.parameter(P_EXPIRES, sf_integer(expires));
        }
        p = p.parameter(P_KEYID, params.keyid);
        if let Some(alg) = params.alg {
            p = p.parameter(P_ALG, alg);
        }
        if let Some(nonce) = params.nonce {
            p = p.parameter(P_NONCE, nonce);
        }
        if let Some(tag) = params.tag {
            p = p.parameter(P_TAG, tag);
        }
        let _ = p.finish();
        let _ = dict.finish();
    }
    // The signature-params value is the member's value: everything after `label=`.
    base.extend_from_slice(b"\"@signature-params\": ");
    base.extend_from_slice(&input.as_bytes()[label.as_str().len() + 1..]);
    input
}

/// Signs `components` under `label` with explicit parameters: the whole of RFC 9421 signing,
/// shared by [`Signer::sign`] and the Appendix B test vectors.
pub(super) fn message_signature<'c>(
    material: &Material,
    label: &KeyRef,
    components: impl IntoIterator<Item = (&'c StringRef, ComponentValue<'c>)>,
    params: &SignatureParams<'_>,
    base: &mut Vec<u8>,
    identifier: &mut String,
) -> MessageSignature {
    let input = input_and_base(label, components, params, base, identifier);
    let sig = material.sign(base);
    let mut signature = String::with_capacity(label.as_str().len() + 4 + 88);
    let mut dict = DictSerializer::with_buffer(&mut signature);
    let _ = dict.bare_item(label, sig.as_ref());
    let _ = dict.finish();
    MessageSignature { input, signature }
}
