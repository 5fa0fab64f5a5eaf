// Where a test finds what the recorder wrote: the segment folder of a room's (only) session and
// a speaker's stem in it, by the names the recorder gives them.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** `<outputDir>/<room>/<job>/segment-<index>` of the room's session. */
export function segmentDir(outputDir: string, roomId: string, index = 0): string {
  const roomDir = readdirSync(outputDir).find((d) => d.includes(roomId.slice(1, 10)));
  if (!roomDir) throw new Error(`no recording folder for ${roomId} in ${outputDir}`);
  const job = readdirSync(join(outputDir, roomDir))[0];
  if (!job) throw new Error(`no session folder for ${roomId} in ${join(outputDir, roomDir)}`);
  return join(outputDir, roomDir, job, `segment-${index}`);
}

/** The stem file of `userId` in a segment folder. */
export function stemOf(segment: string, userId: string): string {
  const file = readdirSync(segment).find((f) => f.startsWith('stem-') && f.includes(userId.slice(1, 12)));
  if (!file) throw new Error(`no stem of ${userId} in ${segment}`);
  return join(segment, file);
}
