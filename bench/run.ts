// `npm run bench`: what recording and streaming cost on the local stack. Runs the recorder as its
// own process, puts N simulated Element Call peers (E2EE, one tone each) into a call, and measures
// the recorder's CPU seconds (its own and its ffmpeg children's) and the peak resident memory of
// the recorder and its ffmpeg processes, in steady state (joining the call is not counted).
//
// Recordings (the default): an audio recording and a video recording (peers sending 320x240 at
// 15 fps), each of --seconds (default 30) with --peers (default 3), reported per recorded
// participant-minute. --stream adds live streams to the stack's RTMP ingest: an audio-only stream
// and a 1280x720 at 30 fps video stream, each with one destination, then with a second destination
// of the same stream, then with one again (--seconds each), where the second must cost only its
// copy-only relay (one encoder, no second encode). --no-recording leaves the recordings out.
// Bounded: about 2 minutes by default, 5.5 with --stream; stops by itself.
import { dispose } from '@livekit/rtc-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { registerUser, TestClient, type SeenEvent } from '../test/helpers/matrix.ts';
import { startRecorder, stackRecorderConfig } from '../test/helpers/recorder-process.ts';
import { createCallRoom, inviteBot, join as joinRoom } from '../test/helpers/rooms.ts';
import { startRtcPeer, type RtcPeer } from '../test/peers/rtc-peer.ts';
import { ensureStack } from '../test/stack/stack.ts';
import { sendLibraryLogsToFile } from '../scripts/library-log.ts';
import { cpuSeconds, privateKiB, rssKiB, sampleRss, treeCpu, type ChildRole } from './process-tree.ts';

const { values } = parseArgs({
  options: {
    peers: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '30' },
    stream: { type: 'boolean', default: false },
    recording: { type: 'boolean', default: true },
  },
  allowNegative: true,
});
const peerCount = Math.min(8, Math.max(1, Number(values.peers)));
const seconds = Math.min(600, Math.max(5, Number(values.seconds)));
const say = (line: string) => console.log(`[bench] ${line}`);
say(`what the libraries log (matrix-js-sdk, rtc-node) goes to ${sendLibraryLogsToFile('mrr-bench-')}`);

/**
 * Targets on this project's 2-core machine, measured with 3 peers, per participant-minute: audio
 * recording ~2.5-3.0 CPU-s and ~0.55 GiB, video recording ~6.6-8.9 CPU-s and ~0.75 GiB; audio stream
 * ~1.9-2.4 CPU-s and ~0.5 GiB, 720p30 stream ~8.4-10.4 CPU-s and ~0.55 GiB; a second destination's
 * relay 0.12-0.30 CPU-s per minute and ~12-13 MiB of its own. A run above them fails the bench, so
 * a regression is seen.
 */
const TARGETS = {
  audio: { cpuPerParticipantMinute: 5, peakMiB: 768 },
  video: { cpuPerParticipantMinute: 12, peakMiB: 1024 },
  audioStream: { cpuPerParticipantMinute: 5, peakMiB: 768 },
  videoStream: { cpuPerParticipantMinute: 16, peakMiB: 1024 },
  /** The second destination's relay alone: per minute of stream (1 CPU-s per minute is 1.7 % of a core), and its own memory. */
  secondDestination: { cpuPerMinute: 1, privateMiB: 32 },
};
const missed: string[] = [];
const figures: Record<string, Record<string, number>> = {};

const stack = await ensureStack();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;

interface BenchCall {
  /** The recorder's process id. */
  pid: number;
  owner: TestClient;
  roomId: string;
  /** Waits for a message of the bot newer than `after` (by event id) matching `pattern`. */
  botSays(pattern: RegExp, what: string, after?: SeenEvent): Promise<SeenEvent>;
}

