// What of the call's media may reach any output: nothing while paused, and nobody's voice or
// picture who is not to be recorded (opted out, or not opted in where the room requires it).
// Applied where the media is shared (the mix, each speaker's chunk, the grid), before any encoder,
// so no output keeps what it must not. Kept as a short history of states by wall-clock time, because
// audio is taken out of its jitter buffer a prebuffer after it was heard: a chunk is judged by the
// state at the moment it was heard, so a pause cuts at the command, not 60 ms after it.

export interface PolicyState {
  paused: boolean;
  /** Whether a member's voice and picture are kept (undefined: a speaker nobody has named yet). */
  records(userId: string | undefined): boolean;
}

export const RECORD_ALL: PolicyState = { paused: false, records: () => true };

/** States older than this (but the one in force then) are forgotten: no chunk waits longer to be judged. */
const HISTORY_MS = 10_000;

export class MediaPolicy {
  readonly #history: Array<{ from: number; state: PolicyState }> = [{ from: 0, state: RECORD_ALL }];
  readonly #listeners = new Set<() => void>();

  /** The state from `at` (wall clock, ms) on; a time before the latest change counts as that change's time. */
  set(at: number, state: PolicyState): void {
    const from = Math.max(at, this.#history.at(-1)!.from);
    this.#history.push({ from, state });
    while (this.#history.length > 1 && this.#history[1]!.from < from - HISTORY_MS) this.#history.shift();
    for (const listener of this.#listeners) listener();
  }

  /** The state in force at wall-clock time `t`. */
  at(t: number): PolicyState {
    for (let i = this.#history.length - 1; i > 0; i--) if (this.#history[i]!.from <= t) return this.#history[i]!.state;
    return this.#history[0]!.state;
  }

  get current(): PolicyState {
    return this.#history.at(-1)!.state;
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
