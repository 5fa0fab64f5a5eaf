// Members of an encrypted Matrix 2.0 call whose membership this session cannot read. Their sticky
// rtc.member event is Megolm-encrypted, and a device logged in after it was sent never gets its
// key: Megolm sessions are shared forwards only (MSC4354 names this; MSC4268 history sharing is
// meant to lift it). Such a member still sends us its media key over Olm once it sees our own
// membership, and that to-device event names its device and member id, which is exactly what its
// LiveKit identity is hashed from (protocol notes §6.5). js-sdk parks those keys until it can read
// a matching membership (for these members: at their next hourly refresh), so they are read here.
//
// Only devices the appservice saw sending a still-sticky encrypted event count (`evidence`), so a
// key alone never makes a member. A member ends with its sticky leave, which js-sdk always sends
// in clear, keyed by the member id the key named.
import { ClientEvent, type MatrixClient, type MatrixEvent, type Room } from 'matrix-js-sdk';
import { RoomStickyEventsEvent } from 'matrix-js-sdk/lib/models/room-sticky-events.js';
import { computeRtcIdentityRaw } from 'matrix-js-sdk/lib/matrixrtc/membershipData/rtc.js';
import type { Logger } from '../observability/logger.ts';
import { RTC_MEMBER_EVENT } from '../rtc/own-membership.ts';
import type { UnreadableSticky } from './call-evidence.ts';
import type { CallMember } from './call-members.ts';

/** The to-device media key event of Element Call (protocol notes §7.2). */
export const ENCRYPTION_KEYS_EVENT = 'io.element.call.encryption_keys';

export interface ReceivedKey {
  userId: string;
  deviceId: string;
  memberId: string;
  index: number;
  key: Uint8Array;
}

/** A well-formed, Olm-encrypted media key for `roomId`, or why it is not one. */
export function parseKeyEvent(
  event: { type: string; sender: string | undefined; encrypted: boolean; content: Record<string, unknown> },
  roomId: string,
): ReceivedKey | string {
  if (event.type !== ENCRYPTION_KEYS_EVENT) return 'not a media key event';
  if (!event.encrypted) return 'sent in clear';
  const { room_id, keys, member } = event.content as { room_id?: unknown; keys?: { key?: unknown; index?: unknown }; member?: { claimed_device_id?: unknown; id?: unknown } };
  if (room_id !== roomId) return 'for another room';
  if (!event.sender) return 'no sender';
  if (typeof keys?.key !== 'string' || typeof keys.index !== 'number' || !Number.isInteger(keys.index) || keys.index < 0 || keys.index > 255) return 'malformed keys';
  if (typeof member?.claimed_device_id !== 'string' || typeof member.id !== 'string') return 'no device or member id';
  const key = Uint8Array.from(Buffer.from(keys.key, 'base64'));
  if (key.length === 0) return 'empty key';
  return { userId: event.sender, deviceId: member.claimed_device_id, memberId: member.id, index: keys.index, key };
}

interface KeyedMember extends CallMember {
  /** When its first key arrived; stands in for the join time nobody can read. */
  createdTs: number;
}

export class UnreadableMembers {
  readonly #client: MatrixClient;
  readonly #room: Room;
  readonly #evidence: UnreadableSticky[];
  readonly #onKey: (identity: string, index: number, key: Uint8Array) => void;
  readonly #log: Logger;
  /** By `user|device`: the latest member id that device sent a key for. */
  readonly #members = new Map<string, KeyedMember>();
  readonly #listeners = new Set<() => void>();
  readonly #reported = new Set<string>();

  constructor(opts: {
    client: MatrixClient;
    room: Room;
    evidence: UnreadableSticky[];
    onKey(identity: string, index: number, key: Uint8Array): void;
    log: Logger;
  }) {
    this.#client = opts.client;
    this.#room = opts.room;
    this.#evidence = opts.evidence;
    this.#onKey = opts.onKey;
    this.#log = opts.log.child({ module: 'unreadable-members' });
    this.#client.on(ClientEvent.ToDeviceEvent, this.#onToDevice);
    this.#room.on(RoomStickyEventsEvent.Update, this.#onSticky);
  }