/** A fresh recorder and an E2EE call of `peerCount` peers (with cameras for video), torn down afterwards. */
async function inCall(kind: 'audio' | 'video', overrides: Record<string, Record<string, unknown>>, measure: (call: BenchCall) => Promise<void>): Promise<void> {
  const config = stackRecorderConfig(stack, { logging: { level: 'info' }, ...overrides, recording: { uploadToRoom: false, ...overrides.recording } });
  const bot = await startRecorder('all', config);
  const peers: RtcPeer[] = [];
  try {
    await bot.waitForLog((e) => e.msg === 'worker taking jobs', 'the worker to start');
    const users = await Promise.all(Array.from({ length: peerCount }, (_, i) => registerUser(stack, `bench${i}`)));
    const owner = new TestClient(users[0]!);
    const roomId = await createCallRoom(owner, { encrypted: true, invite: users.slice(1).map((u) => u.userId) });
    await Promise.all(users.slice(1).map((u) => joinRoom(new TestClient(u), roomId)));
    await inviteBot(owner, roomId, botUserId);
    for (const [i, user] of users.entries()) {
      const video = kind === 'video' ? { video: { width: 320, height: 240, fps: 15, yuv: [41 + 40 * i, 110, 240 - 40 * i] as [number, number, number] } } : {};
      peers.push(await startRtcPeer({ stack, roomId, user, toneHz: 300 + 100 * i, e2ee: 'keys', ...video }));
    }
    const botSays = (pattern: RegExp, what: string, after?: SeenEvent) =>
      owner.waitForEvent(roomId, (e) => e.sender === botUserId && pattern.test(String(e.content.body)) && e.event_id !== after?.event_id, what, 60_000);
    await measure({ pid: bot.child.pid!, owner, roomId, botSays });
  } finally {
    await Promise.all(peers.map((p) => p.stop().catch(() => undefined)));
    await bot.stop();
  }
}

function check(what: string, value: number, limit: number, unit: string): void {
  if (value > limit) missed.push(`${what} ${value.toFixed(value < 10 ? 2 : 0)} > ${limit} ${unit}`);
}

async function benchRecording(kind: 'audio' | 'video'): Promise<void> {
  say(`${kind}: recording ${peerCount} E2EE participants for ${seconds} s`);
  await inCall(kind, {}, async ({ pid, owner, roomId, botSays }) => {
    const rss = sampleRss(pid);
    const idleKiB = rss.peakKiB();
    await owner.sendText(roomId, kind === 'video' ? '!record video' : '!record');
    await botSays(/^Recording started/, 'the start notice');
    const startedAt = Date.now();
    const idleCpu = cpuSeconds(pid);
    await sleep(seconds * 1000);
    await owner.sendText(roomId, '!stop');
    await botSays(/^Recording ended/, 'the end summary');
    // Counted once ffmpeg has finished the files (and been reaped).
    const recordedS = (Date.now() - startedAt) / 1000;
    rss.stop();
    const end = cpuSeconds(pid);
    const own = end.own - idleCpu.own;
    const ffmpeg = end.children - idleCpu.children;
    const participantMinutes = (peerCount * recordedS) / 60;
    const perMinute = (own + ffmpeg) / participantMinutes;
    const peakMiB = rss.peakKiB() / 1024;
    check(`${kind} CPU`, perMinute, TARGETS[kind].cpuPerParticipantMinute, 'CPU-s per participant-minute');
    check(`${kind} memory`, peakMiB, TARGETS[kind].peakMiB, 'MiB');
    figures[`${kind}Recording`] = { cpuPerParticipantMinute: round(perMinute), recorderCpu: round(own), ffmpegCpu: round(ffmpeg), peakMiB: Math.round(peakMiB) };
    say(
      `${kind}: ${perMinute.toFixed(2)} CPU-s per participant-minute ` +
        `(${(own + ffmpeg).toFixed(1)} CPU-s for ${participantMinutes.toFixed(2)} participant-minutes: recorder ${own.toFixed(1)}, ffmpeg ${ffmpeg.toFixed(1)}); ` +
        `peak ${peakMiB.toFixed(0)} MiB resident (${(idleKiB / 1024).toFixed(0)} MiB before the call)`,
    );
  });
}

interface Phase {
  minutes: number;
  /** CPU seconds over the phase: the recorder's own, each role of child, children that exited during it. */
  cpu: { recorder: number; encoder: number; relays: number; other: number };
  /** Each relay alive at the end: its CPU seconds over the phase, its peak resident memory and its private memory now. */
  relays: Map<number, { cpu: number; peakKiB: number; privateKiB: number }>;
  encoders: number;
  peakKiB: number;
}

