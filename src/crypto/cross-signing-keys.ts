// The cross-signing identities of the bot's users: for each user a master key, a self-signing
// key (signs the user's devices) and a user-signing key (signs other users; unused but part of
// a complete identity). The operator generates them once (`generate-cross-signing`) and keeps
// the file like a password: whoever holds it can vouch for devices of these users.
//
// Keys are ed25519; the file holds each key's 32-byte seed in unpadded base64, as the Matrix
// spec writes keys. Key ids are `ed25519:<public key>`, as for every cross-signing key.
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { registerSecret } from '../observability/secrets.ts';
import { addSignature, SigningKey } from './signing-key.ts';

export const KEYS_FILE_CONFIG_PATH = 'encryption.crossSigningKeysFile';
const FILE_FORMAT = 'matrixrtc-recorder cross-signing keys v1';

export interface UserCrossSigningKeys {
  userId: string;
  master: SigningKey;
  selfSigning: SigningKey;
  userSigning: SigningKey;
}

export function generateUserKeys(userId: string): UserCrossSigningKeys {
  return { userId, master: SigningKey.generate(), selfSigning: SigningKey.generate(), userSigning: SigningKey.generate() };
}

/** A cross-signing key as published (`CrossSigningKey` in the client-server API). */
export interface PublishedCrossSigningKey {
  user_id: string;
  usage: string[];
  keys: Record<string, string>;
  signatures?: Record<string, Record<string, string>>;
}

export interface PublishedIdentity {
  master_key: PublishedCrossSigningKey;
  self_signing_key: PublishedCrossSigningKey;
  user_signing_key: PublishedCrossSigningKey;
}

/** The public identity to upload: the master key, and the two subkeys signed by it. */
export function publicIdentity(keys: UserCrossSigningKeys): PublishedIdentity {
  const publicKey = (key: SigningKey, usage: string): PublishedCrossSigningKey => ({
    user_id: keys.userId,
    usage: [usage],
    keys: { [key.keyId]: key.publicKey },
  });
  const signedByMaster = (key: PublishedCrossSigningKey): PublishedCrossSigningKey => addSignature(key, keys.userId, keys.master);
  return {
    master_key: publicKey(keys.master, 'master'),
    self_signing_key: signedByMaster(publicKey(keys.selfSigning, 'self_signing')),
    user_signing_key: signedByMaster(publicKey(keys.userSigning, 'user_signing')),
  };
}

// ---- the secret file ------------------------------------------------------------------------

const seed = z.string().regex(/^[A-Za-z0-9+/]{43}$/, 'expected a 32-byte ed25519 seed in unpadded base64');
const fileSchema = z.strictObject({
  format: z.literal(FILE_FORMAT),
  users: z.record(
    z.string().regex(/^@[^:]+:.+$/, 'expected a Matrix user id'),
    z.strictObject({ master: seed, self_signing: seed, user_signing: seed }),
  ),
});

/** Writes the keys of `users` with mode 0600; refuses to replace an existing file unless `force`. */
export function writeKeysFile(path: string, users: UserCrossSigningKeys[], opts: { force: boolean }): void {
  const content = {
    format: FILE_FORMAT,
    users: Object.fromEntries(
      users.map((u) => [u.userId, { master: u.master.exportSeed(), self_signing: u.selfSigning.exportSeed(), user_signing: u.userSigning.exportSeed() }]),
    ),
  };
  const text = `${JSON.stringify(content, null, 2)}\n`;
  try {
    if (opts.force) {
      // A new file renamed over the old one: never a half-written identity, and mode 0600 even
      // where the old file had looser permissions.
      const temporary = `${path}.${randomBytes(4).toString('hex')}.tmp`;
      writeFileSync(temporary, text, { mode: 0o600, flag: 'wx' });
      renameSync(temporary, path);
    } else {
      // 'wx' fails if the file exists: an identity users may already trust is never overwritten by accident.
      writeFileSync(path, text, { mode: 0o600, flag: 'wx' });
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new ConfigError(KEYS_FILE_CONFIG_PATH, `${path} exists; it may hold the identity your users already trust. Pass --force to replace it`);
    }
    throw new ConfigError(KEYS_FILE_CONFIG_PATH, `cannot write ${path}: ${(err as Error).message}`);
  }
}

/** Reads the keys file; every seed is registered with the log scrubber before anything else sees it. */
export function readKeysFile(path: string): Map<string, UserCrossSigningKeys> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const hint = (err as NodeJS.ErrnoException).code === 'ENOENT' ? ' (create it with `matrixrtc-recorder generate-cross-signing`)' : '';
    throw new ConfigError(KEYS_FILE_CONFIG_PATH, `cannot read the cross-signing keys file ${path}: ${(err as Error).message}${hint}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    // The parser's message can quote the file's text, which is secret: say only where it broke.
    throw new ConfigError(KEYS_FILE_CONFIG_PATH, `the cross-signing keys file ${path} is not valid JSON`);
  }
  for (const value of Object.values((raw as { users?: Record<string, Record<string, unknown>> })?.users ?? {})) {
    for (const s of Object.values(value ?? {})) if (typeof s === 'string') registerSecret(s);
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(KEYS_FILE_CONFIG_PATH, `the cross-signing keys file ${path} is malformed at ${issue.path.join('.') || 'the top level'}: ${issue.message}`);
  }
  const users = new Map<string, UserCrossSigningKeys>();
  for (const [userId, seeds] of Object.entries(parsed.data.users)) {
    const key = (s: string) => new SigningKey(Buffer.from(s, 'base64'));
    users.set(userId, { userId, master: key(seeds.master), selfSigning: key(seeds.self_signing), userSigning: key(seeds.user_signing) });
  }
  return users;
}

/** The keys of `userId` from the file, or a clear error naming the users it does hold. */
export function keysOfUser(path: string, userId: string): UserCrossSigningKeys {
  const users = readKeysFile(path);
  const keys = users.get(userId);
  if (!keys) {
    throw new ConfigError(KEYS_FILE_CONFIG_PATH, `the cross-signing keys file ${path} has no keys for ${userId} (it has: ${[...users.keys()].join(', ') || 'none'})`);
  }
  return keys;
}
