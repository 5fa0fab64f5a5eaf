// `npm run demo`: the main job on the embedded local stack. Starts the stack (installing it on
// first use) and the bot as a real process; a user creates a room and invites the bot, which
// answers !help; a simulated Element Call peer joins a call in that room playing a 440 Hz tone;
// !record makes the bot join the call, !stop ends it, and the demo shows what the bot heard.
import { dispose } from '@livekit/rtc-node';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { decodeToPcm } from '../test/helpers/audio-files.ts';
import { dominantFrequency, toneSnrDb } from '../test/helpers/fft.ts';
import { registerUser, TestClient } from '../test/helpers/matrix.ts';
import { startRecorder, stackRecorderConfig } from '../test/helpers/recorder-process.ts';
import { createCallRoom, inviteBot } from '../test/helpers/rooms.ts';
import { startRtcPeer } from '../test/peers/rtc-peer.ts';
import { ensureStack } from '../test/stack/stack.ts';

const TONE_HZ = 440;
const say = (line: string) => console.log(`[demo] ${line}`);
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;

say('starting the local stack (Synapse, LiveKit x2, authorizers, Redis); the first run installs them');
const stack = await ensureStack();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;

const config = stackRecorderConfig(stack, { logging: { level: 'info' }, recording: { uploadToRoom: false } });
const outputDir = (config.recording as { outputDir: string }).outputDir;
say('starting matrixrtc-recorder (bridge + worker in one process)');
const bot = await startRecorder('all', config);
const botSays = (alice: TestClient, roomId: string, pattern: RegExp, what: string) =>
  alice.waitForEvent(roomId, (e) => e.sender === botUserId && pattern.test(String(e.content.body)), what, 60_000);
try {
  await bot.waitForLog((e) => e.msg === 'worker taking jobs', 'the worker to start');
  const alice = new TestClient(await registerUser(stack, 'alice'));
  say(`registered ${alice.user.userId}`);
  const roomId = await createCallRoom(alice, { name: 'matrixrtc-recorder demo' });
  say(`created room ${roomId}; inviting ${botUserId}`);
  await inviteBot(alice, roomId, botUserId);
  say(`the bot joined (${elapsed()})`);

  await alice.sendText(roomId, '!help');
  const help = await botSays(alice, roomId, /!record/, 'the help reply');
  say('!help answered:');
  console.log(String(help.content.body).replace(/^/gm, '    '));

  say(`a simulated Element Call peer (${alice.user.userId}) joins a call in the room, playing a ${TONE_HZ} Hz tone`);
  const peer = await startRtcPeer({ stack, roomId, user: alice.user, toneHz: TONE_HZ });
  await alice.sendText(roomId, '!record');
  say('sent !record');
  console.log(`    ${String((await botSays(alice, roomId, /^Recording started/, 'the start notice')).content.body)}`);
  say('listening for 5 s');
  await new Promise((r) => setTimeout(r, 5_000));
  await alice.sendText(roomId, '!stop');
  console.log(`    ${String((await botSays(alice, roomId, /^Recording ended/, 'the end summary')).content.body).replace(/\n/g, '\n    ')}`);
  await peer.stop();

  const session = (dir: string): string => join(dir, readdirSync(dir)[0]!);
  const segment = join(session(join(outputDir, readdirSync(outputDir)[0]!)), 'segment-0');
  say(`files in ${segment}:`);
  for (const name of readdirSync(segment)) {
    const path = join(segment, name);
    const line = `    ${name} (${statSync(path).size} bytes)`;
    if (!name.endsWith('.ogg')) {
      console.log(line);
      continue;
    }
    const pcm = decodeToPcm(path, stack.ffmpegPath).subarray(48_000);
    console.log(`${line}: ${(pcm.length / 48_000 + 1).toFixed(1)} s, strongest frequency ${dominantFrequency(pcm, 48_000).toFixed(1)} Hz, tone ${toneSnrDb(pcm, 48_000, TONE_HZ).toFixed(1)} dB above the rest`);
  }
  const first = bot.logs.filter((l) => l.includes('first audio frame decoded')).map((l) => JSON.parse(l) as { msSinceRecord: number })[0];
  if (first) say(`time from !record to the first decoded audio frame: ${first.msSinceRecord} ms`);
} finally {
  await bot.stop();
  await dispose();
}
say(`done in ${elapsed()}; the stack keeps running (npm run stack -- down stops it)`);
