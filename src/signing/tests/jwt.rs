//! The JWT assertion: decodable with the JWKS key or the secret, the specified claims, no overrides.

use super::*;

// ---- the JWT assertion -----------------------------------------------------------------

fn validation(alg: jsonwebtoken::Algorithm) -> jsonwebtoken::Validation {
    let mut v = jsonwebtoken::Validation::new(alg);
    v.set_audience(&["legacy-app"]);
    v.set_issuer(&["verigate"]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    v
}

fn sign_now(s: &Signer, claims: &AssertionClaims<'_>) -> (HeaderList, i64) {
    let name = assertion_name();
    let covered = covered();
    let now = jiff::Timestamp::now();
    let out = s.sign(
        &SignInput {
            method: "POST",
            path: "/certifications",
            query: Some("from=popup"),
            covered: &covered,
            assertion_name: &name,
            claims,
        },
        now,
    );
    (out, now.as_second())
}

#[test]
fn eddsa_assertion_decodes_with_the_jwks_key_and_carries_the_specified_claims() {
    let k = keys();
    let s = signer(&k, "edge-1", true);
    let (out, now) = sign_now(&s, &claims());
    let token = get(&out, "x-verified-assertion").unwrap();

    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    assert_eq!(header.kid.as_deref(), Some("edge-1"));
    assert_eq!(header.typ.as_deref(), Some("JWT"));

    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(s.jwks()).unwrap();
    let jwk = jwks.find("edge-1").unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let data =
        jsonwebtoken::decode::<Value>(token, &key, &validation(jsonwebtoken::Algorithm::EdDSA))
            .unwrap_or_else(|e| panic!("{e}"));
    let c = data.claims;
    assert_eq!(c["iss"], "verigate");
    assert_eq!(c["aud"], "legacy-app");
    assert_eq!(c["iat"], now);
    assert_eq!(c["exp"], now + 60);
    assert_eq!(c["sub"], "imp_123456789012");
    assert_eq!(c["name"], "홍길동");
    assert_eq!(c["birthdate"], "2000-01-01");
    assert_eq!(c["age"], 26);
    assert_eq!(c["verdict"], "allow");
    assert_eq!(c["policy"], "adult");
    assert_eq!(c["certified_at"], 1767225600);
    assert_eq!(c["htm"], "POST");
    assert_eq!(c["htu"], "/certifications?from=popup");
    assert_eq!(c["gender"], "male");
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(c["jti"].as_str().unwrap())
            .unwrap()
            .len(),
        16
    );
    // Absent claims are omitted, never null.
    let obj = c.as_object().unwrap();
    assert!(!obj.contains_key("reason") && !obj.contains_key("phone_number"));
    assert!(obj.values().all(|v| !v.is_null()));

    // The wrong audience is refused.
    let mut wrong = validation(jsonwebtoken::Algorithm::EdDSA);
    wrong.set_audience(&["another-app"]);
    assert!(jsonwebtoken::decode::<Value>(token, &key, &wrong).is_err());
}

#[test]
fn hs256_assertion_decodes_with_the_secret_and_keeps_reason_and_extra_fields() {
    let k = keys();
    let s = signer(&k, "shared-1", true);
    let extra = [
        ("foreigner", Value::Bool(false)),
        ("carrier", Value::String("SKT".to_owned())),
        ("name", Value::String("forged".to_owned())),
        ("unique_key", Value::Null),
    ];
    let claims = AssertionClaims {
        verdict: "deny",
        reason: Some("underage"),
        age: Some(17),
        phone_number: Some("01012345678"),
        extra: &extra,
        ..claims()
    };
    let (out, _) = sign_now(&s, &claims);
    let token = get(&out, "x-verified-assertion").unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::HS256);
    assert_eq!(header.kid.as_deref(), Some("shared-1"));
    let key = jsonwebtoken::DecodingKey::from_base64_secret(&k.hmac).unwrap();
    let c = jsonwebtoken::decode::<Value>(token, &key, &validation(jsonwebtoken::Algorithm::HS256))
        .unwrap_or_else(|e| panic!("{e}"))
        .claims;
    assert_eq!(c["verdict"], "deny");
    assert_eq!(c["reason"], "underage");
    assert_eq!(c["age"], 17);
    assert_eq!(c["phone_number"], "01012345678");
    assert_eq!(c["foreigner"], false);
    assert_eq!(c["carrier"], "SKT");
    assert_eq!(c["name"], "홍길동", "an extra field cannot replace a claim");
    assert!(!c.as_object().unwrap().contains_key("unique_key"));
    // Another secret does not verify it.
    let other = jsonwebtoken::DecodingKey::from_base64_secret(&keygen_hmac()).unwrap();
    assert!(
        jsonwebtoken::decode::<Value>(token, &other, &validation(jsonwebtoken::Algorithm::HS256))
            .is_err()
    );
}

#[test]
fn assertion_is_not_covered_by_the_message_signature() {
    let k = keys();
    let (out, _) = sign_now(&signer(&k, "edge-1", true), &claims());
    assert!(get(&out, "x-verified-assertion").is_some());
    assert!(!get(&out, "signature-input").unwrap().contains("assertion"));
}

#[test]
fn the_assertion_alone_is_the_same_jwt_without_a_message_signature() {
    // Forward-auth answers carry only the assertion: made alone, it is the full set's JWT
    // (claims, key, expiry), checked with jsonwebtoken, and no RFC 9421 signature is computed.
    let k = keys();
    let s = signer(&k, "edge-1", true);
    let (name, covered, claims) = (assertion_name(), covered(), claims());
    let now = jiff::Timestamp::now();
    let input = SignInput {
        method: "POST",
        path: "/certifications",
        query: Some("from=popup"),
        covered: &covered,
        assertion_name: &name,
        claims: &claims,
    };
    let (alone_name, alone) = s.assertion_header(&input, now).expect("an assertion");
    assert_eq!(alone_name, name);
    let full = s.sign(&input, now);
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(s.jwks()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(jwks.find("edge-1").unwrap()).unwrap();
    let decode = |token: &str| {
        let v = validation(jsonwebtoken::Algorithm::EdDSA);
        let mut c = jsonwebtoken::decode::<Value>(token, &key, &v)
            .unwrap()
            .claims;
        c.as_object_mut().unwrap().remove("jti").expect("a jti");
        c
    };
    let from_full = decode(get(&full, "x-verified-assertion").unwrap());
    assert_eq!(decode(alone.to_str().unwrap()), from_full);
    // Without `jwt` there is nothing to answer with.
    assert!(
        signer(&k, "edge-1", false)
            .assertion_header(&input, now)
            .is_none()
    );
}
