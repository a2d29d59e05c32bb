// Reading a PortOne V2 identity verification on a server with PortOne's official
// @portone/server-sdk: what an app does without verigate, and what verigate does for it.
// Point `baseUrl` at verigate's sandbox (`verigate sandbox` prints its `portone api_secret`) to
// run it offline; the SDK treats `baseUrl` as an origin.

import { IdentityVerification, IdentityVerificationClient } from '@portone/server-sdk';

/**
 * The verified person behind `identityVerificationId`, or `null` when the verification is not
 * VERIFIED (READY, FAILED) or does not exist. API trouble (wrong secret, 5xx) throws.
 */
export async function verifiedPerson({ secret, baseUrl, identityVerificationId }) {
  const client = IdentityVerificationClient({ secret, baseUrl });
  let record;
  try {
    record = await client.getIdentityVerification({ identityVerificationId });
  } catch (e) {
    if (e instanceof IdentityVerification.GetIdentityVerificationError
        && e.data?.type === 'IDENTITY_VERIFICATION_NOT_FOUND') {
      return null;
    }
    throw e;
  }
  if (record.status !== 'VERIFIED') return null;
  const { name, birthDate } = record.verifiedCustomer;
  return { id: record.id, name, birthDate, verifiedAt: record.verifiedAt };
}
