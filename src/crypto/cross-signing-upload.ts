// Publishes a user's cross-signing identity (POST /keys/device_signing/upload) as that user
// through the appservice token.
//
// Synapse (measured on 1.163) asks an appservice requester for no user-interactive auth, neither
// for the first upload (MSC3967 would allow that anyway) nor for replacing an identity: a second
// upload with different keys silently replaces the published ones. Clients that had seen the old
// identity then warn their users that it changed, so the refusal to replace lives here: a file
// whose master key differs from the published one is an error unless the operator forces it.
// (A device access token of the same user, from m.login.application_service, gets a 401 UIA
// challenge with no flows for a replacement: only the appservice token can do it.)
import { MatrixApiError, RecorderError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { AppserviceClient } from '../session/appservice-client.ts';
import { publicIdentity, type UserCrossSigningKeys } from './cross-signing-keys.ts';
import { publicKeyOf, queryOwnKeys } from './keys-query.ts';

export type PublishOutcome = 'published' | 'already-published' | 'replaced';

export async function publishCrossSigningKeys(
  client: AppserviceClient,
  keys: UserCrossSigningKeys,
  opts: { force: boolean },
  log: Logger,
): Promise<PublishOutcome> {
  const { userId } = keys;
  const before = await queryOwnKeys(client, userId);
  const publishedMaster = publicKeyOf(before.master);
  const sameIdentity =
    publishedMaster === keys.master.publicKey &&
    publicKeyOf(before.selfSigning) === keys.selfSigning.publicKey &&
    publicKeyOf(before.userSigning) === keys.userSigning.publicKey;
  if (sameIdentity) {
    log.info({ userId, masterKey: publishedMaster }, 'cross-signing keys already published');
    return 'already-published';
  }
  if (publishedMaster && publishedMaster !== keys.master.publicKey && !opts.force) {
    throw new RecorderError(
      `${userId} already has a different cross-signing identity on the homeserver (master key ${publishedMaster}, the file has ${keys.master.publicKey}). ` +
        'Replacing it makes every client that knew the old one warn that the identity changed. Use the keys file that created it, or pass --force to replace it.',
      'MRR_CROSS_SIGNING_MISMATCH',
      { retryable: false },
    );
  }
  try {
    await client.request(`uploading the cross-signing keys of ${userId}`, 'POST', '/_matrix/client/v3/keys/device_signing/upload', userId, publicIdentity(keys));
  } catch (err) {
    if (err instanceof MatrixApiError && err.httpStatus === 401) {
      throw new RecorderError(
        `the homeserver asked for interactive authentication to publish the cross-signing keys of ${userId}; ` +
          'Synapse does not for appservice users, so this homeserver treats the appservice token differently',
        'MRR_CROSS_SIGNING_UIA',
        { retryable: false, cause: err },
      );
    }
    throw err;
  }
  const after = await queryOwnKeys(client, userId);
  if (publicKeyOf(after.master) !== keys.master.publicKey || publicKeyOf(after.selfSigning) !== keys.selfSigning.publicKey) {
    throw new RecorderError(`the homeserver accepted the cross-signing keys of ${userId} but does not publish them`, 'MRR_CROSS_SIGNING_NOT_PUBLISHED', {
      retryable: false,
    });
  }
  const outcome = publishedMaster && publishedMaster !== keys.master.publicKey ? 'replaced' : 'published';
  log.info({ userId, masterKey: keys.master.publicKey, replacedMasterKey: publishedMaster }, `cross-signing keys ${outcome}`);
  return outcome;
}
