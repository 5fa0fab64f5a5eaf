// Per-participant media keys for @livekit/rtc-node, configured like Element Call's key provider.
//
// Upstream problem (@livekit/rtc-node 1.1.0, dist/e2ee.cjs `KeyProvider.setKey`): it builds the
// FFI `SetKeyRequest` with the participant identity and key index but never the key bytes,
// although the protobuf message has a required `key` field, so per-participant keys cannot be
// set through the public API. This module sends the same FFI request with the bytes, through the
// FFI client rtc-node itself uses (a process-wide singleton it keeps on globalThis).
import { E2eeRequest, EncryptionType, FrameCryptorSetKeyIndexRequest, KeyDerivationFunction, SetKeyRequest, type FfiRequest } from '@livekit/rtc-ffi-bindings';
import { AudioFrame, type E2EEOptions, type Room } from '@livekit/rtc-node';

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
  request(request: { message: FfiRequest['message'] }): unknown;
}

/** rtc-node's own FFI client, for requests its API does not offer (also video-layer.ts). */
export function ffiClient(): FfiClientLike {
  const holder = globalThis as { _ffiClientInstance?: FfiClientLike };
  // rtc-node creates its client lazily; describing a frame is the lightest public call that does.
  if (!holder._ffiClientInstance) new AudioFrame(new Int16Array(1), 48_000, 1, 1).protoInfo();
  if (!holder._ffiClientInstance) throw new Error('the @livekit/rtc-node FFI client could not be created');
  return holder._ffiClientInstance;
}

/** Sets `key` for `identity` at `index` in the room's key provider (the room must use E2EE). */
export function setParticipantKey(room: Room, identity: string, index: number, key: Uint8Array): void {
  if (key.length !== MEDIA_KEY_BYTES) throw new Error(`a media key must be ${MEDIA_KEY_BYTES} bytes, got ${key.length}`);
  sendE2eeRequest(room, index, { case: 'setKey', value: new SetKeyRequest({ participantIdentity: identity, keyIndex: index, key: Uint8Array.from(key) }) });
}

/**
 * Makes our sender encrypt `trackSid` with the key at `index` (after a key rotation).
 * rtc-node 1.1.0 `FrameCryptor.setKeyIndex` has the same defect as `setKey`: it leaves out the
 * required `track_sid` of the FFI request, which then fails to encode.
 */
export function useSenderKeyIndex(room: Room, identity: string, trackSid: string, index: number): void {
  sendE2eeRequest(room, index, { case: 'cryptorSetKeyIndex', value: new FrameCryptorSetKeyIndexRequest({ participantIdentity: identity, trackSid, keyIndex: index }) });
}

function sendE2eeRequest(room: Room, index: number, message: E2eeRequest['message']): void {
  if (!Number.isInteger(index) || index < 0 || index >= KEY_RING_SIZE) throw new Error(`key index ${index} is outside 0..${KEY_RING_SIZE - 1}`);
  ffiClient().request({ message: { case: 'e2ee', value: new E2eeRequest({ roomHandle: roomHandleOf(room), message }) } });
}

/** The FFI handle of the room's key provider; undefined when the room has no E2EE. */
const keyProviderHandle = (room: Room): bigint | undefined =>
  (room.e2eeManager as unknown as { keyProvider?: { roomHandle?: bigint } } | undefined)?.keyProvider?.roomHandle;

function roomHandleOf(room: Room): bigint {
  const handle = keyProviderHandle(room);
  if (handle === undefined) throw new Error('the room has no E2EE key provider (connect with encryption options first)');
  return handle;
}

/** What rtc-node's frame cryptors report per participant (livekit.proto.EncryptionState). */
export type E2eeState = 'new' | 'ok' | 'encryption-failed' | 'decryption-failed' | 'missing-key' | 'key-ratcheted' | 'internal-error';
const STATE_NAMES: E2eeState[] = ['new', 'ok', 'encryption-failed', 'decryption-failed', 'missing-key', 'key-ratcheted', 'internal-error'];

interface FfiEventSource {
  on(event: 'ffi_event', listener: (event: FfiEventShape) => void): void;
  off(event: 'ffi_event', listener: (event: FfiEventShape) => void): void;
}
interface FfiEventShape {
  message: { case?: string; value?: { roomHandle?: bigint; message?: { case?: string; value?: { participantIdentity?: string; state?: number } } } };
}

/**
 * Per-participant E2EE states of a room. rtc-node 1.1.0 drops these FFI events except for
 * internal errors, so a participant whose frames cannot be decrypted would just be silent;
 * listening on the FFI client makes the failure visible. Start watching before `connect()`:
 * the first state of a participant already publishing arrives while the connection is made,
 * before the room handle is known, so events are held until `bind` names the room.
 */
export function watchE2eeStates(): { bind(room: Room, onState: (identity: string, state: E2eeState) => void): void; stop(): void } {
  const source = ffiClient() as unknown as FfiEventSource;
  const held: Array<{ handle: bigint; identity: string; state: E2eeState }> = [];
  let bound: { handle: bigint; onState: (identity: string, state: E2eeState) => void } | undefined;
  const listener = (event: FfiEventShape) => {
    const roomEvent = event.message;
    const inner = roomEvent.value?.message;
    if (roomEvent.case !== 'roomEvent' || inner?.case !== 'e2eeStateChanged' || !inner.value?.participantIdentity) return;
    const entry = { handle: roomEvent.value!.roomHandle ?? -1n, identity: inner.value.participantIdentity, state: STATE_NAMES[inner.value.state ?? 0] ?? 'internal-error' };
    if (!bound) held.push(entry);
    else if (entry.handle === bound.handle) bound.onState(entry.identity, entry.state);
  };
  source.on('ffi_event', listener);
  return {
    bind(room, onState) {
      const handle = keyProviderHandle(room);
      if (handle === undefined) return; // not an E2EE room
      bound = { handle, onState };
      for (const entry of held.splice(0)) if (entry.handle === handle) onState(entry.identity, entry.state);
    },
    stop: () => source.off('ffi_event', listener),
  };
}
