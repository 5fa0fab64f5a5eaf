// RTP fixed header (RFC 3550 §5.1) and telephone-event payloads (RFC 4733 §2.3).

export interface RtpPacket {
  payloadType: number;
  marker: boolean;
  sequence: number;
  timestamp: number;
  ssrc: number;
  payload: Uint8Array;
}

export function packRtp(p: RtpPacket): Buffer {
  const out = Buffer.alloc(12 + p.payload.length);
  out[0] = 0x80; // version 2, no padding, no extension, no CSRC
  out[1] = (p.marker ? 0x80 : 0) | (p.payloadType & 0x7f);
  out.writeUInt16BE(p.sequence & 0xffff, 2);
  out.writeUInt32BE(p.timestamp >>> 0, 4);
  out.writeUInt32BE(p.ssrc >>> 0, 8);
  out.set(p.payload, 12);
  return out;
}

/** Parses an RTP packet; returns undefined for anything that is not RTP version 2 (e.g. RTCP on a muxed port). */
export function parseRtp(buf: Uint8Array): RtpPacket | undefined {
  if (buf.length < 12 || buf[0]! >> 6 !== 2) return undefined;
  const pt = buf[1]! & 0x7f;
  if (pt >= 72 && pt <= 76) return undefined; // RTCP packet types 200-204 with the marker bit folded in
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const csrcCount = buf[0]! & 0x0f;
  let offset = 12 + csrcCount * 4;
  if (buf[0]! & 0x10) {
    if (buf.length < offset + 4) return undefined;
    offset += 4 + view.getUint16(offset + 2) * 4;
  }
  let end = buf.length;
  if (buf[0]! & 0x20) end -= buf[buf.length - 1]!;
  if (offset > end) return undefined;
  return {
    payloadType: pt,
    marker: (buf[1]! & 0x80) !== 0,
    sequence: view.getUint16(2),
    timestamp: view.getUint32(4),
    ssrc: view.getUint32(8),
    payload: buf.subarray(offset, end),
  };
}

const DTMF_EVENTS = '0123456789*#ABCD';

export function dtmfEventCode(digit: string): number {
  const code = DTMF_EVENTS.indexOf(digit.toUpperCase());
  if (digit.length !== 1 || code < 0) throw new Error(`not a DTMF digit: ${JSON.stringify(digit)}`);
  return code;
}

export interface TelephoneEvent {
  event: number;
  end: boolean;
  volume: number;
  duration: number;
}

export function packTelephoneEvent(e: TelephoneEvent): Uint8Array {
  const out = new Uint8Array(4);
  out[0] = e.event;
  out[1] = (e.end ? 0x80 : 0) | (e.volume & 0x3f);
  out[2] = (e.duration >> 8) & 0xff;
  out[3] = e.duration & 0xff;
  return out;
}

export function parseTelephoneEvent(payload: Uint8Array): TelephoneEvent | undefined {
  if (payload.length < 4) return undefined;
  return { event: payload[0]!, end: (payload[1]! & 0x80) !== 0, volume: payload[1]! & 0x3f, duration: (payload[2]! << 8) | payload[3]! };
}

/** The DTMF digit of an event code, or undefined for events beyond 0-9 * # A-D (flash, tones). */
export const dtmfDigit = (event: number): string | undefined => DTMF_EVENTS[event];
