// Who was in the call when, relative to the recording's start: fed with every membership
// change, read at the end for the manifest and the summary.
import type { ParticipantSpan } from '../../media/recording/manifest.ts';

export class ParticipantLog {
  readonly #startedAt: number;
  readonly #open = new Map<string, ParticipantSpan>();
  readonly #closed: ParticipantSpan[] = [];

  constructor(startedAt: number) {
    this.#startedAt = startedAt;
  }

  update(members: Array<{ userId: string; deviceId: string }>, now = Date.now()): void {
    const offset = Math.max(0, now - this.#startedAt);
    const present = new Set(members.map((m) => `${m.userId}|${m.deviceId}`));
    for (const [key, span] of this.#open) {
      if (present.has(key)) continue;
      this.#closed.push({ ...span, leftMs: offset });
      this.#open.delete(key);
    }
    for (const m of members) {
      const key = `${m.userId}|${m.deviceId}`;
      if (!this.#open.has(key)) this.#open.set(key, { userId: m.userId, deviceId: m.deviceId, joinedMs: offset });
    }
  }

  spans(): ParticipantSpan[] {
    return [...this.#closed, ...this.#open.values()].sort((a, b) => a.joinedMs - b.joinedMs);
  }

  userIds(): string[] {
    return [...new Set(this.spans().map((s) => s.userId))];
  }
}
