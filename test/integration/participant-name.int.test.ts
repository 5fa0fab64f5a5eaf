// Naming the bot's LiveKit participant on the real LiveKit server: with canUpdateOwnMetadata in the
// JWT (lk-jwt-service main) the name takes and SfuConnection confirms it; without (v0.5.0) LiveKit
// ignores the change while rtc-node's updateName still resolves, and SfuConnection says so.
import { randomBytes } from 'node:crypto';
import { dispose } from '@livekit/rtc-node';
import { AccessToken, RoomServiceClient } from 'livekit-server-sdk';
import { afterAll, describe, expect, it } from 'vitest';
import { SfuConnection } from '../../src/media/livekit/sfu-connection.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { waitFor } from '../helpers/matrix.ts';
import { readStackInfo } from '../stack/info.ts';

const sfu = readStackInfo().sfus[0]!;
const rooms = new RoomServiceClient(sfu.livekitUrl.replace(/^ws/, 'http'), sfu.apiKey, sfu.apiSecret);
const NAME = 'Call Recorder (recording)';
const open: SfuConnection[] = [];

afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
  await dispose();
});

/** Connects with a JWT like the authorizer's, naming itself; returns its log and what LiveKit says its name is. */
async function connectNamed(grantsOwnMetadata: boolean) {
  const room = `name-${randomBytes(4).toString('hex')}`;
  await rooms.createRoom({ name: room, emptyTimeout: 60 });
  const identity = '@recorder-call:localhost:NAMETEST';
  const token = new AccessToken(sfu.apiKey, sfu.apiSecret, { identity, ttl: '1h' });
  token.addGrant({ room, roomJoin: true, canPublish: true, canSubscribe: true, ...(grantsOwnMetadata ? { canUpdateOwnMetadata: true } : {}) });
  const logged: Array<{ level: number; msg: string }> = [];
  const log = createLogger({ level: 'info' }, { write: (line: string) => void logged.push(JSON.parse(line) as { level: number; msg: string }) });
  const connection = new SfuConnection({ url: sfu.livekitUrl, jwt: await token.toJwt(), log, participantName: NAME, onAudioTrack: () => undefined });
  open.push(connection);
  await connection.connect();
  const said = (msg: string) => waitFor(async () => logged.find((e) => e.msg === msg), `the log line "${msg}"`, 15_000);
  const nameOnServer = async () => (await rooms.listParticipants(room)).find((p) => p.identity === identity)?.name;
  return { said, nameOnServer };
}

describe('the LiveKit participant name', () => {
  it('with canUpdateOwnMetadata: set, and confirmed by the server', async () => {
    const { said, nameOnServer } = await connectNamed(true);
    expect((await said('LiveKit participant name set')).level).toBe(30);
    expect(await nameOnServer()).toBe(NAME);
  });

  it('without it: LiveKit ignores the change silently, and the connection warns that it did not take', async () => {
    const { said, nameOnServer } = await connectNamed(false);
    const warning = await said('LiveKit did not confirm our participant name; other LiveKit clients may not show that we record');
    expect(warning.level).toBe(40);
    expect(await nameOnServer()).toBe('');
  });
});
