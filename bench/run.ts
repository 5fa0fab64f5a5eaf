// `npm run bench`: what recording costs on the local stack. Runs the recorder as its own process,
// puts N simulated Element Call peers (E2EE, one tone each) into a call, records for a fixed
// time, and reports the recorder's CPU seconds per recorded participant-minute (its own and its
// ffmpeg children's, from the start notice on) and the peak resident memory of the recorder and its ffmpeg processes.
// Bounded: an audio recording and a video recording (peers sending 320x240 at 15 fps), each of
// --seconds (default 30) with --peers (default 3); stops by itself.
import { readFileSync, readdirSync } from 'node:fs';
import { dispose } from '@livekit/rtc-node';
import { parseArgs } from 'node:util';
import { registerUser, TestClient } from '../test/helpers/matrix.ts';
import { startRecorder, stackRecorderConfig } from '../test/helpers/recorder-process.ts';
import { createCallRoom, inviteBot, join as joinRoom } from '../test/helpers/rooms.ts';
import { startRtcPeer, type RtcPeer } from '../test/peers/rtc-peer.ts';
import { ensureStack } from '../test/stack/stack.ts';

const { values } = parseArgs({ options: { peers: { type: 'string', default: '3' }, seconds: { type: 'string', default: '30' } } });
const peerCount = Math.min(8, Math.max(1, Number(values.peers)));
const seconds = Math.min(600, Math.max(5, Number(values.seconds)));
const say = (line: string) => console.log(`[bench] ${line}`);
const TICKS_PER_S = 100; // USER_HZ on Linux

/**
 * Targets on this project's 2-core machine (measured: audio ~2.6-3.0 CPU-s and ~0.5 GiB, video
 * ~6.6-7.0 CPU-s and ~0.7 GiB): a run above them fails the bench, so a regression is seen.
 */
const TARGETS = {
  audio: { cpuPerParticipantMinute: 5, peakMiB: 768 },
  video: { cpuPerParticipantMinute: 12, peakMiB: 1024 },
};
const missed: string[] = [];

/** CPU seconds of a process itself, and of the children it has reaped (ffmpeg, after it exits). */
function cpuSeconds(pid: number): { own: number; children: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // After "pid (comm) ": state is field 3, utime 14, stime 15, cutime 16, cstime 17.
  const [utime, stime, cutime, cstime] = [11, 12, 13, 14].map((i) => Number(fields[i]));
  return { own: (utime! + stime!) / TICKS_PER_S, children: (cutime! + cstime!) / TICKS_PER_S };
}

/** Resident memory (KiB) of a process and its direct children. */
function treeRssKiB(pid: number): number {
  const rss = (p: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
  let total = rss(pid);
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    let children: string[] = [];
    try {
      children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    } catch {
      continue; // the thread ended meanwhile
    }
    for (const child of children) {
      try {
        total += rss(Number(child));
      } catch {
        // the child exited between the listing and the read
      }
    }
  }
  return total;
}

const stack = await ensureStack();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;

async function bench(kind: 'audio' | 'video'): Promise<void> {
  say(`${kind}: recording ${peerCount} E2EE participants for ${seconds} s`);
  const bot = await startRecorder('all', stackRecorderConfig(stack, { logging: { level: 'info' }, recording: { uploadToRoom: false } }));
  const peers: RtcPeer[] = [];
  try {
    await bot.waitForLog((e) => e.msg === 'worker taking jobs', 'the worker to start');
    const pid = bot.child.pid!;
    const users = await Promise.all(Array.from({ length: peerCount }, (_, i) => registerUser(stack, `bench${i}`)));
    const owner = new TestClient(users[0]!);
    const roomId = await createCallRoom(owner, { encrypted: true, invite: users.slice(1).map((u) => u.userId) });
    await Promise.all(users.slice(1).map((u) => joinRoom(new TestClient(u), roomId)));
    await inviteBot(owner, roomId, botUserId);
    for (const [i, user] of users.entries()) {
      const video = kind === 'video' ? { video: { width: 320, height: 240, fps: 15, yuv: [41 + 40 * i, 110, 240 - 40 * i] as [number, number, number] } } : {};
      peers.push(await startRtcPeer({ stack, roomId, user, toneHz: 300 + 100 * i, e2ee: 'keys', ...video }));
    }
    const botSays = (pattern: RegExp, what: string) => owner.waitForMessage(roomId, botUserId, pattern, what, 60_000);

    const idleRss = treeRssKiB(pid);
    let peakRss = idleRss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, treeRssKiB(pid))), 250);
    await owner.sendText(roomId, kind === 'video' ? '!record video' : '!record');
    await botSays(/^Recording started/, 'the start notice');
    // Steady state: joining the call (device login, crypto set-up) is not counted.
    const startedAt = Date.now();
    const idleCpu = cpuSeconds(pid);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    await owner.sendText(roomId, '!stop');
    await botSays(/^Recording ended/, 'the end summary');
    const recordedS = (Date.now() - startedAt) / 1000;
    clearInterval(sampler);
    const end = cpuSeconds(pid);
    const own = end.own - idleCpu.own;
    const ffmpeg = end.children - idleCpu.children;
    const participantMinutes = (peerCount * recordedS) / 60;
    const perMinute = (own + ffmpeg) / participantMinutes;
    const peakMiB = peakRss / 1024;
    if (perMinute > TARGETS[kind].cpuPerParticipantMinute) missed.push(`${kind} CPU ${perMinute.toFixed(2)} > ${TARGETS[kind].cpuPerParticipantMinute} CPU-s per participant-minute`);
    if (peakMiB > TARGETS[kind].peakMiB) missed.push(`${kind} memory ${peakMiB.toFixed(0)} > ${TARGETS[kind].peakMiB} MiB`);
    say(
      `${kind}: ${perMinute.toFixed(2)} CPU-s per participant-minute ` +
        `(${(own + ffmpeg).toFixed(1)} CPU-s for ${participantMinutes.toFixed(2)} participant-minutes: recorder ${own.toFixed(1)}, ffmpeg ${ffmpeg.toFixed(1)}); ` +
        `peak ${peakMiB.toFixed(0)} MiB resident (${(idleRss / 1024).toFixed(0)} MiB before the call)`,
    );
  } finally {
    await Promise.all(peers.map((p) => p.stop().catch(() => undefined)));
    await bot.stop();
  }
}

say('starting the local stack');
await bench('audio');
await bench('video');
await dispose();
if (missed.length > 0) {
  say(`targets missed: ${missed.join('; ')}`);
  process.exit(1);
}
say(`within targets: ${JSON.stringify(TARGETS)}`);
// rtc-node's native handles keep the event loop alive after dispose().
process.exit(0);
