// AudioFiles with real child processes: ffmpeg itself, and a child that never reads its input
// (what an ffmpeg stuck on a full or hung disk looks like from here). The call's clock is played
// by hand: these tests are about what the files side does with each tick.
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { decodeToPcm } from '../../../test/helpers/audio-files.ts';
import type { AudioTick, CallAudio, Speaker } from '../../call/call-audio.ts';
import { CHUNK_MS, CHUNK_SAMPLES, mixChunks } from '../../media/recording/audio-timeline.ts';
import { AudioFiles, MAX_PENDING_AUDIO_BYTES } from './audio-files.ts';

const log = pino({ level: 'silent' });

/** Enough of CallAudio for AudioFiles: a start, and ticks handed to the subscriber by the test. */
function handClock() {
  let subscriber: ((tick: AudioTick) => void) | undefined;
  let index = 0;
  const audio = {
    startedAt: 1_000_000,
    nextIndex: 0,
    subscribe: (s: (tick: AudioTick) => void) => {
      subscriber = s;
      return () => (subscriber = undefined);
    },
  } as unknown as CallAudio;
  const tick = (speakers: Array<{ speaker: Speaker; chunk: Int16Array | undefined }>) => {
    subscriber!({ index, heardAt: 1_000_000 + index * CHUNK_MS, paused: false, mixed: mixChunks(speakers.map((s) => s.chunk)), speakers });
    index++;
  };
  return { audio, tick };
}

const tone = (hz: number, chunkIndex: number) => {
  const out = new Int16Array(CHUNK_SAMPLES);
  for (let i = 0; i < out.length; i++) out[i] = Math.round(8000 * Math.sin((2 * Math.PI * hz * (chunkIndex * CHUNK_SAMPLES + i)) / 48_000));
  return out;
};
const rms = (pcm: Int16Array) => Math.sqrt(pcm.reduce((sum, v) => sum + v * v, 0) / Math.max(1, pcm.length));
const speaker = (key: string): Speaker => ({ key, label: key, userId: `@${key}:localhost`, deviceId: 'D' }) as Speaker;

describe('AudioFiles', () => {
  it('writes the silence before a late speaker in ffmpeg (one filter), not chunk by chunk, and keeps the stem aligned', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mrr-audio-files-'));
    const files = new AudioFiles({ dir, ffmpegPath: 'ffmpeg', log });
    const { audio, tick } = handClock();
    files.attach(audio);
    const alice = speaker('alice');
    const bob = speaker('bob');
    for (let i = 0; i < 250; i++) tick([{ speaker: alice, chunk: tone(440, i) }]);
    for (let i = 250; i < 300; i++) tick([{ speaker: alice, chunk: tone(440, i) }, { speaker: bob, chunk: tone(660, i) }]);
    const done = await files.finish();

    const bobStem = done.stems.find((s) => s.speaker.key === 'bob')!;
    expect(bobStem.error).toBeUndefined();
    expect(bobStem.leadMs).toBe(250 * CHUNK_MS);
    expect(bobStem.durationMs).toBe(done.durationMs);
    const pcm = decodeToPcm(bobStem.path);
    // Opus adds a few ms of its own; the lead is silence and the tone follows at 5.0 s.
    expect(Math.abs(pcm.length / 48 - 6_000)).toBeLessThan(40);
    expect(rms(pcm.subarray(0, 48 * 4_900))).toBeLessThan(20);
    expect(rms(pcm.subarray(48 * 5_100, 48 * 5_900))).toBeGreaterThan(3_000);
  });

  it('holds at most a bounded backlog for an ffmpeg that stops reading, counts what it drops, and kills it when finishing takes too long', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mrr-audio-stuck-'));
    const stuck = join(dir, 'stuck-ffmpeg.sh');
    // A child that never reads stdin: the pipe fills and every later write waits.
    writeFileSync(stuck, `#!/bin/sh\necho $$ >> ${dir}/pids\nexec sleep 600\n`);
    chmodSync(stuck, 0o755);
    const files = new AudioFiles({ dir, ffmpegPath: stuck, log, finishTimeoutMs: 1_000 });
    const { audio, tick } = handClock();
    files.attach(audio);
    const alice = speaker('alice');
    const ticks = 3_000; // a minute of audio
    for (let i = 0; i < ticks; i++) tick([{ speaker: alice, chunk: tone(440, i) }]);
    const heapAfterWrites = process.memoryUsage().heapUsed;

    const done = await files.finish();
    for (const file of [done.mixed, ...done.stems]) {
      expect(file.error).toMatch(/killed: it had not finished 1000 ms after its input ended/);
      // What was taken is at most the bound plus what the pipe itself holds (64 KiB on Linux).
      expect(file.durationMs).toBeLessThanOrEqual(((MAX_PENDING_AUDIO_BYTES + 65_536 * 2) / (CHUNK_SAMPLES * 2)) * CHUNK_MS);
      expect(file.droppedMs! + file.durationMs).toBe(ticks * CHUNK_MS);
    }
    const pids = readFileSync(join(dir, 'pids'), 'utf8').trim().split('\n').map(Number);
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
    console.log(
      `[measure] stuck ffmpeg: ${ticks} chunks offered per file; mixed took ${done.mixed.durationMs / CHUNK_MS}, dropped ${done.mixed.droppedMs! / CHUNK_MS}; ` +
        `heap after the writes ${(heapAfterWrites / 1e6).toFixed(1)} MB`,
    );
  });
});
