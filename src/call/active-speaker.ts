// Who is speaking now, for the picture's highlight: the loudest member above a floor, as a call
// client shows it. Judged on the shared audio clock's chunks (after pause and consent, so a member
// who is not recorded never lights up). A newcomer takes over only after being the loudest for a
// moment, and the highlight outlasts a speaker's short pauses, so it does not flicker between words.

export interface SpeakerLevel {
  key: string;
  /** RMS of the speaker's 20 ms chunk (0: silence or nothing received). */
  rms: number;
}

export interface ActiveSpeakerOptions {
  /** RMS below which nobody speaks (16-bit samples): 300 is about -40 dBFS. */
  floorRms?: number;
  /** How long another member must be the loudest before the highlight moves. */
  switchAfterMs?: number;
  /** How long the highlight stays after its speaker falls silent. */
  holdMs?: number;
}

export function rms(samples: Int16Array): number {
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i]! * samples[i]!;
  return samples.length === 0 ? 0 : Math.sqrt(sum / samples.length);
}

/** How much a level decays every 20 ms: a peak follower, so the gaps between syllables do not count as silence. */
const DECAY = 0.85;

export class ActiveSpeaker {
  readonly #floor: number;
  readonly #switchAfterMs: number;
  readonly #holdMs: number;
  readonly #levels = new Map<string, number>();
  #current: string | undefined;
  #currentHeardAt = 0;
  #candidate: { key: string; since: number } | undefined;

  constructor(opts: ActiveSpeakerOptions = {}) {
    this.#floor = opts.floorRms ?? 300;
    this.#switchAfterMs = opts.switchAfterMs ?? 300;
    this.#holdMs = opts.holdMs ?? 1_000;
  }

  get current(): string | undefined {
    return this.#current;
  }

  /** Takes one chunk's levels (heard at `atMs`); returns who speaks now, if anyone. */
  push(levels: readonly SpeakerLevel[], atMs: number): string | undefined {
    for (const { key, rms } of levels) this.#levels.set(key, Math.max(rms, (this.#levels.get(key) ?? 0) * DECAY));
    let loudest: string | undefined;
    let loudestLevel = this.#floor;
    for (const [key, level] of this.#levels) {
      if (level > loudestLevel) [loudest, loudestLevel] = [key, level];
    }
    if (this.#current !== undefined && (this.#levels.get(this.#current) ?? 0) > this.#floor) this.#currentHeardAt = atMs;
    if (loudest === undefined || loudest === this.#current) {
      this.#candidate = undefined;
    } else if (this.#candidate?.key !== loudest) {
      this.#candidate = { key: loudest, since: atMs };
    } else if (atMs - this.#candidate.since >= this.#switchAfterMs) {
      this.#current = loudest;
      this.#currentHeardAt = atMs;
      this.#candidate = undefined;
    }
    if (this.#current !== undefined && atMs - this.#currentHeardAt >= this.#holdMs) this.#current = undefined;
    return this.#current;
  }
}
