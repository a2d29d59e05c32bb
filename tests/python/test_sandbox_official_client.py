"""The sandbox must work unchanged with PortOne's official Python client (iamport-rest-client).

The sandbox address comes from VERIGATE_SANDBOX_URL (run.sh sets it); records are seeded through
the sandbox's control endpoint, which needs no token.
"""

import os
import uuid

import pytest
import requests
from iamport import Iamport

TEST_IMP_KEY = os.environ.get("VERIGATE_SANDBOX_IMP_KEY", "imp_apikey")
TEST_IMP_SECRET = os.environ.get(
    "VERIGATE_SANDBOX_IMP_SECRET",
    "ekKoeW8RyKuT0zgaZsUtXXTLQ4AhPFW3ZGseDA6bkA5lamv9OqDMnxyeB9wqOsuO9W3Mx9YSJ4dTqJ3f",
)


@pytest.fixture(scope="session")
def base_url():
    url = os.environ.get("VERIGATE_SANDBOX_URL")
    if not url:
        pytest.fail("set VERIGATE_SANDBOX_URL to the sandbox's base URL (tests/python/run.sh does)")
    return url.rstrip("/")


@pytest.fixture()
def client(base_url):
    # The client builds URLs as imp_url + 'users/getToken': the trailing slash is required.
    return Iamport(imp_key=TEST_IMP_KEY, imp_secret=TEST_IMP_SECRET, imp_url=base_url + "/")


def seed(base_url, **record):
    resp = requests.post(base_url + "/__sandbox/certifications", json=record, timeout=10)
    assert resp.status_code == 201, resp.text
    return resp.json()


def fresh_imp_uid():
    return "imp_" + str(uuid.uuid4().int)[:12]


def test_find_certification_returns_the_seeded_record(base_url, client):
    imp_uid = fresh_imp_uid()
    seeded = seed(
        base_url,
        imp_uid=imp_uid,
        name="홍길동",
        birthday="1991-11-11",
        gender="male",
        phone="01012345678",
        carrier="SKT",
    )

    found = client.find_certification(imp_uid)

    assert found == seeded
    assert found["imp_uid"] == imp_uid
    assert found["name"] == "홍길동"
    assert found["birthday"] == "1991-11-11"
    assert found["birth"] == 689785200
    assert found["certified"] is True
    assert found["certified_at"] > 0
    assert found["gender"] == "male"
    assert found["phone"] == "01012345678"
    assert found["carrier"] == "SKT"
    assert found["foreigner"] is False
    assert found["foreigner_v2"] is None
    assert found["pg_provider"] == "danal"


def test_unknown_imp_uid_raises_the_clients_http_error_404(client):
    with pytest.raises(Iamport.HttpError) as caught:
        client.find_certification("imp_000000000000")
    assert caught.value.code == 404
    assert caught.value.reason == "Not Found"


def test_wrong_secret_raises_the_clients_http_error_401(base_url):
    wrong = Iamport(imp_key=TEST_IMP_KEY, imp_secret="not-the-secret", imp_url=base_url + "/")
    with pytest.raises(Iamport.HttpError) as caught:
        wrong.find_certification(fresh_imp_uid())
    assert caught.value.code == 401
    assert caught.value.reason == "Unauthorized"


def test_cancel_certification_deletes_and_returns_the_record(base_url, client):
    imp_uid = fresh_imp_uid()
    seeded = seed(base_url, imp_uid=imp_uid, name="김철수", birthday="2010-01-01")

    assert client.cancel_certification(imp_uid) == seeded
    with pytest.raises(Iamport.HttpError) as caught:
        client.find_certification(imp_uid)
    assert caught.value.code == 404


def test_unfinished_attempt_is_returned_with_certified_false(base_url, client):
    imp_uid = fresh_imp_uid()
    seed(base_url, imp_uid=imp_uid, certified=False)

    found = client.find_certification(imp_uid)

    assert found["certified"] is False
    assert found["birth"] == 0
    assert found["certified_at"] == 0
    assert found["name"] is None
