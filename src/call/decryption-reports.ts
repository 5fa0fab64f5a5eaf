// Makes undecryptable media visible: rtc-node plays silence for a participant whose frames it
// cannot decrypt, so without this a recording would silently miss that person. A failure that
// lasts past a grace period (keys legitimately arrive a little after the media) is told to the
// room once per participant, in a plain sentence naming them; recovery is told too.
import type { E2eeState } from '../media/livekit/participant-keys.ts';
import type { Logger } from '../observability/logger.ts';
import { decryptionFailure } from '../observability/metrics.ts';

export const DECRYPTION_GRACE_MS = 5_000;

const FAILING = new Set<E2eeState>(['missing-key', 'decryption-failed']);
const DECRYPTED = new Set<E2eeState>(['ok', 'key-ratcheted']);
const NO_KEY = 'I have not received their media key';
const WRONG_KEY = 'their media does not decrypt with the key I received (a different key, or a client deriving keys with PBKDF2 instead of HKDF)';

export class DecryptionReports {
  readonly #describe: (identity: string) => string;
  readonly #tell: (text: string) => void;
  readonly #log: Logger;
  readonly #pending = new Map<string, ReturnType<typeof setTimeout>>();
  readonly #reported = new Set<string>();
  readonly states = new Map<string, E2eeState>();

  readonly #hasKey: (identity: string) => boolean;

  /**
   * `hasKey` says whether a media key from that participant has arrived. libwebrtc's state does
   * not tell: it says 'missing-key' when the first frames came before the key, and stays there
   * (or at 'new', see undecryptedMedia) when the key that came does not fit, so the reason given
   * to the room comes from what we actually received.
   */
  constructor(describe: (identity: string) => string, tell: (text: string) => void, log: Logger, hasKey: (identity: string) => boolean) {
    this.#describe = describe;
    this.#hasKey = hasKey;
    this.#tell = tell;
    this.#log = log;
  }

  update(identity: string, state: E2eeState): void {
    this.states.set(identity, state);
    if (FAILING.has(state)) {
      this.#startGrace(identity);
    } else if (DECRYPTED.has(state)) {
      clearTimeout(this.#pending.get(identity));
      this.#pending.delete(identity);
      if (this.#reported.delete(identity)) this.#tell(`I can decrypt the media of ${this.#describe(identity)} again.`);
    }
  }

  /**
   * Frames of an unmuted track arrive and are not decrypted. Needed besides update(): with
   * failureTolerance -1 (never give up on a key) libwebrtc reports no state at all for a key that
   * does not fit when that key was set before the first frame, so the state stays 'new'.
   */
  undecryptedMedia(identity: string): void {
    if (DECRYPTED.has(this.states.get(identity) ?? 'new')) return;
    this.#startGrace(identity);
  }

  #startGrace(identity: string): void {
    if (this.#pending.has(identity) || this.#reported.has(identity)) return;
    this.#pending.set(
      identity,
      setTimeout(() => {
        this.#pending.delete(identity);
        this.#reported.add(identity);
        const hasKey = this.#hasKey(identity);
        decryptionFailure(hasKey ? 'wrong_key' : 'no_key');
        this.#log.error({ identity, e2ee: this.states.get(identity) ?? 'new', hasKey }, 'participant media cannot be decrypted');
        this.#tell(`I cannot decrypt the media of ${this.#describe(identity)}: ${hasKey ? WRONG_KEY : NO_KEY}. Their audio is missing from the recording until this is fixed.`);
      }, DECRYPTION_GRACE_MS),
    );
  }

  dispose(): void {
    for (const timer of this.#pending.values()) clearTimeout(timer);
    this.#pending.clear();
  }
}
