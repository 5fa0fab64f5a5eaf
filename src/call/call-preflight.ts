// What the appservice checks before its call user joins anything: is there a call at all (legacy
// state or sticky timeline members), is the room encrypted, and may the call user publish the
// membership kind the call needs. Each failure is one plain sentence for the room.
import type { Config } from '../config/schema.ts';
import { RecorderError } from '../errors.ts';
import type { PowerLevelsContent } from '../matrix/permissions.ts';
import type { Logger } from '../observability/logger.ts';
import { CALL_MEMBER_EVENT, RTC_MEMBER_EVENT, type MembershipKind } from '../rtc/own-membership.ts';
import { type AppserviceClient, roomPath } from '../session/appservice-client.ts';
import { anyCall, chooseMembershipKind, readCallEvidence, type CallEvidence } from './call-evidence.ts';
import { missingMessagePower, missingStatePower } from './call-user.ts';

export interface Preflight {
  evidence: CallEvidence;
  encrypted: boolean;
  kind: MembershipKind;
}

export const noCallError = () =>
  new RecorderError('no call in progress', 'MRR_NO_CALL', {
    retryable: false,
    userMessage: 'there is no call in progress in this room. Start the call first, then type !record.',
  });

export async function preflight(
  as: AppserviceClient,
  ids: { roomId: string; botUserId: string; callUserId: string },
  mode: Config['rtc']['membershipMode'],
  log: Logger,
): Promise<Preflight> {
  // A cheap first look: what it finds also decides our membership kind.
  const evidence = await readCallEvidence(as, ids.roomId, ids.botUserId, ids.callUserId, log);
  if (!anyCall(evidence)) throw noCallError();
  const encrypted = await roomIsEncrypted(as, ids.roomId, ids.botUserId);
  const kind = chooseMembershipKind(mode, evidence);
  log.info({ membershipMode: mode, kind }, 'own call membership kind chosen');
  return { evidence, encrypted, kind };
}

/**
 * A legacy membership is a state event; a sticky one a message event, sent as m.room.encrypted
 * in encrypted rooms, while its delayed leave goes out in clear as rtc.member.
 */
export async function checkMembershipPower(as: AppserviceClient, ids: { roomId: string; botUserId: string; callUserId: string }, kind: MembershipKind, encrypted: boolean): Promise<void> {
  const levels = await as.request<PowerLevelsContent>('reading power levels', 'GET', roomPath(ids.roomId, 'state/m.room.power_levels/'), ids.botUserId);
  const needs =
    kind === 'legacy'
      ? [{ type: CALL_MEMBER_EVENT, missing: missingStatePower(levels, CALL_MEMBER_EVENT, ids.callUserId) }]
      : [RTC_MEMBER_EVENT, ...(encrypted ? ['m.room.encrypted'] : [])].map((type) => ({ type, missing: missingMessagePower(levels, type, ids.callUserId) }));
  const lacking = needs.find((n) => n.missing);
  if (!lacking?.missing) return;
  const { type, missing } = lacking;
  throw new RecorderError(`call user lacks power for ${type}`, 'MRR_NO_CALL_POWER', {
    retryable: false,
    userMessage:
      `my call participant ${ids.callUserId} needs power level ${missing.needed} to send its call membership (${type}) ` +
      `in this room but has ${missing.has}. Raise its power level or lower the level needed for that event.`,
  });
}

async function roomIsEncrypted(as: AppserviceClient, roomId: string, botUserId: string): Promise<boolean> {
  try {
    await as.request('reading room encryption', 'GET', roomPath(roomId, 'state/m.room.encryption/'), botUserId);
    return true;
  } catch (err) {
    if ((err as RecorderError).errcode === 'M_NOT_FOUND') return false;
    throw err;
  }
}
