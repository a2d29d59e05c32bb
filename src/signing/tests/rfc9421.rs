//! RFC 9421: the Appendix B vectors reproduced, and the signature's components, parameters and verification.

use super::*;
use crate::signing::rfc9421::MessageSignature;

fn rfc_components<'a>(
    names: &'a [&'a str],
    values: &'a [&'a str],
) -> impl Iterator<Item = (&'a StringRef, ComponentValue<'a>)> {
    names.iter().zip(values).map(|(n, v)| {
        (
            StringRef::from_str(n).unwrap(),
            ComponentValue::Plain(v.as_bytes()),
        )
    })
}

fn vector(
    material: &Material,
    label: &str,
    names: &[&str],
    values: &[&str],
    keyid: &str,
) -> (String, MessageSignature) {
    let params = SignatureParams {
        created: 1618884473,
        expires: None,
        keyid: StringRef::from_str(keyid).unwrap(),
        alg: None,
        nonce: None,
        tag: None,
    };
    let (mut base, mut ident) = (Vec::new(), String::new());
    let sig = message_signature(
        material,
        KeyRef::from_str(label).unwrap(),
        rfc_components(names, values),
        &params,
        &mut base,
        &mut ident,
    );
    (String::from_utf8(base).unwrap(), sig)
}

#[test]
fn rfc9421_b_2_5_hmac_sha256_vector_is_reproduced() {
    let secret = STANDARD.decode(RFC_SHARED_SECRET).unwrap();
    let (base, sig) = vector(
        &Material::from_secret(&secret),
        "sig-b25",
        &["date", "@authority", "content-type"],
        &[DATE, "example.com", "application/json"],
        "test-shared-secret",
    );
    assert_eq!(
        base,
        "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\
         \"@authority\": example.com\n\
         \"content-type\": application/json\n\
         \"@signature-params\": (\"date\" \"@authority\" \"content-type\")\
         ;created=1618884473;keyid=\"test-shared-secret\""
    );
    assert_eq!(
        sig.input,
        "sig-b25=(\"date\" \"@authority\" \"content-type\")\
         ;created=1618884473;keyid=\"test-shared-secret\""
    );
    assert_eq!(
        sig.signature,
        "sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:"
    );
}

#[test]
fn rfc9421_b_2_6_ed25519_vector_is_reproduced() {
    let material = Material::from_pem("test-key-ed25519", Path::new("rfc"), RFC_ED25519_PEM)
        .unwrap_or_else(|e| panic!("{e}"));
    let (base, sig) = vector(
        &material,
        "sig-b26",
        &[
            "date",
            "@method",
            "@path",
            "@authority",
            "content-type",
            "content-length",
        ],
        &[
            DATE,
            "POST",
            "/foo",
            "example.com",
            "application/json",
            "18",
        ],
        "test-key-ed25519",
    );
    assert_eq!(
        base,
        "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\
         \"@method\": POST\n\
         \"@path\": /foo\n\
         \"@authority\": example.com\n\
         \"content-type\": application/json\n\
         \"content-length\": 18\n\
         \"@signature-params\": (\"date\" \"@method\" \"@path\" \"@authority\" \
         \"content-type\" \"content-length\");created=1618884473\
         ;keyid=\"test-key-ed25519\""
    );
    assert_eq!(
        sig.input,
        "sig-b26=(\"date\" \"@method\" \"@path\" \"@authority\" \
         \"content-type\" \"content-length\");created=1618884473\
         ;keyid=\"test-key-ed25519\""
    );
    assert_eq!(
        sig.signature,
        "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1\
         u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:"
    );
}

// ---- the RFC 9421 signature ------------------------------------------------------------

#[test]
fn signature_input_covers_derived_components_then_headers_with_params_in_order() {
    let k = keys();
    let out = sign_typical(&signer(&k, "edge-1", false), &covered());
    let input = get(&out, "signature-input").unwrap();
    let expected_prefix = "verigate=(\"@method\" \"@path\" \"@query\" \"x-verified-verdict\" \
        \"x-verified-imp-uid\" \"x-verified-name\" \"x-verified-birth\" \"x-verified-age\" \
        \"x-verified-policy\" \"x-verified-certified-at\" \"content-digest\")\
        ;created=1767225700;expires=1767225760;keyid=\"edge-1\";alg=\"ed25519\";nonce=\"";
    assert!(input.starts_with(expected_prefix), "{input}");
    let rest = &input[expected_prefix.len()..];
    let (nonce, tail) = rest.split_once('"').unwrap();
    assert_eq!(tail, ";tag=\"verigate\"");
    assert_eq!(URL_SAFE_NO_PAD.decode(nonce).unwrap().len(), 16);
    let sig = get(&out, "signature").unwrap();
    assert!(sig.starts_with("verigate=:") && sig.ends_with(':'), "{sig}");
    let raw = STANDARD
        .decode(&sig["verigate=:".len()..sig.len() - 1])
        .unwrap();
    assert_eq!(raw.len(), 64);
}

