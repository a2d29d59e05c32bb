"""A session cookie for the gated scenarios, minted once before the runs by walking the flow a
browser walks (as `verigate demo` does, src/demo/sessions.rs): the gated URL → the verification
page (state cookie, merchant_uid) → the sandbox's stand-in completes it → the callback → the
sealed session cookie. Every gated gateway of the bench shares the session secret, so the one
cookie opens on all of them."""

import http.client
import json
import re
import urllib.parse

from .servers import GATED_PREFIX

COOKIE_NAME = "verigate"  # secure = false: no __Host- prefix


def get_no_redirect(port, target, headers=None):
    """One GET to 127.0.0.1:port, redirects not followed: (status, headers, body)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", target, headers=headers or {})
        r = c.getresponse()
        return r.status, r.getheaders(), r.read()
    finally:
        c.close()


def _set_cookie(headers, name):
    for k, v in headers:
        if k.lower() == "set-cookie":
            pair = v.split(";", 1)[0]
            n, _, val = pair.partition("=")
            if n == name and val:
                return pair
    return None


def _location(headers):
    return next((v for k, v in headers if k.lower() == "location"), "")


def mint(gateway_port, sandbox_port, birthday="1990-05-05"):
    """`verigate=…` for an adult born on `birthday`."""
    target = f"{GATED_PREFIX}/videos"
    st, hs, _ = get_no_redirect(gateway_port, target, {"accept": "text/html"})
    page = _location(hs)
    if st != 302 or not page.startswith("/.verigate/verify"):
        raise RuntimeError(f"gated URL without a session: {st} {page!r}, expected 302 to the page")
    st, hs, html = get_no_redirect(gateway_port, page, {"accept": "text/html"})
    state = _set_cookie(hs, "verigate_state")
    m = re.search(rb'"merchant_uid":"([^"]+)"', html)
    if st != 200 or not state or not m:
        raise RuntimeError(f"verification page: {st}, state cookie {bool(state)}, merchant_uid {bool(m)}")
    base = f"http://127.0.0.1:{gateway_port}"
    req = {"request": {"sdk": "v1", "mode": "redirect", "merchant_uid": m.group(1).decode(),
                       "imp_code": "imp00000000", "redirect": f"{base}/.verigate/callback"},
           "action": "verify", "person": {"name": "홍길동", "birthday": birthday}}
    c = http.client.HTTPConnection("127.0.0.1", sandbox_port, timeout=10)
    try:
        c.request("POST", "/__sandbox/verify", body=json.dumps(req, ensure_ascii=False).encode(),
                  headers={"content-type": "application/json"})
        r = c.getresponse()
        done = json.loads(r.read())
    finally:
        c.close()
    back = urllib.parse.urlsplit(done.get("redirect", ""))
    st, hs, body = get_no_redirect(gateway_port, back.path + ("?" + back.query if back.query else ""),
                        {"cookie": state, "accept": "text/html"})
    cookie = _set_cookie(hs, COOKIE_NAME)
    if st not in (302, 303) or not cookie or _location(hs) != target:
        raise RuntimeError(f"callback: {st} → {_location(hs)!r}, session cookie {bool(cookie)}: {body[:300]!r}")
    return cookie
