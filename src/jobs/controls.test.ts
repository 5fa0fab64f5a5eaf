import { describe, expect, it } from 'vitest';
import { isRecorded, replayControls, type ControlEvent } from './controls.ts';

describe('replayControls', () => {
  it('pause and resume: paused since the first pause, cleared by a resume', () => {
    const events: ControlEvent[] = [
      { type: 'pause', by: '@a:hs', at: 10 },
      { type: 'pause', by: '@b:hs', at: 20 },
    ];
    expect(replayControls(events).paused).toEqual({ by: '@a:hs', since: 10 });
    expect(replayControls([...events, { type: 'resume', by: '@b:hs', at: 30 }]).paused).toBeUndefined();
  });

  it('notice mode records everyone but who opted out (until they opt in again)', () => {
    const state = replayControls([{ type: 'optout', userId: '@bob:hs', at: 5 }]);
    expect(isRecorded(state, '@alice:hs')).toBe(true);
    expect(isRecorded(state, '@bob:hs')).toBe(false);
    expect(isRecorded(replayControls([{ type: 'optout', userId: '@bob:hs', at: 5 }, { type: 'optin', userId: '@bob:hs', at: 6 }]), '@bob:hs')).toBe(true);
  });

  it('required mode records only who opted in; an unnamed speaker is not recorded', () => {
    const state = replayControls([
      { type: 'consent-mode', mode: 'required', by: 'the room setting', at: 1 },
      { type: 'optin', userId: '@alice:hs', at: 2 },
    ]);
    expect(isRecorded(state, '@alice:hs')).toBe(true);
    expect(isRecorded(state, '@bob:hs')).toBe(false);
    expect(isRecorded(state, undefined)).toBe(false);
    expect(isRecorded(replayControls([]), undefined)).toBe(true);
  });

  it('keeps the first time each user was told', () => {
    const state = replayControls([
      { type: 'told', userIds: ['@a:hs'], how: 'start notice', at: 1 },
      { type: 'told', userIds: ['@a:hs', '@b:hs'], how: 'join notice', at: 9 },
    ]);
    expect(Object.fromEntries(state.told)).toEqual({ '@a:hs': { at: 1, how: 'start notice' }, '@b:hs': { at: 9, how: 'join notice' } });
  });
});
