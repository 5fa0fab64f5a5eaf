import { describe, expect, it } from 'vitest';
import { judgeTargets, missedTargets, targetsTable, type JudgedRow } from './targets.ts';

const row = (kind: 'audio' | 'video', peers: number, figures: Partial<JudgedRow> = {}): JudgedRow => ({
  kind, peers, ratio: 1, cores: 0.1, peakMiB: 200, lateChunks: 0, droppedChunks: 0, writerDroppedChunks: 0, ...figures,
});
const byTarget = (verdicts: ReturnType<typeof judgeTargets>, start: string) => verdicts.find((v) => v.target.startsWith(start))!;

describe('judgeTargets', () => {
  it('judges nothing that was not measured', () => {
    const verdicts = judgeTargets({ rows: [row('audio', 8, { ratio: 9 })] });
    expect(verdicts.every((v) => v.result === 'not measured')).toBe(true);
    expect(missedTargets(verdicts)).toEqual([]);
  });

  it('judges audio at N=10 on ratio, cores and peak memory, each at its limit inclusive', () => {
    const atLimit = judgeTargets({ rows: [row('audio', 10, { ratio: 2, cores: 0.15, peakMiB: 300 })] });
    expect(atLimit.filter((v) => v.target.startsWith('audio, 10')).map((v) => v.result)).toEqual(['met', 'met', 'met']);
    const over = judgeTargets({ rows: [row('audio', 10, { ratio: 2.01, cores: 0.16, peakMiB: 301 })] });
    expect(missedTargets(over).map((v) => v.measured)).toEqual(['2.01x', '0.16', '301 MiB']);
  });

  it('judges video at N=9 on the ratio only, and not an audio row of 9', () => {
    expect(byTarget(judgeTargets({ rows: [row('audio', 9, { ratio: 1.2 })] }), 'video, 9').result).toBe('not measured');
    expect(byTarget(judgeTargets({ rows: [row('video', 9, { ratio: 1.5 })] }), 'video, 9').result).toBe('met');
    expect(byTarget(judgeTargets({ rows: [row('video', 9, { ratio: 1.51, cores: 9 })] }), 'video, 9').result).toBe('missed');
  });

  it('shows beside a ratio the part rtc-node and ffmpeg take alone, when the row has it', () => {
    const verdicts = judgeTargets({ rows: [row('audio', 10, { ratio: 3.2, outsideRatio: 2.24 }), row('video', 9, { ratio: 2.1 })] });
    expect(byTarget(verdicts, 'audio, 10 speakers: at most 2x').measured).toBe('3.20x (rtc-node and ffmpeg alone: 2.24x)');
    expect(byTarget(verdicts, 'video, 9').measured).toBe('2.10x');
  });

  it('does not count a video ratio whose composite dropped grid frames (less work than the floor did)', () => {
    const behind = byTarget(judgeTargets({ rows: [row('video', 9, { ratio: 1.43, writerDroppedFrames: 451 })] }), 'video, 9');
    expect(behind).toMatchObject({ result: 'missed', measured: '1.43x, 451 grid frames dropped at the encoder' });
  });

  it('wants 16 publishers without a single late chunk, or one dropped by a jitter buffer or a file', () => {
    const clean = judgeTargets({ rows: [row('audio', 16)] });
    expect(byTarget(clean, 'audio, 16 publishers: no late').result).toBe('met');
    expect(byTarget(clean, 'audio, 16 publishers: no dropped').result).toBe('met');
    const late = judgeTargets({ rows: [row('audio', 16, { lateChunks: 1 })] });
    expect(byTarget(late, 'audio, 16 publishers: no late').result).toBe('missed');
    const atFile = judgeTargets({ rows: [row('audio', 16, { writerDroppedChunks: 1 })] });
    expect(byTarget(atFile, 'audio, 16 publishers: no dropped')).toMatchObject({ result: 'missed', measured: '1' });
    // A video row of 16 is not the audio target's.
    expect(byTarget(judgeTargets({ rows: [row('video', 16, { lateChunks: 5 })] }), 'audio, 16 publishers: no late').result).toBe('not measured');
  });

  it('judges concurrent drops, the joins p95 (strictly under 1.5 s) and only reports the soak slope', () => {
    const verdicts = judgeTargets({
      rows: [],
      concurrent: { recordings: 4, peersEach: 8, droppedChunks: 0, writerDroppedChunks: 2 },
      joins: { joins: 20, p95FirstAudioMs: 1500 },
      soak: { minutes: 15, ownSlopeMiBPerMin: 0.5, treeSlopeMiBPerMin: 0.6 },
    });
    expect(byTarget(verdicts, '4 recordings of 8')).toMatchObject({ result: 'missed', measured: '2' });
    expect(byTarget(verdicts, '!record')).toMatchObject({ result: 'missed', measured: '1500 ms' });
    expect(byTarget(verdicts, 'soak')).toMatchObject({ result: 'reported', measured: '0.5 MiB/min (with ffmpeg 0.6)' });
    expect(byTarget(judgeTargets({ rows: [], joins: { joins: 20, p95FirstAudioMs: 1499 } }), '!record').result).toBe('met');
  });
});

describe('targetsTable', () => {
  it('tabulates what was judged and names the rest in one line', () => {
    const text = targetsTable(judgeTargets({ rows: [row('video', 9, { ratio: 1.8 })] }));
    expect(text).toContain('| video, 9 cameras: at most 1.5x the floor, no grid frame dropped | 1.80x | missed |');
    expect(text).not.toContain('| audio, 10');
    expect(text).toMatch(/Not measured in this run: audio, 10 speakers: at most 2x the floor; .*soak/);
  });

  it('is one short line when nothing was measured', () => {
    expect(targetsTable(judgeTargets({ rows: [row('audio', 8)] }))).toBe('None measured in this run (`npm run bench -- --targets` makes the recordings they need).');
  });
});
