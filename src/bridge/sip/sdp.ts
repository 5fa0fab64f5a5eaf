// SDP offer/answer for one audio stream (RFC 3264): which codec and telephone-event payload a leg uses.
import * as sdpTransform from 'sdp-transform';
import { CODECS, type CodecName, type CodecSpec } from './codecs.ts';

export interface MediaChoice {
  codec: CodecSpec;
  payloadType: number;
  /** RFC 4733 telephone-event payload type and clock, when the far end offered/accepted one. */
  dtmf?: { payloadType: number; clockRate: number };
}

export interface RemoteMedia {
  address: string;
  port: number;
  /** Offered/answered formats in the far end's order of preference. */
  formats: { payloadType: number; name: string; clockRate: number }[];
  direction: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
}

const DYNAMIC_PT: Record<string, number> = { opus: 111, 'telephone-event/8000': 101, 'telephone-event/48000': 102 };

export interface LocalSdpInput {
  address: string;
  port: number;
  sessionId: string;
  sessionVersion: number;
}

function render(input: LocalSdpInput, formats: { pt: number; rtpmap: string; fmtp?: string }[]): string {
  const lines = [
    'v=0',
    `o=matrixrtc-recorder ${input.sessionId} ${input.sessionVersion} IN IP4 ${input.address}`,
    's=matrixrtc-recorder',
    `c=IN IP4 ${input.address}`,
    't=0 0',
    `m=audio ${input.port} RTP/AVP ${formats.map((f) => f.pt).join(' ')}`,
    ...formats.flatMap((f) => [`a=rtpmap:${f.pt} ${f.rtpmap}`, ...(f.fmtp ? [`a=fmtp:${f.pt} ${f.fmtp}`] : [])]),
    'a=ptime:20',
    'a=sendrecv',
  ];
  return lines.join('\r\n') + '\r\n';
}

const rtpmapOf = (c: CodecSpec) => `${c.name}/${c.clockRate}${c.rtpmapChannels > 1 ? `/${c.rtpmapChannels}` : ''}`;

/** An offer with our codecs in order of preference, plus telephone-event at 8 kHz and 48 kHz. */
export function buildOffer(input: LocalSdpInput, codecs: CodecName[]): string {
  const formats = codecs.map((name) => {
    const c = CODECS[name];
    return { pt: c.staticPayloadType ?? DYNAMIC_PT[name]!, rtpmap: rtpmapOf(c), ...(c.fmtp ? { fmtp: c.fmtp } : {}) };
  });
  const events = codecs.some((n) => CODECS[n].clockRate === 48_000) ? [8000, 48_000] : [8000];
  for (const rate of events) formats.push({ pt: DYNAMIC_PT[`telephone-event/${rate}`]!, rtpmap: `telephone-event/${rate}`, fmtp: '0-16' });
  return render(input, formats);
}

/** An answer carrying just the chosen codec (and its telephone-event), with the offer's payload types. */
export function buildAnswer(input: LocalSdpInput, choice: MediaChoice): string {
  const formats: { pt: number; rtpmap: string; fmtp?: string }[] = [
    { pt: choice.payloadType, rtpmap: rtpmapOf(choice.codec), ...(choice.codec.fmtp ? { fmtp: choice.codec.fmtp } : {}) },
  ];
  if (choice.dtmf) formats.push({ pt: choice.dtmf.payloadType, rtpmap: `telephone-event/${choice.dtmf.clockRate}`, fmtp: '0-16' });
  return render(input, formats);
}

const STATIC_FORMATS: Record<number, { name: string; clockRate: number }> = { 0: { name: 'PCMU', clockRate: 8000 }, 8: { name: 'PCMA', clockRate: 8000 } };

export function parseRemoteSdp(text: string): RemoteMedia {
  const session = sdpTransform.parse(text);
  const audio = session.media.find((m) => m.type === 'audio' && m.port !== 0);
  if (!audio) throw new Error('SDP has no active audio stream');
  if (!/^RTP\/AVP$/i.test(audio.protocol)) throw new Error(`SDP audio uses ${audio.protocol}; only plain RTP/AVP is supported`);
  const address = audio.connection?.ip ?? session.connection?.ip;
  if (!address) throw new Error('SDP has no connection address');
  const formats = String(audio.payloads ?? '')
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .map((pt) => {
      const map = audio.rtp.find((r) => r.payload === pt);
      const known = map ? { name: map.codec, clockRate: map.rate ?? 8000 } : STATIC_FORMATS[pt];
      return known ? { payloadType: pt, ...known } : undefined;
    })
    .filter((f): f is RemoteMedia['formats'][number] => f !== undefined);
  const direction = (audio.direction ?? session.direction ?? 'sendrecv') as RemoteMedia['direction'];
  return { address, port: audio.port, formats, direction };
}

/**
 * The first of the far end's formats that we also allow (the offerer's preference wins, RFC 3264 §6.1),
 * and a telephone-event at that codec's clock if offered, else at any clock.
 */
export function chooseMedia(remote: RemoteMedia, allowed: CodecName[]): MediaChoice | undefined {
  const byName = new Map(allowed.map((n) => [n.toLowerCase(), CODECS[n]] as const));
  for (const f of remote.formats) {
    const codec = byName.get(f.name.toLowerCase());
    if (!codec || codec.clockRate !== f.clockRate) continue;
    const events = remote.formats.filter((e) => e.name.toLowerCase() === 'telephone-event');
    const dtmf = events.find((e) => e.clockRate === codec.clockRate) ?? events[0];
    return { codec, payloadType: f.payloadType, ...(dtmf ? { dtmf: { payloadType: dtmf.payloadType, clockRate: dtmf.clockRate } } : {}) };
  }
  return undefined;
}