const total = (p: Phase) => p.cpu.recorder + p.cpu.encoder + p.cpu.relays + p.cpu.other;

/** Per minute: the recorder, the encoder, the relays (and any other child, which a stream should not have). */
function breakdown(p: Phase): string {
  const perMin = (cpu: number) => (cpu / p.minutes).toFixed(2);
  const other = p.cpu.other > 0.01 ? `, other children ${perMin(p.cpu.other)}` : '';
  return `recorder ${perMin(p.cpu.recorder)}, encoder ${perMin(p.cpu.encoder)}, relay${p.relays.size > 1 ? 's' : ''} ${perMin(p.cpu.relays)}${other}`;
}

/** Steady state for `seconds`: CPU read from /proc at both ends (children while they run), memory sampled. */
async function measurePhase(pid: number): Promise<Phase> {
  const rss = sampleRss(pid);
  const startedAt = performance.now();
  const before = treeCpu(pid);
  await sleep(seconds * 1000);
  const after = treeCpu(pid);
  const minutes = (performance.now() - startedAt) / 60_000;
  rss.stop();
  const cpu = { recorder: after.own - before.own, encoder: 0, relays: 0, other: 0 };
  const relays: Phase['relays'] = new Map();
  const roleKey: Record<ChildRole, keyof typeof cpu> = { 'stream encoder': 'encoder', 'stream relay': 'relays', other: 'other' };
  for (const [child, { role, cpu: sinceStart }] of after.live) {
    const spent = sinceStart - (before.live.get(child)?.cpu ?? 0);
    cpu[roleKey[role]] += spent;
    if (role === 'stream relay') relays.set(child, { cpu: spent, peakKiB: rssKiB(child, 'VmHWM'), privateKiB: privateKiB(child) });
  }
  // A child that exited during the phase: what it spent then is what the recorder reaped beyond its time before.
  const gone = [...before.live].filter(([child]) => !after.live.has(child)).reduce((sum, [, c]) => sum + c.cpu, 0);
  cpu.other += after.reaped - before.reaped - gone;
  const encoders = [...after.live.values()].filter((c) => c.role === 'stream encoder').length;
  return { minutes, cpu, relays, encoders, peakKiB: rss.peakKiB() };
}

/**
 * Before the first phase: the tail of joining the call (media keys, the peers' decoders, the JIT)
 * is over. Measured in two runs of the 720p30 stream: the recorder's own CPU over the first 30 s
 * from 2 s after going live was 21-23 CPU-s per minute, later 17-19.
 */
const SETTLE_AFTER_JOIN_MS = 10_000;
/** Before the other phases: a destination connected, or gone. */
const SETTLE_MS = 2_000;
const STREAM_VIDEO = { videoWidth: 1280, videoHeight: 720, videoFps: 30 };

