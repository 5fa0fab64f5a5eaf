// Interop with Element Call 0.26.1 in matrix_2_0 mode. In an encrypted room js-sdk encrypts a
// sticky rtc.member join, and that Element Call build does not take up an encrypted sticky
// membership that arrives while it is in the call: it saw ours only when the next plaintext
// sticky event (a leave) came, so it never sent us its media key. js-sdk's own delayed path sends
// sticky events in the clear (it does so for every leave), so a plaintext copy of our join, sent
// through it a moment after the join, is read at once. It carries nothing a member's own
// membership does not show in the clear already (user, device, member id, SFU URL).
import type { MatrixClient, MatrixEvent, Room } from 'matrix-js-sdk';
import type { Logger } from '../observability/logger.ts';

export const RTC_MEMBER_TYPE = 'org.matrix.msc4143.rtc.member';
/** What js-sdk asks for its sticky memberships (Synapse caps stickiness at an hour). */
const STICKY_DURATION_MS = 3_600_000;

export async function publishPlaintextCopy(client: MatrixClient, room: Room, me: { userId: string; memberId: string }, log: Logger): Promise<void> {
  const ours = ([...room._unstable_getStickyEvents()] as MatrixEvent[]).find(
    (e) => e.getType() === RTC_MEMBER_TYPE && e.getSender() === me.userId && e.getContent().msc4354_sticky_key === me.memberId,
  );
  if (!ours) {
    log.warn('our sticky membership is not in the room yet; no plaintext copy sent (Element Call 0.26.1 may not see us)');
    return;
  }
  await client._unstable_sendStickyDelayedEvent(room.roomId, STICKY_DURATION_MS, { delay: 100 }, null, RTC_MEMBER_TYPE as never, ours.getContent() as never);
  log.info('plaintext copy of our sticky membership sent (for Element Call 0.26.1)');
}