  dispose(): void {
    this.#client.off(ClientEvent.ToDeviceEvent, this.#onToDevice);
    this.#room.off(RoomStickyEventsEvent.Update, this.#onSticky);
    this.#listeners.clear();
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Members known from their keys that have not left and that js-sdk cannot read (yet). */
  members(readable: Array<{ userId: string; deviceId: string }>): CallMember[] {
    const read = new Set(readable.map((m) => `${m.userId}|${m.deviceId}`));
    return [...this.#members.entries()].filter(([device, m]) => !read.has(device) && !this.#left(m)).map(([, m]) => m);
  }

  /** Devices that sent an encrypted sticky event but neither a key nor a readable membership. */
  unidentified(readable: Array<{ userId: string; deviceId: string }>): UnreadableSticky[] {
    const known = [...readable, ...this.#members.values()];
    return this.#evidence.filter((e) => !known.some((m) => m.userId === e.userId && (e.deviceId === undefined || e.deviceId === m.deviceId)));
  }

  #matchesEvidence(userId: string, deviceId: string): boolean {
    return this.#evidence.some((e) => e.userId === userId && (e.deviceId === undefined || e.deviceId === deviceId));
  }

  /**
   * A plaintext leave for the member's sticky key, newer than the key that identified them. An
   * older one is a previous leave of the same member id: Element Call 0.26.1 re-joins under the
   * same id, and only its encrypted join (which we cannot read) says so.
   */
  #left(m: KeyedMember): boolean {
    const latest = this.#room._unstable_getKeyedStickyEvent(m.userId, RTC_MEMBER_EVENT, m.memberId);
    return latest !== undefined && typeof latest.getContent().member !== 'object' && latest.localTimestamp > m.createdTs;
  }

  readonly #onToDevice = (event: MatrixEvent): void => {
    if (event.getType() !== ENCRYPTION_KEYS_EVENT) return;
    const parsed = parseKeyEvent(
      { type: event.getType(), sender: event.getSender(), encrypted: event.isEncrypted(), content: event.getContent() },
      this.#room.roomId,
    );
    if (typeof parsed === 'string') {
      if (parsed !== 'for another room') this.#log.warn({ sender: event.getSender(), problem: parsed }, 'ignored a media key event');
      return;
    }
    if (!this.#matchesEvidence(parsed.userId, parsed.deviceId)) return; // a readable member: js-sdk maps its keys
    void this.#add(parsed).catch((err: unknown) => this.#log.error({ err, userId: parsed.userId }, 'could not use a media key'));
  };

  async #add(received: ReceivedKey): Promise<void> {
    const device = `${received.userId}|${received.deviceId}`;
    let member = this.#members.get(device);
    if (!member || member.memberId !== received.memberId) {
      const identity = await computeRtcIdentityRaw(received.userId, received.deviceId, received.memberId);
      member = { userId: received.userId, deviceId: received.deviceId, memberId: received.memberId, identity, createdTs: Date.now(), kind: 'sticky', serviceUrl: undefined };
      this.#members.set(device, member);
      if (!this.#reported.has(device)) {
        this.#reported.add(device);
        this.#log.info({ userId: member.userId, deviceId: member.deviceId, identity }, 'member whose encrypted membership we cannot read identified by its media key');
      }
      this.#emit();
    }
    this.#onKey(member.identity, received.index, received.key);
  }

  readonly #onSticky = (added: MatrixEvent[], updated: Array<{ current: MatrixEvent }>): void => {
    const touched = [...added, ...updated.map((u) => u.current)].some((e) => e.getType() === RTC_MEMBER_EVENT);
    if (touched) this.#emit();
  };

  #emit(): void {
    for (const listener of this.#listeners) listener();
  }
}
