"""A request forwarded by verigate verifies with THIRD-PARTY code, the way an app would verify it.

The real binaries run (conftest.py): the sandbox i'mport API, the gateway in front of a Python app
that records each request exactly as received. The gateway signs with an Ed25519 key in one run
and with an HMAC key in the other (the ``stack`` fixture is parametrized), so every test here runs
twice.

- RFC 9421 signatures are verified with PyPI's ``http-message-signatures`` (HTTPMessageVerifier
  over a ``requests.PreparedRequest`` rebuilt from what the app received), and the body against
  ``content-digest`` with that library's RFC 9530 support (``ContentDigest``), cross-checked with
  ``hashlib``.
- The ``x-verified-assertion`` JWT is verified with ``PyJWT``: EdDSA with the key fetched from the
  admin listener's JWKS (``jwt.PyJWKClient``), HS256 with the shared secret.
- The Node example (examples/node/verify.mjs, with npm's ``jose`` and ``http-message-signatures``)
  is run against the same captured request in the Ed25519 run.
- The same checks hold on a PortOne V2 route (``forwarded_v2``): the id travels as
  ``x-verified-identity-verification-id`` in the place of ``x-verified-imp-uid``, and the JWT's
  ``sub`` is that id, with ``provider`` = ``portone`` (``iamport`` on the V1 route).
"""

from __future__ import annotations

import base64
import copy
import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import urllib.request
import zoneinfo

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from http_message_signatures import (
    ContentDigest,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    InvalidSignature,
    MappingKeyResolver,
    algorithms,
)
from requests.structures import CaseInsensitiveDict

from conftest import AUDIENCE, ED25519_KEY_ID, HMAC_KEY_ID, ISSUER, REPO, SIGNATURE_TTL_SECS, Received

NAME = "홍길동"
NAME_ENCODED = "%ED%99%8D%EA%B8%B8%EB%8F%99"
BIRTHDAY = "1990-05-05"
GENDER = "male"
PHONE = "01012345678"
#: A query with percent-escapes, to show that "@query" is taken byte for byte.
QUERY = "from=popup&lang=ko&next=%2Fmy%3Ftab%3D1"

#: The x-verified-* headers in the order of the README's table "What the app receives" (the assertion excluded:
#: it carries its own signature).
SECTION_4_2_ORDER = [
    "x-verified-verdict",
    "x-verified-reason",
    "x-verified-imp-uid",
    "x-verified-identity-verification-id",  # in the imp_uid's place, on PortOne V2 routes
    "x-verified-name",
    "x-verified-birth",
    "x-verified-age",
    "x-verified-policy",
    "x-verified-certified-at",
    "x-verified-gender",
    "x-verified-foreigner",
    "x-verified-unique-key",
    "x-verified-unique-in-site",
    "x-verified-phone",
    "x-verified-carrier",
    "x-verified-pg-provider",
    "x-verified-merchant-uid",
]


# ---- helpers -------------------------------------------------------------------------------


