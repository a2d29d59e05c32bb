// How a Node app verifies a request forwarded by verigate (README, "Signed headers").
//
//   1. The RFC 9421 signature `verigate` (npm `http-message-signatures`), with the Ed25519 key
//      named by its `keyid`, taken from verigate's JWKS. Every x-verified-* header of the request
//      must be covered by it, and so must content-digest when there is a body.
//   2. content-digest (RFC 9530) against the body bytes, with node:crypto.
//   3. The JWT in x-verified-assertion (npm `jose`): signature via the same JWKS, iss, aud, exp;
//      and it must be about this request (htm, htu) and agree with the signed headers.
//
// Returns the verified claims ({ sub, name, birthdate, age, verdict, ... }); throws otherwise.
//
// Tested against a live gateway by verify.test.mjs (run from tests/python/test_signatures.py).

import { createHash, KeyObject, timingSafeEqual } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { httpbis, createVerifier } from 'http-message-signatures';

const LABEL = 'verigate';
const PREFIX = 'x-verified-';

// One JWKS client per URL: jose caches the keys and refetches on an unknown kid (rotation).
const keySets = new Map();
function jwksFor(jwksUrl) {
  if (!keySets.has(jwksUrl)) keySets.set(jwksUrl, createRemoteJWKSet(new URL(jwksUrl)));
  return keySets.get(jwksUrl);
}

/**
 * @param {{method: string, url: string, headers: Record<string, string>, body?: Uint8Array|string}} request
 *   `url` is absolute (e.g. `http://${req.headers.host}${req.originalUrl}`); `body` the raw bytes.
 * @param {{jwksUrl: string, issuer: string, audience: string, clockToleranceSecs?: number}} options
 * @returns {Promise<Record<string, unknown>>} the assertion's claims
 */
export async function verifyRequest({ method, url, headers, body = new Uint8Array() }, options) {
  const { jwksUrl, issuer, audience, clockToleranceSecs = 5 } = options;
  const jwks = jwksFor(jwksUrl);
  const h = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const bytes = Buffer.from(body);

  // 1. The message signature. Every x-verified-* header present must be covered (not the
  //    assertion, which is a JWS of its own), and content-digest when there is a body.
  const identity = Object.keys(h).filter((n) => n.startsWith(PREFIX) && n !== `${PREFIX}assertion`);
  const verified = await httpbis.verifyMessage(
    {
      async keyLookup({ keyid, alg, tag }) {
        if (tag !== LABEL || alg !== 'ed25519') return null;
        const key = await jwks({ alg: 'EdDSA', kid: keyid }); // throws on an unknown kid
        return { id: keyid, algs: ['ed25519'], verify: createVerifier(KeyObject.from(key), 'ed25519') };
      },
      requiredParams: ['created', 'expires', 'keyid', 'alg', 'nonce', 'tag'],
      requiredFields: ['@method', '@path', '@query', ...identity, ...(bytes.length ? ['content-digest'] : [])],
      tolerance: clockToleranceSecs,
    },
    { method, url, headers: h },
  );
  if (verified !== true) throw new Error('the verigate signature did not verify');

  // 2. The body against the (now authenticated) content-digest.
  if (bytes.length || h['content-digest'] !== undefined) {
    const m = /(?:^|,)\s*sha-256=:([A-Za-z0-9+/]+={0,2}):/.exec(h['content-digest'] ?? '');
    const expected = m && Buffer.from(m[1], 'base64');
    const actual = createHash('sha256').update(bytes).digest();
    if (!expected || expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
      throw new Error('content-digest does not match the body');
    }
  }

  // 3. The assertion: signed by a published key, for us, unexpired, about this very request.
  const { payload } = await jwtVerify(h[`${PREFIX}assertion`] ?? '', jwks, {
    issuer,
    audience,
    algorithms: ['EdDSA'],
    requiredClaims: ['sub', 'iat', 'exp', 'jti'],
    clockTolerance: clockToleranceSecs,
  });
  const { pathname, search } = new URL(url);
  if (payload.htm !== method || payload.htu !== pathname + search) {
    throw new Error('the assertion was made for another request');
  }
  // `sub` is the verification id: an i'mport imp_uid, or a PortOne V2 identityVerificationId
  // (claim `provider` = "portone"), each forwarded in its own header.
  const idHeader = payload.provider === 'portone' ? 'identity-verification-id' : 'imp-uid';
  if (payload.verdict !== h[`${PREFIX}verdict`] || payload.sub !== h[`${PREFIX}${idHeader}`]) {
    throw new Error('the assertion and the signed headers disagree');
  }
  return payload;
}
