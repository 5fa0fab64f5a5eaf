// Makes undecryptable media visible: rtc-node plays silence for a participant whose frames it
// cannot decrypt, so without this a recording would silently miss that person. A failure that
// lasts past a grace period (keys legitimately arrive a little after the media) is told to the
// room once per participant, in a plain sentence naming them; recovery is told too.
import type { E2eeState } from '../media/livekit/participant-keys.ts';
import type { Logger } from '../observability/logger.ts';

export const DECRYPTION_GRACE_MS = 5_000;

const REASONS: Partial<Record<E2eeState, string>> = {
  'missing-key': 'I have not received their media key',
  'decryption-failed': 'their media does not decrypt with the key I received (a different key, or a client deriving keys with PBKDF2 instead of HKDF)',
};

export class DecryptionReports {
  readonly #describe: (identity: string) => string;
  readonly #tell: (text: string) => void;
  readonly #log: Logger;
  readonly #pending = new Map<string, ReturnType<typeof setTimeout>>();
  readonly #reported = new Set<string>();
  readonly states = new Map<string, E2eeState>();

  constructor(describe: (identity: string) => string, tell: (text: string) => void, log: Logger) {
    this.#describe = describe;
    this.#tell = tell;
    this.#log = log;
  }

  update(identity: string, state: E2eeState): void {
    this.states.set(identity, state);
    const reason = REASONS[state];
    if (reason) {
      if (this.#pending.has(identity) || this.#reported.has(identity)) return;
      this.#pending.set(
        identity,
        setTimeout(() => {
          this.#pending.delete(identity);
          this.#reported.add(identity);
          this.#log.error({ identity, e2ee: state }, 'participant media cannot be decrypted');
          this.#tell(`I cannot decrypt the media of ${this.#describe(identity)}: ${reason}. Their audio is missing from the recording until this is fixed.`);
        }, DECRYPTION_GRACE_MS),
      );
    } else if (state === 'ok' || state === 'key-ratcheted') {
      clearTimeout(this.#pending.get(identity));
      this.#pending.delete(identity);
      if (this.#reported.delete(identity)) this.#tell(`I can decrypt the media of ${this.#describe(identity)} again.`);
    }
  }

  dispose(): void {
    for (const timer of this.#pending.values()) clearTimeout(timer);
    this.#pending.clear();
  }
}