def b64url_decode(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def fetch_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200
        return json.load(resp)


def as_prepared_request(rec: Received) -> requests.PreparedRequest:
    """The request the app received, as a ``requests.PreparedRequest``.

    The fields are set directly, not through ``prepare()``, so that requests neither re-quotes the
    URL nor adds headers: the verifier sees exactly the bytes the app got.
    """
    names = [n.lower() for n, _ in rec.headers]
    assert len(names) == len(set(names)), f"a header was received twice: {names}"
    req = requests.PreparedRequest()
    req.method = rec.method
    req.url = f"http://{rec.header('host')}{rec.target}"
    req.headers = CaseInsensitiveDict(rec.headers)
    req.body = rec.body
    return req


def with_header(rec: Received, name: str, value: str) -> Received:
    out = copy.deepcopy(rec)
    out.headers = [(n, value if n.lower() == name else v) for n, v in out.headers]
    assert out.header(name) == value
    return out


def with_body(rec: Received, body: bytes) -> Received:
    out = copy.deepcopy(rec)
    out.body = body
    return out


def one_byte_changed(body: bytes) -> bytes:
    # "order-0001" → "order-0002": the same length, so content-length still matches.
    assert b"order-0001" in body
    return body.replace(b"order-0001", b"order-0002")


class JWKSKeys(HTTPSignatureKeyResolver):
    """RFC 9421 keys by keyid from verigate's JWKS (PyJWT's client: cached, refetched on a new kid)."""

    def __init__(self, jwks_url: str):
        self.client = jwt.PyJWKClient(jwks_url)

    def resolve_public_key(self, key_id: str):
        return self.client.get_signing_key(key_id).key  # an Ed25519PublicKey


def verifier(stack) -> HTTPMessageVerifier:
    """An RFC 9421 verifier for the active key, the key obtained as an app would obtain it."""
    if stack.alg == "ed25519":
        return HTTPMessageVerifier(signature_algorithm=algorithms.ED25519, key_resolver=JWKSKeys(stack.jwks_url))
    return HTTPMessageVerifier(
        signature_algorithm=algorithms.HMAC_SHA256,
        key_resolver=MappingKeyResolver(public_keys={stack.key_id: stack.hmac_secret}, private_keys={}),
    )


def readme_verify(request, body: bytes, *, jwks_url: str, issuer: str, audience: str, ttl: int) -> dict:
    """The README's Python snippet ("Signed headers"), with its constants as parameters."""
    keys = JWKSKeys(jwks_url)
    names = [n.lower() for n in request.headers]
    identity = [n for n in names if n.startswith("x-verified-") and n != "x-verified-assertion"]
    HTTPMessageVerifier(signature_algorithm=algorithms.ED25519, key_resolver=keys).verify(
        request,
        expect_tag="verigate",
        expect_label="verigate",
        max_age=datetime.timedelta(seconds=ttl),
        require_components=("@method", "@path", "@query", *identity, *(["content-digest"] if body else [])),
        body=body,  # checks content-digest (RFC 9530) against the bytes received
    )
    token = request.headers["x-verified-assertion"]
    return jwt.decode(
        token, keys.client.get_signing_key_from_jwt(token).key, algorithms=["EdDSA"],
        audience=audience, issuer=issuer,
    )


def verify(stack, rec: Received, *, check_body: bool = True):
    """http-message-signatures' verification of label ``verigate``; returns its one result."""
    results = verifier(stack).verify(
        as_prepared_request(rec),
        expect_tag="verigate",
        expect_label="verigate",
        max_age=datetime.timedelta(seconds=SIGNATURE_TTL_SECS),
        require_components=("@method", "@path", "@query", "x-verified-verdict", "content-digest"),
        body=rec.body if check_body else None,
    )
    assert len(results) == 1
    return results[0]


def expected_age_year_basis(birthday: str) -> int:
    """연 나이 (the policy's age_basis = "year"): this year in Asia/Seoul minus the birth year."""
    today = datetime.datetime.now(zoneinfo.ZoneInfo("Asia/Seoul")).date()
    return today.year - int(birthday[:4])


# ---- the request under test ----------------------------------------------------------------


@pytest.fixture(scope="module")
def forwarded(stack):
    """Seeds a person, POSTs the popup callback through the gateway, returns what the app got."""
    person = stack.sandbox.seed(
        name=NAME, birthday=BIRTHDAY, gender=GENDER, phone=PHONE, carrier="SKT"
    )
    imp_uid = person["imp_uid"]
    body = json.dumps(
        {"imp_uid": imp_uid, "merchant_uid": "order-0001", "memo": "성인 인증"}, ensure_ascii=False
    ).encode()
    before = len(stack.app.received)
    status, answer = stack.post("/certifications?" + QUERY, body)
    assert status == 200, answer
    mine = [r for r in stack.app.received[before:] if r.header("x-verified-imp-uid") == imp_uid]
    assert len(mine) == 1, "the app received the request once"
    rec = mine[0]
    assert rec.body == body, "the original body bytes reach the app"
    assert rec.target == "/certifications?" + QUERY
    return rec, person


# ---- RFC 9421 with http-message-signatures -------------------------------------------------


def test_forwarded_request_verifies_with_http_message_signatures(stack, forwarded):
    rec, person = forwarded
    result = verify(stack, rec)

    assert result.label == "verigate"
    assert result.algorithm is (algorithms.ED25519 if stack.alg == "ed25519" else algorithms.HMAC_SHA256)
    # The library checked content-digest against the body (body= given) and says so.
    assert result.body == rec.body
    covered = result.covered_components
    assert covered['"@method"'] == "POST"
    assert covered['"@path"'] == "/certifications"
    assert covered['"@query"'] == "?" + QUERY
    assert covered['"x-verified-verdict"'] == "allow"
    assert covered['"x-verified-imp-uid"'] == person["imp_uid"]
    assert covered['"x-verified-name"'] == NAME_ENCODED
    assert covered['"x-verified-birth"'] == BIRTHDAY
    assert covered['"x-verified-gender"'] == GENDER
    assert covered['"x-verified-phone"'] == PHONE


def test_covered_components_are_exactly_method_path_query_identity_headers_and_digest(stack, forwarded):
    rec, _ = forwarded
    result = verify(stack, rec)

    received_identity = {
        n.lower() for n, _ in rec.headers if n.lower().startswith("x-verified-")
    } - {"x-verified-assertion"}
    in_order = [h for h in SECTION_4_2_ORDER if h in received_identity]
    assert set(in_order) == received_identity, "no x-verified-* header outside §4.2"
    # For an allowed adult with forward = ["gender", "phone"]: no reason, nothing else forwarded.
    assert in_order == [
        "x-verified-verdict",
        "x-verified-imp-uid",
        "x-verified-name",
        "x-verified-birth",
        "x-verified-age",
        "x-verified-policy",
        "x-verified-certified-at",
        "x-verified-gender",
        "x-verified-phone",
    ]
    expected = ['"@method"', '"@path"', '"@query"'] + [f'"{h}"' for h in in_order] + ['"content-digest"']
    assert list(result.covered_components) == expected + ['"@signature-params"']

    # The header itself, read as text: the same list, in the same order, label "verigate".
    sig_input = rec.header("signature-input")
    assert sig_input.startswith("verigate=(" + " ".join(expected) + ");"), sig_input
    assert re.fullmatch(r"verigate=:[A-Za-z0-9+/]+={0,2}:", rec.header("signature"))


def test_signature_parameters(stack, forwarded):
    rec, _ = forwarded
    params = verify(stack, rec).parameters

    assert set(params) == {"created", "expires", "keyid", "alg", "nonce", "tag"}
    assert params["expires"] - params["created"] == SIGNATURE_TTL_SECS
    now = datetime.datetime.now(datetime.timezone.utc).timestamp()
    assert now - 60 <= params["created"] <= now + 5
    assert params["keyid"] == stack.key_id
    assert params["alg"] == stack.alg
    assert params["tag"] == "verigate"
    assert re.fullmatch(r"[A-Za-z0-9_-]{16,}", params["nonce"]), "random, base64url"
    # In the header, in the order of README, "Signed headers".
    assert re.search(
        r';created=\d+;expires=\d+;keyid="[^"]+";alg="[^"]+";nonce="[^"]+";tag="verigate"$',
        rec.header("signature-input"),
    )


def test_content_digest_matches_the_received_body(forwarded):
    rec, _ = forwarded
    header = rec.header("content-digest")
    # The library's RFC 9530 support: parses the field, checks every member against the body.
    ContentDigest.verify(header, rec.body)
    assert ContentDigest.create(rec.body) == header
    # And independently, with hashlib.
    assert header == "sha-256=:" + base64.b64encode(hashlib.sha256(rec.body).digest()).decode() + ":"


def test_a_second_request_gets_a_fresh_nonce(stack, forwarded):
    rec, person = forwarded
    body = json.dumps({"imp_uid": person["imp_uid"]}).encode()
    before = len(stack.app.received)
    status, _ = stack.post("/certifications", body)
    assert status == 200
    (again,) = stack.app.received[before:]
    result = verify(stack, again)
    assert result.covered_components['"@query"'] == "?"
    assert result.nonce != verify(stack, rec).nonce


@pytest.mark.parametrize("stack", ["ed25519"], indirect=True)
def test_readme_python_snippet_verifies_and_refuses_an_unsigned_identity_header(stack, forwarded):
    rec, person = forwarded
    kw = dict(jwks_url=stack.jwks_url, issuer=ISSUER, audience=AUDIENCE, ttl=SIGNATURE_TTL_SECS)
    claims = readme_verify(as_prepared_request(rec), rec.body, **kw)
    assert claims["sub"] == person["imp_uid"] and claims["verdict"] == "allow"

    # A header the signature does not cover (added by someone else) is refused.
    extra = copy.deepcopy(rec)
    extra.headers.append(("X-Verified-Carrier", "SKT"))
    with pytest.raises(InvalidSignature, match="not covered"):
        readme_verify(as_prepared_request(extra), extra.body, **kw)
    for tampered in (with_header(rec, "x-verified-verdict", "deny"), with_body(rec, one_byte_changed(rec.body))):
        with pytest.raises(InvalidSignature):
            readme_verify(as_prepared_request(tampered), tampered.body, **kw)


# ---- tampering -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header, forged",
    [
        ("x-verified-verdict", "deny"),
        ("x-verified-name", "%EA%B9%80%EC%B2%A0%EC%88%98"),  # 김철수
    ],
)
def test_a_changed_identity_header_fails_verification(stack, forwarded, header, forged):
    rec, _ = forwarded
    verify(stack, rec)  # the untouched copy verifies: only the change below breaks it
    with pytest.raises(InvalidSignature):
        verify(stack, with_header(rec, header, forged))
    # Also without the body check: it is the signature that fails.
    with pytest.raises(InvalidSignature):
        verify(stack, with_header(rec, header, forged), check_body=False)


