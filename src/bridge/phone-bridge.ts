// One phone caller inside a call: the SIP leg on one side, on the other the caller's own puppet
// member (a Call joined as `@sip_<number>`), with its own device, membership, LiveKit identity
// and media key. The puppet's call hears every member but itself, so what it mixes is the
// caller's mix-minus; what the caller says is published as the puppet's encrypted track.
// Either side ending ends the other.
import { Call, type CallDeps } from '../call/call.ts';
import { CHUNK_SAMPLES } from '../media/recording/audio-timeline.ts';
import { PUBLISH_FRAME_SAMPLES } from '../media/livekit/audio-publisher.ts';
import type { Logger } from '../observability/logger.ts';

/** The SIP side of a leg, as this bridge needs it (48 kHz mono, 10 ms frames both ways). */
export interface BridgedLeg {
  /** What the caller says. Ends when the leg ends. */
  frames: AsyncIterable<Int16Array>;
  /** What the caller hears. */
  send(frame: Int16Array): void;
  hangup(reason?: string): Promise<unknown>;
  ended: Promise<{ by: 'local' | 'remote'; reason: string }>;
}

export interface PhoneCaller {
  /** The number or SIP user, as the caller ID gives it; names the puppet. */
  number: string;
  /** Shown in the call; the caller ID's display name, a configured label, or the number. */
  displayName: string;
}

export type BridgeEnd = { by: 'caller' | 'call' | 'local'; reason: string };

/**
 * A caller's Matrix localpart, inside the appservice's namespace (`<bot>-…`): the prefix and the
 * number's digits, letters and dots (a leading plus dropped, anything else an underscore).
 */
export function puppetLocalpart(botLocalpart: string, prefix: string, number: string): string {
  const safe = number.toLowerCase().replace(/^\+/, '').replace(/[^a-z0-9._=-]/g, '_').slice(0, 64);
  return `${botLocalpart}-${prefix}${safe || 'anonymous'}`;
}

export class PhoneBridge {
  readonly call: Call;
  readonly caller: PhoneCaller;
  /** Resolves once, with who ended the leg. */
  readonly ended: Promise<BridgeEnd>;
  readonly #leg: BridgedLeg;
  readonly #log: Logger;
  #hangingUp: Promise<void> | undefined;

  private constructor(call: Call, leg: BridgedLeg, caller: PhoneCaller, log: Logger) {
    this.call = call;
    this.#leg = leg;
    this.caller = caller;
    this.#log = log;
    const unsubscribe = call.audio.subscribe((tick) => {
      // The call's 20 ms tick, as two 10 ms frames.
      for (let at = 0; at < CHUNK_SAMPLES; at += PUBLISH_FRAME_SAMPLES) leg.send(tick.mixed.subarray(at, at + PUBLISH_FRAME_SAMPLES));
    });
    const pumped = (async () => {
      for await (const frame of leg.frames) call.sendAudio(frame);
    })();
    this.ended = Promise.race([
      leg.ended.then((end): BridgeEnd => (end.by === 'remote' ? { by: 'caller', reason: end.reason } : { by: 'local', reason: end.reason })),
      call.ended.then((end): BridgeEnd => ({ by: 'call', reason: end.kind === 'failed' ? String((end.error as Error)?.message ?? end.error) : end.kind })),
      pumped.then((): BridgeEnd => ({ by: 'caller', reason: 'the caller audio ended' })).catch((err: unknown): BridgeEnd => ({ by: 'local', reason: `the caller audio failed: ${String(err)}` })),
    ]).then(async (end) => {
      unsubscribe();
      await this.hangUp(end.reason);
      return end;
    });
  }

  /** Joins the room's call as the caller's puppet and starts carrying audio both ways. */
  static async connect(deps: CallDeps, leg: BridgedLeg, opts: { roomId: string; caller: PhoneCaller }): Promise<PhoneBridge> {
    const log = deps.log.child({ caller: opts.caller.number });
    const call = await Call.join(
      { ...deps, log },
      {
        roomId: opts.roomId,
        requestedBy: `tel:${opts.caller.number}`,
        requestedAt: Date.now(),
        video: false,
        participant: { localpart: puppetLocalpart(deps.config.bot.localpart, deps.config.sip.puppetPrefix, opts.caller.number), displayName: opts.caller.displayName },
      },
    );
    log.info({ puppet: call.own.userId, device: call.own.deviceId }, 'caller joined the call');
    return new PhoneBridge(call, leg, opts.caller, log);
  }

  /** Ends both sides: the SIP leg (BYE, unless it already ended) and the puppet's membership and device. */
  hangUp(reason: string): Promise<void> {
    this.#hangingUp ??= (async () => {
      await this.#leg.hangup(reason).catch((err: unknown) => this.#log.warn({ err }, 'ending the SIP leg failed'));
      await this.call.hangUp();
      await this.call.close();
      this.#log.info({ reason }, 'caller left the call');
    })();
    return this.#hangingUp;
  }
}
