// AudioFiles with real child processes: ffmpeg itself, and a child that never reads its input
// (what an ffmpeg stuck on a full or hung disk looks like from here). The call's clock is played
// by hand: these tests are about what the files side does with each tick.
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { decodeToPcm } from '../../../test/helpers/audio-files.ts';
import { dominantFrequency } from '../../../test/helpers/fft.ts';
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

  it('the mix and the stems heard in the first second share one ffmpeg; each file holds its own channel, trimmed and led in on the recording\'s time axis', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mrr-audio-shared-'));
    // ffmpeg behind a script that notes each start.
    const counted = join(dir, 'ffmpeg.sh');
    writeFileSync(counted, `#!/bin/sh\necho $$ >> ${dir}/pids\nexec ffmpeg "$@"\n`);
    chmodSync(counted, 0o755);
    const files = new AudioFiles({ dir, ffmpegPath: counted, log });
    const { audio, tick } = handClock();
    files.attach(audio);
    const [alice, bob, carol] = [speaker('alice'), speaker('bob'), speaker('carol')];
    // Bob is first heard 10 chunks in (same encoder as the mix), carol 150 chunks in (after the first second: her own).
    for (let i = 0; i < 300; i++) {
      tick([
        { speaker: alice, chunk: tone(440, i) },
        { speaker: bob, chunk: i >= 10 ? tone(660, i) : undefined },
        { speaker: carol, chunk: i >= 150 ? tone(880, i) : undefined },
      ]);
      // Half a second at a time, 2.5x as fast as the clock: ffmpeg has 2 s to start before the
      // 5 s bound is reached (5 ms let a busy machine's late start drop the last second).
      if (i % 25 === 24) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const done = await files.finish();
    expect(readFileSync(join(dir, 'pids'), 'utf8').trim().split('\n')).toHaveLength(2);
    expect(done.mixed.error).toBeUndefined();
    expect(done.mixed.durationMs).toBe(6_000);
    const expected = { alice: { hz: 440, fromMs: 0 }, bob: { hz: 660, fromMs: 200 }, carol: { hz: 880, fromMs: 3_000 } };
    for (const stem of done.stems) {
      const { hz, fromMs } = expected[stem.speaker.key as keyof typeof expected];
      expect(stem.error).toBeUndefined();
      expect(stem.durationMs, stem.speaker.key).toBe(6_000);
      expect(stem.leadMs ?? 0).toBe(fromMs);
      const pcm = decodeToPcm(stem.path);
      expect(Math.abs(pcm.length / 48 - 6_000)).toBeLessThan(40);
      // Silence up to the speaker's first chunk, their tone (only theirs) from it on.
      if (fromMs > 0) expect(rms(pcm.subarray(0, 48 * (fromMs - 20)))).toBeLessThan(20);
      const body = pcm.subarray(48 * (fromMs + 100), 48 * 5_900);
      expect(rms(body)).toBeGreaterThan(3_000);
      expect(Math.abs(dominantFrequency(body, 48_000) - hz)).toBeLessThan(5);
    }
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
    // The mix and alice's stem (heard from the first tick) share one encoder.
    expect(pids).toHaveLength(1);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
    console.log(
      `[measure] stuck ffmpeg: ${ticks} chunks offered per file; mixed took ${done.mixed.durationMs / CHUNK_MS}, dropped ${done.mixed.droppedMs! / CHUNK_MS}; ` +
        `heap after the writes ${(heapAfterWrites / 1e6).toFixed(1)} MB`,
    );
  });
});
