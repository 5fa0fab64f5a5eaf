// Rooms set up the way Element Call creates call rooms: members may send their call membership
// (power 0 for org.matrix.msc3401.call.member), optionally end-to-end encrypted.
import { TestClient, waitFor } from './matrix.ts';

export const CALL_ROOM_POWER = { events: { 'org.matrix.msc3401.call.member': 0, 'org.matrix.msc3401.call': 100 } };

export async function createCallRoom(owner: TestClient, opts: { encrypted?: boolean; name?: string; invite?: string[] } = {}): Promise<string> {
  // Like a user with Element open: their chat device exists before anything is said in the room.
  if (opts.encrypted) await owner.chatDevice();
  return owner.createRoom({
    name: opts.name ?? 'call room',
    power_level_content_override: CALL_ROOM_POWER,
    invite: opts.invite ?? [],
    initial_state: opts.encrypted ? [{ type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }] : [],
  });
}

/** Invites the bot and waits until it has joined. */
export async function inviteBot(owner: TestClient, roomId: string, botUserId: string): Promise<void> {
  await owner.invite(roomId, botUserId);
  await waitFor(async () => ((await owner.members(roomId)).get(botUserId) === 'join' ? true : undefined), `${botUserId} to join ${roomId}`, 20_000);
}

/**
 * Joins a room the user was invited to, with their chat device running first (an invitee cannot
 * read the room state to know whether it is encrypted, and a device must exist before messages are
 * encrypted to it).
 */
export async function join(client: TestClient, roomId: string): Promise<void> {
  await client.chatDevice();
  await client.request('POST', `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/join`, {});
}
