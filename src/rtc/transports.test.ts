import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { RecorderError } from '../errors.ts';
import { discoverOwnTransport, type TransportDiscoveryPort } from './transports.ts';

const log = pino({ level: 'silent' });
const lk = (url: string) => ({ type: 'livekit', livekit_service_url: url });
const fail = async (): Promise<never> => {
  throw new Error('HTTP 404 M_UNRECOGNIZED');
};

describe('own transport discovery', () => {
  it('prefers the transports endpoint, skipping non-LiveKit entries', async () => {
    const port: TransportDiscoveryPort = {
      rtcTransports: async () => [{ type: 'other' }, lk('https://a/jwt')],
      clientWellKnown: async () => ({ 'org.matrix.msc4143.rtc_foci': [lk('https://b/jwt')] }),
    };
    expect(await discoverOwnTransport(port, 'https://c/jwt', log)).toEqual({ transport: lk('https://a/jwt'), source: 'transports-endpoint' });
  });

  it('falls back to .well-known, then to config', async () => {
    const wk: TransportDiscoveryPort = { rtcTransports: fail, clientWellKnown: async () => ({ 'org.matrix.msc4143.rtc_foci': [lk('https://b/jwt')] }) };
    expect((await discoverOwnTransport(wk, undefined, log)).source).toBe('well-known');
    const cfg: TransportDiscoveryPort = { rtcTransports: async () => [], clientWellKnown: async () => ({}) };
    expect(await discoverOwnTransport(cfg, 'https://c/jwt', log)).toEqual({ transport: lk('https://c/jwt'), source: 'config' });
  });

  it('says what it tried when nothing is found', async () => {
    const none: TransportDiscoveryPort = { rtcTransports: fail, clientWellKnown: async () => ({}) };
    const err = await discoverOwnTransport(none, undefined, log).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RecorderError);
    expect((err as RecorderError).errcode).toBe('MRR_NO_SFU');
    expect((err as RecorderError).userMessage).toContain('the transports endpoint failed (HTTP 404 M_UNRECOGNIZED); .well-known has no LiveKit rtc_foci');
  });
});
