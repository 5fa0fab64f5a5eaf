// A verified bot: the operator's `generate-cross-signing` publishes identities for the bot and
// its call user, and a call device signed with the file's self-signing key is "signed by its
// owner" for another user's Rust crypto, which then includes it when it encrypts in
// "only cross-signed devices" mode; an unsigned device of the same user is left out.
//
// It runs the command for a bot of its own (a fresh localpart in the appservice's namespace), so
// the identities of the stack's bot, which every other test relies on, are never touched.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createClient, Preset, type MatrixClient, type MatrixEvent } from 'matrix-js-sdk';
import { DecryptionFailureCode, OnlySignedDevicesIsolationMode } from 'matrix-js-sdk/lib/crypto-api/index.js';
import { logger as sdkGlobalLogger } from 'matrix-js-sdk/lib/logger.js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadRegistration } from '../../src/config/registration.ts';
import { generateUserKeys, readKeysFile } from '../../src/crypto/cross-signing-keys.ts';
import { publishCrossSigningKeys } from '../../src/crypto/cross-signing-upload.ts';
import { queryOwnKeys, publicKeyOf } from '../../src/crypto/keys-query.ts';
import { signOwnDevice } from '../../src/crypto/sign-device.ts';
import { RecorderError } from '../../src/errors.ts';
import { loginSessionDevice, logoutSessionDevice, type SessionDevice } from '../../src/rtc/device.ts';
import { routeSdkGlobalLogger, sdkLogger } from '../../src/rtc/sdk-logger.ts';
import { startSessionClient } from '../../src/rtc/session-client.ts';
import { AppserviceClient } from '../../src/session/appservice-client.ts';
import { callUserLocalpart } from '../../src/call/call-user.ts';
import { registerUser, waitFor } from '../helpers/matrix.ts';
import { readStackInfo } from '../stack/info.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const stack = readStackInfo();
const { as_token: asToken } = loadRegistration(stack.appservice.registrationFile);
const hs = stack.synapse.url;
const domain = stack.synapse.serverName;
// A bot of its own in the appservice's namespace: Synapse cannot take back an identity it once
// replaced (re-uploading earlier keys fails with 500, a UNIQUE constraint on its hidden key
// devices), so this file must never replace the identities the stack's bot and call user use.
const localpart = `${stack.appservice.botLocalpart}-xs${randomBytes(4).toString('hex')}`;
const botUserId = `@${localpart}:${domain}`;
const callUserId = `@${callUserLocalpart(localpart)}:${domain}`;
const appservice = new AppserviceClient(hs, asToken);
const log = pino({ level: 'warn' });
const quiet = pino({ level: 'error' });
routeSdkGlobalLogger(sdkGlobalLogger, quiet);

