// `matrixrtc-recorder generate-cross-signing`: creates the cross-signing identities of the bot's
// users once, keeps them in the secret keys file and publishes them on the homeserver.
//
// An existing file is never overwritten without --force; running the command again publishes
// that file's keys (a no-op when they are already published), which also repairs a homeserver
// that lost them. A new file is refused before it is written when a user already has a
// published identity, because publishing would replace an identity other clients remember.
import { existsSync } from 'node:fs';
import { RecorderError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import { AppserviceClient, registerAppserviceUser } from '../session/appservice-client.ts';
import { generateUserKeys, readKeysFile, writeKeysFile, type UserCrossSigningKeys } from './cross-signing-keys.ts';
import { publishCrossSigningKeys } from './cross-signing-upload.ts';
import { publicKeyOf, queryOwnKeys } from './keys-query.ts';

export interface GenerateCrossSigningOptions {
  homeserverUrl: string;
  asToken: string;
  /** The users that get an identity: the bot and its call user. */
  userIds: string[];
  output: string;
  force: boolean;
}

/** Runs the command; `say` receives the story for the operator, one sentence per line. */
export async function generateCrossSigning(opts: GenerateCrossSigningOptions, say: (line: string) => void, log: Logger): Promise<void> {
  const client = new AppserviceClient(opts.homeserverUrl, opts.asToken);
  for (const userId of opts.userIds) await registerAppserviceUser(client, userId);

  const keys = existsSync(opts.output) && !opts.force ? keysFromExistingFile(opts.output, opts.userIds, say) : await newKeys(client, opts, say);

  for (const userKeys of keys) {
    const outcome = await publishCrossSigningKeys(client, userKeys, { force: opts.force }, log);
    const master = userKeys.master.publicKey;
    say(
      outcome === 'already-published'
        ? `${userKeys.userId}: already published with master key ${master}; nothing to do.`
        : outcome === 'replaced'
          ? `${userKeys.userId}: replaced the published identity with master key ${master} (--force). Clients that knew the old one will show that it changed.`
          : `${userKeys.userId}: published the identity with master key ${master}.`,
    );
  }
  say(`Every device the recorder creates for these users will be signed while encryption.crossSigningKeysFile names ${opts.output}.`);
}

function keysFromExistingFile(path: string, userIds: string[], say: (line: string) => void): UserCrossSigningKeys[] {
  const inFile = readKeysFile(path);
  const missing = userIds.filter((u) => !inFile.has(u));
  if (missing.length > 0) {
    throw new RecorderError(
      `${path} exists but has no keys for ${missing.join(', ')} (it has ${[...inFile.keys()].join(', ') || 'none'}); pass --force to replace it with new keys, or choose another --output`,
      'MRR_CROSS_SIGNING_FILE',
      { retryable: false },
    );
  }
  say(`${path} exists: publishing the keys it holds (pass --force to generate new ones instead).`);
  return userIds.map((u) => inFile.get(u)!);
}

async function newKeys(client: AppserviceClient, opts: GenerateCrossSigningOptions, say: (line: string) => void): Promise<UserCrossSigningKeys[]> {
  if (!opts.force) {
    for (const userId of opts.userIds) {
      const published = publicKeyOf((await queryOwnKeys(client, userId)).master);
      if (published) {
        throw new RecorderError(
          `${userId} already has a published cross-signing identity (master key ${published}). New keys would replace it and clients that know it ` +
            'would warn that it changed. If you have the file that created it, name it with --output or encryption.crossSigningKeysFile; otherwise pass --force.',
          'MRR_CROSS_SIGNING_MISMATCH',
          { retryable: false },
        );
      }
    }
  }
  const keys = opts.userIds.map(generateUserKeys);
  writeKeysFile(opts.output, keys, { force: opts.force });
  say(`Generated cross-signing keys for ${opts.userIds.join(' and ')} and wrote them to ${opts.output} (mode 0600).`);
  say('Keep that file secret and backed up: it vouches for the bot\'s devices, and losing it means a new identity that clients warn about.');
  return keys;
}

/** Appservice users must exist before the appservice can act as them (Synapse answers 403 otherwise). */
