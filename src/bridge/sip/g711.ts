// G.711 μ-law (PCMU) and A-law (PCMA): 8-bit companded samples at 8 kHz (ITU-T G.711).
// Both directions go through lookup tables built once at load.

const MULAW_BIAS = 0x84;
const MULAW_CLIP = 32635;

function muLawEncodeSample(sample: number): number {
  const sign = sample < 0 ? 0x80 : 0;
  const magnitude = Math.min(Math.abs(sample), MULAW_CLIP) + MULAW_BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (magnitude & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (magnitude >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

function muLawDecodeSample(byte: number): number {
  const u = ~byte & 0xff;
  const exponent = (u >> 4) & 0x07;
  const magnitude = ((((u & 0x0f) << 3) + MULAW_BIAS) << exponent) - MULAW_BIAS;
  return u & 0x80 ? -magnitude : magnitude;
}

function aLawEncodeSample(sample: number): number {
  const sign = sample >= 0 ? 0x80 : 0;
  const magnitude = Math.min(sample >= 0 ? sample : -sample - 1, 32767) >> 3;
  let byte: number;
  if (magnitude < 32) {
    byte = magnitude >> 1;
  } else {
    let exponent = 1;
    while (magnitude >> (exponent + 5) !== 0) exponent++;
    byte = (exponent << 4) | ((magnitude >> exponent) & 0x0f);
  }
  return (byte | sign) ^ 0x55;
}

function aLawDecodeSample(byte: number): number {
  const a = byte ^ 0x55;
  const exponent = (a >> 4) & 0x07;
  const mantissa = a & 0x0f;
  const magnitude = exponent === 0 ? (mantissa << 4) + 8 : ((mantissa << 4) + 0x108) << (exponent - 1);
  return a & 0x80 ? magnitude : -magnitude;
}

function decodeTable(decode: (byte: number) => number): Int16Array {
  const table = new Int16Array(256);
  for (let i = 0; i < 256; i++) table[i] = decode(i);
  return table;
}

// One entry per 16-bit sample value (offset so that -32768 maps to 0): 64 KiB per law.
function encodeTable(encode: (sample: number) => number): Uint8Array {
  const table = new Uint8Array(1 << 16);
  for (let i = 0; i < table.length; i++) table[i] = encode(i - 32768);
  return table;
}

const MULAW_DECODE = decodeTable(muLawDecodeSample);
const ALAW_DECODE = decodeTable(aLawDecodeSample);
const MULAW_ENCODE = encodeTable(muLawEncodeSample);
const ALAW_ENCODE = encodeTable(aLawEncodeSample);

export type G711Law = 'mulaw' | 'alaw';

export function g711Encode(law: G711Law, samples: Int16Array): Uint8Array {
  const table = law === 'mulaw' ? MULAW_ENCODE : ALAW_ENCODE;
  const out = new Uint8Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = table[samples[i]! + 32768]!;
  return out;
}

export function g711Decode(law: G711Law, bytes: Uint8Array): Int16Array {
  const table = law === 'mulaw' ? MULAW_DECODE : ALAW_DECODE;
  const out = new Int16Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = table[bytes[i]!]!;
  return out;
}
