// Splits the encoder's FLV output into tags, so one encode can feed several destinations that
// join, drop and come back at different times. A destination that (re)starts gets the FLV header,
// the metadata and the codec configuration (AVC and AAC sequence headers) first, then the live tags
// from the next keyframe on: what a fresh publisher would send.

export const FLV_HEADER_BYTES = 9 + 4; // header, then PreviousTagSize0
const TAG_HEADER_BYTES = 11;

export const TagType = { audio: 8, video: 9, script: 18 } as const;

export interface FlvTag {
  type: number;
  /** Milliseconds, as written by the encoder. */
  timestamp: number;
  /** The whole tag: header, data and the trailing PreviousTagSize. */
  bytes: Uint8Array;
  /** Codec configuration (AVC or AAC sequence header) or metadata: kept for late joiners. */
  config: boolean;
  /** A video keyframe, or any audio tag of an audio-only stream; a joiner may start here. */
  keyframe: boolean;
}

/** Incremental FLV parser: push stdout chunks, get whole tags. */
export class FlvReader {
  #buffer: Uint8Array = new Uint8Array(0);
  #header: Uint8Array | undefined;
  #hasVideo = false;

  /** The 13-byte file header, once read. */
  get header(): Uint8Array | undefined {
    return this.#header;
  }

  push(chunk: Uint8Array): FlvTag[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : concat(this.#buffer, chunk);
    const tags: FlvTag[] = [];
    let offset = 0;
    if (!this.#header) {
      if (this.#buffer.length < FLV_HEADER_BYTES) return tags;
      if (this.#buffer[0] !== 0x46 || this.#buffer[1] !== 0x4c || this.#buffer[2] !== 0x56) throw new Error('the encoder output is not FLV');
      this.#header = this.#buffer.slice(0, FLV_HEADER_BYTES);
      this.#hasVideo = (this.#buffer[4]! & 0x01) !== 0;
      offset = FLV_HEADER_BYTES;
    }
    while (this.#buffer.length - offset >= TAG_HEADER_BYTES) {
      const b = this.#buffer;
      const dataSize = (b[offset + 1]! << 16) | (b[offset + 2]! << 8) | b[offset + 3]!;
      const total = TAG_HEADER_BYTES + dataSize + 4;
      if (b.length - offset < total) break;
      const type = b[offset]! & 0x1f;
      const timestamp = ((b[offset + 7]! << 24) | (b[offset + 4]! << 16) | (b[offset + 5]! << 8) | b[offset + 6]!) >>> 0;
      const data = offset + TAG_HEADER_BYTES;
      let config = type === TagType.script;
      let keyframe = false;
      if (type === TagType.video) {
        // Byte 0: frame type (high nibble, 1 = key) and codec (7 = AVC); byte 1: 0 = sequence header.
        config = (b[data]! & 0x0f) === 7 && b[data + 1] === 0;
        keyframe = !config && b[data]! >> 4 === 1;
      } else if (type === TagType.audio) {
        // Byte 0: sound format (high nibble, 10 = AAC); byte 1: 0 = AudioSpecificConfig.
        config = b[data]! >> 4 === 10 && b[data + 1] === 0;
        keyframe = !config && !this.#hasVideo;
      }
      tags.push({ type, timestamp, bytes: b.slice(offset, offset + total), config, keyframe });
      offset += total;
    }
    this.#buffer = this.#buffer.slice(offset);
    return tags;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
