// The audio codecs a SIP leg can negotiate, each turning 48 kHz mono PCM into RTP payloads and back.
import OpusScript from 'opusscript';
import { g711Decode, g711Encode, type G711Law } from './g711.ts';
import { Decimator, Interpolator } from './resample.ts';

export const BRIDGE_RATE = 48_000;

export type CodecName = 'PCMU' | 'PCMA' | 'opus';

/** One direction's codec state: encoders and decoders keep filter/predictor history per stream. */
export interface AudioEncoder {
  /** 48 kHz mono samples (one packet's worth) to an RTP payload. */
  encode(pcm48k: Int16Array): Uint8Array;
  close(): void;
}

export interface AudioDecoder {
  /** An RTP payload to 48 kHz mono samples. */
  decode(payload: Uint8Array): Int16Array;
  close(): void;
}

export interface CodecSpec {
  name: CodecName;
  /** RTP clock rate, as in a=rtpmap. */
  clockRate: number;
  /** Channel count as written in a=rtpmap (Opus is always declared as 2, RFC 7587). */
  rtpmapChannels: number;
  staticPayloadType?: number;
  fmtp?: string;
  createEncoder(): AudioEncoder;
  createDecoder(): AudioDecoder;
}

function g711Spec(name: 'PCMU' | 'PCMA', law: G711Law, payloadType: number): CodecSpec {
  const factor = BRIDGE_RATE / 8000;
  return {
    name,
    clockRate: 8000,
    rtpmapChannels: 1,
    staticPayloadType: payloadType,
    createEncoder() {
      const down = new Decimator(factor);
      return { encode: (pcm) => g711Encode(law, down.process(pcm)), close() {} };
    },
    createDecoder() {
      const up = new Interpolator(factor);
      return { decode: (payload) => up.process(g711Decode(law, payload)), close() {} };
    },
  };
}

// The first Opus encodes in a process run in unoptimised WASM and take several times longer; a
// burst of new legs then overruns the 20 ms send clock. Encoding 1 s of noise once, when the first
// Opus leg starts, moves that cost out of the calls (measured: 47 dropped frames over 20 legs' first second without it).
let opusWarm = false;
function warmOpus(): void {
  if (opusWarm) return;
  opusWarm = true;
  const enc = new OpusScript(48_000, 1, OpusScript.Application.VOIP);
  const dec = new OpusScript(48_000, 1, OpusScript.Application.VOIP);
  const pcm = Buffer.alloc(960 * 2);
  for (let i = 0; i < 50; i++) {
    for (let j = 0; j < pcm.length; j += 2) pcm.writeInt16LE(Math.round((Math.random() - 0.5) * 8000), j);
    dec.decode(enc.encode(pcm, 960));
  }
  enc.delete();
  dec.delete();
}

const opusSpec: CodecSpec = {
  name: 'opus',
  clockRate: 48_000,
  rtpmapChannels: 2,
  // We send mono and ask for mono; a stereo packet still decodes (downmixed) into our mono decoder.
  fmtp: 'minptime=10;useinbandfec=1;stereo=0;sprop-stereo=0',
  createEncoder() {
    warmOpus();
    const opus = new OpusScript(48_000, 1, OpusScript.Application.VOIP);
    return {
      encode(pcm) {
        const bytes = Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
        return new Uint8Array(opus.encode(bytes, pcm.length));
      },
      close: () => opus.delete(),
    };
  },
  createDecoder() {
    const opus = new OpusScript(48_000, 1, OpusScript.Application.VOIP);
    return {
      decode(payload) {
        const out = opus.decode(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength));
        // Copy out of the decoder's reused buffer into an aligned array of our own.
        const pcm = new Int16Array(out.byteLength / 2);
        new Uint8Array(pcm.buffer).set(out);
        return pcm;
      },
      close: () => opus.delete(),
    };
  },
};

export const CODECS: Record<CodecName, CodecSpec> = {
  PCMU: g711Spec('PCMU', 'mulaw', 0),
  PCMA: g711Spec('PCMA', 'alaw', 8),
  opus: opusSpec,
};

export const ALL_CODECS: CodecName[] = ['opus', 'PCMU', 'PCMA'];
