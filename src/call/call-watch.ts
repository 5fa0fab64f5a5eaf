// When a call is over for the bot: nobody else in it for `graceMs`, or our own membership gone
// (kicked, or removed by someone) for longer than js-sdk takes to re-join by itself.
import type { MatrixRTCSession } from 'matrix-js-sdk/lib/matrixrtc/index.js';
import type { Logger } from '../observability/logger.ts';
import type { CallMember } from './call-members.ts';
import type { CallRoster } from './call-roster.ts';

/** How long our membership may be missing while js-sdk's membership manager re-joins. */
const REJOIN_GRACE_MS = 10_000;

export type WatchedEnd = { kind: 'call-ended' } | { kind: 'removed' };

export function watchCall(
  session: MatrixRTCSession,
  roster: CallRoster,
  own: { userId: string; deviceId: string },
  graceMs: number,
  end: (reason: WatchedEnd) => void,
  log: Logger,
  onMembers: (members: CallMember[]) => void,
): { dispose(): void } {
  let emptySince: ReturnType<typeof setTimeout> | undefined;
  let missingSince: ReturnType<typeof setTimeout> | undefined;
  const onChange = () => {
    const members = roster.members();
    const mine = session.memberships.some((m) => m.userId === own.userId && m.deviceId === own.deviceId);
    log.info({ members: members.map((m) => m.identity), own: mine }, 'call memberships changed');
    const roomMembership = session.room.getMember(own.userId)?.membership;
    if (!mine && (roomMembership === 'leave' || roomMembership === 'ban')) {
      log.warn({ roomMembership }, 'our call user was removed from the room');
      return end({ kind: 'removed' });
    }
    if (!mine && !missingSince) {
      log.warn({ graceMs: REJOIN_GRACE_MS }, 'our call membership is gone; ending the session unless it comes back');
      missingSince = setTimeout(() => end({ kind: 'removed' }), REJOIN_GRACE_MS);
    } else if (mine && missingSince) {
      log.info('our call membership is back');
      clearTimeout(missingSince);
      missingSince = undefined;
    }
    if (members.length === 0 && !emptySince) {
      log.info({ graceMs }, 'nobody else is in the call; waiting before leaving');
      emptySince = setTimeout(() => end({ kind: 'call-ended' }), graceMs);
    } else if (members.length > 0 && emptySince) {
      clearTimeout(emptySince);
      emptySince = undefined;
    }
    onMembers(members);
  };
  const off = roster.onChange(onChange);
  return {
    dispose() {
      clearTimeout(emptySince);
      clearTimeout(missingSince);
      off();
    },
  };
}
