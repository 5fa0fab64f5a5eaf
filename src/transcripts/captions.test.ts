import { describe, expect, it } from 'vitest';
import { captionCues, renderText, renderWebVtt, vttTime } from './captions.ts';
import { spreadWords } from './recogniser.ts';

const utterance = (text: string, startMs: number, endMs: number) => ({ startMs, endMs, text, words: spreadWords(text, startMs, endMs), interpolated: true });

describe('captions', () => {
  it('merges speakers in time order, each cue in its speaker voice', () => {
    const cues = captionCues([
      { name: 'Bob', userId: '@bob:x', utterances: [utterance('second thing', 3_000, 4_000)] },
      { name: 'Alice', userId: '@alice:x', utterances: [utterance('first thing', 1_000, 2_000), utterance('third', 5_000, 5_500)] },
    ]);
    expect(cues.map((c) => [c.speaker, c.text, c.startMs])).toEqual([
      ['Alice', 'first thing', 1_000],
      ['Bob', 'second thing', 3_000],
      ['Alice', 'third', 5_000],
    ]);
    const vtt = renderWebVtt(cues);
    expect(vtt.startsWith('WEBVTT\n\n1\n00:00:01.000 --> ')).toBe(true);
    expect(vtt).toContain('<v Bob>second thing</v>');
  });

  it('splits a long utterance into cues of at most 12 words, keeping their times', () => {
    const text = Array.from({ length: 30 }, (_, i) => `w${i}`).join(' ');
    const cues = captionCues([{ name: 'A', utterances: [utterance(text, 0, 9_000)] }]);
    expect(cues.length).toBeGreaterThanOrEqual(3);
    expect(cues.every((c) => c.text.split(' ').length <= 12 && c.endMs - c.startMs <= 6_000)).toBe(true);
    expect(cues.map((c) => c.text).join(' ')).toBe(text);
    expect(cues[0]!.startMs).toBe(0);
    expect(cues.at(-1)!.endMs).toBe(9_000);
  });

  it('escapes markup in names and words', () => {
    const vtt = renderWebVtt(captionCues([{ name: 'A<b>&', utterances: [utterance('x < y', 0, 500)] }]));
    expect(vtt).toContain('<v A&lt;b&gt;&amp;>x &lt; y</v>');
  });

  it('formats times as WebVTT wants', () => {
    expect(vttTime(3_723_004)).toBe('01:02:03.004');
  });

  it('writes a readable text with speakers and their Matrix IDs', () => {
    const text = renderText({ title: 'Transcript of the call in Standup', startedAt: '2026-11-25T20:00:00.000Z', recogniser: 'test' }, [
      { name: 'Alice', userId: '@alice:x', utterances: [utterance('hello there', 61_000, 62_000)] },
    ]);
    expect(text).toContain('Speakers: Alice (@alice:x).');
    expect(text).toContain('[00:01:01] Alice: hello there');
  });
});
