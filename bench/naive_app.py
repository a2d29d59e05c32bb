"""The naive baseline (scenario 6): PortOne's sample server, rebuilt in Python (aiohttp).

PortOne's identity-verification guide handles `POST /certifications` ({"imp_uid": ...} in a JSON
body) like this, on EVERY request, caching nothing:

    1. POST {API}/users/getToken {imp_key, imp_secret}      -> access_token
    2. GET  {API}/certifications/{imp_uid}  Authorization: <access_token>
    3. read name and the birth date, check the birth year (adults only)
    4. answer

This app keeps exactly that shape (one token request and one lookup per request, no cache, no
shared token) so its throughput and API calls per request can be compared with verigate's
scenarios 4 and 5. It does NOT keep the sample's bug: the sample reads `birth` as milliseconds
(`new Date(birth)`); here `birthday` (YYYY-MM-DD) is used when present, else `birth` as UNIX
SECONDS taken as a date in KST. The sample's rule "birth year <= 1999" was "19 or older by year
basis" when it was written; it is written here as `birth_year <= this_year_in_KST - 19`, which is
what verigate's `adult` policy (min_age 19, age_basis "year") computes.

One generous choice, stated in bench/README.md: the HTTP client is ONE aiohttp ClientSession with
keep-alive connections to the API (the sample's axios calls open a new connection each time on
older Node). That only makes the baseline faster.

Usage: naive_app.py --listen 127.0.0.1:PORT --api http://127.0.0.1:SANDBOX_PORT
       [--imp-key K --imp-secret S]
"""

import argparse
import datetime
import sys

import aiohttp
from aiohttp import web

KST = datetime.timezone(datetime.timedelta(hours=9))
MIN_AGE = 19  # by year basis (연 나이), as verigate's `adult` policy
TEST_IMP_KEY = "imp_apikey"
TEST_IMP_SECRET = "ekKoeW8RyKuT0zgaZsUtXXTLQ4AhPFW3ZGseDA6bkA5lamv9OqDMnxyeB9wqOsuO9W3Mx9YSJ4dTqJ3f"


def birth_date(info):
    """`birthday` first; else `birth` as UNIX seconds, a date in KST. None when unknown."""
    birthday = info.get("birthday")
    if isinstance(birthday, str) and len(birthday) == 10:
        try:
            return datetime.date.fromisoformat(birthday)
        except ValueError:
            pass
    birth = info.get("birth")
    if isinstance(birth, int) and birth != 0:
        return datetime.datetime.fromtimestamp(birth, KST).date()
    return None


def make_app(api, imp_key, imp_secret):
    app = web.Application()

    async def on_startup(app):
        # Keep-alive, no connection cap (the sample's client has none either).
        app["http"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def on_cleanup(app):
        await app["http"].close()

    async def certifications(request):
        try:
            body = await request.json()
            imp_uid = body["imp_uid"]
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": "missing_imp_uid"}, status=400)
        http = request.app["http"]
        try:
            # 1. An access token, every time (the sample's getToken).
            async with http.post(
                f"{api}/users/getToken",
                json={"imp_key": imp_key, "imp_secret": imp_secret},
            ) as r:
                token = (await r.json())["response"]["access_token"]
            # 2. The verification result, every time.
            async with http.get(
                f"{api}/certifications/{imp_uid}", headers={"Authorization": token}
            ) as r:
                if r.status == 404:
                    return web.json_response({"error": "not_found"}, status=403)
                r.raise_for_status()
                info = (await r.json())["response"]
        except (aiohttp.ClientError, KeyError, TypeError, ValueError) as e:
            return web.json_response({"error": "verification_unavailable", "detail": type(e).__name__}, status=503)
        # 3. The birth-year check, without the milliseconds bug.
        if not info.get("certified"):
            return web.json_response({"error": "not_certified"}, status=403)
        born = birth_date(info)
        this_year = datetime.datetime.now(KST).year
        allowed = born is not None and born.year <= this_year - MIN_AGE
        # 4. Answer, like the echo app does behind verigate: a small JSON.
        return web.json_response(
            {
                "imp_uid": imp_uid,
                "name": info.get("name"),
                "birth": born.isoformat() if born else None,
                "verdict": "allow" if allowed else "deny",
            }
        )

    app.router.add_post("/certifications", certifications)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--listen", required=True, help="HOST:PORT")
    p.add_argument("--api", required=True, help="base URL of the i'mport API (the sandbox)")
    p.add_argument("--imp-key", default=TEST_IMP_KEY)
    p.add_argument("--imp-secret", default=TEST_IMP_SECRET)
    a = p.parse_args(argv)
    host, port = a.listen.rsplit(":", 1)
    web.run_app(
        make_app(a.api.rstrip("/"), a.imp_key, a.imp_secret),
        host=host,
        port=int(port),
        access_log=None,
        print=lambda *_: print(f"naive app listening on http://{a.listen}", flush=True),
    )


if __name__ == "__main__":
    main(sys.argv[1:])
