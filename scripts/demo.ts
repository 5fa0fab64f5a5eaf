// `npm run demo`: the main job on the embedded local stack. Starts the stack (installing it on
// first use) and the bot as a real process; alice creates a room and invites the bot, which
// answers !help; two simulated Element Call peers join a call in that room, end-to-end encrypted
// unless --plain is given: one in Node (rtc-node) playing 440 Hz, one in headless Chromium
// (livekit-client) playing 660 Hz. In an encrypted room alice types through an Element-like chat
// device, so her !record reaches the bot encrypted. The bot joins the call, receives the media
// keys, !stop ends it, and the demo measures what the bot wrote in each file. Alice also sends
// video (a red picture) and the demo records with `!record video`, so the composite grid is made
// too; --audio records audio only. While it records, alice streams the call (`!stream local`) to the
// stack's RTMP ingest, and a viewer plays the stream back from there: the tones and the picture.
//
// The terminal gets the story; what the libraries log (matrix-js-sdk, rtc-node) goes to a file
// whose path is printed first, and the bot's own log to the recorder log it names. The demo ends
// by itself: everything it started is closed in order before it exits.
import { dispose } from '@livekit/rtc-node';
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { decodeToPcm } from '../test/helpers/audio-files.ts';
import { ChatDevice } from '../test/helpers/chat-device.ts';
import { dominantFrequency } from '../test/helpers/fft.ts';
import { registerUser, TestClient } from '../test/helpers/matrix.ts';
import { type RecorderProcess, startRecorder, stackRecorderConfig } from '../test/helpers/recorder-process.ts';
import { createCallRoom, inviteBot, join as joinRoom } from '../test/helpers/rooms.ts';
import { type BrowserPeer, startBrowserPeer } from '../test/peers/browser-peer.ts';
import { type RtcPeer, startRtcPeer } from '../test/peers/rtc-peer.ts';
import type { StackInfo } from '../test/stack/info.ts';
import { ensureStack } from '../test/stack/stack.ts';
import { sendLibraryLogsToFile } from './library-log.ts';
import { coloursAt, describeColour, describeTones, listen } from './stream-viewer.ts';

const TONES = { alice: 440, bob: 660 };
const encrypted = !process.argv.includes('--plain');
const video = !process.argv.includes('--audio');
const say = (line: string) => console.log(`[demo] ${line}`);
const quote = (text: string) => console.log(text.replace(/^/gm, '    '));
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;

const libraryLogPath = sendLibraryLogsToFile('mrr-demo-');
say(`what the libraries log (matrix-js-sdk, rtc-node) goes to ${libraryLogPath}`);
const resourcesAtStart = process.getActiveResourcesInfo().filter((kind) => kind !== 'Timeout');

const peers: Array<RtcPeer | BrowserPeer> = [];
let bot: RecorderProcess | undefined;
try {
  await run();
} catch (err) {
  process.exitCode = 1;
  say(`failed: ${err instanceof Error ? err.message : String(err)}`);
  say(`logs: ${bot ? `${bot.logPath} (the bot), ` : ''}${libraryLogPath} (libraries)`);
} finally {
  if (bot) showBotErrors(bot);
  await shutDown();
}
if (process.exitCode !== 1) say(`done in ${elapsed()}; the stack keeps running (npm run stack -- down stops it)`);
exitWhenOnlyLibraryTimersRemain();

