import { describe, expect, it } from 'vitest';
import { ffmetadata, oggChapterTags } from './metadata-args.ts';

describe('ffmetadata', () => {
  it('escapes tags and turns chapter starts into spans, with a first chapter from 0', () => {
    const text = ffmetadata({ TITLE: 'Alice (@alice:hs)', COMMENT: 'a=b; #1' }, [{ startMs: 4_000, title: 'Resumed' }, { startMs: 1_500, title: 'Intro' }], 9_000);
    expect(text).toBe(
      [
        ';FFMETADATA1',
        'TITLE=Alice (@alice:hs)',
        'COMMENT=a\\=b\\; \\#1',
        '[CHAPTER]', 'TIMEBASE=1/1000', 'START=0', 'END=1500', 'title=Start',
        '[CHAPTER]', 'TIMEBASE=1/1000', 'START=1500', 'END=4000', 'title=Intro',
        '[CHAPTER]', 'TIMEBASE=1/1000', 'START=4000', 'END=9000', 'title=Resumed',
        '',
      ].join('\n'),
    );
  });

  it('two chapters at one moment: the later one stands; none past the end', () => {
    const text = ffmetadata({}, [{ startMs: 0, title: 'A' }, { startMs: 0, title: 'B' }, { startMs: 10_000, title: 'late' }], 5_000);
    expect(text.match(/title=.*/g)).toEqual(['title=B']);
  });

  it('Ogg chapters as Vorbis comments, the seconds truncated (5.940 s is 00:00:05.940)', () => {
    expect(oggChapterTags([{ startMs: 5_940, title: 'Intro' }, { startMs: 3_723_999, title: 'Late' }], 4_000_000)).toEqual({
      CHAPTER000: '00:00:00.000',
      CHAPTER000NAME: 'Start',
      CHAPTER001: '00:00:05.940',
      CHAPTER001NAME: 'Intro',
      CHAPTER002: '01:02:03.999',
      CHAPTER002NAME: 'Late',
    });
  });
});