async function benchStream(kind: 'audio' | 'video'): Promise<void> {
  const label = kind === 'video' ? `video stream (${STREAM_VIDEO.videoWidth}x${STREAM_VIDEO.videoHeight} at ${STREAM_VIDEO.videoFps} fps)` : 'audio stream';
  say(`${label}: ${peerCount} E2EE participants, to one RTMP destination, then two, then one again, ${seconds} s each`);
  // The stack's ingest takes its key with any suffix: two destinations of one stream.
  const ingest = (n: number) => ({ url: `${stack.rtmp.url}/${stack.rtmp.goodKey}-bench${n}`, kind });
  const overrides = { streaming: { destinations: { first: ingest(1), second: ingest(2) } }, ...(kind === 'video' ? { recording: STREAM_VIDEO } : {}) };
  await inCall(kind, overrides, async ({ pid, owner, roomId, botSays }) => {
    await owner.sendText(roomId, '!stream first');
    const firstLive = await botSays(/^Streaming the call/, 'the first destination live');
    await sleep(SETTLE_AFTER_JOIN_MS);
    const one = await measurePhase(pid);
    await owner.sendText(roomId, '!stream second');
    await botSays(/^Streaming the call/, 'the second destination live', firstLive);
    await sleep(SETTLE_MS);
    const two = await measurePhase(pid);
    // One destination again: the recorder's own CPU moves by several CPU-s per minute from phase to
    // phase (V8's garbage collector threads, with 1.4 MB frames at 30 fps), far more than a relay
    // costs; before and after show how much, so the whole's difference is not read as the relay's.
    await owner.sendText(roomId, '!stream stop second');
    await botSays(/^Stopped streaming to second/, 'the second destination stopped');
    await sleep(SETTLE_MS);
    const three = await measurePhase(pid);
    await owner.sendText(roomId, '!stream stop');
    await botSays(/^Stopped streaming to first/, 'the stream stopped');

    const perMinute = total(one) / one.minutes;
    const perParticipantMinute = perMinute / peerCount;
    const peakMiB = one.peakKiB / 1024;
    const key = kind === 'video' ? 'videoStream' : 'audioStream';
    check(`${label} CPU`, perParticipantMinute, TARGETS[key].cpuPerParticipantMinute, 'CPU-s per participant-minute');
    check(`${label} memory`, peakMiB, TARGETS[key].peakMiB, 'MiB');
    say(
      `${label}: ${perMinute.toFixed(2)} CPU-s per minute, ${perParticipantMinute.toFixed(2)} per participant-minute ` +
        `(${breakdown(one)} per minute); ` +
        `peak ${peakMiB.toFixed(0)} MiB resident`,
    );

    // The second destination: the relay that is new in the second phase, and the difference of the whole.
    const added = [...two.relays].find(([child]) => !one.relays.has(child))?.[1];
    if (!added) throw new Error(`${label}: no new relay process for the second destination (relays before: ${one.relays.size}, after: ${two.relays.size})`);
    if (two.encoders !== 1) missed.push(`${label}: ${two.encoders} encoders for two destinations of one stream (one expected)`);
    const addedPerMinute = added.cpu / two.minutes;
    const withOne = (perMinute + total(three) / three.minutes) / 2;
    const treeDelta = total(two) / two.minutes - withOne;
    const [addedMiB, addedPrivateMiB] = [added.peakKiB / 1024, added.privateKiB / 1024];
    check(`${label} second destination CPU`, addedPerMinute, TARGETS.secondDestination.cpuPerMinute, 'CPU-s per minute');
    check(`${label} second destination memory`, addedPrivateMiB, TARGETS.secondDestination.privateMiB, 'MiB of its own');
    say(
      `${label}, second destination: its relay ${addedPerMinute.toFixed(2)} CPU-s per minute, ${addedPrivateMiB.toFixed(0)} MiB of its own ` +
        `(${addedMiB.toFixed(0)} MiB resident at peak with the shared libraries); ` +
        `${two.encoders} encoder for both; all together ${(total(two) / two.minutes).toFixed(2)} CPU-s per minute (${breakdown(two)}) ` +
        `against ${perMinute.toFixed(2)} before and ${(total(three) / three.minutes).toFixed(2)} after with one (${breakdown(three)}); peak ${(two.peakKiB / 1024).toFixed(0)} MiB`,
    );
    figures[key] = {
      cpuPerMinute: round(perMinute),
      cpuPerParticipantMinute: round(perParticipantMinute),
      recorderCpuPerMinute: round(one.cpu.recorder / one.minutes),
      encoderCpuPerMinute: round(one.cpu.encoder / one.minutes),
      relayCpuPerMinute: round(one.cpu.relays / one.minutes),
      peakMiB: Math.round(peakMiB),
      secondRelayCpuPerMinute: round(addedPerMinute),
      secondRelayPeakMiB: Math.round(addedMiB),
      secondRelayPrivateMiB: round(addedPrivateMiB),
      secondDestinationTreeCpuPerMinute: round(treeDelta),
      encodersWithTwoDestinations: two.encoders,
    };
  });
}

const round = (n: number) => Math.round(n * 100) / 100;

say('starting the local stack');
if (values.recording) {
  await benchRecording('audio');
  await benchRecording('video');
}
if (values.stream) {
  await benchStream('audio');
  await benchStream('video');
}
await dispose();
say(`figures: ${JSON.stringify(figures)}`);
if (missed.length > 0) {
  say(`targets missed: ${missed.join('; ')}`);
  process.exit(1);
}
say(`within targets: ${JSON.stringify(TARGETS)}`);
// rtc-node's native handles keep the event loop alive after dispose().
process.exit(0);
