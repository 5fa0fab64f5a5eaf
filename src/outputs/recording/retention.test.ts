import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { retentionNote, sweepOldRecordings } from './retention.ts';

const DAY_MS = 24 * 3600_000;
const now = Date.parse('2026-11-25T12:00:00Z');

/** Sets a path's mtime (and atime) to `daysAgo` days before `now`. */
function age(path: string, daysAgo: number): void {
  const t = new Date(now - daysAgo * DAY_MS);
  utimesSync(path, t, t);
}

function file(path: string, daysAgo: number, bytes = 10): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, Buffer.alloc(bytes, 1));
  age(path, daysAgo);
  return path;
}

describe('sweepOldRecordings', () => {
  it('removes files past the age and the folders they leave empty, and keeps everything younger', async () => {
    const root = mkdtempSync(join(tmpdir(), 'mrr-retention-'));
    const oldSession = join(root, '!room_a', 'rec_old', 'segment-0');
    const oldMixed = file(join(oldSession, 'mixed.ogg'), 40, 1000);
    const oldManifest = file(join(oldSession, 'manifest.json'), 40, 200);
    const newSession = join(root, '!room_a', 'rec_new', 'segment-0');
    const newMixed = file(join(newSession, 'mixed.ogg'), 1, 500);
    // A session whose first segment is old but whose second is still fresh: only the old files go.
    const mixedAge = join(root, '!room_b', 'rec_mixed');
    const oldSegment = file(join(mixedAge, 'segment-0', 'mixed.ogg'), 31);
    const freshSegment = file(join(mixedAge, 'segment-1', 'mixed.ogg'), 0.1);
    for (const dir of [oldSession, join(oldSession, '..'), join(mixedAge, 'segment-0'), mixedAge, join(root, '!room_b'), newSession, join(newSession, '..'), join(root, '!room_a')]) age(dir, 40);

    const result = await sweepOldRecordings(root, 30 * DAY_MS, now);

    expect(result.removedFiles.sort()).toEqual([oldManifest, oldMixed, oldSegment].sort());
    expect(result.removedBytes).toBe(1210);
    expect(existsSync(oldSession)).toBe(false);
    expect(existsSync(join(root, '!room_a', 'rec_old'))).toBe(false);
    expect(existsSync(join(mixedAge, 'segment-0'))).toBe(false);
    expect(existsSync(newMixed)).toBe(true);
    expect(existsSync(freshSegment)).toBe(true);
    // Folders with something young inside stay, whatever their own age; so does the root.
    expect(existsSync(join(root, '!room_a'))).toBe(true);
    expect(existsSync(mixedAge)).toBe(true);
    expect(existsSync(root)).toBe(true);
    expect(result.problems).toEqual([]);
  });

  it('never follows a symbolic link out of the tree, nor removes the link', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'mrr-retention-outside-'));
    const precious = file(join(outside, 'precious', 'old.ogg'), 400);
    const preciousFile = file(join(outside, 'lonely.ogg'), 400);
    age(join(outside, 'precious'), 400);
    const root = mkdtempSync(join(tmpdir(), 'mrr-retention-'));
    const room = join(root, '!room');
    mkdirSync(room);
    const dirLink = join(room, 'linked-dir');
    const fileLink = join(room, 'linked-file.ogg');
    symlinkSync(join(outside, 'precious'), dirLink);
    symlinkSync(preciousFile, fileLink);
    const old = file(join(room, 'old.ogg'), 400);
    age(room, 400);

    const result = await sweepOldRecordings(root, 1 * DAY_MS, now);

    expect(result.removedFiles).toEqual([old]);
    expect(result.skipped.sort()).toEqual([dirLink, fileLink].sort());
    expect(readFileSync(precious).length).toBe(10);
    expect(readFileSync(preciousFile).length).toBe(10);
    expect(existsSync(dirLink) && existsSync(fileLink)).toBe(true);
    // The folder holds the links, so it is not empty and stays.
    expect(existsSync(room)).toBe(true);
  });

  it('does nothing to a tree that does not exist yet, and refuses a non-positive age', async () => {
    const missing = join(tmpdir(), `mrr-retention-missing-${process.pid}-${Date.now()}`);
    expect(await sweepOldRecordings(missing, DAY_MS, now)).toMatchObject({ removedFiles: [], removedDirs: [], problems: [] });
    await expect(sweepOldRecordings(missing, 0, now)).rejects.toThrow(/must be positive/);
  });
});

describe('retentionNote', () => {
  it('says until when the local files are kept, or that they are kept until deleted by hand', () => {
    expect(retentionNote(30, '2026-11-25T12:00:00.000Z')).toEqual({ localDays: 30, localUntil: '2026-12-25T12:00:00.000Z' });
    expect(retentionNote(0.5, '2026-11-25T12:00:00.000Z')).toEqual({ localDays: 0.5, localUntil: '2026-11-26T00:00:00.000Z' });
    expect(retentionNote(undefined, '2026-11-25T12:00:00.000Z')).toEqual({ localDays: null });
  });
});
