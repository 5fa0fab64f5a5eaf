// `npm run demo`: the main job on the embedded local stack. Starts the stack (installing it on
// first use), registers a user, creates a room, invites the bot (run as a real process) and shows
// it joining and answering !help.
import { registerUser, TestClient, waitFor } from '../test/helpers/matrix.ts';
import { startRecorder, stackRecorderConfig } from '../test/helpers/recorder-process.ts';
import { ensureStack } from '../test/stack/stack.ts';

const say = (line: string) => console.log(`[demo] ${line}`);
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;

say('starting the local stack (Synapse, LiveKit, authorizers, Redis); the first run installs them');
const stack = await ensureStack();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;

say('starting matrixrtc-recorder (bridge + worker)');
const bot = await startRecorder('all', stackRecorderConfig(stack, { logging: { level: 'info' } }));
try {
  await bot.waitForLog((e) => e.msg === 'appservice listening', 'appservice listening');
  const alice = new TestClient(await registerUser(stack, 'alice'));
  say(`registered ${alice.user.userId}`);
  const roomId = await alice.createRoom({ name: 'matrixrtc-recorder demo' });
  say(`created room ${roomId}; inviting ${botUserId}`);
  await alice.invite(roomId, botUserId);
  await waitFor(async () => ((await alice.members(roomId)).get(botUserId) === 'join' ? true : undefined), 'the bot to join', 30_000);
  say(`the bot joined (${elapsed()})`);

  await alice.sendText(roomId, '!help');
  say('sent !help');
  const reply = await alice.waitForEvent(roomId, (e) => e.sender === botUserId && String(e.content.body).includes('!record'), 'the help reply');
  say(`the bot answered (${elapsed()}):`);
  console.log(String(reply.content.body).replace(/^/gm, '    '));
} finally {
  await bot.stop();
}
say(`done in ${elapsed()}; the stack keeps running (npm run stack -- down stops it)`);
