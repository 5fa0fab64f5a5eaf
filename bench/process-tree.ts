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

/** Each thread of a process: its name and CPU seconds so far, by thread id. */
function threadTimes(pid: number): Map<string, { name: string; cpu: number }> {
  const threads = new Map<string, { name: string; cpu: number }>();
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    let line: string;
    try {
      line = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    const name = line.slice(line.indexOf('(') + 1, line.lastIndexOf(')'));
    const fields = line.slice(line.lastIndexOf(') ') + 2).split(' ');
    threads.set(task, { name, cpu: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S });
  }
  return threads;
}

/**
 * Samples a process's threads until stopped, then gives the CPU seconds each thread name used
 * meanwhile (e.g. node's main thread, V8 and libuv workers, rtc-node's tokio and WebRTC threads):
 * where a process's own time goes, which a V8 profile shows only for JavaScript on the main
 * thread. Sampled, not read once at the end: a thread that ends before then (each video track's
 * decoder, when the call ends) keeps what it used up to its last sample.
 */
export function sampleThreads(pid: number, intervalMs = 250): { stop(): Map<string, number> } {
  const first = threadTimes(pid);
  const last = new Map(first);
  const sample = () => {
    try {
      for (const [tid, thread] of threadTimes(pid)) last.set(tid, thread);
    } catch {
      // the recorder exited: the bench reports that where it waits for it
    }
  };
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      const byName = new Map<string, number>();
      for (const [tid, { name, cpu }] of last) byName.set(name, (byName.get(name) ?? 0) + cpu - (first.get(tid)?.cpu ?? 0));
      return byName;
    },
  };
}

/**
 * Node's own threads (its main thread, where the JavaScript and the FFI calls run, V8's and
 * libuv's workers, the profiler's): every other thread of the recorder is rtc-node's native media
 * stack (tokio, libwebrtc's network, worker and decoding threads, frame decryption).
 */
const NODE_THREADS = new Set(['MainThread', 'V8Worker', 'libuv-worker', 'v8:ProfEvntProc', 'SignalInspector', 'DelayedTaskSche', 'node']);

/** CPU seconds of rtc-node's native threads among threads by name. */
export const rtcNodeCpu = (threads: ReadonlyMap<string, number>): number =>
  [...threads].filter(([name]) => !NODE_THREADS.has(name)).reduce((sum, [, cpu]) => sum + cpu, 0);
