// `npm run demo`: the main job on the embedded local stack. Starts the stack (installing it on
// first use) and the bot as a real process; a user creates a room and invites the bot, which
// answers !help; two simulated Element Call peers join a call in that room, end-to-end encrypted
// unless --plain is given: one in Node (rtc-node) playing 440 Hz, one in headless Chromium
// (livekit-client) playing 660 Hz. !record makes the bot join the call and receive their media
// keys, !stop ends it, and the demo shows what the bot heard in each file. Alice also sends
// video (a red picture) and the demo records with `!record video`, so the composite grid is made
// too; --audio records audio only.
import { dispose } from '@livekit/rtc-node';
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { decodeToPcm } from '../test/helpers/audio-files.ts';
import { dominantFrequency, toneSnrDb } from '../test/helpers/fft.ts';
import { registerUser, TestClient } from '../test/helpers/matrix.ts';
import { startRecorder, stackRecorderConfig } from '../test/helpers/recorder-process.ts';
import { createCallRoom, inviteBot, join as joinRoom } from '../test/helpers/rooms.ts';
import { startBrowserPeer } from '../test/peers/browser-peer.ts';
import { startRtcPeer } from '../test/peers/rtc-peer.ts';
import { ensureStack } from '../test/stack/stack.ts';

const TONES = { alice: 440, bob: 660 };
const encrypted = !process.argv.includes('--plain');
const video = !process.argv.includes('--audio');
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
  alice.waitForMessage(roomId, botUserId, pattern, what, 60_000);
try {
  await bot.waitForLog((e) => e.msg === 'worker taking jobs', 'the worker to start');
  const alice = new TestClient(await registerUser(stack, 'alice'));
  const bob = new TestClient(await registerUser(stack, 'bob'));
  say(`registered ${alice.user.userId} and ${bob.user.userId}`);
  const roomId = await createCallRoom(alice, { name: 'matrixrtc-recorder demo', encrypted, invite: [bob.user.userId] });
  await joinRoom(bob, roomId);
  say(`created ${encrypted ? 'an end-to-end encrypted' : 'an unencrypted'} room ${roomId}; inviting ${botUserId}`);
  await inviteBot(alice, roomId, botUserId);
  say(`the bot joined (${elapsed()})`);

  await alice.sendText(roomId, '!help');
  const help = await botSays(alice, roomId, /!record/, 'the help reply');
  say('!help answered:');
  console.log(String(help.content.body).replace(/^/gm, '    '));

  const e2ee = encrypted ? ('keys' as const) : undefined;
  say(`${alice.user.userId} joins the call from Node (rtc-node), playing ${TONES.alice} Hz${video ? ' with a red camera picture' : ''}${encrypted ? '; media keys over Olm' : ''}`);
  const camera = video ? { video: { width: 320, height: 240, fps: 15, yuv: [81, 90, 240] as [number, number, number] } } : {};
  const alicePeer = await startRtcPeer({ stack, roomId, user: alice.user, toneHz: TONES.alice, ...camera, ...(e2ee ? { e2ee } : {}) });
  say(`${bob.user.userId} joins the call from headless Chromium (livekit-client), playing ${TONES.bob} Hz`);
  const bobPeer = await startBrowserPeer({ stack, roomId, user: bob.user, toneHz: TONES.bob, chromiumPath: stack.chromiumPath, ...(e2ee ? { e2ee } : {}) });
  const command = video ? '!record video' : '!record';
  await alice.sendText(roomId, command);
  say(`sent ${command}`);
  console.log(`    ${String((await botSays(alice, roomId, /^Recording started/, 'the start notice')).content.body)}`);
  say('listening for 5 s');
  await new Promise((r) => setTimeout(r, 5_000));
  await alice.sendText(roomId, '!stop');
  console.log(`    ${String((await botSays(alice, roomId, /^Recording ended/, 'the end summary')).content.body).replace(/\n/g, '\n    ')}`);
  await Promise.all([alicePeer.stop(), bobPeer.stop()]);

  const session = (dir: string): string => join(dir, readdirSync(dir)[0]!);
  const segment = join(session(join(outputDir, readdirSync(outputDir)[0]!)), 'segment-0');
  say(`files in ${segment}:`);
  for (const name of readdirSync(segment)) {
    const path = join(segment, name);
    const line = `    ${name} (${statSync(path).size} bytes)`;
    if (name.endsWith('.mkv')) {
      const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,width,height:format=duration', '-of', 'json', path], { encoding: 'utf8' })) as {
        streams: Array<{ codec_name: string; width?: number; height?: number }>;
        format: { duration: string };
      };
      const streams = probe.streams.map((st) => (st.width ? `${st.codec_name} ${st.width}x${st.height}` : `${st.codec_name} audio`)).join(' + ');
      console.log(`${line}: ${Number(probe.format.duration).toFixed(1)} s, ${streams}; a grid with alice's red camera and a black tile for bob (audio only)`);
      continue;
    }
    if (!name.endsWith('.ogg')) {
      console.log(line);
      continue;
    }
    const pcm = decodeToPcm(path, stack.ffmpegPath).subarray(48_000);
    // Each tone's power against everything else: a stem holds one tone, the mix both (about 0 dB each).
    const tones = Object.values(TONES).map((hz) => `${hz} Hz ${toneSnrDb(pcm, 48_000, hz).toFixed(1)} dB`);
    console.log(`${line}: ${(pcm.length / 48_000 + 1).toFixed(1)} s, strongest ${dominantFrequency(pcm, 48_000).toFixed(0)} Hz; tone over the rest: ${tones.join(', ')}`);
  }
  const first = bot.logs.filter((l) => l.includes('first audio frame decoded')).map((l) => JSON.parse(l) as { msSinceRecord: number })[0];
  if (first) say(`time from !record to the first decoded audio frame: ${first.msSinceRecord} ms`);
} finally {
  await bot.stop();
  await dispose();
}
say(`done in ${elapsed()}; the stack keeps running (npm run stack -- down stops it)`);
