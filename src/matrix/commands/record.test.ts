import { describe, expect, it } from 'vitest';
import { parseRecordArgs } from './record.ts';

describe('!record arguments', () => {
  it('takes a kind and the word transcript, in either order, each once', () => {
    expect(parseRecordArgs([])).toEqual({ transcript: false });
    expect(parseRecordArgs(['Video'])).toEqual({ kind: 'video', transcript: false });
    expect(parseRecordArgs(['transcript'])).toEqual({ transcript: true });
    expect(parseRecordArgs(['transcript', 'audio'])).toEqual({ kind: 'audio', transcript: true });
    for (const bad of [['mp3'], ['audio', 'video'], ['transcript', 'transcript'], ['video', 'transcripts']]) expect(parseRecordArgs(bad), bad.join(' ')).toBeUndefined();
  });
});
