import { describe, expect, it } from 'vitest';
import { parseAsrMetadata, pocketsphinxArgs } from './pocketsphinx.ts';

// What ffmpeg 5.1's ametadata printed for a stem with 1.5 s of silence, one utterance, then a
// pause and a second one (silencedetect before asr in the same graph).
const OUTPUT = `frame:3    pts:4442    pts_time:0.277625
lavfi.silence_start=0
frame:17   pts:23984   pts_time:1.499
lavfi.silence_end=1.50041
lavfi.silence_duration=1.50041
frame:40   pts:60000   pts_time:3.75
lavfi.silence_start=3.4
frame:41   pts:62000   pts_time:3.875
lavfi.silence_end=3.6
lavfi.silence_duration=0.2
frame:60   pts:90000   pts_time:5.6
lavfi.silence_start=5.2
frame:62   pts:93000   pts_time:5.81
lavfi.asr.text=let us start with the first item
frame:70   pts:110000  pts_time:6.875
lavfi.silence_end=6.9
frame:90   pts:140000  pts_time:8.75
lavfi.silence_start=8.3
frame:95   pts:150000  pts_time:9.375
lavfi.asr.text=thank you
frame:99   pts:160000  pts_time:10
lavfi.asr.text=
`;

describe('pocketsphinx through ffmpeg', () => {
  it('gives each utterance the span from its speech onset to its last pause', () => {
    const utterances = parseAsrMetadata(OUTPUT);
    expect(utterances.map((u) => [u.text, u.startMs, u.endMs])).toEqual([
      ['let us start with the first item', 1500, 5200],
      ['thank you', 6900, 8300],
    ]);
    const first = utterances[0]!;
    expect(first.words.map((w) => w.word)).toEqual(['let', 'us', 'start', 'with', 'the', 'first', 'item']);
    expect(first.words[0]!.startMs).toBe(1500);
    expect(first.words.at(-1)!.endMs).toBe(5200);
    expect(first.interpolated).toBe(true);
  });

  it('builds a filter with the Debian model layout and refuses paths that would need escaping', () => {
    const args = pocketsphinxArgs('/rec/stem-01.ogg', '/usr/share/pocketsphinx/model/en-us');
    expect(args.join(' ')).toContain('asr=hmm=/usr/share/pocketsphinx/model/en-us/en-us:dict=/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict:lm=/usr/share/pocketsphinx/model/en-us/en-us.lm.bin');
    expect(() => pocketsphinxArgs('/x.ogg', '/models/a:b')).toThrow(/transcripts.modelDir/);
  });
});
