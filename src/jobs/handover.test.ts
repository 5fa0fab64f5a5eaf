import { describe, expect, it } from 'vitest';
import { parseHandover } from './handover.ts';

describe('parseHandover', () => {
  it('reads no record as no hand-over', () => {
    expect(parseHandover({})).toBeUndefined();
  });

  it('reads each stage of a hand-over', () => {
    expect(parseHandover({ from: '0', state: 'offered' })).toEqual({ from: 0, state: 'offered' });
    expect(parseHandover({ from: '2', state: 'taken', by: '3', recordingAt: '1764000000123', releasedAt: '1764000000999' })).toEqual({
      from: 2,
      state: 'taken',
      by: 3,
      recordingAt: 1764000000123,
      releasedAt: 1764000000999,
    });
    expect(parseHandover({ from: '2', state: 'taken', by: '3', offeredAt: '1764000000000', streamsReleasedAt: '1764000000200' })).toEqual({
      from: 2,
      state: 'taken',
      by: 3,
      offeredAt: 1764000000000,
      streamsReleasedAt: 1764000000200,
    });
  });

  it('refuses a record it did not write, naming the field', () => {
    expect(() => parseHandover({ from: '0', state: 'given' })).toThrow(/state is not one of offered, taken, withdrawn/);
    expect(() => parseHandover({ state: 'offered' })).toThrow(/has no from/);
    expect(() => parseHandover({ from: '-1', state: 'offered' })).toThrow(/from is not a whole number/);
    expect(() => parseHandover({ from: '0', state: 'taken', recordingAt: '12.5' })).toThrow(/recordingAt is not a whole number/);
    expect(() => parseHandover({ from: '0', state: 'taken', streamsReleasedAt: 'soon' })).toThrow(/streamsReleasedAt is not a whole number/);
  });
});
