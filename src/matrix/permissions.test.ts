import { describe, expect, it } from 'vitest';
import { configSchema } from '../config/schema.ts';
import { effectiveAllowList, isAllowed, privilegedCreators, stateEventPowerLevel, userPowerLevel } from './permissions.ts';

describe('permissions', () => {
  const pl = { users: { '@admin:hs': 100, '@mod:hs': 50 }, users_default: 10, events: { 'org.matrix.msc3401.call.member': 0 }, state_default: 50 };

  it('reads user levels with the users_default fallback', () => {
    expect(userPowerLevel(pl, '@admin:hs')).toBe(100);
    expect(userPowerLevel(pl, '@nobody:hs')).toBe(10);
    expect(userPowerLevel(undefined, '@nobody:hs')).toBe(0);
    expect(userPowerLevel({ users: { '@x:hs': 'high' } }, '@x:hs')).toBe(0);
  });

  it('reads state event levels with the state_default fallback', () => {
    expect(stateEventPowerLevel(pl, 'org.matrix.msc3401.call.member')).toBe(0);
    expect(stateEventPowerLevel(pl, 'm.room.name')).toBe(50);
    expect(stateEventPowerLevel({}, 'm.room.name')).toBe(50);
  });

  it('matches the allow-list by wildcard, user ID or server name', () => {
    expect(isAllowed(['*'], '@a:example.org')).toBe(true);
    expect(isAllowed(['@a:example.org'], '@a:example.org')).toBe(true);
    expect(isAllowed(['@a:example.org'], '@b:example.org')).toBe(false);
    expect(isAllowed(['Example.org'], '@b:example.org')).toBe(true);
    expect(isAllowed(['example.org'], '@b:evil.example.org')).toBe(false);
    expect(isAllowed(['example.org:8448'], '@b:example.org:8448')).toBe(true);
    expect(isAllowed([], '@b:example.org')).toBe(false);
  });
});

describe('room creators (MSC4289)', () => {
  it('room versions 12+ give the creators infinite power', () => {
    const creators = privilegedCreators({ sender: '@c:hs', content: { room_version: '12', additional_creators: ['@d:hs'] } });
    expect(userPowerLevel({ users_default: 0 }, '@c:hs', creators)).toBe(Infinity);
    expect(userPowerLevel({ users_default: 0 }, '@d:hs', creators)).toBe(Infinity);
    expect(userPowerLevel({ users_default: 0 }, '@e:hs', creators)).toBe(0);
  });
  it('older room versions do not', () => {
    expect(privilegedCreators({ sender: '@c:hs', content: { room_version: '10' } }).size).toBe(0);
  });
});

describe('the default allow-list', () => {
  it("is the homeserver's own users when permissions.allow is unset", () => {
    const config = configSchema.parse({ homeserver: { url: 'https://matrix.example.org', domain: 'example.org' } });
    const allow = effectiveAllowList(config.permissions.allow, config.homeserver.domain);
    expect(isAllowed(allow, '@alice:example.org')).toBe(true);
    expect(isAllowed(allow, '@mallory:elsewhere.example')).toBe(false);
  });

  it('is what the operator wrote when set, `*` included', () => {
    expect(effectiveAllowList(['*'], 'example.org')).toEqual(['*']);
    expect(effectiveAllowList([], 'example.org')).toEqual([]);
  });
});
