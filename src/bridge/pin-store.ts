// Conference PINs that let a phone caller into a room's call. A PIN is a secret: Redis holds only
// its HMAC under a key derived from the appservice token (which Redis never sees), so neither a
// Redis dump nor a log line gives a PIN away. One PIN names one room; a PIN in use is refused.
import { createHmac, hkdfSync } from 'node:crypto';
import type { Redis } from 'ioredis';

export const PIN_PATTERN = /^\d{4,12}$/;

export function pinProblem(pin: string): string | undefined {
  return PIN_PATTERN.test(pin) ? undefined : 'a PIN is 4 to 12 digits';
}

export class PinStore {
  readonly #redis: Redis;
  readonly #byDigest: string;
  readonly #byRoom: string;
  readonly #key: Buffer;

  constructor(redis: Redis, prefix: string, asToken: string) {
    this.#redis = redis;
    this.#byDigest = `${prefix}:sip:pins`;
    this.#byRoom = `${prefix}:sip:room-pins`;
    this.#key = Buffer.from(hkdfSync('sha256', asToken, 'matrixrtc-recorder', 'conference pin', 32));
  }

  /** Sets the room's PIN (replacing its old one); 'taken' when another room has this PIN. */
  async set(roomId: string, pin: string): Promise<'set' | 'taken'> {
    const problem = pinProblem(pin);
    if (problem) throw new Error(problem);
    const digest = this.#digest(pin);
    const owner = await this.#redis.hget(this.#byDigest, digest);
    if (owner && owner !== roomId) return 'taken';
    const old = await this.#redis.hget(this.#byRoom, roomId);
    const tx = this.#redis.multi();
    if (old && old !== digest) tx.hdel(this.#byDigest, old);
    await tx.hset(this.#byDigest, digest, roomId).hset(this.#byRoom, roomId, digest).exec();
    return 'set';
  }

  /** Removes the room's PIN; false when it had none. */
  async clear(roomId: string): Promise<boolean> {
    const old = await this.#redis.hget(this.#byRoom, roomId);
    if (!old) return false;
    await this.#redis.multi().hdel(this.#byDigest, old).hdel(this.#byRoom, roomId).exec();
    return true;
  }

  async hasPin(roomId: string): Promise<boolean> {
    return (await this.#redis.hexists(this.#byRoom, roomId)) === 1;
  }

  /** The room a PIN opens, if any. */
  async roomFor(pin: string): Promise<string | undefined> {
    if (pinProblem(pin)) return undefined;
    return (await this.#redis.hget(this.#byDigest, this.#digest(pin))) ?? undefined;
  }

  #digest(pin: string): string {
    return createHmac('sha256', this.#key).update(pin).digest('base64url');
  }
}
