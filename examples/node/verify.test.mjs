// Tests verify.mjs against one request captured from a live verigate (node:test).
//
// tests/python/test_signatures.py starts the sandbox, an app and the gateway, captures what the
// app received and runs this file with:
//   VERIGATE_CAPTURED_REQUEST  a JSON file {method, url, headers: [[name, value], ...], body_base64}
//   VERIGATE_JWKS_URL          the admin listener's /.well-known/jwks.json
//   VERIGATE_ISSUER, VERIGATE_AUDIENCE
//   VERIGATE_EXPECT            "valid" (default): it verifies, and tampered copies do not;
//                              "invalid": the captured request itself must be rejected
//   VERIGATE_EXPECT_SUB        optional: the id (imp_uid or identityVerificationId) the
//                              assertion must name

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { verifyRequest } from './verify.mjs';

const env = process.env;
const required = ['VERIGATE_CAPTURED_REQUEST', 'VERIGATE_JWKS_URL', 'VERIGATE_ISSUER', 'VERIGATE_AUDIENCE'];
const missing = required.filter((name) => !env[name]);
if (missing.length) {
  console.error(`verify.test.mjs needs a live gateway: set ${missing.join(', ')} ` +
    '(tests/python/test_signatures.py does; run tests/python/run.sh)');
  process.exit(2);
}

const captured = JSON.parse(readFileSync(env.VERIGATE_CAPTURED_REQUEST, 'utf8'));
const options = { jwksUrl: env.VERIGATE_JWKS_URL, issuer: env.VERIGATE_ISSUER, audience: env.VERIGATE_AUDIENCE };

/** The captured request as an app framework hands it over: lower-case header names, raw body. */
function request() {
  return {
    method: captured.method,
    url: captured.url,
    headers: Object.fromEntries(captured.headers.map(([name, value]) => [name.toLowerCase(), value])),
    body: Buffer.from(captured.body_base64, 'base64'),
  };
}

function digest(body) {
  return `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;
}

if (env.VERIGATE_EXPECT === 'invalid') {
  test('the verifier rejects the captured request', async () => {
    await assert.rejects(verifyRequest(request(), options));
  });
} else {
  test('a request forwarded by verigate verifies, and the claims match the signed headers', async () => {
    const req = request();
    const claims = await verifyRequest(req, options);
    assert.equal(claims.iss, options.issuer);
    assert.equal(claims.aud, options.audience);
    assert.equal(claims.verdict, req.headers['x-verified-verdict']);
    assert.equal(claims.name, decodeURIComponent(req.headers['x-verified-name']));
    assert.equal(claims.birthdate, req.headers['x-verified-birth']);
    assert.equal(String(claims.age), req.headers['x-verified-age']);
    assert.equal(claims.htm, req.method);
    if (env.VERIGATE_EXPECT_SUB) assert.equal(claims.sub, env.VERIGATE_EXPECT_SUB);
  });

  test('a changed x-verified-verdict or x-verified-name is rejected', async () => {
    for (const [name, value] of [['x-verified-verdict', 'deny'], ['x-verified-name', '%EA%B9%80']]) {
      const req = request();
      req.headers[name] = value;
      await assert.rejects(verifyRequest(req, options), /did not verify/, `${name} changed`);
    }
  });

  test('an added, unsigned x-verified-* header is rejected', async () => {
    const req = request();
    req.headers['x-verified-carrier'] = 'SKT';
    await assert.rejects(verifyRequest(req, options), /Missing required signed fields/);
  });

  test('one changed body byte is rejected by the content-digest check', async () => {
    const req = request();
    req.body[req.body.length - 2] ^= 0x01;
    await assert.rejects(verifyRequest(req, options), /content-digest does not match/);
  });

  test('a recomputed content-digest for a changed body is rejected by the signature', async () => {
    const req = request();
    req.body[req.body.length - 2] ^= 0x01;
    req.headers['content-digest'] = digest(req.body);
    await assert.rejects(verifyRequest(req, options), /did not verify/);
  });

  test('another path or query is rejected', async () => {
    const otherPath = new URL(captured.url);
    otherPath.pathname += '2';
    for (const url of [otherPath.href, captured.url + '&x=1']) {
      await assert.rejects(verifyRequest({ ...request(), url }, options), /did not verify/, url);
    }
  });

  test('the wrong audience is rejected', async () => {
    await assert.rejects(verifyRequest(request(), { ...options, audience: 'another-app' }), /aud/);
  });
}