#[test]
fn hmac_key_signs_with_hmac_sha256_alg() {
    let k = keys();
    let out = sign_typical(&signer(&k, "shared-1", false), &covered());
    let input = get(&out, "signature-input").unwrap();
    assert!(
        input.contains(";keyid=\"shared-1\";alg=\"hmac-sha256\";nonce="),
        "{input}"
    );
    let sig = get(&out, "signature").unwrap();
    let raw = STANDARD
        .decode(&sig["verigate=:".len()..sig.len() - 1])
        .unwrap();
    assert_eq!(raw.len(), 32);
}

#[test]
fn query_component_is_a_lone_question_mark_without_a_query() {
    let k = keys();
    let s = signer(&k, "edge-1", false);
    let claims = claims();
    let name = assertion_name();
    let covered = covered();
    let out = s.sign(
        &SignInput {
            method: "GET",
            path: "/certifications/redirect",
            query: None,
            covered: &covered,
            assertion_name: &name,
            claims: &claims,
        },
        now(),
    );
    let check = ed25519_check(&k.ed_jwk);
    assert!(verify(
        &out,
        "GET",
        "/certifications/redirect",
        None,
        &covered,
        &check
    ));
    // The verifier's "@query" for no query is "?"; "?x" must not verify.
    assert!(!verify(
        &out,
        "GET",
        "/certifications/redirect",
        Some("x"),
        &covered,
        &check
    ));
}

#[test]
fn ed25519_signature_verifies_with_the_published_key_and_not_after_a_header_changes() {
    let k = keys();
    let s = signer(&k, "edge-1", false);
    let covered = covered();
    let out = sign_typical(&s, &covered);
    let check = ed25519_check(&k.ed_jwk);
    let q = Some("a=1&b=%20");
    assert!(verify(&out, "POST", "/certifications", q, &covered, &check));

    let mut forged = covered.clone();
    forged[0] = h("x-verified-verdict", "deny");
    assert!(!verify(&out, "POST", "/certifications", q, &forged, &check));
    let mut forged = covered.clone();
    forged[7] = h(
        "content-digest",
        "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:",
    );
    assert!(!verify(&out, "POST", "/certifications", q, &forged, &check));
    assert!(!verify(&out, "PUT", "/certifications", q, &covered, &check));
    assert!(!verify(&out, "POST", "/other", q, &covered, &check));
    assert!(!verify(
        &out,
        "POST",
        "/certifications",
        None,
        &covered,
        &check
    ));
}

#[test]
fn hmac_signature_verifies_with_the_secret_and_not_after_the_digest_changes() {
    let k = keys();
    let s = signer(&k, "shared-1", false);
    let covered = covered();
    let out = sign_typical(&s, &covered);
    let check = hmac_check(&k.hmac);
    let q = Some("a=1&b=%20");
    assert!(verify(&out, "POST", "/certifications", q, &covered, &check));

    let mut forged = covered.clone();
    forged[7] = h(
        "content-digest",
        "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:",
    );
    assert!(!verify(&out, "POST", "/certifications", q, &forged, &check));
    let mut forged = covered.clone();
    forged[4] = h("x-verified-age", "19");
    assert!(!verify(&out, "POST", "/certifications", q, &forged, &check));
    // Another key does not verify it either.
    assert!(!verify(
        &out,
        "POST",
        "/certifications",
        q,
        &covered,
        hmac_check(&keygen_hmac())
    ));
}

#[test]
fn every_signature_has_a_fresh_nonce() {
    let k = keys();
    let s = signer(&k, "edge-1", false);
    let a = sign_typical(&s, &covered());
    let b = sign_typical(&s, &covered());
    assert_ne!(get(&a, "signature-input"), get(&b, "signature-input"));
}

#[test]
fn jwt_off_adds_only_the_two_signature_headers() {
    let k = keys();
    let out = sign_typical(&signer(&k, "edge-1", false), &covered());
    let names: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["signature-input", "signature"]);
}
