import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.ts';
import { scrubSecrets } from '../observability/secrets.ts';
import { generateUserKeys, keysOfUser, publicIdentity, readKeysFile, writeKeysFile } from './cross-signing-keys.ts';
import { hasValidSignature } from './signing-key.ts';

const tempFile = () => join(mkdtempSync(join(tmpdir(), 'mrr-xsign-')), 'keys.json');

describe('cross-signing identity', () => {
  it('publishes the master key and both subkeys signed by it', () => {
    const keys = generateUserKeys('@bot:example.org');
    const identity = publicIdentity(keys);
    expect(identity.master_key).toEqual({ user_id: '@bot:example.org', usage: ['master'], keys: { [keys.master.keyId]: keys.master.publicKey } });
    for (const [sub, usage] of [
      [identity.self_signing_key, 'self_signing'],
      [identity.user_signing_key, 'user_signing'],
    ] as const) {
      expect(sub.usage).toEqual([usage]);
      expect(hasValidSignature(sub, '@bot:example.org', keys.master.publicKey, keys.master.publicKey)).toBe(true);
    }
    // Deterministic: publishing again gives the same bytes, which keeps re-uploads idempotent.
    expect(publicIdentity(keys)).toEqual(identity);
  });
});

describe('keys file', () => {
  it('round-trips with mode 0600 and refuses to overwrite without force', () => {
    const path = tempFile();
    const bot = generateUserKeys('@bot:example.org');
    const call = generateUserKeys('@bot-call:example.org');
    writeKeysFile(path, [bot, call], { force: false });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const read = readKeysFile(path);
    expect([...read.keys()]).toEqual(['@bot:example.org', '@bot-call:example.org']);
    expect(read.get('@bot-call:example.org')!.selfSigning.publicKey).toBe(call.selfSigning.publicKey);

    expect(() => writeKeysFile(path, [generateUserKeys('@bot:example.org')], { force: false })).toThrow(/exists.*--force/);
    expect(readKeysFile(path).get('@bot:example.org')!.master.publicKey).toBe(bot.master.publicKey);

    writeFileSync(path, readFileSync(path), { mode: 0o644 });
    const replacement = generateUserKeys('@bot:example.org');
    writeKeysFile(path, [replacement], { force: true });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readKeysFile(path).get('@bot:example.org')!.master.publicKey).toBe(replacement.master.publicKey);
  });

  it('registers the private seeds with the log scrubber when read', () => {
    const path = tempFile();
    const keys = generateUserKeys('@bot:example.org');
    writeKeysFile(path, [keys], { force: false });
    readKeysFile(path);
    const seed = keys.selfSigning.exportSeed();
    expect(scrubSecrets(`oops ${seed}`)).not.toContain(seed);
  });

  it('names the problem of a missing, broken or incomplete file without quoting it', () => {
    const path = tempFile();
    expect(() => readKeysFile(path)).toThrow(/cannot read the cross-signing keys file .*generate-cross-signing/);
    writeFileSync(path, '{"format": "matrixrtc-recorder cross-signing keys v1", "users": {"@a:b": {"master": "secretish');
    const broken = (() => {
      try {
        readKeysFile(path);
      } catch (err) {
        return err as ConfigError;
      }
    })();
    expect(broken).toBeInstanceOf(ConfigError);
    expect(broken!.path).toBe('encryption.crossSigningKeysFile');
    expect(broken!.message).toMatch(/is not valid JSON$/);
    expect(broken!.message).not.toContain('secretish');

    writeFileSync(path, JSON.stringify({ format: 'matrixrtc-recorder cross-signing keys v1', users: { '@a:b': { master: 'x', self_signing: 'y' } } }));
    expect(() => readKeysFile(path)).toThrow(/malformed at users\.@a:b\.master: expected a 32-byte ed25519 seed/);
    writeFileSync(path, JSON.stringify({ users: {} }));
    expect(() => readKeysFile(path)).toThrow(/malformed at format/);
  });

  it('says which users a file holds when asked for another one', () => {
    const path = tempFile();
    writeKeysFile(path, [generateUserKeys('@bot:example.org')], { force: false });
    expect(() => keysOfUser(path, '@other:example.org')).toThrow(/has no keys for @other:example.org \(it has: @bot:example.org\)/);
  });
});
