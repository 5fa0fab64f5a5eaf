import { describe, expect, it } from 'vitest';
import { collectDigits } from './leg-prompts.ts';

function fakeLeg() {
  const listeners = new Set<(d: string) => void>();
  return {
    onDtmf(listener: (d: string) => void) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    press: (keys: string) => [...keys].forEach((k) => listeners.forEach((l) => l(k))),
    listeners,
  };
}

describe('collectDigits', () => {
  it('returns the digits before #, with * starting over, and stops listening', async () => {
    const leg = fakeLeg();
    const pin = collectDigits(leg, 1_000);
    leg.press('12*4321#9');
    expect(await pin).toBe('4321');
    expect(leg.listeners.size).toBe(0);
  });

  it('gives up when no key comes in time', async () => {
    const leg = fakeLeg();
    expect(await collectDigits(leg, 20)).toBeUndefined();
    expect(leg.listeners.size).toBe(0);
  });
});
