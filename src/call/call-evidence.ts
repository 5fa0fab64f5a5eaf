// Is there a call in the room, and which kind of membership do its members publish? Read with the
// appservice token before the call user joins anything: legacy members are state events; Matrix
// 2.0 members are sticky `rtc.member` message events (MSC4354), which the room state does not hold,
// so the recent timeline is read back as far as a sticky event can live. In encrypted rooms those
// events are `m.room.encrypted`: the appservice (and a freshly logged-in device) cannot read them,
// only see that a member's device sent a sticky event that is still sticky.
import type { Logger } from '../observability/logger.ts';
import { CALL_MEMBER_EVENT, RTC_MEMBER_EVENT, type MembershipKind } from '../rtc/own-membership.ts';
import { type AppserviceClient, roomPath } from '../session/appservice-client.ts';

/** Synapse caps stickiness at one hour (`StickyEvent.MAX_DURATION`): nothing older can be a member. */
export const MAX_STICKY_MS = 3_600_000;
const PAGE_SIZE = 100;
/** A busy room's hour of encrypted traffic can be long; past this many pages the scan stops and says so. */
const MAX_PAGES = 20;

export interface TimelineEvent {
  type: string;
  sender: string;
  origin_server_ts: number;
  content: Record<string, unknown>;
  msc4354_sticky?: { duration_ms?: unknown };
  unsigned?: { msc4354_sticky_duration_ttl_ms?: unknown };
}

export interface UnreadableSticky {
  userId: string;
  /** The sending device, from the encrypted event's (deprecated but still sent) `device_id`. */
  deviceId: string | undefined;
}

export interface CallEvidence {
  /** Senders of non-empty legacy call.member state events. */
  legacyMembers: string[];
  /** Senders of readable sticky rtc.member joins that are still sticky and not left. */
  stickyMembers: string[];
  /** Devices that sent still-sticky encrypted events: Matrix 2.0 members whose membership we cannot read. */
  unreadable: UnreadableSticky[];
  /** False when the scan stopped before reaching an hour back. */
  complete: boolean;
}

export const anyCall = (e: CallEvidence) => e.legacyMembers.length + e.stickyMembers.length + e.unreadable.length > 0;

/**
 * `auto`: sticky when any member publishes sticky memberships. Encrypted sticky events count
 * only when no legacy member is there: Element Call's compatibility mode also sends its call
 * notification as an encrypted sticky event, next to its legacy state membership.
 */
export function chooseMembershipKind(mode: 'auto' | MembershipKind, evidence: CallEvidence): MembershipKind {
  if (mode !== 'auto') return mode;
  if (evidence.stickyMembers.length > 0) return 'sticky';
  return evidence.legacyMembers.length === 0 && evidence.unreadable.length > 0 ? 'sticky' : 'legacy';
}

const stillSticky = (e: TimelineEvent, now: number): boolean => {
  const ttl = e.unsigned?.msc4354_sticky_duration_ttl_ms;
  if (typeof ttl === 'number') return ttl > 0;
  const duration = e.msc4354_sticky?.duration_ms;
  return typeof duration === 'number' && e.origin_server_ts + Math.min(duration, MAX_STICKY_MS) > now;
};

/** The evidence in the room state and in timeline events given newest first. */
export function callEvidence(
  state: Array<{ type: string; sender: string; content: Record<string, unknown> }>,
  timeline: TimelineEvent[],
  ownUserId: string,
  now: number,
  complete = true,
): CallEvidence {
  const legacyMembers = state.filter((e) => e.type === CALL_MEMBER_EVENT && e.sender !== ownUserId && Object.keys(e.content).length > 0).map((e) => e.sender);
  const latestByStickyKey = new Set<string>();
  const stickyMembers: string[] = [];
  const newestLeave = new Map<string, number>();
  const encrypted: Array<UnreadableSticky & { ts: number }> = [];
  for (const e of timeline) {
    if (!e.msc4354_sticky || e.sender === ownUserId) continue;
    if (e.type === RTC_MEMBER_EVENT) {
      const key = `${e.sender}|${String(e.content.msc4354_sticky_key)}`;
      if (latestByStickyKey.has(key)) continue; // an older event under the same sticky key: superseded
      latestByStickyKey.add(key);
      const isJoin = typeof e.content.member === 'object' && e.content.member !== null;
      if (isJoin && stillSticky(e, now)) stickyMembers.push(e.sender);
      if (!isJoin) newestLeave.set(e.sender, Math.max(newestLeave.get(e.sender) ?? 0, e.origin_server_ts));
    } else if (e.type === 'm.room.encrypted' && stillSticky(e, now)) {
      encrypted.push({ userId: e.sender, deviceId: typeof e.content.device_id === 'string' ? e.content.device_id : undefined, ts: e.origin_server_ts });
    }
  }
  // A leave is never encrypted (js-sdk sends delayed events in clear), so a sender whose latest
  // sticky event is a leave has left, whatever their earlier encrypted join said.
  const unreadable = new Map<string, UnreadableSticky>();
  for (const e of encrypted) {
    if (e.ts < (newestLeave.get(e.userId) ?? 0)) continue;
    unreadable.set(`${e.userId}|${e.deviceId ?? ''}`, { userId: e.userId, deviceId: e.deviceId });
  }
  return { legacyMembers: [...new Set(legacyMembers)], stickyMembers: [...new Set(stickyMembers)], unreadable: [...unreadable.values()], complete };
}

/** Reads the room state and the last hour of sticky-capable events as the appservice user `asUser`. */
export async function readCallEvidence(as: AppserviceClient, roomId: string, asUser: string, ownUserId: string, log: Logger): Promise<CallEvidence> {
  const state = await as.request<Array<{ type: string; sender: string; content: Record<string, unknown> }>>('reading room state', 'GET', roomPath(roomId, 'state'), asUser);
  const filter = encodeURIComponent(JSON.stringify({ types: [RTC_MEMBER_EVENT, 'm.room.encrypted'] }));
  const now = Date.now();
  const timeline: TimelineEvent[] = [];
  let from: string | undefined;
  let complete = false;
  for (let page = 0; page < MAX_PAGES; page++) {
    const query = `messages?dir=b&limit=${PAGE_SIZE}&filter=${filter}${from ? `&from=${encodeURIComponent(from)}` : ''}`;
    const { chunk, end } = await as.request<{ chunk: TimelineEvent[]; end?: string }>('reading recent room events', 'GET', roomPath(roomId, query), asUser);
    timeline.push(...chunk);
    const oldest = chunk.at(-1);
    if (!end || chunk.length === 0 || (oldest && oldest.origin_server_ts < now - MAX_STICKY_MS)) {
      complete = true;
      break;
    }
    from = end;
  }
  if (!complete) log.warn({ events: timeline.length }, 'stopped reading the room timeline before an hour back: older sticky call memberships are not counted');
  const evidence = callEvidence(state, timeline, ownUserId, now, complete);
  log.info(
    { legacyMembers: evidence.legacyMembers.length, stickyMembers: evidence.stickyMembers.length, unreadableSticky: evidence.unreadable.length, scanned: timeline.length },
    'call memberships visible to the appservice',
  );
  return evidence;
}
