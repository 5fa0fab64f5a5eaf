import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DECRYPTION_GRACE_MS, DecryptionReports } from './decryption-reports.ts';

const ALICE = '@alice:localhost:DEVICE';

function reports(hasKey: boolean) {
  const told: string[] = [];
  const r = new DecryptionReports((identity) => identity, (text) => told.push(text), pino({ level: 'silent' }), () => hasKey);
  return { r, told };
}

describe('DecryptionReports', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('reports a key that does not fit although libwebrtc never left the state new', () => {
    const { r, told } = reports(true);
    r.undecryptedMedia(ALICE);
    vi.advanceTimersByTime(DECRYPTION_GRACE_MS);
    expect(told).toHaveLength(1);
    expect(told[0]).toContain('does not decrypt with the key I received');
  });

  it('says the key never came when none did', () => {
    const { r, told } = reports(false);
    r.update(ALICE, 'missing-key');
    r.undecryptedMedia(ALICE);
    vi.advanceTimersByTime(DECRYPTION_GRACE_MS);
    expect(told).toEqual([expect.stringContaining('I have not received their media key')]);
  });

  it('tells nothing when the frames decrypt within the grace period', () => {
    const { r, told } = reports(true);
    r.undecryptedMedia(ALICE);
    r.update(ALICE, 'ok');
    vi.advanceTimersByTime(DECRYPTION_GRACE_MS);
    expect(told).toEqual([]);
  });

  it('ignores undecrypted frames of a participant already decrypting (the settle time after ok)', () => {
    const { r, told } = reports(true);
    r.update(ALICE, 'ok');
    r.undecryptedMedia(ALICE);
    vi.advanceTimersByTime(DECRYPTION_GRACE_MS);
    expect(told).toEqual([]);
  });

  it('tells a recovery after a report', () => {
    const { r, told } = reports(true);
    r.undecryptedMedia(ALICE);
    vi.advanceTimersByTime(DECRYPTION_GRACE_MS);
    r.update(ALICE, 'ok');
    expect(told[1]).toBe(`I can decrypt the media of ${ALICE} again.`);
  });
});
