"""The sandbox's V2 API must work unchanged with PortOne's official Python client
(``portone-server-sdk``): every status read into the client's own types, its typed errors, and
``storeId`` passed as the client sends it.

The sandbox address comes from VERIGATE_SANDBOX_URL (run.sh sets it); V2 records are seeded
through the sandbox's control endpoint, which needs no secret.
"""

import asyncio
import os
import uuid

import pytest
import requests
from portone_server_sdk.errors import (
    ForbiddenError,
    IdentityVerificationNotFoundError,
    UnauthorizedError,
    UnknownError,
)
from portone_server_sdk.identity_verification import (
    FailedIdentityVerification,
    IdentityVerificationClient,
    ReadyIdentityVerification,
    VerifiedIdentityVerification,
)

SECRET = os.environ.get("VERIGATE_SANDBOX_PORTONE_SECRET", "sandbox-portone-api-secret")


@pytest.fixture(scope="session")
def base_url():
    url = os.environ.get("VERIGATE_SANDBOX_URL")
    if not url:
        pytest.fail("set VERIGATE_SANDBOX_URL to the sandbox's base URL (tests/python/run.sh does)")
    return url.rstrip("/")


@pytest.fixture()
def client(base_url):
    return IdentityVerificationClient(secret=SECRET, base_url=base_url)


def seed(base_url, **record):
    resp = requests.post(base_url + "/__sandbox/identity-verifications", json=record, timeout=10)
    assert resp.status_code == 201, resp.text
    return resp.json()


def fresh_id():
    return "iv-" + uuid.uuid4().hex[:16]


def test_verified_record_is_read_with_every_field(base_url, client):
    iv_id = fresh_id()
    seeded = seed(
        base_url,
        id=iv_id,
        channel={"type": "TEST", "id": "channel-1", "key": "channel-key-1", "name": "다날",
                 "pgProvider": "DANAL", "pgMerchantId": "A010002002"},
        verifiedCustomer={"id": "customer-1", "name": "홍길동", "operator": "LGU",
                          "phoneNumber": "01012345678", "birthDate": "1991-11-11", "gender": "MALE",
                          "isForeigner": False, "ci": "C" * 88, "di": "D" * 64},
        customData='{"returnTo":"/signup"}',
        pgTxId="202401010900000000000001",
        pgRawResponse='{"raw":true}',
        verifiedAt="2026-01-02T03:04:05.000Z",
    )

    found = client.get_identity_verification(identity_verification_id=iv_id)

    assert isinstance(found, VerifiedIdentityVerification)
    assert found.id == iv_id
    assert found.version == "V2"
    assert found.verified_at == "2026-01-02T03:04:05.000Z"
    assert found.requested_at == seeded["requestedAt"]
    assert found.updated_at == seeded["updatedAt"]
    assert found.status_changed_at == seeded["statusChangedAt"]
    assert found.pg_tx_id == "202401010900000000000001"
    assert found.pg_raw_response == '{"raw":true}'
    assert found.custom_data == '{"returnTo":"/signup"}'
    c = found.verified_customer
    assert (c.id, c.name, c.operator, c.phone_number) == ("customer-1", "홍길동", "LGU", "01012345678")
    assert (c.birth_date, c.gender, c.is_foreigner) == ("1991-11-11", "MALE", False)
    assert (c.ci, c.di) == ("C" * 88, "D" * 64)
    ch = found.channel
    assert (ch.type, ch.id, ch.key, ch.name) == ("TEST", "channel-1", "channel-key-1", "다날")
    assert (ch.pg_provider, ch.pg_merchant_id) == ("DANAL", "A010002002")


def test_a_record_with_only_defaults_is_read_too(base_url, client):
    seeded = seed(base_url)
    found = client.get_identity_verification(identity_verification_id=seeded["id"])
    assert isinstance(found, VerifiedIdentityVerification)
    assert found.verified_customer.name == seeded["verifiedCustomer"]["name"]
    assert found.verified_customer.phone_number is None  # omitted, not null


def test_ready_and_failed_records(base_url, client):
    ready_id, failed_id = fresh_id(), fresh_id()
    seed(base_url, id=ready_id, status="READY")
    seed(base_url, id=failed_id, status="FAILED", requestedCustomer={"name": "홍길동"},
         failure={"reason": "사용자가 본인인증을 취소했습니다.", "pgCode": "X", "pgMessage": "Y"})

    ready = client.get_identity_verification(identity_verification_id=ready_id)
    assert isinstance(ready, ReadyIdentityVerification)
    assert ready.id == ready_id

    failed = client.get_identity_verification(identity_verification_id=failed_id)
    assert isinstance(failed, FailedIdentityVerification)
    assert failed.requested_customer.name == "홍길동"
    assert (failed.failure.reason, failed.failure.pg_code, failed.failure.pg_message) == (
        "사용자가 본인인증을 취소했습니다.", "X", "Y")


def test_unknown_id_raises_identity_verification_not_found(client):
    with pytest.raises(IdentityVerificationNotFoundError) as caught:
        client.get_identity_verification(identity_verification_id=fresh_id())
    assert isinstance(caught.value.message, str)


def test_wrong_secret_raises_unauthorized(base_url):
    iv_id = seed(base_url)["id"]
    wrong = IdentityVerificationClient(secret="not-the-secret", base_url=base_url)
    with pytest.raises(UnauthorizedError):
        wrong.get_identity_verification(identity_verification_id=iv_id)


def test_store_id_is_passed_and_checked(base_url):
    iv_id = fresh_id()
    seed(base_url, id=iv_id, storeId="store-1 &x")
    mine = IdentityVerificationClient(secret=SECRET, base_url=base_url, store_id="store-1 &x")
    assert mine.get_identity_verification(identity_verification_id=iv_id).id == iv_id
    recent = requests.get(base_url + "/__sandbox/requests?last=1", timeout=10).json()["paths"]
    assert recent == [f"/identity-verifications/{iv_id}?storeId=store-1+%26x"]

    other = IdentityVerificationClient(secret=SECRET, base_url=base_url, store_id="store-2")
    with pytest.raises(ForbiddenError):
        other.get_identity_verification(identity_verification_id=iv_id)


def test_odd_ids_travel_as_one_encoded_segment_even_with_a_trailing_slash(base_url):
    iv_id = "id 가/1?" + uuid.uuid4().hex[:6]
    seed(base_url, id=iv_id)
    slashed = IdentityVerificationClient(secret=SECRET, base_url=base_url + "/")
    assert slashed.get_identity_verification(identity_verification_id=iv_id).id == iv_id


def test_an_injected_5xx_is_a_typed_unknown_error_not_a_json_failure(base_url, client):
    iv_id = seed(base_url)["id"]
    resp = requests.post(base_url + "/__sandbox/faults", json={"status": 503, "times": 1}, timeout=10)
    assert resp.status_code == 200
    try:
        with pytest.raises(UnknownError):
            client.get_identity_verification(identity_verification_id=iv_id)
    finally:
        requests.post(base_url + "/__sandbox/faults", json={}, timeout=10)
    assert isinstance(client.get_identity_verification(identity_verification_id=iv_id),
                      VerifiedIdentityVerification)


def test_concurrent_async_lookups_share_a_pooled_client(base_url, client):
    ids = [seed(base_url)["id"] for _ in range(8)]

    async def all_of_them():
        calls = [client.get_identity_verification_async(identity_verification_id=i)
                 for i in ids * 3]
        return await asyncio.gather(*calls)

    found = asyncio.run(all_of_them())
    assert [f.id for f in found] == ids * 3
