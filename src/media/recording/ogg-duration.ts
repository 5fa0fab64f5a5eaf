// The playable length of an Ogg Opus file, read from the container itself: the granule position
// of its last complete page minus the encoder's pre-skip. Works on a file cut off by a crash,
// which is exactly when it is needed (no ffprobe at run time).
import { readFile } from 'node:fs/promises';

const CAPTURE = Buffer.from('OggS');
const OPUS_RATE = 48_000;

export async function oggOpusDurationMs(path: string): Promise<number> {
  const bytes = await readFile(path);
  const head = bytes.indexOf('OpusHead');
  if (head < 0) throw new Error(`${path} is not an Ogg Opus file (no OpusHead)`);
  const preSkip = bytes.readUInt16LE(head + 10);
  // Search backwards for the last page whose header is complete; a torn tail page is ignored.
  for (let at = bytes.lastIndexOf(CAPTURE); at >= 0; at = bytes.lastIndexOf(CAPTURE, at - 1)) {
    if (at + 27 > bytes.length) continue;
    const segments = bytes[at + 26]!;
    const headerEnd = at + 27 + segments;
    if (headerEnd > bytes.length) continue;
    let body = 0;
    for (let i = 0; i < segments; i++) body += bytes[at + 27 + i]!;
    if (headerEnd + body > bytes.length) continue;
    const granule = bytes.readBigInt64LE(at + 6);
    if (granule < 0n) continue; // -1: no packet ends on this page
    return Math.max(0, Math.round((Number(granule - BigInt(preSkip)) * 1000) / OPUS_RATE));
  }
  return 0;
}
