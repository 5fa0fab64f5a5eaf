import { describe, expect, it } from 'vitest';
import { MediaKeys } from './media-keys.ts';

describe('MediaKeys', () => {
  it('applies keys to attached connections and replays earlier keys to late ones', () => {
    const keys = new MediaKeys();
    const early: string[] = [];
    const late: string[] = [];
    keys.attach((id, index) => early.push(`${id}#${index}`));
    keys.set('@a:hs:A', 0, new Uint8Array(16).fill(1));
    keys.set('@a:hs:A', 1, new Uint8Array(16).fill(2));
    keys.attach((id, index) => late.push(`${id}#${index}`));
    keys.set('@b:hs:B', 0, new Uint8Array(16).fill(3));
    expect(early).toEqual(['@a:hs:A#0', '@a:hs:A#1', '@b:hs:B#0']);
    expect(late).toEqual(['@a:hs:A#0', '@a:hs:A#1', '@b:hs:B#0']);
    expect(keys.describe()).toEqual({ '@a:hs:A': [0, 1], '@b:hs:B': [0] });
  });

  it('wipes key bytes on clear', () => {
    const keys = new MediaKeys();
    const key = new Uint8Array(16).fill(7);
    keys.set('@a:hs:A', 0, key);
    keys.clear();
    expect([...key].every((b) => b === 0)).toBe(true);
    expect(keys.has('@a:hs:A')).toBe(false);
  });
});
