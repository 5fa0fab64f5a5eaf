// The call as js-sdk's MatrixRTCSession sees it, reduced to what the media side needs: who is in
// the call, under which LiveKit identity, on which SFU, and how the call selects its SFU.
import type { CallMembership } from 'matrix-js-sdk/lib/matrixrtc/index.js';
import type { FocusSelection, MemberMedia } from '../rtc/connection-plan.ts';

export interface CallMember extends MemberMedia {
  memberId: string;
  createdTs: number;
}

const oldestOf = (memberships: CallMembership[]) => memberships.reduce((a, b) => (b.createdTs() < a.createdTs() ? b : a));

/**
 * Every valid membership of other users, with the transport it publishes on. Other devices of our
 * own call user are left out too: they are earlier sessions (a crashed worker's, until its
 * delayed leave fires), not people to record or wait for.
 */
export function callMembers(memberships: CallMembership[], own: { userId: string }): CallMember[] {
  if (memberships.length === 0) return [];
  const oldest = oldestOf(memberships);
  return memberships
    .filter((m) => m.userId !== own.userId && !m.isExpired())
    .map((m) => {
      const transport = m.getTransport(oldest) as { type?: string; livekit_service_url?: unknown } | undefined;
      return {
        userId: m.userId,
        deviceId: m.deviceId,
        memberId: m.memberId,
        identity: m.rtcBackendIdentity,
        createdTs: m.createdTs(),
        serviceUrl: transport?.type === 'livekit' && typeof transport.livekit_service_url === 'string' ? transport.livekit_service_url : undefined,
      };
    });
}

/**
 * How the call picks SFUs, read from the oldest membership's `focus_active` (legacy events).
 * `m.rtc.member` memberships always publish on their own transport, which is `multi_sfu`.
 */
export function callFocusSelection(oldestContent: Record<string, unknown> | undefined): FocusSelection {
  const focus = oldestContent?.focus_active as { focus_selection?: unknown } | undefined;
  return focus?.focus_selection === 'oldest_membership' ? 'oldest_membership' : 'multi_sfu';
}
