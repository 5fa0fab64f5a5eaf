import { describe, expect, it } from 'vitest';
import { ParticipantLog } from './participant-log.ts';

describe('ParticipantLog', () => {
  it('records joins and leaves relative to the start, and a rejoin as a new span', () => {
    const log = new ParticipantLog(1000);
    const a = { userId: '@a:hs', deviceId: 'A' };
    const b = { userId: '@b:hs', deviceId: 'B' };
    log.update([a], 1000);
    log.update([a, b], 3000);
    log.update([b], 5000);
    log.update([a, b], 7000);
    expect(log.spans()).toEqual([
      { ...a, joinedMs: 0, leftMs: 4000 },
      { ...b, joinedMs: 2000 },
      { ...a, joinedMs: 6000 },
    ]);
    expect(log.userIds()).toEqual(['@a:hs', '@b:hs']);
  });
});