def test_a_changed_body_byte_fails_the_content_digest(stack, forwarded):
    rec, _ = forwarded
    verify(stack, rec)  # the untouched copy verifies
    tampered = with_body(rec, one_byte_changed(rec.body))
    with pytest.raises(InvalidSignature, match="Content-Digest does not match"):
        ContentDigest.verify(tampered.header("content-digest"), tampered.body)
    with pytest.raises(InvalidSignature, match="Content-Digest does not match"):
        verify(stack, tampered)
    # The headers alone still verify: the body is bound only through the digest, as RFC 9421 says.
    verify(stack, tampered, check_body=False)


def test_a_recomputed_digest_for_a_changed_body_fails_the_signature(stack, forwarded):
    rec, _ = forwarded
    verify(stack, rec)  # the untouched copy verifies
    body = one_byte_changed(rec.body)
    tampered = with_header(with_body(rec, body), "content-digest", ContentDigest.create(body))
    ContentDigest.verify(tampered.header("content-digest"), tampered.body)  # the digest fits...
    with pytest.raises(InvalidSignature) as caught:  # ...but the signature covers the old one
        verify(stack, tampered, check_body=False)
    assert "Content-Digest" not in str(caught.value)
    with pytest.raises(InvalidSignature):
        verify(stack, tampered)


