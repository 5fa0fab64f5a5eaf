// The session's side of pause, chapter marks and consent: replays the job's control log (durable
// in Redis, so a recovering worker starts in the state the crashed one left: paused, opt-outs),
// applies each new entry to the call's media policy (what may reach any output) and to the
// recording (chapters), tells the room, tells each member who joins while the recording runs, and
// writes down when everyone was told: the consent ledger of the manifest.
import type { Call } from '../call/call.ts';
import type { PolicyState } from '../call/media-policy.ts';
import { formatDuration, nameWithId } from '../format.ts';
import { applyControl, isRecorded, replayControls, type ControlEvent, type ControlState, type ToldBy } from '../jobs/controls.ts';
import type { SessionContext } from '../jobs/worker.ts';
import type { ConsentLedger } from '../media/recording/manifest.ts';
import type { Logger } from '../observability/logger.ts';
import type { RoomNotices } from './room-notices.ts';

/** What the controls need of the recording while it runs. */
export interface MarkableRecording {
  mark(title: string, at: number): void;
}

export interface SessionControlsDeps {
  call: Call;
  controls: SessionContext['controls'];
  notices: RoomNotices;
  log: Logger;
  /** Something !status shows changed (paused, who is left out). */
  onChange?: () => void;
  /** Said aloud when members join while the recording runs (`voice.tellJoiners`); unset: only the room is told. */
  joinerNotice?: string;
}

/**
 * A joiner decrypts our voice only once js-sdk has sent them our media key over Olm (it does so a
 * moment after their membership appears), so the spoken notice waits this long; joiners arriving
 * meanwhile hear the same one notice.
 */
const JOINER_KEY_SETTLE_MS = 4_000;

