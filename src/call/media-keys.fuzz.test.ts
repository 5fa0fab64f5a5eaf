// Property-based fuzzing of to-device media key payloads (`io.element.call.encryption_keys`),
// decrypted contents as a member may send them. js-sdk's own ToDeviceKeyTransport reads them (as
// in a session) and its key manager's base64 decoding follows; what comes out reaches MediaKeys,
// which must refuse, with MediaKeyError naming the fault, anything the FFI must not get.
import fc from 'fast-check';
import { EventEmitter } from 'node:events';
import { decodeBase64 } from 'matrix-js-sdk/lib/base64.js';
import { ClientEvent, MatrixEvent } from 'matrix-js-sdk';
import { logger as sdkLogger } from 'matrix-js-sdk/lib/logger.js';
import { KeyTransportEvents } from 'matrix-js-sdk/lib/matrixrtc/IKeyTransport.js';
import { ToDeviceKeyTransport } from 'matrix-js-sdk/lib/matrixrtc/ToDeviceKeyTransport.js';
import { describe, expect, it } from 'vitest';
import { MAX_MEDIA_KEY_BYTES, MediaKeyError, MediaKeys } from './media-keys.ts';

const RUNS = 10_000;
const ROOM = '!call:hs';
(sdkLogger as unknown as { setLevel(level: string): void }).setLevel('silent');
const silentLogger = { getChild: () => silentLogger, debug() {}, info() {}, warn() {}, error() {} };

const mostly = <T,>(good: fc.Arbitrary<T>) => fc.oneof({ weight: 6, arbitrary: good }, { weight: 1, arbitrary: fc.anything() });
const base64Key = fc.oneof(
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('base64')),
  fc.uint8Array({ minLength: 0, maxLength: 100 }).map((b) => Buffer.from(b).toString('base64url')),
  fc.string(),
);
const index = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 255 }) }, fc.integer(), fc.double(), fc.constantFrom(-1, 256, 2 ** 32, Number.NaN, Infinity));
const payload = fc.record(
  {
    keys: mostly(fc.record({ index: mostly(index), key: mostly(base64Key) }, { requiredKeys: ['key'] })),
    room_id: mostly(fc.constant(ROOM)),
    member: mostly(fc.record({ claimed_device_id: mostly(fc.constantFrom('DEV1', 'DEV2')), id: mostly(fc.uuid()) }, { requiredKeys: ['claimed_device_id'] })),
    session: fc.anything(),
    sent_ts: mostly(fc.integer({ min: 0 })),
  },
  { requiredKeys: ['keys', 'room_id', 'member'] },
);

describe('fuzzing to-device key payloads', () => {
  it(`keys off the wire reach the key provider only as whole indexes 0-255 and 1-${MAX_MEDIA_KEY_BYTES} bytes (${RUNS} cases)`, () => {
    const client = new EventEmitter();
    const transport = new ToDeviceKeyTransport({ userId: '@recorder-call:hs', deviceId: 'ME', memberId: 'me' }, ROOM, client as never, {
      counters: { roomEventEncryptionKeysSent: 0, roomEventEncryptionKeysReceived: 0 },
      totals: { roomEventEncryptionKeysReceivedTotalAge: 0 },
    } as never, silentLogger as never);
    const keys = new MediaKeys();
    const applied: Array<{ index: number; length: number }> = [];
    keys.attach((_identity, i, key) => applied.push({ index: i, length: key.length }));
    const outcome = { accepted: 0, refused: 0, sdkRefused: 0, sdkThrew: 0 };
    const unclear: unknown[] = [];
    transport.on(KeyTransportEvents.ReceivedKeys, (membership: { userId: string; deviceId: unknown }, key: unknown, i: unknown) => {
      let bytes: Uint8Array;
      try {
        bytes = decodeBase64(key as string); // what js-sdk's RTCEncryptionManager does next
      } catch {
        outcome.sdkRefused++;
        return;
      }
      try {
        keys.set(`${membership.userId}:${String(membership.deviceId)}`, i as number, bytes);
        outcome.accepted++;
      } catch (err) {
        const clear = err instanceof MediaKeyError && /^a media key was refused: (key index .* is not an integer|key .* is \d+ bytes long|the sender identity is empty)/.test(err.message);
        if (!clear) unclear.push(err);
        outcome.refused++;
      }
    });
    transport.start();
    fc.assert(
      fc.property(fc.constantFrom('@alice:hs', '@bob:hs'), payload, (sender, content) => {
        const event = new MatrixEvent({ type: 'io.element.call.encryption_keys', sender, content: content as Record<string, unknown> });
        try {
          client.emit(ClientEvent.ToDeviceEvent, event);
        } catch {
          // js-sdk 43's own handler throws for a claimed_device_id that cannot become text; our listener never does.
          outcome.sdkThrew++;
        }
      }),
      { numRuns: RUNS },
    );
    transport.stop();
    expect(unclear).toEqual([]);
    for (const a of applied) {
      expect(Number.isInteger(a.index) && a.index >= 0 && a.index <= 255).toBe(true);
      expect(a.length).toBeGreaterThan(0);
      expect(a.length).toBeLessThanOrEqual(MAX_MEDIA_KEY_BYTES);
    }
    console.info(`to-device key payloads: ${JSON.stringify(outcome)}`);
    // Both sides must be exercised: keys taken, keys refused by us.
    expect(outcome.accepted).toBeGreaterThan(RUNS / 10);
    expect(outcome.refused).toBeGreaterThan(RUNS / 10);
  }, 60_000);
});