def test_another_key_does_not_verify(stack, forwarded):
    rec, _ = forwarded
    if stack.alg == "ed25519":
        other, algorithm = Ed25519PrivateKey.generate().public_key(), algorithms.ED25519
    else:
        other, algorithm = os.urandom(32), algorithms.HMAC_SHA256
    wrong = HTTPMessageVerifier(
        signature_algorithm=algorithm,
        key_resolver=MappingKeyResolver(public_keys={stack.key_id: other}, private_keys={}),
    )
    with pytest.raises(InvalidSignature):
        wrong.verify(as_prepared_request(rec), expect_tag="verigate", expect_label="verigate")


# ---- the JWT assertion with PyJWT ----------------------------------------------------------


def decode_assertion(stack, token: str, **kwargs) -> dict:
    common = dict(
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"require": ["iss", "aud", "iat", "exp", "jti", "sub"]},
        **kwargs,
    )
    if stack.alg == "ed25519":
        signing_key = jwt.PyJWKClient(stack.jwks_url, cache_keys=False).get_signing_key_from_jwt(token)
        return jwt.decode(token, signing_key.key, algorithms=["EdDSA"], **common)
    return jwt.decode(token, stack.hmac_secret, algorithms=["HS256"], **common)


def test_assertion_verifies_with_pyjwt_and_carries_the_identity(stack, forwarded):
    rec, person = forwarded
    token = rec.header("x-verified-assertion")
    header = jwt.get_unverified_header(token)
    assert header["kid"] == stack.key_id
    assert header["alg"] == ("EdDSA" if stack.alg == "ed25519" else "HS256")

    claims = decode_assertion(stack, token)

    assert claims["iss"] == ISSUER
    assert claims["aud"] == AUDIENCE
    assert claims["exp"] - claims["iat"] == SIGNATURE_TTL_SECS
    assert claims["sub"] == person["imp_uid"]
    assert claims["name"] == NAME  # plain UTF-8 here, not percent-encoded
    assert claims["birthdate"] == BIRTHDAY
    assert claims["age"] == expected_age_year_basis(BIRTHDAY)
    assert str(claims["age"]) == rec.header("x-verified-age")
    assert claims["verdict"] == "allow"
    assert "reason" not in claims
    assert claims["policy"] == "adult"
    assert claims["certified_at"] == person["certified_at"]
    assert claims["htm"] == "POST"
    assert claims["htu"] == "/certifications?" + QUERY
    assert claims["gender"] == GENDER
    assert claims["phone_number"] == PHONE
    assert "carrier" not in claims, "only the fields in headers.forward leave the gateway"
    assert re.fullmatch(r"[A-Za-z0-9_-]{16,}", claims["jti"])


