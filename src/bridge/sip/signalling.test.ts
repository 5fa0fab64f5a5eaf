import { describe, expect, it } from 'vitest';
import { SourceFilter, userAllowed } from './access.ts';
import { buildAnswer, buildOffer, chooseMedia, parseRemoteSdp } from './sdp.ts';

// baresip 1.0.0's offer (g711 + opus modules), as it sent it to the endpoint.
const BARESIP_OFFER = [
  'v=0', 'o=- 1234 5678 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0',
  'm=audio 42000 RTP/AVP 0 8 96 101', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:96 opus/48000/2', 'a=fmtp:96 stereo=1;sprop-stereo=1', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15',
  'a=sendrecv', 'a=label:1', 'a=ssrc:1 cname:x', 'a=rtcp-rsize', 'a=ptime:20', '',
].join('\r\n');

describe('SDP offer/answer', () => {
  it('takes the offerer\'s first codec that we allow, and telephone-event at its clock', () => {
    const remote = parseRemoteSdp(BARESIP_OFFER);
    expect(remote).toMatchObject({ address: '127.0.0.1', port: 42000, direction: 'sendrecv' });
    expect(chooseMedia(remote, ['opus', 'PCMU', 'PCMA'])).toMatchObject({ codec: { name: 'PCMU' }, payloadType: 0, dtmf: { payloadType: 101, clockRate: 8000 } });
    expect(chooseMedia(remote, ['opus'])).toMatchObject({ codec: { name: 'opus' }, payloadType: 96, dtmf: { payloadType: 101, clockRate: 8000 } });
    expect(chooseMedia(remote, ['PCMA'])).toMatchObject({ codec: { name: 'PCMA' }, payloadType: 8 });
  });

  it('answers with only the chosen codec under the offer\'s payload type', () => {
    const choice = chooseMedia(parseRemoteSdp(BARESIP_OFFER), ['opus'])!;
    const answer = buildAnswer({ address: '127.0.0.1', port: 30000, sessionId: '1', sessionVersion: 1 }, choice);
    expect(answer).toContain('m=audio 30000 RTP/AVP 96 101\r\n');
    expect(answer).toContain('a=rtpmap:96 opus/48000/2\r\n');
    expect(answer).toContain('a=rtpmap:101 telephone-event/8000\r\n');
    // Our own answer parses back to the same choice.
    expect(chooseMedia(parseRemoteSdp(answer), ['opus'])).toMatchObject({ payloadType: 96, dtmf: { payloadType: 101 } });
  });

  it('offers our codecs in preference order with telephone-event at 8 and 48 kHz', () => {
    const offer = buildOffer({ address: '10.1.2.3', port: 30002, sessionId: '1', sessionVersion: 1 }, ['opus', 'PCMU', 'PCMA']);
    const remote = parseRemoteSdp(offer);
    expect(remote.formats.map((f) => `${f.payloadType} ${f.name}/${f.clockRate}`)).toEqual(['111 opus/48000', '0 PCMU/8000', '8 PCMA/8000', '101 telephone-event/8000', '102 telephone-event/48000']);
  });

  it('finds no codec, and refuses SRTP or audio-less SDP clearly', () => {
    const g722Only = BARESIP_OFFER.replace('m=audio 42000 RTP/AVP 0 8 96 101', 'm=audio 42000 RTP/AVP 9').replace(/a=rtpmap:(0|8|96|101)[^\r]*\r\n/g, '');
    expect(chooseMedia(parseRemoteSdp(g722Only), ['opus', 'PCMU', 'PCMA'])).toBeUndefined();
    expect(() => parseRemoteSdp(BARESIP_OFFER.replace('RTP/AVP', 'RTP/SAVP'))).toThrow(/RTP\/SAVP/);
    expect(() => parseRemoteSdp(BARESIP_OFFER.replace('m=audio', 'm=video'))).toThrow(/no active audio/);
  });
});

describe('access rules', () => {
  it('matches addresses and CIDRs, v4-mapped v6 included', () => {
    const f = new SourceFilter(['10.0.0.0/8', '127.0.0.1', '2001:db8::/32']);
    expect(f.allows('10.200.3.4')).toBe(true);
    expect(f.allows('::ffff:10.1.1.1')).toBe(true);
    expect(f.allows('127.0.0.1')).toBe(true);
    expect(f.allows('127.0.0.2')).toBe(false);
    expect(f.allows('2001:db8::5')).toBe(true);
    expect(new SourceFilter(undefined).allows('198.51.100.1')).toBe(true);
    expect(() => new SourceFilter(['pbx.example'])).toThrow(/not an IP address/);
    expect(() => new SourceFilter(['10.0.0.0/33'])).toThrow(/prefix length/);
  });

  it('matches caller users with or without host', () => {
    expect(userAllowed(['alice', 'bob@pbx.example'], 'alice', 'anything')).toBe(true);
    expect(userAllowed(['alice', 'bob@pbx.example'], 'bob', 'pbx.example')).toBe(true);
    expect(userAllowed(['alice', 'bob@pbx.example'], 'bob', 'evil.example')).toBe(false);
    expect(userAllowed(['alice'], undefined, 'x')).toBe(false);
    expect(userAllowed(undefined, undefined, undefined)).toBe(true);
  });
});
