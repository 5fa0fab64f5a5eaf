import { describe, expect, it } from 'vitest';
import { speechLanguageProblem, synthesiseSpeech } from './synthesise.ts';

describe('speech synthesis', () => {
  it('accepts language codes and refuses anything that is not one', () => {
    for (const ok of ['en', 'de', 'pt-br', 'zh-yue', 'en-gb-x-rp']) expect(speechLanguageProblem(ok)).toBeUndefined();
    for (const bad of ['', 'english please', '--help', 'en;rm', 'e']) expect(speechLanguageProblem(bad)).toMatch(/not a language code/);
  });

  it('speaks a sentence as 48 kHz samples, and names an unknown voice', async () => {
    const samples = await synthesiseSpeech('Recording started.', { language: 'en' });
    expect(samples.length / 48_000).toBeGreaterThan(0.5);
    expect(samples.length / 48_000).toBeLessThan(3);
    await expect(synthesiseSpeech('hello', { language: 'xx' })).rejects.toThrow(/cannot synthesise speech in "xx": espeak-ng exited with 1: .*voice does not exist/);
    await expect(synthesiseSpeech('  ', { language: 'en' })).rejects.toThrow(/text is empty/);
  });
});
