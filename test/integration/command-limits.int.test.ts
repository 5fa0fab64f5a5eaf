// Issue 13, item 2 on the real stack: who gets answered, how often, and how much one room or one
// user may start. Users not on the allow-list get no answer to unknown commands (other bots);
// a user who floods is told once and then ignored; caps per room, per user and per worker are
// each answered with a sentence naming the setting.
import { dispose } from '@livekit/rtc-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerUser, TestClient, type SeenEvent } from '../helpers/matrix.ts';
import { startRecorder, stackRecorderConfig, type RecorderProcess } from '../helpers/recorder-process.ts';
import { CALL_ROOM_POWER, inviteBot, join as joinRoom } from '../helpers/rooms.ts';
import { startRtcPeer, type RtcPeer } from '../peers/rtc-peer.ts';
import { readStackInfo } from '../stack/info.ts';

const stack = readStackInfo();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;
let bot: RecorderProcess;
let alice: TestClient;
let bob: TestClient;
let carol: TestClient;
let dave: TestClient;
const peers: RtcPeer[] = [];

beforeAll(async () => {
  const client = async (name: string) => new TestClient(await registerUser(stack, name));
  [alice, bob, carol, dave] = await Promise.all([client('alice'), client('bob'), client('carol'), client('dave')]);
  bot = await startRecorder(
    'all',
    stackRecorderConfig(stack, {
      // Carol is on the same homeserver but not on the list.
      permissions: { allow: [alice.user.userId, bob.user.userId, dave.user.userId] },
      // Each user's bucket lasts the whole file: alice sends 6 commands in all, dave floods with 8.
      limits: { userCommandBurst: 6, userCommandsPerMinute: 1, maxSessionsPerUser: 1, maxOutputsPerRoom: 1 },
      jobs: { concurrency: 1 },
      recording: { uploadToRoom: false },
      rtc: { emptyCallGraceMs: 5_000 },
    }),
  );
  await bot.waitForLog((e) => e.msg === 'worker taking jobs', 'worker taking jobs');
});
afterAll(async () => {
  await Promise.all(peers.map((p) => p.stop().catch(() => undefined)));
  await bot?.stop();
  await dispose();
});

const botSays = (client: TestClient, roomId: string, pattern: RegExp, what: string, timeoutMs = 30_000) =>
  client.waitForMessage(roomId, botUserId, pattern, what, timeoutMs);

/** The bot's replies to one event (its notices carry m.in_reply_to). */
const repliesTo = (events: SeenEvent[], eventId: string) =>
  events.filter((e) => e.sender === botUserId && (e.content['m.relates_to'] as { 'm.in_reply_to'?: { event_id?: string } } | undefined)?.['m.in_reply_to']?.event_id === eventId);

async function roomWithAll(): Promise<string> {
  // Bob may start recordings too (power 50; alice creates the room, and creators of v12 rooms are not listed).
  const roomId = await alice.createRoom({
    name: 'call room',
    power_level_content_override: { ...CALL_ROOM_POWER, users: { [bob.user.userId]: 50 } },
    invite: [bob.user.userId, carol.user.userId, dave.user.userId],
  });
  await Promise.all([bob, carol, dave].map((client) => joinRoom(client, roomId)));
  await inviteBot(alice, roomId, botUserId);
  return roomId;
}

describe('who is answered', () => {
  it('ignores unknown commands from users not allowed to command, answers known ones with a refusal, and allowed users with the usual reply', async () => {
    const roomId = await roomWithAll();
    const unknownFromCarol = await carol.sendText(roomId, '!frobnicate now');
    const helpFromCarol = await carol.sendText(roomId, '!help');
    await botSays(carol, roomId, /is not allowed to use this bot/, "the refusal of carol's !help");
    const unknownFromAlice = await alice.sendText(roomId, '!frobnicate');
    await botSays(alice, roomId, /^Unknown command !frobnicate/, "the answer to alice's unknown command");
    // Commands of a room are handled in order: carol's unknown command was handled before her !help.
    const events = await alice.recentEvents(roomId);
    expect(repliesTo(events, unknownFromCarol.event_id), 'replies to carol\'s unknown command').toEqual([]);
    expect(repliesTo(events, helpFromCarol.event_id)).toHaveLength(1);
    expect(repliesTo(events, unknownFromAlice.event_id)).toHaveLength(1);
  });

  it('tells a user who floods once, then ignores them; others in the room are still answered', async () => {
    const roomId = await roomWithAll();
    const sent = [];
    for (let i = 0; i < 8; i++) sent.push(await dave.sendText(roomId, '!help'));
    const fromAlice = await alice.sendText(roomId, '!help');
    await alice.waitForEvent(roomId, (e) => repliesTo([e], fromAlice.event_id).length > 0, "the answer to alice's !help");
    const events = await alice.recentEvents(roomId);
    const replies = sent.map((e) => repliesTo(events, e.event_id).map((r) => String(r.content.body)));
    console.log(`[observe] replies to each of dave's eight !help sent at once (burst 6, 1 a minute): ${replies.map((r) => r.length).join(', ')}; the 7th: ${replies[6]?.[0]}`);
    expect(replies.slice(0, 6).every((r) => r.length === 1 && r[0]!.startsWith('I record calls in this room when asked.'))).toBe(true);
    expect(replies[6]).toHaveLength(1);
    expect(replies[6]![0]).toMatch(/ is sending commands faster than I take them \(limits\.userCommandsPerMinute\); I ignore theirs for about \d+ s\.$/);
    expect(replies[6]![0]!.startsWith(dave.user.userId)).toBe(true);
    expect(replies[7]).toEqual([]);
  });
});

describe('caps', () => {
  it('per room, per user and per worker, each with a sentence', async () => {
    const roomId = await roomWithAll();
    peers.push(await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 440 }));
    await alice.sendText(roomId, '!record');
    await botSays(alice, roomId, /^Recording started by/, 'the start notice', 45_000);

    // Per room: one output (limits.maxOutputsPerRoom 1), so a stream beside the recording is refused.
    await alice.sendText(roomId, '!stream hls');
    const roomCap = await botSays(alice, roomId, /already has 1 output running/, 'the per-room refusal');
    expect(String(roomCap.content.body)).toContain('limits.maxOutputsPerRoom is 1');

    // Per user: alice has one session running (limits.maxSessionsPerUser 1): another room is refused.
    const other = await roomWithAll();
    await alice.sendText(other, '!record');
    const userCap = await botSays(alice, other, /already has 1 call being recorded or streamed/, 'the per-user refusal');
    expect(String(userCap.content.body)).toContain(alice.user.userId);
    expect(String(userCap.content.body)).toContain('limits.maxSessionsPerUser is 1');

    // Per worker: the only worker runs its one session (jobs.concurrency 1): bob's waits, and is told so.
    await bob.sendText(other, '!record');
    const queued = await botSays(bob, other, /asked me to record this call/, "the answer to bob's !record");
    expect(String(queued.content.body)).toMatch(/All 1 recorder worker is busy \(1 session; jobs\.concurrency is 1 per worker\), so this waits in the queue/);
    await bob.sendText(other, '!stop');
    await botSays(bob, other, /^Stopping the recording \(asked by/, 'the answer to !stop');

    await alice.sendText(roomId, '!stop');
    await botSays(alice, roomId, /^Recording ended/, 'the end summary');
  });
});
