import { describe, expect, it } from 'vitest';
import { isOwnDelayedLeave, ownIdentity } from './own-membership.ts';

const roomId = '!r:hs';
const me = { userId: '@rec-call:hs', deviceId: 'MRRDEV', memberId: '5b1c0000-0000-4000-8000-000000000001' };

describe('own identity', () => {
  it('legacy: user:device for member id and LiveKit identity', async () => {
    expect(await ownIdentity('@rec-call:hs', 'MRRDEV', 'legacy')).toEqual({ userId: '@rec-call:hs', deviceId: 'MRRDEV', memberId: '@rec-call:hs:MRRDEV', rtcBackendIdentity: '@rec-call:hs:MRRDEV' });
  });

  it('sticky: a fresh UUID per join and the hash of [user, device, member id] (protocol notes §6.5 vector)', async () => {
    const a = await ownIdentity('@alice:example.org', 'ALICEDEVICE', 'sticky');
    const b = await ownIdentity('@alice:example.org', 'ALICEDEVICE', 'sticky');
    expect(a.memberId).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.memberId).not.toBe(b.memberId);
    const { computeRtcIdentityRaw } = await import('matrix-js-sdk/lib/matrixrtc/membershipData/rtc.js');
    expect(await computeRtcIdentityRaw('@alice:example.org', 'ALICEDEVICE', '3f2a8c1e-0000-4000-8000-000000000001')).toBe('4cgr2sOl8Il77cl0HVdjBYdxfC/e+LkJ/k+qhK4++/w');
    expect(a.rtcBackendIdentity).toBe(await computeRtcIdentityRaw('@alice:example.org', 'ALICEDEVICE', a.memberId));
  });
});

describe('own delayed leave', () => {
  it('legacy: the call.member state event under our device', () => {
    const e = { room_id: roomId, type: 'org.matrix.msc3401.call.member', state_key: `_${me.userId}_${me.deviceId}_m.call`, delay: 10_000 };
    expect(isOwnDelayedLeave(e, roomId, me, 'legacy')).toBe(true);
    expect(isOwnDelayedLeave(e, roomId, me, 'sticky')).toBe(false);
    expect(isOwnDelayedLeave({ ...e, state_key: '_@x:hs_OTHER_m.call' }, roomId, me, 'legacy')).toBe(false);
  });

  it('sticky: the rtc.member message event (no state key) carrying our member id as sticky key', () => {
    const e = { room_id: roomId, type: 'org.matrix.msc4143.rtc.member', content: { slot_id: 'm.call#ROOM', msc4354_sticky_key: me.memberId }, delay: 10_000 };
    expect(isOwnDelayedLeave(e, roomId, me, 'sticky')).toBe(true);
    expect(isOwnDelayedLeave({ ...e, content: { msc4354_sticky_key: 'someone-else' } }, roomId, me, 'sticky')).toBe(false);
    expect(isOwnDelayedLeave({ ...e, room_id: '!other:hs' }, roomId, me, 'sticky')).toBe(false);
  });
});
