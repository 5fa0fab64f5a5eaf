// `bash scripts/node.sh bench/shared-encode.ts [--seconds 30] [--peers 3]` (under the stack lock):
// what a video recording beside a 720p30 video stream costs with its own x264 encode
// (recording.shareVideoEncoder off) and with the stream's encode shared (on), measured from /proc
// over the recorder and its ffmpeg children; then, shared, what a second destination adds.
// E2EE peers with 640x360@30 cameras on the local stack, the stack's RTMP ingest as destination.
import { dispose } from '@livekit/rtc-node';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { registerUser, TestClient, type SeenEvent } from '../test/helpers/matrix.ts';
import { startRecorder, stackRecorderConfig } from '../test/helpers/recorder-process.ts';
import { createCallRoom, inviteBot, join as joinRoom } from '../test/helpers/rooms.ts';
import { startRtcPeer, type RtcPeer } from '../test/peers/rtc-peer.ts';
import { ensureStack } from '../test/stack/stack.ts';
import { sendLibraryLogsToFile } from '../scripts/library-log.ts';
import { treeCpu } from './process-tree.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '30' }, peers: { type: 'string', default: '3' } } });
const seconds = Math.min(600, Math.max(5, Number(values.seconds)));
const peerCount = Math.min(8, Math.max(1, Number(values.peers)));
const say = (line: string) => console.log(`[bench] ${line}`);
say(`what the libraries log goes to ${sendLibraryLogsToFile('mrr-bench-shared-')}`);
const stack = await ensureStack();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;
const CAMERA = { width: 640, height: 360, fps: 30 };
const ingest = (n: number) => ({ url: `${stack.rtmp.url}/${stack.rtmp.goodKey}-shared${n}`, kind: 'video' });

/** Children of `pid` whose arguments name libx264 (each is one x264 encode). */
function x264Children(pid: number): number {
  return [...treeCpu(pid).live.keys()].filter((child) => {
    try {
      return readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0').includes('libx264');
    } catch {
      return false;
    }
  }).length;
}

/** CPU-s per minute of the recorder and all its children (alive and reaped) over `seconds`. */
async function cpuPerMinute(pid: number): Promise<{ total: number; own: number; children: number }> {
  const before = treeCpu(pid);
  const startedAt = performance.now();
  await sleep(seconds * 1000);
  const after = treeCpu(pid);
  const minutes = (performance.now() - startedAt) / 60_000;
  const live = (t: ReturnType<typeof treeCpu>) => [...t.live.values()].reduce((s, c) => s + c.cpu, 0);
  // A child that exited meanwhile moves its time into `reaped`; one still alive counts only its share since `before`.
  const children = live(after) + after.reaped - (live(before) + before.reaped);
  const own = after.own - before.own;
  return { total: (own + children) / minutes, own: own / minutes, children: children / minutes };
}

async function run(share: boolean): Promise<Record<string, number>> {
  const config = stackRecorderConfig(stack, {
    logging: { level: 'info' },
    recording: { uploadToRoom: false, videoWidth: 1280, videoHeight: 720, videoFps: 30, shareVideoEncoder: share },
    streaming: { destinations: { first: ingest(1), second: ingest(2) } },
  });
  const bot = await startRecorder('all', config);
  const peers: RtcPeer[] = [];
  try {
    await bot.waitForLog((e) => e.msg === 'worker taking jobs', 'the worker to start');
    const users = await Promise.all(Array.from({ length: peerCount }, (_, i) => registerUser(stack, `shared${share ? 1 : 0}x${i}`)));
    const owner = new TestClient(users[0]!);
    const roomId = await createCallRoom(owner, { encrypted: true, invite: users.slice(1).map((u) => u.userId) });
    await Promise.all(users.slice(1).map((u) => joinRoom(new TestClient(u), roomId)));
    await inviteBot(owner, roomId, botUserId);
    for (const [i, user] of users.entries()) {
      peers.push(await startRtcPeer({ stack, roomId, user, toneHz: 300 + 100 * i, e2ee: 'keys', video: { ...CAMERA, yuv: [41 + 40 * i, 110, 240 - 40 * i] } }));
    }
    const botSays = (pattern: RegExp, what: string, after?: SeenEvent) =>
      owner.waitForEvent(roomId, (e) => e.sender === botUserId && pattern.test(String(e.content.body)) && e.event_id !== after?.event_id, what, 60_000);
    const pid = bot.child.pid!;
    await owner.sendText(roomId, '!record video');
    await botSays(/^Recording started by/, 'the recording');
    await owner.sendText(roomId, '!stream first');
    const live = await botSays(/^Streaming the call/, 'the stream live');
    await sleep(10_000); // joining's tail (keys, decoders, the JIT) is over
    const one = await cpuPerMinute(pid);
    const encodersOne = x264Children(pid);
    await owner.sendText(roomId, '!stream second');
    await botSays(/^Streaming the call/, 'the second destination live', live);
    await sleep(2_000);
    const two = await cpuPerMinute(pid);
    await owner.sendText(roomId, '!stop');
    await botSays(/^Recording ended/, 'the recording summary');
    await owner.sendText(roomId, '!stream stop');
    await botSays(/^Stopped streaming/, 'the streams stopped');
    const mode = share ? 'shared encode' : 'own encodes';
    say(
      `${mode}: recording + 720p30 stream ${one.total.toFixed(1)} CPU-s per minute (recorder ${one.own.toFixed(1)}, ffmpeg children ${one.children.toFixed(1)}), ` +
        `${encodersOne} x264 process(es); with a second destination ${two.total.toFixed(1)} (+${(two.total - one.total).toFixed(1)})`,
    );
    return { total: one.total, own: one.own, children: one.children, x264: encodersOne, withSecond: two.total };
  } finally {
    await Promise.all(peers.map((p) => p.stop().catch(() => undefined)));
    await bot.stop();
  }
}

say(`${peerCount} E2EE peers with 640x360@30 cameras; a video recording (1280x720 at 30 fps) and a video stream, ${seconds} s per phase`);
const own = await run(false);
const shared = await run(true);
say(
  `recording + stream: ${own.total!.toFixed(1)} CPU-s per minute with two encodes, ${shared.total!.toFixed(1)} shared ` +
    `(${(((own.total! - shared.total!) / own.total!) * 100).toFixed(0)} % less; ffmpeg children ${own.children!.toFixed(1)} -> ${shared.children!.toFixed(1)}); ` +
    `a second destination adds ${(shared.withSecond! - shared.total!).toFixed(1)} shared, ${(own.withSecond! - own.total!).toFixed(1)} own`,
);
await dispose();
process.exit(0);