const dir = mkdtempSync(join(tmpdir(), 'mrr-cross-signing-'));
const keysFile = join(dir, 'cross-signing.json');
const configPath = join(dir, 'config.yaml');

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function runCli(...args: string[]) {
  return promisify(execFile)(process.execPath, [join(root, 'src/cli.ts'), 'generate-cross-signing', '--config', configPath, ...args], { cwd: root }).then(
    ({ stdout }) => ({ code: 0, stdout, stderr: '' }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );
}

beforeAll(() => {
  // All the command needs: where the homeserver is, the registration (as_token) and the file.
  const config = {
    homeserver: { url: hs, domain },
    appservice: { registrationFile: stack.appservice.registrationFile },
    bot: { localpart },
    encryption: { crossSigningKeysFile: keysFile },
  };
  writeFileSync(configPath, stringify(config));
});

describe('generate-cross-signing', () => {
  it('writes the secret keys file once and publishes the identities of the bot and the call user', async () => {
    const first = await runCli();
    expect(first.code, first.stderr).toBe(0);
    expect(statSync(keysFile).mode & 0o777).toBe(0o600);
    const file = readKeysFile(keysFile);
    expect([...file.keys()]).toEqual([botUserId, callUserId]);
    for (const userId of [botUserId, callUserId]) {
      const published = await queryOwnKeys(appservice, userId);
      expect(publicKeyOf(published.master)).toBe(file.get(userId)!.master.publicKey);
      expect(publicKeyOf(published.selfSigning)).toBe(file.get(userId)!.selfSigning.publicKey);
      expect(first.stdout).toContain(`${userId}: `);
      // The story names public keys only; the seeds never leave the file.
      for (const secret of [file.get(userId)!.master, file.get(userId)!.selfSigning, file.get(userId)!.userSigning]) {
        expect(first.stdout).not.toContain(secret.exportSeed());
      }
    }
    expect(first.stdout).toMatch(/Generated cross-signing keys for .* and wrote them to .*\(mode 0600\)/);

    // Again without --force: the file is kept and its keys, already published, are left alone.
    const again = await runCli();
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('exists: publishing the keys it holds');
    expect(again.stdout).toContain(`${botUserId}: already published`);
    expect(again.stdout).toContain(`${callUserId}: already published`);
    expect(readKeysFile(keysFile).get(botUserId)!.master.publicKey).toBe(file.get(botUserId)!.master.publicKey);

    // A new file while the identities are published: refused before anything is written.
    const otherFile = join(dir, 'other.json');
    const refused = await runCli('--output', otherFile);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/already has a published cross-signing identity .*pass --force/);
    expect(() => statSync(otherFile)).toThrow(/ENOENT/);
  });

  it('publishes idempotently and refuses to replace a different published identity unless forced', async () => {
    const userId = `@${stack.appservice.botLocalpart}-xs${randomBytes(4).toString('hex')}:${domain}`;
    await appservice.request('registering a test user', 'POST', '/_matrix/client/v3/register', userId, {
      type: 'm.login.application_service',
      username: userId.slice(1, userId.indexOf(':')),
      inhibit_login: true,
    });
    const original = generateUserKeys(userId);
    expect(await publishCrossSigningKeys(appservice, original, { force: false }, log)).toBe('published');
    expect(await publishCrossSigningKeys(appservice, original, { force: false }, log)).toBe('already-published');

    const other = generateUserKeys(userId);
    const refusal = await publishCrossSigningKeys(appservice, other, { force: false }, log).catch((err: unknown) => err);
    expect(refusal).toBeInstanceOf(RecorderError);
    expect((refusal as RecorderError).errcode).toBe('MRR_CROSS_SIGNING_MISMATCH');
    expect((refusal as RecorderError).message).toContain(original.master.publicKey);
    expect(publicKeyOf((await queryOwnKeys(appservice, userId)).master)).toBe(original.master.publicKey);

    // Forced, it is replaced: Synapse asks an appservice user for no interactive auth, even for a replacement.
    expect(await publishCrossSigningKeys(appservice, other, { force: true }, log)).toBe('replaced');
    expect(publicKeyOf((await queryOwnKeys(appservice, userId)).master)).toBe(other.master.publicKey);
  });
});