async function run(): Promise<void> {
  say('starting the local stack (Synapse, LiveKit x2, authorizers, Redis); the first run installs them');
  const stack = await ensureStack();
  const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;

  // A named destination keeps the stream key in the config: alice types only `!stream local`.
  const config = stackRecorderConfig(stack, {
    logging: { level: 'info' },
    recording: { uploadToRoom: false },
    streaming: { destinations: { local: { url: localIngest(stack), kind: 'video' } } },
  });
  const outputDir = (config.recording as { outputDir: string }).outputDir;
  bot = await startRecorder('all', config);
  say(`started matrixrtc-recorder (bridge + worker in one process); its log: ${bot.logPath}`);
  const recorder = bot;
  await recorder.waitForLog((e) => e.msg === 'worker taking jobs', 'the worker to start', 60_000);

  const alice = new TestClient(await registerUser(stack, 'alice'));
  const bob = new TestClient(await registerUser(stack, 'bob'));
  const aliceName = alice.user.userId;
  say(`registered ${aliceName} and ${bob.user.userId}${encrypted ? '; each types through an Element-like chat device (matrix-js-sdk with Rust crypto)' : ''}`);
  const roomId = await createCallRoom(alice, { name: 'matrixrtc-recorder demo', encrypted, invite: [bob.user.userId] });
  await joinRoom(bob, roomId);
  say(`alice created ${encrypted ? 'an end-to-end encrypted' : 'an unencrypted'} room ${roomId}, bob joined; alice invites ${botUserId}`);
  await inviteBot(alice, roomId, botUserId);
  say(`the bot joined (${elapsed()})`);

  const type = async (body: string): Promise<void> => {
    const { event_id } = await alice.sendText(roomId, body);
    // What the homeserver stored, read with alice's plain access token: ciphertext in an encrypted room.
    const stored = await alice.request<{ type: string; content: { algorithm?: string } }>(
      'GET',
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/event/${encodeURIComponent(event_id)}`,
    );
    const wire = stored.type === 'm.room.encrypted' ? `${stored.type}, ${stored.content.algorithm}` : stored.type;
    say(`alice types "${body}" (on the wire: ${wire})`);
  };
  const botSays = async (pattern: RegExp, what: string) => {
    const reply = await alice.waitForMessage(roomId, botUserId, pattern, what, 60_000);
    say(`the bot answers${reply.encrypted ? ' (encrypted; alice\'s chat device decrypted it)' : ''}:`);
    quote(String(reply.content.body));
  };

  await type('!help');
  await botSays(/!record/, 'the help reply');

  const e2ee = encrypted ? ('keys' as const) : undefined;
  say(`alice joins the call from Node (rtc-node), playing ${TONES.alice} Hz${video ? ' with a red camera picture' : ''}${encrypted ? '; media keys over Olm' : ''}`);
  const camera = video ? { video: { width: 320, height: 240, fps: 15, yuv: [81, 90, 240] as [number, number, number] } } : {};
  peers.push(await startRtcPeer({ stack, roomId, user: alice.user, toneHz: TONES.alice, ...camera, ...(e2ee ? { e2ee } : {}) }));
  say(`bob joins the call from headless Chromium (livekit-client), playing ${TONES.bob} Hz${encrypted ? '; media keys over Olm' : ''}`);
  peers.push(await startBrowserPeer({ stack, roomId, user: bob.user, toneHz: TONES.bob, chromiumPath: stack.chromiumPath, ...(e2ee ? { e2ee } : {}) }));

  const command = video ? '!record video' : '!record';
  await type(command);
  if (encrypted) say('the bot decrypts the command, checks that alice may record (power level 50), joins the call and gets the members\' media keys');
  await botSays(/^Recording started/, 'the start notice');
  const recordingSince = Date.now();

  say('while it records, alice streams the call to the stack\'s RTMP ingest (nginx-rtmp), named `local` in the bot\'s config');
  await type(video ? '!stream local' : '!stream local audio');
  await botSays(/^Streaming the call/, 'the stream going live');
  say(await watch(localIngest(stack), stack.ffmpegPath));
  await type('!stream stop');
  await botSays(/^Stopped streaming to local/, 'the stream stopped');

  // At least 5 s of recording, however fast the stream went.
  await new Promise((r) => setTimeout(r, Math.max(0, 5_000 - (Date.now() - recordingSince))));
  await type('!stop');
  await botSays(/^Recording ended/, 'the end summary');
  await Promise.all(peers.splice(0).map((peer) => peer.stop()));

  const session = (dir: string): string => join(dir, readdirSync(dir)[0]!);
  const segment = join(session(join(outputDir, readdirSync(outputDir)[0]!)), 'segment-0');
  say(`what the bot wrote, in ${segment} (measured here):`);
  for (const name of readdirSync(segment)) describeFile(join(segment, name), name, stack.ffmpegPath);
  const first = recorder.logs.filter((l) => l.includes('first audio frame decoded')).map((l) => JSON.parse(l) as { msSinceRecord: number })[0];
  if (first) say(`time from !record to the first decoded audio frame: ${first.msSinceRecord} ms`);
}

function describeFile(path: string, name: string, ffmpegPath: string): void {
  const line = `    ${name} (${statSync(path).size} bytes)`;
  if (name.endsWith('.mkv')) {
    const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,width,height:format=duration', '-of', 'json', path], { encoding: 'utf8' })) as {
      streams: Array<{ codec_name: string; width?: number; height?: number }>;
      format: { duration: string };
    };
    const duration = Number(probe.format.duration);
    const picture = probe.streams.find((st) => st.width && st.height);
    const streams = probe.streams.map((st) => (st.width ? `${st.codec_name} ${st.width}x${st.height}` : `${st.codec_name} audio`)).join(' + ');
    // Two members make two tiles side by side: the colour at the centre of each, late in the file.
    const tiles = picture ? [0.25, 0.75].map((x) => colourAt(path, ffmpegPath, duration * 0.8, Math.round(picture.width! * x), Math.round(picture.height! / 2))) : [];
    console.log(`${line}: ${duration.toFixed(1)} s, ${streams}; tile centres: ${tiles.join(', ')} (alice sends red; bob has no camera, so his tile is a name card: his initials on a coloured disc, neither red nor black)`);
    return;
  }
  if (!name.endsWith('.ogg')) {
    console.log(line);
    return;
  }
  const pcm = decodeToPcm(path, ffmpegPath).subarray(48_000);
  // A stem holds one tone, the mix both in equal parts.
  console.log(`${line}: ${(pcm.length / 48_000 + 1).toFixed(1)} s, strongest ${dominantFrequency(pcm, 48_000).toFixed(0)} Hz; ${describeTones(pcm, Object.values(TONES))}`);
}

/** The RGB colour of one pixel of a video frame, named when it is plainly red or black. */
function colourAt(path: string, ffmpegPath: string, seconds: number, x: number, y: number): string {
  const raw = execFileSync(ffmpegPath, ['-v', 'error', '-ss', seconds.toFixed(2), '-i', path, '-frames:v', '1', '-vf', `crop=2:2:${x}:${y},scale=1:1`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1']);
  const [r = 0, g = 0, b = 0] = raw;
  return describeColour({ r, g, b });
}

/** The stack's ingest accepts its key with any suffix; this one is the demo's. */
function localIngest(stack: StackInfo): string {
  return `${stack.rtmp.url}/${stack.rtmp.goodKey}-demo`;
}

/** Plays the stream from the ingest like a viewer and says what came out (never the URL: it holds the key). */
async function watch(url: string, ffmpegPath: string): Promise<string> {
  const seconds = 3;
  // Two players at once, as two viewers would: one listens, one takes a picture.
  const [pcm, tiles] = await Promise.all([listen(url, seconds, ffmpegPath), video ? coloursAt(url, [[0.25, 0.5], [0.75, 0.5]], ffmpegPath) : undefined]);
  const seen = tiles ? `; sees tile centres ${tiles.map(describeColour).join(', ')} (alice's red camera, bob's name card)` : '';
  return `a viewer playing it from the ingest for ${seconds} s hears ${describeTones(pcm, Object.values(TONES))}${seen}`;
}

/** The bot's own error lines (not those its libraries log through it): real problems stay visible. */
function showBotErrors(recorder: RecorderProcess): void {
  const errors = recorder.logs.flatMap((line) => {
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string; sdk?: string; module?: string; err?: { message?: string } };
      return (entry.level ?? 0) >= 50 && !entry.sdk && entry.module !== 'appservice-lib' ? [`${entry.msg}${entry.err?.message ? `: ${entry.err.message}` : ''}`] : [];
    } catch {
      return [];
    }
  });
  if (errors.length === 0) return;
  say(`the bot logged ${errors.length} error${errors.length > 1 ? 's' : ''} (${recorder.logPath}):`);
  quote(errors.join('\n'));
}

/** Closes what the demo started, in order; a step that fails is reported and the others still run. */
async function shutDown(): Promise<void> {
  const step = async (what: string, close: () => unknown) => {
    try {
      await close();
    } catch (err) {
      process.exitCode = 1;
      say(`could not stop ${what}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  await step('the call peers', () => Promise.all(peers.splice(0).map((peer) => peer.stop())));
  // The users' chat devices sync until stopped.
  await step('the chat devices', () => ChatDevice.stopAll());
  await step('the bot', () => bot?.stop());
  await step('rtc-node', () => dispose());
}

/**
 * The last resort after the orderly shutdown above. matrix-js-sdk keeps timers alive after
 * stopClient(): every request made with a local timeout arms a setTimeout that is never cleared
 * (http-api/utils.js timeoutSignal; /sync's runs about 110 s), and Rust crypto waits 5 minutes for
 * late room keys of each undecrypted event (matrix-org/matrix-js-sdk#2472: clients do not stop).
 * Left alone they would keep the finished demo waiting for minutes, so it exits once only timers
 * remain, and names anything else still open (that would be a leak of ours).
 */
function exitWhenOnlyLibraryTimersRemain(): never {
  const open = process.getActiveResourcesInfo().filter((kind) => kind !== 'Timeout');
  // What was open before the demo began is the terminal's own (stdout is a PipeWrap when piped).
  for (const kind of resourcesAtStart) {
    const i = open.indexOf(kind);
    if (i >= 0) open.splice(i, 1);
  }
  if (open.length > 0) say(`still open after the shutdown: ${[...new Set(open)].join(', ')}`);
  process.exit();
}