def test_assertion_is_refused_with_the_wrong_audience_issuer_or_once_expired(stack, forwarded):
    rec, _ = forwarded
    token = rec.header("x-verified-assertion")
    decode_assertion(stack, token)  # valid as it is

    if stack.alg == "ed25519":
        key = jwt.PyJWKClient(stack.jwks_url).get_signing_key_from_jwt(token).key
        algs = ["EdDSA"]
    else:
        key, algs = stack.hmac_secret, ["HS256"]
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, key, algorithms=algs, audience="another-app", issuer=ISSUER)
    with pytest.raises(jwt.InvalidIssuerError):
        jwt.decode(token, key, algorithms=algs, audience=AUDIENCE, issuer="someone-else")
    # exp is enforced: seen from signature_ttl_secs (+ 5 s) later, the same token has expired.
    # (A negative leeway moves "now" forward; iat is left out, which it would make "future".)
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(
            token, key, algorithms=algs, audience=AUDIENCE, issuer=ISSUER,
            leeway=-(SIGNATURE_TTL_SECS + 5), options={"verify_iat": False},
        )
    # A changed claim breaks the JWS signature.
    head, payload, sig = token.split(".")
    claims = json.loads(b64url_decode(payload))
    claims["verdict"] = "deny"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(jwt.InvalidSignatureError):
        decode_assertion(stack, f"{head}.{forged}.{sig}")


def test_jwks_publishes_the_ed25519_key_and_never_the_hmac_key(stack):
    with urllib.request.urlopen(stack.jwks_url, timeout=10) as resp:
        assert resp.status == 200
        text = resp.read().decode()
    jwks = json.loads(text)

    assert [k["kid"] for k in jwks["keys"]] == [ED25519_KEY_ID], "in both runs, whichever key is active"
    for k in jwks["keys"]:
        assert k["kty"] == "OKP" and k["crv"] == "Ed25519"
        assert set(k) == {"kty", "crv", "x", "kid", "alg", "use"}, "public members only"
    (published,) = jwks["keys"]
    assert published["x"] == stack.ed25519_jwk["x"], "the key `verigate keygen` made"
    assert published["alg"] == "EdDSA" and published["use"] == "sig"
    assert HMAC_KEY_ID not in text
    secret_b64url = base64.urlsafe_b64encode(stack.hmac_secret).rstrip(b"=").decode()
    assert stack.hmac_secret_b64.rstrip("=") not in text and secret_b64url not in text
    # PyJWT reads it as a key set of Ed25519 public keys.
    (pyjwk,) = jwt.PyJWKSet.from_dict(jwks).keys
    assert pyjwk.key_id == ED25519_KEY_ID and isinstance(pyjwk.key, Ed25519PublicKey)


