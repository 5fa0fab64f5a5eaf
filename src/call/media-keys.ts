// Media keys of the call's members, as matrix-js-sdk's MatrixRTCSession delivers them (Olm
// to-device `io.element.call.encryption_keys`, decrypted), held in process memory only and
// applied to every LiveKit connection under the exact identity the sender connects with. Keys
// may arrive before a connection or participant exists; a new connection gets all of them.
import { RecorderError } from '../errors.ts';
import { KEY_RING_SIZE } from '../media/livekit/participant-keys.ts';

/** Longest key taken: Element Call sends 16 bytes; the HKDF import takes any length, a peer could send megabytes. */
export const MAX_MEDIA_KEY_BYTES = 64;

/** MRR_MEDIA_KEY: a member's media key cannot be used as sent; the message says which part is wrong. */
export class MediaKeyError extends RecorderError {
  constructor(problem: string) {
    super(`a media key was refused: ${problem}`, 'MRR_MEDIA_KEY', { retryable: false });
  }
}

/**
 * What js-sdk's to-device transport lets through unchecked (any number as the index, any bytes
 * as the key) must not reach the FFI: an index outside the key ring or a fractional one is sent
 * to native code as a uint32.
 */
export function checkMediaKey(identity: unknown, index: unknown, key: unknown): void {
  if (typeof identity !== 'string' || identity.length === 0) throw new MediaKeyError('the sender identity is empty');
  if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= KEY_RING_SIZE) {
    throw new MediaKeyError(`key index ${String(index)} of ${identity} is not an integer from 0 to ${KEY_RING_SIZE - 1}`);
  }
  if (!(key instanceof Uint8Array)) throw new MediaKeyError(`key ${index} of ${identity} is not bytes`);
  if (key.length === 0 || key.length > MAX_MEDIA_KEY_BYTES) {
    throw new MediaKeyError(`key ${index} of ${identity} is ${key.length} bytes long (1 to ${MAX_MEDIA_KEY_BYTES} are taken)`);
  }
}

export type KeyApplier = (identity: string, index: number, key: Uint8Array) => void;

export class MediaKeys {
  readonly #keys = new Map<string, Map<number, Uint8Array>>();
  readonly #appliers = new Set<KeyApplier>();

  /** Records a key and applies it everywhere (a newer key for the same index replaces the old one); MediaKeyError for a key that cannot be used. */
  set(identity: string, index: number, key: Uint8Array): void {
    checkMediaKey(identity, index, key);
    let byIndex = this.#keys.get(identity);
    if (!byIndex) this.#keys.set(identity, (byIndex = new Map()));
    byIndex.set(index, key);
    for (const apply of this.#appliers) apply(identity, index, key);
  }

  /** Adds a connection's applier and replays every key known so far into it. */
  attach(apply: KeyApplier): () => void {
    for (const [identity, byIndex] of this.#keys) for (const [index, key] of byIndex) apply(identity, index, key);
    this.#appliers.add(apply);
    return () => this.#appliers.delete(apply);
  }

  has(identity: string): boolean {
    return (this.#keys.get(identity)?.size ?? 0) > 0;
  }

  /** Which identities have keys, and which indexes (never the key bytes): for logs and reports. */
  describe(): Record<string, number[]> {
    return Object.fromEntries([...this.#keys].map(([identity, byIndex]) => [identity, [...byIndex.keys()]]));
  }

  /** Overwrites the key bytes before dropping them, so they do not linger in memory. */
  clear(): void {
    for (const byIndex of this.#keys.values()) for (const key of byIndex.values()) key.fill(0);
    this.#keys.clear();
    this.#appliers.clear();
  }
}