export class SessionControls {
  readonly #deps: SessionControlsDeps;
  readonly #log: Logger;
  #events: ControlEvent[] = [];
  #state: ControlState = replayControls([]);
  #recording: MarkableRecording | undefined;
  /** Members seen in the call while the recording ran (first time, wall clock). */
  readonly #firstSeen = new Map<string, number>();
  #queue: Promise<void> = Promise.resolve();
  readonly #cleanups: Array<() => void> = [];
  #joinerNoticeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(deps: SessionControlsDeps) {
    this.#deps = deps;
    this.#log = deps.log.child({ module: 'session-controls' });
  }

  /** Replays the log (nothing is told again) and follows it from now on. */
  async start(): Promise<void> {
    const { controls } = this.#deps;
    this.#events = await controls.list();
    // The room's rule when the session began is the first entry, so the ledger reads alone.
    if (!this.#events.some((e) => e.type === 'consent-mode')) {
      const first: ControlEvent = { type: 'consent-mode', mode: await controls.consentMode(), by: 'the room setting', at: Date.now() };
      await controls.append(first);
      this.#events = [first, ...this.#events];
    }
    this.#state = replayControls(this.#events);
    this.#applyPolicy(0);
    this.#log.info({ paused: this.#state.paused !== undefined, mode: this.#state.mode, choices: this.#state.choices.size }, 'control log replayed');
    this.#cleanups.push(controls.onChange(() => void this.#follow()));
    this.#cleanups.push(this.#deps.call.onMembers((members) => this.#onMembers(members.map((m) => m.userId))));
  }

  stop(): void {
    for (const cleanup of this.#cleanups.splice(0)) cleanup();
    clearTimeout(this.#joinerNoticeTimer);
  }

  get paused(): { by: string; since: number } | undefined {
    return this.#state.paused;
  }

  /** Whether a member's voice and picture are recorded now. */
  records(userId: string): boolean {
    return isRecorded(this.#state, userId);
  }

  /** The sentence the start notice ends with: how to say no (or yes). */
  consentSentence(): string {
    return this.#state.mode === 'required'
      ? 'This room asks for consent first: nobody is recorded until they type !optin (!optout takes it back).'
      : 'Anyone who does not want to be recorded can type !optout (their voice and picture are left out from then on).';
  }

  /**
   * The recording started (or resumed after a crash) and its notice went out to everyone in the
   * call; without `how`, a hand-over between workers: nobody was told anything new.
   */
  async recordingStarted(recording: MarkableRecording, how?: ToldBy): Promise<void> {
    this.#recording = recording;
    const now = Date.now();
    const present = [...new Set(this.#deps.call.members().map((m) => m.userId))];
    for (const userId of present) if (!this.#firstSeen.has(userId)) this.#firstSeen.set(userId, now);
    if (!how) return;
    await this.#append({ type: 'told', userIds: present, how, at: now });
    if (this.#state.paused) await this.#deps.notices.send(`The recording is paused (by ${this.#state.paused.by}); type !resume to go on.`);
  }

  recordingFinished(): void {
    this.#recording = undefined;
  }

  /** Reads what commands appended since the last look, in order. */
  #follow(): Promise<void> {
    const run = this.#queue.then(async () => {
      const fresh = await this.#deps.controls.list(this.#events.length);
      for (const event of fresh) {
        this.#events.push(event);
        await this.#apply(event);
      }
    });
    this.#queue = run.catch((err: unknown) => this.#log.error({ err }, 'applying a control failed'));
    return this.#queue;
  }

  async #apply(event: ControlEvent): Promise<void> {
    const before = this.#state.paused;
    applyControl(this.#state, event);
    const { notices, call } = this.#deps;
    const name = (userId: string) => nameWithId(call.displayName(userId), userId);
    switch (event.type) {
      case 'pause':
        if (before) return;
        this.#applyPolicy(event.at);
        this.#say('Recording paused.');
        await notices.send(`Recording paused by ${event.by}: nothing of the call is recorded or streamed until someone types !resume.`);
        break;
      case 'resume':
        if (!before) return;
        this.#applyPolicy(event.at);
        this.#say('Recording resumed.');
        await notices.send(`Recording resumed by ${event.by} after ${formatDuration(event.at - before.since)}; the files go on with a chapter here.`);
        break;
      case 'mark':
        this.#recording?.mark(event.title, event.at);
        await notices.send(this.#recording ? `Chapter "${event.title}" marked (by ${event.by}).` : `Nothing is being recorded, so "${event.title}" marks nothing.`);
        return;
      case 'optout':
        this.#applyPolicy(event.at);
        await notices.send(`${name(event.userId)} opted out: from now on their voice and picture are left out of the recording and the streams.`);
        break;
      case 'optin':
        this.#applyPolicy(event.at);
        await notices.send(`${name(event.userId)} opted in: their voice and picture are recorded from now on.`);
        break;
      case 'consent-mode':
        this.#applyPolicy(event.at);
        await notices.send(`Consent in this room is now "${event.mode}" (set by ${event.by}). ${this.consentSentence()}`);
        break;
      case 'told':
        return;
    }
    this.#deps.onChange?.();
  }

  /** Said aloud too (when the bot has a voice in this call), for members who do not watch the room. */
  #say(text: string): void {
    void this.#deps.call.say(text).catch((err: unknown) => this.#log.warn({ err, text }, 'could not say it aloud'));
  }

  /** The state from `at` on, for the shared media (a copy: the state itself changes later). */
  #applyPolicy(at: number): void {
    const consent = { mode: this.#state.mode, choices: new Map(this.#state.choices) };
    const state: PolicyState = { paused: this.#state.paused !== undefined, records: (userId) => isRecorded(consent, userId) };
    this.#deps.call.mediaPolicy.set(at, state);
  }

  /** A member who joins while the recording runs is told, by name, that it does. */
  #onMembers(userIds: string[]): void {
    if (!this.#recording) return;
    const now = Date.now();
    const newcomers = [...new Set(userIds)].filter((id) => !this.#firstSeen.has(id));
    for (const userId of newcomers) this.#firstSeen.set(userId, now);
    const untold = newcomers.filter((id) => !this.#state.told.has(id));
    if (untold.length === 0) return;
    const { call, notices } = this.#deps;
    const names = untold.map((id) => nameWithId(call.displayName(id), id)).join(', ');
    const paused = this.#state.paused ? ' (paused just now)' : '';
    this.#sayToJoiners();
    void (async () => {
      await notices.send(`${names}: this call is being recorded${paused}. ${this.consentSentence()}`);
      await this.#append({ type: 'told', userIds: untold, how: 'join notice', at: Date.now() });
      this.#deps.onChange?.();
    })().catch((err: unknown) => this.#log.error({ err }, 'could not tell a newcomer'));
  }

  /** Joiners who do not watch the room (a phone, the app in the background) hear it, once per burst of joins. */
  #sayToJoiners(): void {
    const text = this.#deps.joinerNotice;
    if (!text || this.#joinerNoticeTimer) return;
    this.#joinerNoticeTimer = setTimeout(() => {
      this.#joinerNoticeTimer = undefined;
      if (this.#recording) this.#say(this.#state.paused ? `${text} It is paused just now.` : text);
    }, JOINER_KEY_SETTLE_MS);
  }

  /** Our own entries (what we told whom) go into the log too: the ledger must outlive this worker. */
  async #append(event: ControlEvent): Promise<void> {
    const run = this.#queue.then(async () => {
      // Whatever commands appended meanwhile comes first, so our index stays right.
      const fresh = await this.#deps.controls.list(this.#events.length);
      for (const e of fresh) {
        this.#events.push(e);
        await this.#apply(e);
      }
      await this.#deps.controls.append(event);
      this.#events.push(event);
      applyControl(this.#state, event);
    });
    this.#queue = run.catch((err: unknown) => this.#log.error({ err }, 'writing to the control log failed'));
    await this.#queue;
  }

  /** The manifest's consent ledger: who was in the call while recorded, when told, what they chose. */
  ledger(): ConsentLedger {
    const { call } = this.#deps;
    const iso = (ms: number) => new Date(ms).toISOString();
    const people = new Set([...this.#firstSeen.keys(), ...this.#state.told.keys()]);
    const pauses: ConsentLedger['pauses'] = [];
    for (const e of this.#events) {
      if (e.type === 'pause' && (pauses.length === 0 || pauses.at(-1)!.to !== undefined)) pauses.push({ by: e.by, from: iso(e.at) });
      if (e.type === 'resume' && pauses.length > 0 && pauses.at(-1)!.to === undefined) Object.assign(pauses.at(-1)!, { to: iso(e.at), resumedBy: e.by });
    }
    return {
      mode: this.#state.mode,
      modeChanges: this.#events.flatMap((e) => (e.type === 'consent-mode' ? [{ mode: e.mode, by: e.by, at: iso(e.at) }] : [])),
      people: [...people].map((userId) => {
        const told = this.#state.told.get(userId);
        const seen = Math.min(this.#firstSeen.get(userId) ?? Infinity, told?.at ?? Infinity);
        return {
          userId,
          displayName: call.displayName(userId),
          firstSeenAt: iso(seen),
          ...(told ? { toldAt: iso(told.at), toldBy: told.how } : {}),
          choices: this.#events.flatMap((e) => ((e.type === 'optout' || e.type === 'optin') && e.userId === userId ? [{ choice: e.type, at: iso(e.at) }] : [])),
        };
      }),
      pauses,
    };
  }
}
