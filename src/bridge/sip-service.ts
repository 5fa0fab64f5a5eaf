// The phone bridge on a worker: the SIP endpoint, the room each call leads to (a number mapped in
// the config, or the conference number and a PIN typed on the keypad), one PhoneBridge per leg,
// and the `!dial`, `!hangup` and `!dtmf` requests that reach it from rooms over Redis. The room
// hears who joined and left by phone; a caller who cannot join hears why before the hang-up.
import type { Redis } from 'ioredis';
import type { Config } from '../config/schema.ts';
import type { Registration } from '../config/registration.ts';
import { describeError, RecorderError } from '../errors.ts';
import type { NoticeQueue } from '../jobs/notices.ts';
import type { Logger } from '../observability/logger.ts';
import { RoomNotices } from '../session/room-notices.ts';
import { parseDialTarget } from './dial-target.ts';
import { tapFrames } from './frame-tap.ts';
import { collectDigits, sayToLeg } from './leg-prompts.ts';
import { PhoneBridge, type PhoneCaller } from './phone-bridge.ts';
import { PinStore } from './pin-store.ts';
import { parseSipRequest, sipControlChannel, type SipRequest } from './sip-control.ts';
import { SipEndpoint, type InviteDecision, type InviteInfo, type SipLeg } from './sip/index.ts';

/**
 * After the last words to a caller, before the BYE: what is still in our send queue and the
 * phone's jitter buffer would otherwise be cut off (the "Goodbye").
 */
const SPEECH_DRAIN_MS = 500;
const drain = () => new Promise((resolve) => setTimeout(resolve, SPEECH_DRAIN_MS));

/** How long a caller has for each key of the PIN. */
const PIN_KEY_TIMEOUT_MS = 15_000;

const SAY = {
  connecting: 'Connecting you to the call.',
  noCall: 'There is no call in this room right now. Please try again later. Goodbye.',
  joinFailed: 'Sorry, I could not connect you to the call. Goodbye.',
  enterPin: 'Welcome. Please enter the conference PIN, followed by the hash key.',
  wrongPin: 'That PIN is not valid. Please try again.',
  goodbye: 'Goodbye.',
};

interface ActiveLeg {
  roomId: string;
  leg: SipLeg;
  caller: PhoneCaller;
  bridge?: PhoneBridge;
}

export interface SipServiceDeps {
  config: Config;
  registration: Registration;
  redis: Redis;
  notices: NoticeQueue;
  log: Logger;
}

export class SipService {
  readonly #deps: SipServiceDeps;
  readonly #log: Logger;
  readonly #pins: PinStore;
  readonly #legs = new Map<string, ActiveLeg>();
  /** Each answered leg's audio, read (and let go) from the answer on, until its bridge listens. */
  readonly #taps = new Map<string, ReturnType<typeof tapFrames>>();
  readonly #subscriber: Redis;
  #endpoint: SipEndpoint | undefined;

  private constructor(deps: SipServiceDeps) {
    this.#deps = deps;
    this.#log = deps.log.child({ module: 'sip-service' });
    this.#pins = new PinStore(deps.redis, deps.config.redis.prefix, deps.registration.as_token);
    this.#subscriber = deps.redis.duplicate();
  }

