// The call as js-sdk's MatrixRTCSession sees it, reduced to what the media side needs: who is in
// the call, under which LiveKit identity, on which SFU, and how the call selects its SFU.
import type { Room } from 'matrix-js-sdk';
import type { CallMembership } from 'matrix-js-sdk/lib/matrixrtc/index.js';
import type { FocusSelection, MemberMedia } from '../rtc/connection-plan.ts';
import { RTC_MEMBER_EVENT, type MembershipKind } from '../rtc/own-membership.ts';

export interface CallMember extends MemberMedia {
  memberId: string;
  createdTs: number;
  /** Whether the member publishes a legacy state event or a sticky rtc.member event. */
  kind: MembershipKind;
}

/**
 * The event ids of the room's current sticky rtc.member events. js-sdk's CallMembership does not
 * say which kind it was parsed from; a membership whose event is one of these is sticky.
 */
export const stickyMembershipEventIds = (room: Pick<Room, '_unstable_getStickyEvents'>): Set<string> =>
  new Set([...room._unstable_getStickyEvents()].filter((e) => e.getType() === RTC_MEMBER_EVENT).flatMap((e) => e.getId() ?? []));

const oldestOf = (memberships: CallMembership[]) => memberships.reduce((a, b) => (b.createdTs() < a.createdTs() ? b : a));

/**
 * Every valid membership of other users, with the transport it publishes on. Other devices of our
 * own call user are left out too: they are earlier sessions (a crashed worker's, until its
 * delayed leave fires), not people to record or wait for.
 */
export function callMembers(memberships: CallMembership[], own: { userId: string }, stickyEventIds: ReadonlySet<string>): CallMember[] {
  if (memberships.length === 0) return [];
  const oldest = oldestOf(memberships);
  return memberships
    .filter((m) => m.userId !== own.userId && !m.isExpired())
    .map((m) => {
      const transport = readTransport(m, oldest);
      return {
        userId: m.userId,
        deviceId: m.deviceId,
        memberId: m.memberId,
        identity: m.rtcBackendIdentity,
        createdTs: m.createdTs(),
        kind: stickyEventIds.has(m.eventId) ? 'sticky' : 'legacy',
        serviceUrl: transport?.type === 'livekit' && typeof transport.livekit_service_url === 'string' ? transport.livekit_service_url : undefined,
      };
    });
}

/**
 * js-sdk accepts a legacy membership whose focus is `oldest_membership` without `foci_preferred`,
 * and then throws reading its transport (checked with js-sdk 43). Such a member's SFU is unknown:
 * the session reports members without a transport by name.
 */
function readTransport(m: CallMembership, oldest: CallMembership): { type?: unknown; livekit_service_url?: unknown } | undefined {
  try {
    const transport: unknown = m.getTransport(oldest);
    return typeof transport === 'object' && transport !== null ? transport : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How the call picks SFUs, read from the oldest membership's `focus_active` (legacy events).
 * Sticky rtc.member memberships (no such field) always publish on their own transport: `multi_sfu`.
 */
export function callFocusSelection(oldestContent: Record<string, unknown> | undefined): FocusSelection {
  const focus = oldestContent?.focus_active as { focus_selection?: unknown } | undefined;
  return focus?.focus_selection === 'oldest_membership' ? 'oldest_membership' : 'multi_sfu';
}
