import { describe, expect, it } from 'vitest';
import { dominantFrequency, toneSnrDb } from '../../../test/helpers/fft.ts';
import { CODECS } from './codecs.ts';
import { g711Decode, g711Encode } from './g711.ts';
import { Decimator, Interpolator } from './resample.ts';
import { dtmfDigit, dtmfEventCode, packRtp, packTelephoneEvent, parseRtp, parseTelephoneEvent } from './rtp.ts';

const tone = (hz: number, rate: number, n: number, amp = 8000) => Int16Array.from({ length: n }, (_, i) => Math.round(amp * Math.sin((2 * Math.PI * hz * i) / rate)));

describe('G.711', () => {
  it('matches the ITU reference code words for known samples', () => {
    // Values from the G.711 tables: silence, full scale, and a mid-range sample.
    expect(Array.from(g711Encode('mulaw', Int16Array.from([0, 32767, -32768, 1000])))).toEqual([0xff, 0x80, 0x00, 0xce]);
    expect(Array.from(g711Encode('alaw', Int16Array.from([0, 32767, -32768, 1000])))).toEqual([0xd5, 0xaa, 0x2a, 0xfa]);
    expect(Array.from(g711Decode('mulaw', Uint8Array.from([0xff, 0x80, 0x00])))).toEqual([0, 32124, -32124]);
    expect(Array.from(g711Decode('alaw', Uint8Array.from([0xd5, 0xaa, 0x2a])))).toEqual([8, 32256, -32256]);
  });

  it('round-trips every code word exactly and speech-level samples within the companding step', () => {
    for (const law of ['mulaw', 'alaw'] as const) {
      const codes = Uint8Array.from({ length: 256 }, (_, i) => i);
      const decoded = g711Decode(law, codes);
      const reencoded = g711Encode(law, decoded);
      // μ-law has two code words for zero (0x7f and 0xff); both decode to 0.
      for (let i = 0; i < 256; i++) expect(g711Decode(law, reencoded.subarray(i, i + 1))[0]).toBe(decoded[i]);
      const x = tone(440, 8000, 800);
      const y = g711Decode(law, g711Encode(law, x));
      for (let i = 0; i < x.length; i++) expect(Math.abs(y[i]! - x[i]!)).toBeLessThanOrEqual(Math.max(16, Math.abs(x[i]!) / 16));
    }
  });
});

describe('resampling 48 kHz ↔ 8 kHz', () => {
  it('keeps a 1 kHz tone through down- and up-sampling frame by frame', () => {
    const down = new Decimator(6);
    const up = new Interpolator(6);
    const input = tone(1000, 48_000, 48_000);
    const out: number[] = [];
    for (let i = 0; i < input.length; i += 960) out.push(...up.process(down.process(input.subarray(i, i + 960))));
    const tail = Int16Array.from(out.slice(4800));
    expect(dominantFrequency(tail, 48_000)).toBeCloseTo(1000, -1);
    expect(toneSnrDb(tail, 48_000, 1000)).toBeGreaterThan(30);
  });

  it('removes content above the narrowband Nyquist frequency', () => {
    const down = new Decimator(6);
    const high = down.process(tone(6000, 48_000, 48_000));
    let peak = 0;
    for (const s of high.subarray(100)) peak = Math.max(peak, Math.abs(s));
    expect(peak).toBeLessThan(80); // 8000 amplitude in, > 40 dB down
  });

  it('refuses input that does not divide by the factor', () => {
    expect(() => new Decimator(6).process(new Int16Array(7))).toThrow(/multiple of 6/);
  });
});

describe('codecs', () => {
  for (const name of ['PCMU', 'PCMA', 'opus'] as const) {
    it(`${name} carries a 440 Hz tone at 48 kHz in 20 ms packets`, () => {
      const enc = CODECS[name].createEncoder();
      const dec = CODECS[name].createDecoder();
      const input = tone(440, 48_000, 48_000);
      const out: number[] = [];
      for (let i = 0; i < input.length; i += 960) {
        const payload = enc.encode(input.subarray(i, i + 960));
        if (name !== 'opus') expect(payload.length).toBe(160);
        out.push(...dec.decode(payload));
      }
      enc.close();
      dec.close();
      expect(out.length).toBe(48_000);
      const tail = Int16Array.from(out.slice(9600));
      expect(dominantFrequency(tail, 48_000)).toBeCloseTo(440, -1);
      expect(toneSnrDb(tail, 48_000, 440)).toBeGreaterThan(20);
    });
  }
});

describe('RTP and RFC 4733 packing', () => {
  it('round-trips the fixed header', () => {
    const buf = packRtp({ payloadType: 111, marker: true, sequence: 65535, timestamp: 0xfffffff0, ssrc: 0xdeadbeef, payload: Uint8Array.from([1, 2, 3]) });
    expect(buf.subarray(0, 2)).toEqual(Buffer.from([0x80, 0x80 | 111]));
    const parsed = parseRtp(buf)!;
    expect({ ...parsed, payload: Array.from(parsed.payload) }).toEqual({ payloadType: 111, marker: true, sequence: 65535, timestamp: 0xfffffff0, ssrc: 0xdeadbeef, payload: [1, 2, 3] });
  });

  it('skips CSRCs, header extensions and padding, and rejects RTCP and non-RTP', () => {
    const p = Buffer.from([0x80 | 0x20 | 0x10 | 1, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, /* csrc */ 9, 9, 9, 9, /* ext */ 0xbe, 0xde, 0, 1, 7, 7, 7, 7, /* payload */ 42, /* padding */ 0, 2]);
    expect(parseRtp(p)?.payload).toEqual(Buffer.from([42]));
    expect(parseRtp(Buffer.from([0x80, 200, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]))).toBeUndefined(); // RTCP SR
    expect(parseRtp(Buffer.from('hello world!'))).toBeUndefined();
  });

  it('packs telephone events as RFC 4733 §2.3 lays them out', () => {
    expect(Array.from(packTelephoneEvent({ event: dtmfEventCode('#'), end: true, volume: 10, duration: 800 }))).toEqual([11, 0x80 | 10, 0x03, 0x20]);
    expect(parseTelephoneEvent(Uint8Array.from([5, 10, 0, 160]))).toEqual({ event: 5, end: false, volume: 10, duration: 160 });
    expect([...'0123456789*#ABCD'].map(dtmfEventCode)).toEqual([...Array(16).keys()]);
    expect(dtmfDigit(10)).toBe('*');
    expect(dtmfDigit(16)).toBeUndefined(); // flash: not a digit
    expect(() => dtmfEventCode('x')).toThrow(/not a DTMF digit/);
  });
});
