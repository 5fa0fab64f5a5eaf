import { describe, expect, it } from 'vitest';
import { callEvidence, chooseMembershipKind, type TimelineEvent } from './call-evidence.ts';

const now = 10_000_000;
const own = '@rec-call:hs';
const sticky = (e: Partial<TimelineEvent> & Pick<TimelineEvent, 'type' | 'sender' | 'content'>, ageMs = 1000): TimelineEvent => ({
  origin_server_ts: now - ageMs,
  msc4354_sticky: { duration_ms: 3_600_000 },
  unsigned: { msc4354_sticky_duration_ttl_ms: 3_600_000 - ageMs },
  ...e,
});
const join = (sender: string, key: string, ageMs?: number) =>
  sticky({ type: 'org.matrix.msc4143.rtc.member', sender, content: { member: { user_id: sender, device_id: 'D', id: key }, msc4354_sticky_key: key } }, ageMs);
const leave = (sender: string, key: string, ageMs?: number) => sticky({ type: 'org.matrix.msc4143.rtc.member', sender, content: { slot_id: 'm.call#ROOM', msc4354_sticky_key: key } }, ageMs);
const encrypted = (sender: string, deviceId: string | undefined, ageMs?: number) =>
  sticky({ type: 'm.room.encrypted', sender, content: { algorithm: 'm.megolm.v1.aes-sha2', ciphertext: 'x', ...(deviceId ? { device_id: deviceId } : {}) } }, ageMs);
const legacyState = (sender: string, content: Record<string, unknown> = { application: 'm.call', device_id: 'D' }) => ({ type: 'org.matrix.msc3401.call.member', sender, content });

describe('call evidence', () => {
  it('counts non-empty legacy state events of others, not our own call user', () => {
    const e = callEvidence([legacyState('@a:hs'), legacyState('@b:hs', {}), legacyState(own)], [], own, now);
    expect(e.legacyMembers).toEqual(['@a:hs']);
  });

  it('counts a sticky join whose newest event under its sticky key is not a leave', () => {
    // newest first: bob left after joining; alice is in
    const e = callEvidence([], [leave('@bob:hs', 'k2', 100), join('@alice:hs', 'k1', 500), join('@bob:hs', 'k2', 900)], own, now);
    expect(e.stickyMembers).toEqual(['@alice:hs']);
  });

  it('ignores sticky events whose stickiness has run out', () => {
    const expired = { ...join('@alice:hs', 'k1', 3_700_000), unsigned: { msc4354_sticky_duration_ttl_ms: 0 } };
    expect(callEvidence([], [expired], own, now).stickyMembers).toEqual([]);
    // without the server's TTL, origin_server_ts + duration decides
    const { unsigned: _, ...noTtl } = join('@alice:hs', 'k1', 3_700_000);
    expect(callEvidence([], [noTtl], own, now).stickyMembers).toEqual([]);
  });

  it('lists still-sticky encrypted events by device as unreadable, unless the sender left after them', () => {
    const e = callEvidence([], [encrypted('@alice:hs', 'A1', 100), leave('@bob:hs', 'k', 200), encrypted('@bob:hs', 'B1', 300), encrypted('@carol:hs', undefined, 400), encrypted('@alice:hs', 'A1', 500)], own, now);
    expect(e.unreadable).toEqual([
      { userId: '@alice:hs', deviceId: 'A1' },
      { userId: '@carol:hs', deviceId: undefined },
    ]);
  });

  it('ignores timeline events that are not sticky', () => {
    const plain = { type: 'm.room.encrypted', sender: '@a:hs', origin_server_ts: now, content: {} };
    expect(callEvidence([], [plain], own, now).unreadable).toEqual([]);
  });
});

describe('membership kind', () => {
  const evidence = (legacy: number, stickyMembers: number, unreadable: number) => ({
    legacyMembers: Array(legacy).fill('@l:hs'),
    stickyMembers: Array(stickyMembers).fill('@s:hs'),
    unreadable: Array(unreadable).fill({ userId: '@u:hs', deviceId: 'U' }),
    complete: true,
  });

  it('auto: sticky when any member is sticky, legacy otherwise', () => {
    expect(chooseMembershipKind('auto', evidence(1, 0, 0))).toBe('legacy');
    expect(chooseMembershipKind('auto', evidence(1, 1, 0))).toBe('sticky');
    expect(chooseMembershipKind('auto', evidence(0, 1, 0))).toBe('sticky');
  });

  it('auto: unreadable sticky events decide only when no legacy member is there (they may be a call notification)', () => {
    expect(chooseMembershipKind('auto', evidence(0, 0, 2))).toBe('sticky');
    expect(chooseMembershipKind('auto', evidence(1, 0, 2))).toBe('legacy');
  });

  it('a configured kind wins', () => {
    expect(chooseMembershipKind('legacy', evidence(0, 3, 0))).toBe('legacy');
    expect(chooseMembershipKind('sticky', evidence(3, 0, 0))).toBe('sticky');
  });
});
