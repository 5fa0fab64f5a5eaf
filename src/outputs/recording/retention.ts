// Local retention: recording files below `recording.outputDir` whose last write is older than
// `recording.retentionDays` are deleted by the workers, on a timer. Only that directory tree is
// touched and symbolic links are never followed (nor removed): a link inside it that points
// elsewhere cannot make the sweep delete anything outside. Directories left empty go too, when
// they were already old before the sweep (a session's folder being created right now stays).
import type { Dirent } from 'node:fs';
import { lstat, readdir, rmdir, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Config } from '../../config/schema.ts';
import type { Logger } from '../../observability/logger.ts';
import { retentionRemoved } from '../../observability/metrics.ts';

const DAY_MS = 24 * 3600_000;

export interface SweepResult {
  removedFiles: string[];
  removedBytes: number;
  removedDirs: string[];
  /** Symbolic links (and sockets, FIFOs, devices) met and left alone. */
  skipped: string[];
  /** What could not be removed, and why. */
  problems: string[];
}

/** What the manifest says about the local files' lifetime. */
export type RetentionNote = { localDays: number; localUntil: string } | { localDays: null };

export function retentionNote(retentionDays: number | undefined, endedAt: string): RetentionNote {
  if (retentionDays === undefined) return { localDays: null };
  return { localDays: retentionDays, localUntil: new Date(Date.parse(endedAt) + retentionDays * DAY_MS).toISOString() };
}

/** Deletes what below `root` was last written before `now - maxAgeMs`. The root itself always stays. */
export async function sweepOldRecordings(root: string, maxAgeMs: number, now = Date.now()): Promise<SweepResult> {
  if (!(maxAgeMs > 0)) throw new Error(`retention: the maximum age must be positive, not ${maxAgeMs}`);
  const result: SweepResult = { removedFiles: [], removedBytes: 0, removedDirs: [], skipped: [], problems: [] };
  const cutoff = now - maxAgeMs;
  const top = resolve(root);
  const rootStat = await lstat(top).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined; // nothing recorded yet
    throw err;
  });
  if (!rootStat) return result;
  // The configured root may itself be a link (an operator's choice); nothing below it is followed.
  await sweepDir(top, cutoff, result);
  return result;
}

async function sweepDir(dir: string, cutoff: number, result: SweepResult): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') result.problems.push(`${dir}: ${(err as Error).message}`);
    return;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    // Dirent types come from lstat semantics: a symlink is a symlink, whatever it points to.
    if (entry.isDirectory()) await sweepSubdir(path, cutoff, result);
    else if (entry.isFile()) await removeIfOld(path, cutoff, result);
    else result.skipped.push(path);
  }
}

async function sweepSubdir(dir: string, cutoff: number, result: SweepResult): Promise<void> {
  // Its age before we change it: removing files inside makes a directory's mtime now.
  const before = await lstat(dir).catch(() => undefined);
  if (!before?.isDirectory()) return;
  await sweepDir(dir, cutoff, result);
  if (before.mtimeMs >= cutoff) return;
  try {
    await rmdir(dir);
    result.removedDirs.push(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Not empty (something younger inside) or already gone (another worker's sweep): both fine.
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOENT') result.problems.push(`${dir}: ${(err as Error).message}`);
  }
}

async function removeIfOld(path: string, cutoff: number, result: SweepResult): Promise<void> {
  try {
    const stat = await lstat(path);
    if (!stat.isFile() || stat.mtimeMs >= cutoff) return;
    await unlink(path);
    result.removedFiles.push(path);
    result.removedBytes += stat.size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') result.problems.push(`${path}: ${(err as Error).message}`);
  }
}

export interface RetentionSweep {
  /** Resolves when the sweep under way (if any) is done. */
  stop(): Promise<void>;
}

/** Sweeps at start and then every `retentionSweepIntervalMs`; does nothing when `retentionDays` is unset. */
export function startRetentionSweep(recording: Config['recording'], log: Logger): RetentionSweep {
  const { retentionDays, retentionSweepIntervalMs, outputDir } = recording;
  const slog = log.child({ module: 'retention' });
  if (retentionDays === undefined) {
    slog.info({ outputDir }, 'local recordings are kept until deleted by hand (recording.retentionDays is unset)');
    return { stop: async () => undefined };
  }
  let running: Promise<void> | undefined;
  const sweep = () => {
    running ??= sweepOldRecordings(outputDir, retentionDays * DAY_MS)
      .then((r) => {
        retentionRemoved(r.removedFiles.length, r.removedBytes);
        if (r.removedFiles.length > 0 || r.removedDirs.length > 0) {
          slog.info({ audit: true, event: 'retention', outputDir, retentionDays, files: r.removedFiles, bytes: r.removedBytes, dirs: r.removedDirs.length }, 'removed local recordings past their retention');
        }
        if (r.skipped.length > 0) slog.debug({ skipped: r.skipped }, 'left alone: not regular files or directories');
        if (r.problems.length > 0) slog.error({ problems: r.problems }, 'retention could not remove some old recordings');
      })
      .catch((err: unknown) => slog.error({ err, outputDir }, 'retention sweep failed'))
      .finally(() => (running = undefined));
  };
  slog.info({ outputDir, retentionDays, intervalMs: retentionSweepIntervalMs }, 'retention sweep started');
  sweep();
  const timer = setInterval(sweep, retentionSweepIntervalMs);
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
