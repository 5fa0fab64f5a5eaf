import { EventEmitter } from 'node:events';
import { ClientEvent, SyncState, type MatrixClient } from 'matrix-js-sdk';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Probe } from '../http-probe.ts';
import { resumeSyncPromptly } from './sync-return.ts';

const log = pino({ level: 'silent' });

/** Enough of a MatrixClient: sync states are emitted by the test, retries counted. */
function fakeClient() {
  const client = Object.assign(new EventEmitter(), { retryImmediately: vi.fn(() => true) });
  return { client, asClient: client as unknown as MatrixClient, sync: (state: SyncState) => client.emit(ClientEvent.Sync, state) };
}

/** Answers from a script of states, then the last one forever; remembers the URLs asked. */
function scripted(states: Array<'up' | 'down'>): Probe & { urls: string[] } {
  const urls: string[] = [];
  return Object.assign(async (url: string) => (urls.push(url), states[Math.min(urls.length - 1, states.length - 1)]!), { urls });
}

describe('resumeSyncPromptly', () => {
  afterEach(() => vi.useRealTimers());

  it('while the sync is down, asks /versions every second and has js-sdk retry as soon as the homeserver answers', async () => {
    vi.useFakeTimers();
    const { client, asClient, sync } = fakeClient();
    const probe = scripted(['down', 'down', 'up']);
    resumeSyncPromptly(asClient, 'https://hs.example.org/', log, probe, 1_000);
    sync(SyncState.Syncing);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(probe.urls).toHaveLength(0);
    sync(SyncState.Reconnecting);
    sync(SyncState.Error); // the same outage: one watch
    await vi.advanceTimersByTimeAsync(2_500);
    expect(client.retryImmediately).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(client.retryImmediately).toHaveBeenCalledTimes(1);
    expect(probe.urls).toEqual(Array(3).fill('https://hs.example.org/_matrix/client/versions'));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(probe.urls).toHaveLength(3);
  });

  it('stops asking once the sync is back by itself, or the client stopped', async () => {
    vi.useFakeTimers();
    const { client, asClient, sync } = fakeClient();
    const probe = scripted(['down']);
    resumeSyncPromptly(asClient, 'https://hs.example.org', log, probe, 1_000);
    sync(SyncState.Error);
    await vi.advanceTimersByTimeAsync(3_500);
    sync(SyncState.Syncing);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(probe.urls).toHaveLength(3);
    sync(SyncState.Error);
    await vi.advanceTimersByTimeAsync(1_500);
    sync(SyncState.Stopped);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(probe.urls).toHaveLength(4);
    expect(client.retryImmediately).not.toHaveBeenCalled();
  });
});