# ---- the Node example (examples/node) against the same request ---------------------------

NODE_DIR = REPO / "examples" / "node"


def run_node_verifier(stack, rec: Received, tmp_path, expect: str) -> subprocess.CompletedProcess:
    node = shutil.which("node")
    if node is None:
        pytest.fail("`node` (v20+) is needed for the examples/node test; install Node.js")
    if not (NODE_DIR / "node_modules" / "jose").is_dir():
        pytest.fail("examples/node/node_modules is missing: run `npm ci` there (tests/python/run.sh does)")
    captured = tmp_path / f"captured-{expect}.json"
    captured.write_text(json.dumps(rec.to_json()))
    env = dict(
        os.environ,
        VERIGATE_CAPTURED_REQUEST=str(captured),
        VERIGATE_JWKS_URL=stack.jwks_url,
        VERIGATE_ISSUER=ISSUER,
        VERIGATE_AUDIENCE=AUDIENCE,
        VERIGATE_EXPECT=expect,
        VERIGATE_EXPECT_SUB=rec.header("x-verified-imp-uid")
        or rec.header("x-verified-identity-verification-id"),
    )
    return subprocess.run(
        [node, str(NODE_DIR / "verify.test.mjs")],
        cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize("stack", ["ed25519"], indirect=True)  # the JWKS holds Ed25519 keys only
def test_node_example_verifies_the_request_and_rejects_a_tampered_copy(stack, forwarded, tmp_path):
    rec, _ = forwarded

    ok = run_node_verifier(stack, rec, tmp_path, "valid")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert re.search(r"^# pass [1-9]", ok.stdout, re.M) and re.search(r"^# fail 0$", ok.stdout, re.M), ok.stdout

    tampered = with_header(rec, "x-verified-verdict", "deny")
    refused = run_node_verifier(stack, tampered, tmp_path, "invalid")
    assert refused.returncode == 0, refused.stdout + refused.stderr

    # The Node test is not vacuous: told to expect a valid request, the tampered copy fails it.
    failing = run_node_verifier(stack, tampered, tmp_path, "valid")
    assert failing.returncode != 0, failing.stdout


# ---- a PortOne V2 route ----------------------------------------------------------------------

V2_PATH = "/identity-verifications"


@pytest.fixture(scope="module")
def forwarded_v2(stack):
    """Seeds a V2 identity verification, POSTs the V2 callback through the gateway, returns what
    the app got and the stored record."""
    record = stack.sandbox.seed_v2(
        verifiedCustomer={"name": NAME, "birthDate": BIRTHDAY, "gender": "MALE", "phoneNumber": PHONE}
    )
    iv_id = record["id"]
    body = json.dumps(
        {"identityVerificationId": iv_id, "merchant_uid": "order-0001", "memo": "성인 인증"},
        ensure_ascii=False,
    ).encode()
    before = len(stack.app.received)
    status, answer = stack.post(V2_PATH + "?" + QUERY, body)
    assert status == 200, answer
    mine = [
        r for r in stack.app.received[before:] if r.header("x-verified-identity-verification-id") == iv_id
    ]
    assert len(mine) == 1, "the app received the request once"
    rec = mine[0]
    assert rec.body == body, "the original body bytes reach the app"
    return rec, record


def test_v2_request_verifies_with_the_id_covered_in_the_imp_uids_place(stack, forwarded_v2):
    rec, record = forwarded_v2
    result = verify(stack, rec)

    covered = result.covered_components
    assert covered['"@path"'] == V2_PATH
    assert covered['"@query"'] == "?" + QUERY
    assert covered['"x-verified-verdict"'] == "allow"
    assert covered['"x-verified-identity-verification-id"'] == record["id"]
    assert covered['"x-verified-name"'] == NAME_ENCODED
    assert covered['"x-verified-birth"'] == BIRTHDAY
    assert covered['"x-verified-gender"'] == GENDER  # MALE, mapped
    assert covered['"x-verified-phone"'] == PHONE
    assert rec.header("x-verified-imp-uid") is None
    identity = [
        "x-verified-verdict",
        "x-verified-identity-verification-id",
        "x-verified-name",
        "x-verified-birth",
        "x-verified-age",
        "x-verified-policy",
        "x-verified-certified-at",
        "x-verified-gender",
        "x-verified-phone",
    ]
    received = [h for h in SECTION_4_2_ORDER if rec.header(h) is not None]
    assert received == identity
    expected = ['"@method"', '"@path"', '"@query"'] + [f'"{h}"' for h in identity] + ['"content-digest"']
    assert list(covered) == expected + ['"@signature-params"']
    assert rec.header("signature-input").startswith("verigate=(" + " ".join(expected) + ");")
    # Tampering with the id breaks it, as with any identity header.
    with pytest.raises(InvalidSignature):
        verify(stack, with_header(rec, "x-verified-identity-verification-id", "identity-verification-other"))


def test_v2_assertion_names_the_id_and_the_provider(stack, forwarded_v2, forwarded):
    rec, record = forwarded_v2
    claims = decode_assertion(stack, rec.header("x-verified-assertion"))
    assert claims["sub"] == record["id"]
    assert claims["provider"] == "portone"
    assert claims["name"] == NAME and claims["birthdate"] == BIRTHDAY
    assert claims["verdict"] == "allow" and claims["policy"] == "adult"
    verified_at = datetime.datetime.fromisoformat(record["verifiedAt"].replace("Z", "+00:00"))
    assert claims["certified_at"] == int(verified_at.timestamp())
    assert str(claims["certified_at"]) == rec.header("x-verified-certified-at")
    assert claims["htu"] == V2_PATH + "?" + QUERY
    assert claims["gender"] == GENDER and claims["phone_number"] == PHONE
    # The V1 route's assertion names its provider too.
    v1, person = forwarded
    v1_claims = decode_assertion(stack, v1.header("x-verified-assertion"))
    assert (v1_claims["sub"], v1_claims["provider"]) == (person["imp_uid"], "iamport")


@pytest.mark.parametrize("stack", ["ed25519"], indirect=True)
def test_readme_python_snippet_verifies_a_v2_request(stack, forwarded_v2):
    rec, record = forwarded_v2
    kw = dict(jwks_url=stack.jwks_url, issuer=ISSUER, audience=AUDIENCE, ttl=SIGNATURE_TTL_SECS)
    claims = readme_verify(as_prepared_request(rec), rec.body, **kw)
    assert (claims["sub"], claims["provider"]) == (record["id"], "portone")
    tampered = with_header(rec, "x-verified-identity-verification-id", "identity-verification-other")
    with pytest.raises(InvalidSignature):
        readme_verify(as_prepared_request(tampered), tampered.body, **kw)


@pytest.mark.parametrize("stack", ["ed25519"], indirect=True)
def test_node_example_verifies_a_v2_request_and_rejects_a_tampered_copy(stack, forwarded_v2, tmp_path):
    rec, _ = forwarded_v2
    ok = run_node_verifier(stack, rec, tmp_path, "valid")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert re.search(r"^# fail 0$", ok.stdout, re.M), ok.stdout
    tampered = with_header(rec, "x-verified-identity-verification-id", "identity-verification-other")
    refused = run_node_verifier(stack, tampered, tmp_path, "invalid")
    assert refused.returncode == 0, refused.stdout + refused.stderr
