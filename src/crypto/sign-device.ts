// Signs a device of the bot's users with its owner's self-signing key, so that clients which
// only share keys with cross-signed devices (matrix-js-sdk's OnlySignedDevicesIsolationMode,
// Element's "exclude insecure devices") include it.
//
// The device's keys are read back from the homeserver, checked (its own signature, and the key
// its local crypto reports when the caller passes it), signed over their canonical JSON and
// uploaded with POST /keys/signatures/upload, all as the device's user through the appservice.
import { setTimeout as sleep } from 'node:timers/promises';
import { RecorderError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import { AppserviceClient } from '../session/appservice-client.ts';
import { keysOfUser, type UserCrossSigningKeys } from './cross-signing-keys.ts';
import { publicKeyOf, queryOwnKeys, type DeviceKeys } from './keys-query.ts';
import { addSignature, hasValidSignature } from './signing-key.ts';

export interface SignDeviceOptions {
  /**
   * The device's ed25519 key as its own crypto reports it (`getCrypto().getOwnDeviceKeys()`).
   * When given, a homeserver copy with another key is refused rather than vouched for.
   */
  expectedEd25519Key?: string;
  /** How long to wait for the device to upload its keys; matrix-js-sdk does that shortly after crypto starts. Default 30 s. */
  timeoutMs?: number;
  /** Pause between two looks for the device's keys. Default 500 ms. */
  intervalMs?: number;
  signal?: AbortSignal;
}

export type SignOutcome = 'signed' | 'already-signed';

/**
 * The function the rest of the recorder calls after creating a device: signs it when a keys
 * file is configured and returns true; without one it logs that the device stays unsigned and
 * returns false. Errors (the device never uploads keys, the file does not match the published
 * identity, the homeserver refuses the signature) are thrown as RecorderError.
 */
export async function signOwnDevice(
  homeserverUrl: string,
  asToken: string,
  keysFile: string | undefined,
  userId: string,
  deviceId: string,
  log: Logger,
  opts: SignDeviceOptions = {},
): Promise<boolean> {
  if (!keysFile) {
    log.info({ userId, deviceId }, 'no cross-signing keys file configured (encryption.crossSigningKeysFile): the device stays unsigned');
    return false;
  }
  await signDevice(new AppserviceClient(homeserverUrl, asToken), keysOfUser(keysFile, userId), deviceId, opts, log);
  return true;
}

export async function signDevice(
  client: AppserviceClient,
  keys: UserCrossSigningKeys,
  deviceId: string,
  opts: SignDeviceOptions,
  log: Logger,
): Promise<SignOutcome> {
  const { userId, selfSigning } = keys;
  const device = await waitForDeviceKeys(client, keys, deviceId, opts);
  checkDeviceKeys(device, userId, deviceId, opts.expectedEd25519Key);
  if (hasValidSignature(device, userId, selfSigning.publicKey, selfSigning.publicKey)) {
    log.info({ userId, deviceId }, 'device already signed by its owner');
    return 'already-signed';
  }
  const { unsigned: _unsigned, ...deviceKeys } = device;
  const signed = addSignature(deviceKeys, userId, selfSigning);
  const response = await client.request<{ failures?: Record<string, Record<string, { errcode?: string; message?: string; error?: string }>> }>(
    `uploading the signature of device ${deviceId} of ${userId}`,
    'POST',
    '/_matrix/client/v3/keys/signatures/upload',
    userId,
    { [userId]: { [deviceId]: signed } },
  );
  // The endpoint answers 200 even when it rejects a signature; rejections come as `failures`.
  const failure = response.failures?.[userId]?.[deviceId];
  if (failure || Object.keys(response.failures ?? {}).length > 0) {
    const detail = failure ? `${failure.errcode ?? 'M_UNKNOWN'}: ${failure.message ?? failure.error ?? ''}` : JSON.stringify(response.failures);
    throw new RecorderError(`the homeserver rejected the signature of device ${deviceId} of ${userId}: ${detail}`, failure?.errcode ?? 'MRR_SIGNATURE_REJECTED', {
      retryable: false,
    });
  }
  log.info({ userId, deviceId, selfSigningKey: selfSigning.publicKey }, 'device signed by its owner');
  return 'signed';
}

/** Polls until the device's keys are on the homeserver; also checks the published identity is the file's. */
async function waitForDeviceKeys(client: AppserviceClient, keys: UserCrossSigningKeys, deviceId: string, opts: SignDeviceOptions): Promise<DeviceKeys> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const published = await queryOwnKeys(client, keys.userId, [deviceId]);
    const publishedSelfSigning = publicKeyOf(published.selfSigning);
    if (publishedSelfSigning !== keys.selfSigning.publicKey) {
      // Without this check the upload fails with a bare "Invalid signature".
      throw new RecorderError(
        publishedSelfSigning
          ? `${keys.userId} publishes the self-signing key ${publishedSelfSigning}, not the one in the keys file (${keys.selfSigning.publicKey}); the file is not the one its identity was created from`
          : `${keys.userId} has no published cross-signing identity; run \`matrixrtc-recorder generate-cross-signing\` (it uploads the keys)`,
        'MRR_CROSS_SIGNING_NOT_PUBLISHED',
        { retryable: false },
      );
    }
    const device = published.devices[deviceId];
    if (device) return device;
    if (Date.now() >= deadline) {
      throw new RecorderError(
        `device ${deviceId} of ${keys.userId} had not uploaded its keys after ${timeoutMs} ms, so it cannot be signed (did its crypto start?)`,
        'MRR_DEVICE_KEYS_MISSING',
      );
    }
    await sleep(opts.intervalMs ?? 500, undefined, { signal: opts.signal });
  }
}

function checkDeviceKeys(device: DeviceKeys, userId: string, deviceId: string, expectedEd25519Key: string | undefined): void {
  const ed25519 = device.keys?.[`ed25519:${deviceId}`];
  const problem =
    device.user_id !== userId || device.device_id !== deviceId
      ? `they name ${device.user_id} ${device.device_id}`
      : !ed25519
        ? 'they have no ed25519 key'
        : !hasValidSignature(device, userId, deviceId, ed25519)
          ? "they are not signed by the device's own key"
          : expectedEd25519Key && expectedEd25519Key !== ed25519
            ? `their ed25519 key ${ed25519} is not the device's own ${expectedEd25519Key}`
            : undefined;
  if (problem) {
    throw new RecorderError(`refusing to sign device ${deviceId} of ${userId}: the keys the homeserver has for it are wrong (${problem})`, 'MRR_DEVICE_KEYS_INVALID', {
      retryable: false,
    });
  }
}
