// The Matrix user that takes part in calls. The appservice's own sender cannot log in a device
// of its own (Synapse gives it a login token that /sync refuses), so calls use a namespaced
// user `@<bot>-call:<domain>` that the bot invites into the room; each session gets a device.
import { MatrixApiError, RecorderError } from '../errors.ts';
import { stateEventPowerLevel, userPowerLevel, type PowerLevelsContent } from '../matrix/permissions.ts';
import type { Logger } from '../observability/logger.ts';
import { type AppserviceClient, registerAppserviceUser, roomPath } from '../session/appservice-client.ts';

export const callUserLocalpart = (botLocalpart: string) => `${botLocalpart}-call`;

/** Registers the call user once (M_USER_IN_USE means it exists) and makes sure it is in the room. */
export async function ensureCallUserInRoom(
  client: AppserviceClient,
  opts: { botUserId: string; callUserId: string; roomId: string; displayName: string },
  log: Logger,
): Promise<void> {
  if (await registerAppserviceUser(client, opts.callUserId)) log.info({ callUserId: opts.callUserId }, 'registered the call user');
  await client.request('setting the call user display name', 'PUT', `/_matrix/client/v3/profile/${encodeURIComponent(opts.callUserId)}/displayname`, opts.callUserId, {
    displayname: opts.displayName,
  });
  const membership = await client
    .request<{ membership?: string }>('reading the call user membership', 'GET', roomPath(opts.roomId, `state/m.room.member/${encodeURIComponent(opts.callUserId)}`), opts.botUserId)
    .then((c) => c.membership)
    .catch((err: unknown) => {
      if (err instanceof MatrixApiError && err.errcode === 'M_NOT_FOUND') return undefined;
      throw err;
    });
  if (membership === 'join') return;
  if (membership !== 'invite') {
    await client.request('inviting the call user', 'POST', roomPath(opts.roomId, 'invite'), opts.botUserId, { user_id: opts.callUserId }).catch((err: unknown) => {
      throw new RecorderError(`inviting ${opts.callUserId} failed: ${(err as Error).message}`, (err as RecorderError).errcode ?? 'MRR_INVITE', {
        cause: err,
        retryable: false,
        userMessage: `I could not invite my call participant ${opts.callUserId} into this room: ${(err as Error).message}.`,
      });
    });
  }
  await client.request('joining the room as the call user', 'POST', roomPath(opts.roomId, 'join'), opts.callUserId, {});
  log.info({ callUserId: opts.callUserId }, 'call user joined the room');
}

/** The power needed to send a state event of `type` and what `userId` has, when it falls short. */
export function missingStatePower(levels: PowerLevelsContent, type: string, userId: string): { needed: number; has: number } | undefined {
  const needed = stateEventPowerLevel(levels, type);
  const has = userPowerLevel(levels, userId);
  return has >= needed ? undefined : { needed, has };
}

/**
 * The same for a message event of `type` (a sticky rtc.member membership is one): its level in
 * `events`, else `events_default` (0 when absent, as the spec says).
 */
export function missingMessagePower(levels: PowerLevelsContent & { events_default?: unknown }, type: string, userId: string): { needed: number; has: number } | undefined {
  const level = levels.events?.[type] ?? levels.events_default;
  const needed = typeof level === 'number' && Number.isInteger(level) ? level : 0;
  const has = userPowerLevel(levels, userId);
  return has >= needed ? undefined : { needed, has };
}
