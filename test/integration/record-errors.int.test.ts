// Failures of !record reach the person who typed it as one plain sentence (issue 4, item 4).
import { dispose } from '@livekit/rtc-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerUser, TestClient } from '../helpers/matrix.ts';
import { startRecorder, stackRecorderConfig, type RecorderProcess } from '../helpers/recorder-process.ts';
import { createCallRoom, inviteBot } from '../helpers/rooms.ts';
import { startRtcPeer, type RtcPeer } from '../peers/rtc-peer.ts';
import { readStackInfo } from '../stack/info.ts';

const stack = readStackInfo();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;
let bot: RecorderProcess;
const peers: RtcPeer[] = [];

beforeAll(async () => {
  bot = await startRecorder('all', stackRecorderConfig(stack));
  await bot.waitForLog((e) => e.msg === 'worker taking jobs', 'worker taking jobs');
});
afterAll(async () => {
  await Promise.all(peers.map((p) => p.stop().catch(() => undefined)));
  await bot?.stop();
  await dispose();
});

const botSays = (client: TestClient, roomId: string, pattern: RegExp, what: string) =>
  client.waitForMessage(roomId, botUserId, pattern, what);

describe('!record failures', () => {
  it('says there is no call when nobody is in one', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const roomId = await createCallRoom(alice);
    await inviteBot(alice, roomId, botUserId);
    await alice.sendText(roomId, '!record');
    const reply = await botSays(alice, roomId, /no call in progress/, 'the no-call reply');
    expect(String(reply.content.body)).toMatch(/^I could not record this call: there is no call in progress/);
  });

  it('refuses a user without power, naming the level needed', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const bob = new TestClient(await registerUser(stack, 'bob'));
    const roomId = await createCallRoom(alice, { invite: [bob.user.userId] });
    await bob.request('POST', `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/join`, {});
    await inviteBot(alice, roomId, botUserId);
    await bob.sendText(roomId, '!record');
    const reply = await botSays(bob, roomId, /power level/, 'the refusal');
    expect(String(reply.content.body)).toContain('50');
    expect(String(reply.content.body)).toContain(bob.user.userId);
  });

  it('says which power level its call participant lacks when the room restricts call memberships', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const roomId = await alice.createRoom({ name: 'restricted calls', power_level_content_override: { events: { 'org.matrix.msc3401.call.member': 50 } } });
    await inviteBot(alice, roomId, botUserId);
    peers.push(await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 440 }));
    await alice.sendText(roomId, '!record');
    const reply = await botSays(alice, roomId, /needs power level/, 'the power reply');
    expect(String(reply.content.body)).toContain(`my call participant @${stack.appservice.botLocalpart}-call:${stack.synapse.serverName} needs power level 50`);
    expect(String(reply.content.body)).toContain('org.matrix.msc3401.call.member');
  });
});