describe('signing the call devices', () => {
  it('a signed call device is signed by its owner for another client and gets its room keys in "only signed devices" mode', async () => {
    const signed = await callDevice('signed');
    const unsigned = await callDevice('unsigned');

    const ownKeys = await signed.client.getCrypto()!.getOwnDeviceKeys();
    expect(await signOwnDevice(hs, asToken, keysFile, callUserId, signed.device.deviceId, log, { expectedEd25519Key: ownKeys.ed25519 })).toBe(true);
    // Signing again is harmless (the signature is already there).
    expect(await signOwnDevice(hs, asToken, keysFile, callUserId, signed.device.deviceId, log)).toBe(true);
    // Without a configured file nothing is signed.
    expect(await signOwnDevice(hs, asToken, undefined, callUserId, unsigned.device.deviceId, log)).toBe(false);

    // Another user, in an encrypted room with the call user, looks at both devices.
    const observerUser = await registerUser(stack, 'observer');
    const observer = createClient({ baseUrl: hs, accessToken: observerUser.accessToken, userId: observerUser.userId, deviceId: observerUser.deviceId, logger: sdkLogger(quiet) });
    await observer.initRustCrypto({ useIndexedDB: false });
    await observer.startClient({ initialSyncLimit: 1 });
    cleanups.push(() => observer.stopClient());
    const { room_id: roomId } = await observer.createRoom({
      preset: Preset.PrivateChat,
      invite: [callUserId],
      initial_state: [{ type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
    });
    await appservice.request('joining as the call user', 'POST', `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/join`, callUserId, {});
    await waitFor(async () => (observer.getRoom(roomId)?.getMember(callUserId)?.membership === 'join' ? true : undefined), 'the observer to see the call user join');

    const crypto = observer.getCrypto()!;
    const statusOf = (deviceId: string) => crypto.getDeviceVerificationStatus(callUserId, deviceId);
    await waitFor(async () => (await statusOf(signed.device.deviceId)) ?? undefined, "the observer to download the call user's devices");
    expect((await statusOf(signed.device.deviceId))!.signedByOwner).toBe(true);
    expect((await statusOf(unsigned.device.deviceId))!.signedByOwner).toBe(false);

    // What that is for: with "exclude insecure devices" the room key goes to the signed device only.
    // That mode refuses to send from an account without cross-signing, as Element users have it;
    // the first upload needs no interactive auth (MSC3967).
    await crypto.bootstrapCrossSigning({ authUploadDeviceSigningKeys: (makeRequest) => makeRequest(null).then(() => undefined) });
    crypto.setDeviceIsolationMode(new OnlySignedDevicesIsolationMode());
    const { event_id: eventId } = await observer.sendTextMessage(roomId, 'for verified devices');
    expect(await decryptedBody(signed.client, roomId, eventId)).toBe('for verified devices');
    // The unsigned device is told why it gets no key (an m.room_key.withheld "m.unverified" to-device
    // message, sent before the event), which is what a recorder left out would see.
    const undecryptable = await waitForDecryptionOutcome(unsigned.client, roomId, eventId);
    expect(undecryptable.isDecryptionFailure()).toBe(true);
    expect(undecryptable.decryptionFailureReason).toBe(DecryptionFailureCode.MEGOLM_KEY_WITHHELD_FOR_UNVERIFIED_DEVICE);
  });

  it('names the problem when a device never uploads its keys or the file is not the published identity', async () => {
    // A device without crypto never uploads keys.
    const device = await loginSessionDevice(hs, asToken, callUserId, 'cross-signing test (no crypto)');
    cleanups.push(() => logoutSessionDevice(hs, device));
    const missing = await signOwnDevice(hs, asToken, keysFile, callUserId, device.deviceId, log, { timeoutMs: 1_000, intervalMs: 200 }).catch((err: unknown) => err);
    expect((missing as RecorderError).errcode).toBe('MRR_DEVICE_KEYS_MISSING');
    expect((missing as RecorderError).message).toMatch(/had not uploaded its keys after 1000 ms/);

    const strangerFile = join(dir, 'stranger.json');
    writeFileSync(strangerFile, JSON.stringify({ format: 'matrixrtc-recorder cross-signing keys v1', users: { [callUserId]: seedsOf(generateUserKeys(callUserId)) } }));
    const wrongFile = await signOwnDevice(hs, asToken, strangerFile, callUserId, device.deviceId, log).catch((err: unknown) => err);
    expect((wrongFile as RecorderError).errcode).toBe('MRR_CROSS_SIGNING_NOT_PUBLISHED');
    expect((wrongFile as RecorderError).message).toMatch(/not the one in the keys file/);
  });
});

/** A call device as a session has it: logged in with the appservice token, Rust crypto in memory. */
async function callDevice(name: string): Promise<{ device: SessionDevice; client: MatrixClient }> {
  const device = await loginSessionDevice(hs, asToken, callUserId, `cross-signing test (${name})`);
  const client = await startSessionClient({ homeserverUrl: hs, device, log: quiet, syncTimeoutMs: 30_000, withCrypto: true });
  cleanups.push(async () => {
    client.stopClient();
    await logoutSessionDevice(hs, device);
  });
  return { device, client };
}

async function waitForDecryptionOutcome(client: MatrixClient, roomId: string, eventId: string): Promise<MatrixEvent> {
  return waitFor(
    async () => {
      const event = client.getRoom(roomId)?.findEventById(eventId);
      if (!event) return undefined;
      await client.decryptEventIfNeeded(event);
      return event.isDecryptionFailure() || event.getClearContent() ? event : undefined;
    },
    `${client.getDeviceId()} to receive and try to decrypt ${eventId}`,
  );
}

async function decryptedBody(client: MatrixClient, roomId: string, eventId: string): Promise<unknown> {
  // A failure may be temporary here: the room key can arrive after the event; wait for the clear text.
  return waitFor(async () => {
    const event = await waitForDecryptionOutcome(client, roomId, eventId);
    return event.getClearContent()?.body as string | undefined;
  }, `${client.getDeviceId()} to decrypt ${eventId}`);
}

const seedsOf = (keys: ReturnType<typeof generateUserKeys>) => ({
  master: keys.master.exportSeed(),
  self_signing: keys.selfSigning.exportSeed(),
  user_signing: keys.userSigning.exportSeed(),
});
