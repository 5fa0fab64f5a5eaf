// Issue 3's proof on the real Synapse: a user creates a room, invites the bot, the bot joins
// and answers !help; an unknown command gets a hint. The bot runs as a real child process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerUser, TestClient, waitFor } from '../helpers/matrix.ts';
import { startRecorder, stackRecorderConfig, type RecorderProcess } from '../helpers/recorder-process.ts';
import { readStackInfo } from '../stack/info.ts';

const stack = readStackInfo();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;
let bot: RecorderProcess;

beforeAll(async () => {
  bot = await startRecorder('bridge', stackRecorderConfig(stack));
  await bot.waitForLog((e) => e.msg === 'appservice listening', 'appservice listening');
});
afterAll(async () => {
  await bot?.stop();
});

describe('the appservice in a room', () => {
  it('joins when invited and answers !help with a reply', async () => {
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const roomId = await alice.createRoom({ name: 'bot test' });
    await alice.invite(roomId, botUserId);
    await waitFor(async () => ((await alice.members(roomId)).get(botUserId) === 'join' ? true : undefined), 'the bot to join', 20_000);

    const { event_id } = await alice.sendText(roomId, '!help');
    const reply = await alice.waitForEvent(
      roomId,
      (e) => e.sender === botUserId && e.type === 'm.room.message' && String(e.content.body).includes('!record'),
      'help reply',
    );
    expect(reply.content.msgtype).toBe('m.notice');
    expect((reply.content['m.relates_to'] as { 'm.in_reply_to'?: { event_id: string } })['m.in_reply_to']?.event_id).toBe(event_id);
    for (const command of ['!record', '!stop', '!status', '!help']) expect(String(reply.content.body)).toContain(command);

    await alice.sendText(roomId, '!recrod');
    const hint = await alice.waitForEvent(roomId, (e) => e.sender === botUserId && String(e.content.body).includes('!recrod'), 'unknown-command hint');
    expect(String(hint.content.body)).toMatch(/!help/);
  });

  it('logs the user id of the sender but never the appservice tokens', async () => {
    const { readFileSync } = await import('node:fs');
    const { parse } = await import('yaml');
    const registration = parse(readFileSync(stack.appservice.registrationFile, 'utf8')) as { as_token: string; hs_token: string };
    const all = bot.logs.join('\n');
    expect(all.length).toBeGreaterThan(0);
    expect(all).not.toContain(registration.as_token);
    expect(all).not.toContain(registration.hs_token);
  });
});
