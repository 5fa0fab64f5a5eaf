import { describe, expect, it } from 'vitest';
import { parseKeyEvent } from './unreadable-members.ts';

const roomId = '!r:hs';
const content = (over: Record<string, unknown> = {}) => ({
  keys: { index: 3, key: Buffer.from('0123456789abcdef').toString('base64') },
  room_id: roomId,
  member: { claimed_device_id: 'DEV', id: 'c0ffee00-0000-4000-8000-000000000001' },
  session: { call_id: '', application: 'm.call', scope: 'm.room' },
  ...over,
});
const event = (over: Partial<{ type: string; sender: string; encrypted: boolean; content: Record<string, unknown> }> = {}) => ({
  type: 'io.element.call.encryption_keys',
  sender: '@alice:hs',
  encrypted: true,
  content: content(),
  ...over,
});

describe('media key to-device events', () => {
  it('reads sender, claimed device, member id, index and raw key bytes', () => {
    expect(parseKeyEvent(event(), roomId)).toEqual({
      userId: '@alice:hs',
      deviceId: 'DEV',
      memberId: 'c0ffee00-0000-4000-8000-000000000001',
      index: 3,
      key: Uint8Array.from(Buffer.from('0123456789abcdef')),
    });
  });

  it('refuses keys sent in clear, for another room, or malformed', () => {
    expect(parseKeyEvent(event({ encrypted: false }), roomId)).toBe('sent in clear');
    expect(parseKeyEvent(event({ content: content({ room_id: '!other:hs' }) }), roomId)).toBe('for another room');
    expect(parseKeyEvent(event({ content: content({ keys: { index: 256, key: 'AAAA' } }) }), roomId)).toBe('malformed keys');
    expect(parseKeyEvent(event({ content: content({ member: { claimed_device_id: 'DEV' } }) }), roomId)).toBe('no device or member id');
    expect(parseKeyEvent(event({ content: content({ keys: { index: 0, key: '' } }) }), roomId)).toBe('empty key');
  });
});
