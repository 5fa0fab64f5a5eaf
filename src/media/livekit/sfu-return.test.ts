import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Probe } from '../../http-probe.ts';
import { livekitHttpRoot, watchSfuReturn } from './sfu-return.ts';

describe('livekitHttpRoot', () => {
  it.each([
    ['ws://127.0.0.1:7880', 'http://127.0.0.1:7880/'],
    ['wss://sfu.example.org', 'https://sfu.example.org/'],
    ['wss://example.org/livekit/sfu', 'https://example.org/livekit/sfu/'],
    ['wss://example.org/livekit/sfu/?access_token=x', 'https://example.org/livekit/sfu/'],
  ])('%s -> %s', (ws, http) => expect(livekitHttpRoot(ws)).toBe(http));
});

/** A probe answering from a script of states, then the last one forever; counts its calls. */
function scripted(states: Array<'up' | 'down'>): Probe & { calls: number } {
  const probe = Object.assign(async () => states[Math.min(probe.calls++, states.length - 1)]!, { calls: 0 });
  return probe;
}

describe('watchSfuReturn', () => {
  afterEach(() => vi.useRealTimers());

  it('tells once when the server answers after it was seen away, then stops probing', async () => {
    vi.useFakeTimers();
    const probe = scripted(['down', 'down', 'up']);
    const onBack = vi.fn();
    watchSfuReturn('ws://sfu:7880', onBack, probe, 500);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(onBack).toHaveBeenCalledTimes(1);
    expect(probe.calls).toBe(3);
  });

  it('says nothing of a server that answered all along, and keeps probing until stopped', async () => {
    vi.useFakeTimers();
    const probe = scripted(['up']);
    const onBack = vi.fn();
    const stop = watchSfuReturn('ws://sfu:7880', onBack, probe, 500);
    await vi.advanceTimersByTimeAsync(2_100);
    stop();
    const calls = probe.calls;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(onBack).not.toHaveBeenCalled();
    expect(calls).toBe(5);
    expect(probe.calls).toBe(calls);
  });

  it('tells nothing after it was stopped, even when the answer was already on its way', async () => {
    vi.useFakeTimers();
    const onBack = vi.fn();
    let answer: ((state: 'up' | 'down') => void) | undefined;
    let calls = 0;
    const probe: Probe = () => (calls++ === 0 ? Promise.resolve('down') : new Promise((resolve) => (answer = resolve)));
    const stop = watchSfuReturn('ws://sfu:7880', onBack, probe, 500);
    await vi.advanceTimersByTimeAsync(600);
    expect(answer).toBeDefined();
    stop();
    answer!('up');
    await vi.advanceTimersByTimeAsync(2_000);
    expect(onBack).not.toHaveBeenCalled();
    expect(calls).toBe(2);
  });
});
