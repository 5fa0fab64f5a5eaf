// What people say about a running recording, besides starting and stopping it: pause and resume,
// chapter marks, opting out and in, the room's consent rule, and when the bot told each member.
// Kept as an append-only log per job in Redis, so the state (paused? who is left out?) and the
// consent ledger survive a worker crash: a recovering worker replays the log. Commands append and
// nudge the worker on the control channel; the worker appends what it told the room.
import type { Redis } from 'ioredis';

export type ConsentMode = 'notice' | 'required';
export const CONSENT_MODES: readonly ConsentMode[] = ['notice', 'required'];

/** How a member learnt that the call is recorded. */
export type ToldBy = 'start notice' | 'join notice' | 'recovery notice' | 'consent notice';

export type ControlEvent =
  | { type: 'pause'; by: string; at: number }
  | { type: 'resume'; by: string; at: number }
  | { type: 'mark'; title: string; by: string; at: number }
  | { type: 'optout'; userId: string; at: number }
  | { type: 'optin'; userId: string; at: number }
  | { type: 'consent-mode'; mode: ConsentMode; by: string; at: number }
  | { type: 'told'; userIds: string[]; how: ToldBy; at: number };

/** The state a log of control events leads to. */
export interface ControlState {
  paused: { by: string; since: number } | undefined;
  mode: ConsentMode;
  /** Each user's last choice (absent: never said). */
  choices: Map<string, { choice: 'optout' | 'optin'; at: number }>;
  /** When each user was first told, and how. */
  told: Map<string, { at: number; how: ToldBy }>;
}

export function replayControls(events: readonly ControlEvent[], initialMode: ConsentMode = 'notice'): ControlState {
  const state: ControlState = { paused: undefined, mode: initialMode, choices: new Map(), told: new Map() };
  for (const e of events) applyControl(state, e);
  return state;
}

export function applyControl(state: ControlState, e: ControlEvent): void {
  switch (e.type) {
    case 'pause':
      state.paused ??= { by: e.by, since: e.at };
      return;
    case 'resume':
      state.paused = undefined;
      return;
    case 'optout':
    case 'optin':
      state.choices.set(e.userId, { choice: e.type, at: e.at });
      return;
    case 'consent-mode':
      state.mode = e.mode;
      return;
    case 'told':
      for (const userId of e.userIds) if (!state.told.has(userId)) state.told.set(userId, { at: e.at, how: e.how });
      return;
    case 'mark':
      return;
  }
}

/** Whether a user's voice and picture are recorded under this state. */
export function isRecorded(state: Pick<ControlState, 'mode' | 'choices'>, userId: string | undefined): boolean {
  const choice = userId === undefined ? undefined : state.choices.get(userId)?.choice;
  return state.mode === 'required' ? choice === 'optin' : choice !== 'optout';
}

const TTL_S = 7 * 24 * 3600;

export const controlsKey = (prefix: string, jobId: string) => `${prefix}:controls:${jobId}`;
/** The room's consent rule: kept without expiry, it is a setting of the room. */
export const consentModeKey = (prefix: string, roomId: string) => `${prefix}:consent:${roomId}`;

export class ControlStore {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#prefix = prefix;
  }

  async append(jobId: string, event: ControlEvent): Promise<void> {
    const key = controlsKey(this.#prefix, jobId);
    await this.#redis.multi().rpush(key, JSON.stringify(event)).expire(key, TTL_S).exec();
  }

  /** Events from index `from` on, in the order they were appended. */
  async list(jobId: string, from = 0): Promise<ControlEvent[]> {
    const raw = await this.#redis.lrange(controlsKey(this.#prefix, jobId), from, -1);
    return raw.map((entry) => JSON.parse(entry) as ControlEvent);
  }

  async clear(jobId: string): Promise<void> {
    await this.#redis.del(controlsKey(this.#prefix, jobId));
  }

  async consentMode(roomId: string): Promise<ConsentMode> {
    const mode = await this.#redis.get(consentModeKey(this.#prefix, roomId));
    if (mode === null) return 'notice';
    if (!CONSENT_MODES.includes(mode as ConsentMode)) throw new Error(`unknown consent mode ${JSON.stringify(mode)} stored for ${roomId}`);
    return mode as ConsentMode;
  }

  async setConsentMode(roomId: string, mode: ConsentMode): Promise<void> {
    await this.#redis.set(consentModeKey(this.#prefix, roomId), mode);
  }
}
