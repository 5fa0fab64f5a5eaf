// What a process and its direct children (the recorder and its ffmpeg processes) cost, read from
// /proc: CPU seconds, resident memory, and what each child is (a stream's encoder or a
// destination's copy-only relay), told apart by its arguments. Arguments are never printed:
// a relay's hold the destination URL and its stream key.
import { readFileSync, readdirSync } from 'node:fs';

const TICKS_PER_S = 100; // USER_HZ on Linux

export type ChildRole = 'stream encoder' | 'stream relay' | 'other';

export interface TreeCpu {
  /** The process itself. */
  own: number;
  /** Children it has reaped (their time moves to the parent when they exit). */
  reaped: number;
  /** Children alive (or not yet reaped) now: their time so far, and theirs' reaped. */
  live: Map<number, { role: ChildRole; cpu: number }>;
}

/** utime + stime, and cutime + cstime, of one process, in seconds. */
function stat(pid: number): { own: number; reaped: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // After "pid (comm) ": state is field 3, utime 14, stime 15, cutime 16, cstime 17.
  const [utime, stime, cutime, cstime] = [11, 12, 13, 14].map((i) => Number(fields[i]));
  return { own: (utime! + stime!) / TICKS_PER_S, reaped: (cutime! + cstime!) / TICKS_PER_S };
}

export function childPids(pid: number): number[] {
  const pids: number[] = [];
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      pids.push(...readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
    } catch {
      // the thread ended meanwhile
    }
  }
  return pids;
}

/** A stream's one encode (x264 or AAC into FLV on stdout) or a destination's relay (`-c copy`). */
function roleOf(pid: number): ChildRole {
  // NUL-terminated arguments.
  const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  const copies = args.some((arg, i) => arg === '-c' && args[i + 1] === 'copy');
  if (copies) return 'stream relay';
  const toFlvPipe = args.includes('flv') && args.at(-1) === 'pipe:1';
  return toFlvPipe ? 'stream encoder' : 'other';
}

export function treeCpu(pid: number): TreeCpu {
  // Children first: one that exits meanwhile is then missed, never counted twice.
  const live = new Map<number, { role: ChildRole; cpu: number }>();
  for (const child of childPids(pid)) {
    try {
      const s = stat(child);
      live.set(child, { role: roleOf(child), cpu: s.own + s.reaped });
    } catch {
      // exited between the listing and the read
    }
  }
  return { ...stat(pid), live };
}

/** CPU seconds of a process itself, and of its children (reaped or running). */
export function cpuSeconds(pid: number): { own: number; children: number } {
  const t = treeCpu(pid);
  return { own: t.own, children: t.reaped + [...t.live.values()].reduce((sum, c) => sum + c.cpu, 0) };
}

/** Resident memory (KiB) of a process and its direct children. */
export function treeRssKiB(pid: number): number {
  let total = rssKiB(pid, 'VmRSS');
  for (const child of childPids(pid)) {
    try {
      total += rssKiB(child, 'VmRSS');
    } catch {
      // the child exited between the listing and the read
    }
  }
  return total;
}

/** VmRSS: resident now; VmHWM: the highest it has been in the process's life. */
export function rssKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
}

/**
 * Memory that only this process holds (Private_Clean + Private_Dirty): what one more such process
 * really costs. Its resident size also counts the shared libraries every ffmpeg maps.
 */
export function privateKiB(pid: number): number {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? Number.NaN);
  const kib = field('Private_Clean') + field('Private_Dirty');
  if (Number.isNaN(kib)) throw new Error(`/proc/${pid}/smaps_rollup has no Private_Clean/Private_Dirty lines`);
  return kib;
}

/** Samples the tree's resident memory until stopped; `peakKiB` is the highest sum seen. */
export function sampleRss(pid: number, intervalMs = 250): { peakKiB(): number; stop(): void } {
  let peak = treeRssKiB(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, treeRssKiB(pid));
    } catch {
      // the recorder exited: the bench reports that where it waits for it
    }
  }, intervalMs);
  return { peakKiB: () => peak, stop: () => clearInterval(timer) };
}

/**
 * CPU seconds of a process's threads, summed by thread name (e.g. node's main thread, V8 and libuv
 * workers, rtc-node's tokio and WebRTC threads): where a process's own time goes, which a V8
 * profile shows only for JavaScript on the main thread. A thread that ended is no longer counted.
 */
export function threadCpu(pid: number): Map<string, number> {
  const byName = new Map<string, number>();
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    let line: string;
    try {
      line = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    const name = line.slice(line.indexOf('(') + 1, line.lastIndexOf(')'));
    const fields = line.slice(line.lastIndexOf(') ') + 2).split(' ');
    const cpu = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
    byName.set(name, (byName.get(name) ?? 0) + cpu);
  }
  return byName;
}
