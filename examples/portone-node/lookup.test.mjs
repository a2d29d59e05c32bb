// Tests lookup.mjs, and so @portone/server-sdk, against a live sandbox (node:test).
// tests/python/run.sh starts `verigate sandbox` and runs this file with:
//   VERIGATE_SANDBOX_URL             the sandbox, http://127.0.0.1:PORT
//   VERIGATE_SANDBOX_PORTONE_SECRET  optional: its V2 secret (default sandbox-portone-api-secret)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { IdentityVerification, IdentityVerificationClient } from '@portone/server-sdk';
import { verifiedPerson } from './lookup.mjs';

const baseUrl = process.env.VERIGATE_SANDBOX_URL;
if (!baseUrl) {
  console.error('lookup.test.mjs needs a live sandbox: set VERIGATE_SANDBOX_URL (tests/python/run.sh does)');
  process.exit(2);
}
const secret = process.env.VERIGATE_SANDBOX_PORTONE_SECRET || 'sandbox-portone-api-secret';

async function seed(record) {
  const resp = await fetch(new URL('/__sandbox/identity-verifications', baseUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(record),
  });
  assert.equal(resp.status, 201);
  return resp.json();
}

test('a VERIFIED record is read with the official client', async () => {
  const id = `iv-node-${randomUUID()}`;
  const seeded = await seed({
    id,
    verifiedCustomer: { name: '홍길동', birthDate: '1991-11-11', gender: 'MALE', phoneNumber: '01012345678' },
  });
  const record = await IdentityVerificationClient({ secret, baseUrl })
    .getIdentityVerification({ identityVerificationId: id });
  assert.deepEqual(record, seeded);
  assert.equal(record.status, 'VERIFIED');
  assert.equal(record.verifiedCustomer.name, '홍길동');
  assert.equal(typeof record.verifiedAt, 'string');
  assert.deepEqual(await verifiedPerson({ secret, baseUrl, identityVerificationId: id }),
    { id, name: '홍길동', birthDate: '1991-11-11', verifiedAt: record.verifiedAt });
});

test('READY and unknown ids are no person; a wrong secret throws', async () => {
  const ready = await seed({ id: `iv-node-${randomUUID()}`, status: 'READY' });
  assert.equal(await verifiedPerson({ secret, baseUrl, identityVerificationId: ready.id }), null);
  assert.equal(await verifiedPerson({ secret, baseUrl, identityVerificationId: 'iv-none' }), null);
  await assert.rejects(
    verifiedPerson({ secret: 'wrong', baseUrl, identityVerificationId: ready.id }),
    (e) => e instanceof IdentityVerification.GetIdentityVerificationError && e.data.type === 'UNAUTHORIZED',
  );
});