  static async start(deps: SipServiceDeps): Promise<SipService> {
    const service = new SipService(deps);
    const { sip, bot } = deps.config;
    service.#endpoint = await SipEndpoint.start(
      {
        listen: { address: sip.bindAddress, port: sip.port },
        ...(sip.publicAddress ? { publicAddress: sip.publicAddress } : {}),
        allowedSources: sip.allowedSources,
        ...(sip.allowedUsers ? { allowedUsers: sip.allowedUsers } : {}),
        rtp: { portMin: sip.rtpPortMin, portMax: sip.rtpPortMax },
        localUser: bot.localpart,
        displayName: bot.displayName,
        ...(sip.trunk
          ? {
              trunk: {
                proxy: sip.trunk.uri,
                username: sip.trunk.username ?? bot.localpart,
                password: sip.trunk.password ?? '',
                register: sip.trunk.register,
              },
            }
          : {}),
        onInvite: (info) => service.#decide(info),
        onCall: (leg, info) => void service.#answered(leg, info),
      },
      deps.log,
    );
    const channel = sipControlChannel(deps.config.redis.prefix);
    service.#subscriber.on('message', (from: string, message: string) => {
      if (from === channel) void service.#onRequest(message);
    });
    await service.#subscriber.subscribe(channel);
    service.#log.info({ port: sip.port, rooms: Object.keys(sip.rooms).length, conference: Boolean(sip.conferenceNumber) }, 'phone bridge ready');
    return service;
  }

  /** Hangs up every caller (their puppets leave the call) and stops listening. */
  async close(): Promise<void> {
    await this.#subscriber.quit().catch(() => undefined);
    await Promise.allSettled([...this.#legs.values()].map((a) => (a.bridge ? a.bridge.hangUp('the bridge is shutting down') : a.leg.hangup('the bridge is shutting down'))));
    await this.#endpoint?.stop();
  }

  #decide(info: InviteInfo): InviteDecision {
    const { sip } = this.#deps.config;
    if (this.#legs.size >= sip.maxLegs) return { accept: false, status: 486, reason: 'Busy Here' };
    const dialled = info.requestUser;
    if (dialled && (sip.rooms[dialled] || dialled === sip.conferenceNumber)) return { accept: true };
    this.#log.info({ dialled }, 'a call to a number that leads nowhere');
    return { accept: false, status: 404, reason: 'Not Found' };
  }

  async #answered(leg: SipLeg, info: InviteInfo): Promise<void> {
    this.#taps.set(leg.callId, tapFrames(leg.frames));
    const caller = callerOf(leg);
    const roomId = info.requestUser ? this.#deps.config.sip.rooms[info.requestUser] : undefined;
    if (roomId) return this.#bridge(leg, roomId, caller, this.#notices(roomId));
    const byPin = await this.#askForPin(leg);
    if (byPin) await this.#bridge(leg, byPin, caller, this.#notices(byPin));
  }

  /** The room the caller's PIN opens, or undefined after the allowed attempts (the leg is then hung up). */
  async #askForPin(leg: SipLeg): Promise<string | undefined> {
    const { sip, voice } = this.#deps.config;
    const onDtmf = (listener: (digit: string) => void) => {
      leg.on('dtmf', listener);
      return () => void leg.off('dtmf', listener);
    };
    for (let attempt = 1; attempt <= sip.pinAttempts && !leg.isEnded; attempt++) {
      const typed = collectDigits({ onDtmf }, PIN_KEY_TIMEOUT_MS);
      await sayToLeg(leg, attempt === 1 ? SAY.enterPin : SAY.wrongPin, voice.language);
      const pin = await typed;
      const roomId = pin ? await this.#pins.roomFor(pin) : undefined;
      this.#log.info({ callId: leg.callId, attempt, matched: Boolean(roomId) }, 'conference PIN entered');
      if (roomId) return roomId;
    }
    if (!leg.isEnded) {
      await sayToLeg(leg, SAY.goodbye, voice.language);
      await drain();
      await leg.hangup('no valid PIN');
    }
    return undefined;
  }

  /** Joins the caller's puppet to the room's call; tells the caller, and the room, how it went. */
  async #bridge(leg: SipLeg, roomId: string, caller: PhoneCaller, notices: RoomNotices): Promise<void> {
    const { config, registration, log } = this.#deps;
    const active: ActiveLeg = { roomId, leg, caller };
    const voice = this.#taps.get(leg.callId) ?? tapFrames(leg.frames);
    this.#legs.set(leg.callId, active);
    try {
      const greeting = sayToLeg(leg, SAY.connecting, config.voice.language).catch(() => undefined);
      try {
        const bridged = { frames: voice.frames, send: (frame: Int16Array) => leg.send(frame), hangup: (reason?: string) => leg.hangup(reason), ended: leg.ended };
        active.bridge = await PhoneBridge.connect({ config, registration, notices, log }, bridged, { roomId, caller });
        this.#log.info({ callId: leg.callId, framesBeforeJoining: voice.discarded() }, 'caller audio flows into the call');
      } catch (err) {
        await greeting;
        const noCall = err instanceof RecorderError && err.errcode === 'MRR_NO_CALL';
        this.#log.warn({ err, roomId, callId: leg.callId }, noCall ? 'a caller dialled into a room without a call' : 'a caller could not join the call');
        if (!leg.isEnded) {
          await sayToLeg(leg, noCall ? SAY.noCall : SAY.joinFailed, config.voice.language).catch((e: unknown) => this.#log.warn({ err: e }, 'could not tell the caller'));
          await drain();
        }
        await leg.hangup(noCall ? 'no call in the room' : 'could not join the call');
        await notices.send(noCall ? `${caller.displayName} called by phone, but there is no call here; I told them and hung up.` : `${caller.displayName} could not join the call by phone: ${describeError(err)}`);
        return;
      }
      await notices.send(`${caller.displayName} joined the call by phone (as ${active.bridge.call.own.userId}).`);
      const end = await active.bridge.ended;
      await notices.send(`${caller.displayName} left the call (${end.by === 'caller' ? 'hung up' : end.reason}).`);
    } finally {
      this.#legs.delete(leg.callId);
      this.#taps.delete(leg.callId);
    }
  }

  async #onRequest(message: string): Promise<void> {
    let request: SipRequest;
    try {
      request = parseSipRequest(message);
    } catch (err) {
      this.#log.warn({ err }, 'ignored a malformed SIP request');
      return;
    }
    const notices = this.#notices(request.roomId, request.replyTo);
    try {
      if (request.type === 'dial') await this.#dial(request.roomId, request.target, notices);
      else if (request.type === 'hangup') await this.#hangup(request.roomId, request.who, notices);
      else await this.#dtmf(request.roomId, request.digits, request.who, notices);
    } catch (err) {
      this.#log.error({ err, type: request.type }, 'a phone request failed');
      await notices.send(`That did not work: ${describeError(err)}`);
    }
  }

  async #dial(roomId: string, target: string, notices: RoomNotices): Promise<void> {
    const { sip } = this.#deps.config;
    const parsed = parseDialTarget(target);
    if ('problem' in parsed) return notices.send(`I cannot dial ${target}: ${parsed.problem}.`);
    if (parsed.kind === 'uri' && !sip.dialAllowedHosts.includes(parsed.host)) {
      return notices.send(`I may not call ${target}: its host is not one this bridge may call (sip.dialAllowedHosts).`);
    }
    if (parsed.kind === 'number' && !sip.trunk) return notices.send(`I cannot dial the number ${parsed.number}: no SIP trunk is configured (sip.trunk).`);
    if (this.#legs.size >= sip.maxLegs) return notices.send(`I cannot call ${target}: this bridge already carries ${sip.maxLegs} calls.`);
    let leg: SipLeg;
    try {
      leg = await this.#endpoint!.dial(parsed.kind === 'uri' ? parsed.uri : parsed.number, sip.trunk?.callerId ? { fromUser: sip.trunk.callerId } : {});
    } catch (err) {
      return notices.send(`Calling ${target} failed: ${describeError(err)}.`);
    }
    this.#taps.set(leg.callId, tapFrames(leg.frames));
    const number = parsed.kind === 'uri' ? parsed.user : parsed.number;
    await this.#bridge(leg, roomId, { number, displayName: leg.remoteParty.displayName ?? target }, notices);
  }

  async #dtmf(roomId: string, digits: string, who: string | undefined, notices: RoomNotices): Promise<void> {
    const matches = this.#legsIn(roomId, who ?? 'all');
    if (matches.length === 0) return notices.send(who ? `Nobody called ${who} is in this call by phone.` : 'Nobody is in this call by phone.');
    await Promise.all(matches.map((a) => a.leg.sendDtmf(digits)));
    await notices.send(`Pressed ${digits} on the line of ${matches.map((a) => a.caller.displayName).join(', ')}.`);
  }

  #legsIn(roomId: string, who: string): ActiveLeg[] {
    return [...this.#legs.values()].filter((a) => a.roomId === roomId && (who === 'all' || legNames(a).includes(who.toLowerCase())));
  }

  async #hangup(roomId: string, who: string, notices: RoomNotices): Promise<void> {
    const matches = this.#legsIn(roomId, who);
    if (matches.length === 0) return notices.send(who === 'all' ? 'Nobody is in this call by phone.' : `Nobody called ${who} is in this call by phone.`);
    for (const active of matches) await (active.bridge ? active.bridge.hangUp('hung up from the room') : active.leg.hangup('hung up from the room'));
  }

  #notices(roomId: string, replyTo?: string): RoomNotices {
    return new RoomNotices(this.#deps.notices, roomId, replyTo, this.#log);
  }
}

/** The caller as the room sees them: the caller ID's name, else the number (or SIP user). */
function callerOf(leg: SipLeg): PhoneCaller {
  const number = leg.remoteParty.user ?? 'anonymous';
  return { number, displayName: leg.remoteParty.displayName ?? number };
}

/** What `!hangup` may name a leg by: its number, display name, SIP URI or puppet user ID. */
function legNames(active: ActiveLeg): string[] {
  return [active.caller.number, active.caller.displayName, active.leg.remoteParty.uri, active.bridge?.call.own.userId ?? ''].map((n) => n.toLowerCase()).filter(Boolean);
}
