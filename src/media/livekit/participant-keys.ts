// Per-participant media keys for @livekit/rtc-node, configured like Element Call's key provider.
//
// Upstream problem (@livekit/rtc-node 1.1.0, dist/e2ee.cjs `KeyProvider.setKey`): it builds the
// FFI `SetKeyRequest` with the participant identity and key index but never the key bytes,
// although the protobuf message has a required `key` field, so per-participant keys cannot be
// set through the public API. This module sends the same FFI request with the bytes, through the
// FFI client rtc-node itself uses (a process-wide singleton it keeps on globalThis).
import { E2eeRequest, EncryptionType, KeyDerivationFunction, SetKeyRequest } from '@livekit/rtc-ffi-bindings';
import type { E2EEOptions, Room } from '@livekit/rtc-node';

/** Element Call's raw keys are 16 random bytes, imported as HKDF material. */
export const MEDIA_KEY_BYTES = 16;
/** Key indexes run 0..255 in Element Call (a byte in the frame trailer). */
export const KEY_RING_SIZE = 256;

/**
 * Element Call's provider (protocol notes §7.7): HKDF with salt "LKFrameEncryptionKey", ratchet
 * window 10, a ring of 256 keys, and a failure tolerance that never marks a key as broken
 * (-1): a participant whose key arrives late must still be decrypted once it does.
 */
export function elementCallE2eeOptions(): E2EEOptions {
  return {
    encryptionType: EncryptionType.GCM,
    keyProviderOptions: {
      ratchetSalt: new TextEncoder().encode('LKFrameEncryptionKey'),
      ratchetWindowSize: 10,
      failureTolerance: -1,
      keyRingSize: KEY_RING_SIZE,
      keyDerivationFunction: KeyDerivationFunction.HKDF,
    },
  };
}

interface FfiClientLike {
  request(request: { message: { case: 'e2ee'; value: E2eeRequest } }): unknown;
}

function ffiClient(): FfiClientLike {
  const client = (globalThis as { _ffiClientInstance?: FfiClientLike })._ffiClientInstance;
  if (!client) throw new Error('the @livekit/rtc-node FFI client is not initialised (create a Room first)');
  return client;
}

/** Sets `key` for `identity` at `index` in the room's key provider (the room must use E2EE). */
export function setParticipantKey(room: Room, identity: string, index: number, key: Uint8Array): void {
  if (key.length !== MEDIA_KEY_BYTES) throw new Error(`a media key must be ${MEDIA_KEY_BYTES} bytes, got ${key.length}`);
  if (!Number.isInteger(index) || index < 0 || index >= KEY_RING_SIZE) throw new Error(`key index ${index} is outside 0..${KEY_RING_SIZE - 1}`);
  const provider = (room.e2eeManager as unknown as { keyProvider?: { roomHandle?: bigint } } | undefined)?.keyProvider;
  if (!provider?.roomHandle) throw new Error('the room has no E2EE key provider (connect with encryption options first)');
  ffiClient().request({
    message: {
      case: 'e2ee',
      value: new E2eeRequest({
        roomHandle: provider.roomHandle,
        message: { case: 'setKey', value: new SetKeyRequest({ participantIdentity: identity, keyIndex: index, key: Uint8Array.from(key) }) },
      }),
    },
  });
}
