// Background processes started by the stack script. Each writes a pid file holding the pid and
// the process's start time from /proc; `down` stops a process only while /proc still shows that
// start time (a reused pid has another), so it never kills anything it did not start, never by name.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { STATE_DIR } from './info.ts';

const PID_DIR = join(STATE_DIR, 'pids');
export const LOG_DIR = join(STATE_DIR, 'logs');

interface PidFile {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: clock ticks since boot when the process started. */
  startTime: string;
}

export interface ManagedProcess {
  name: string;
  command: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export function startProcess(spec: ManagedProcess): number {
  mkdirSync(PID_DIR, { recursive: true });
  mkdirSync(LOG_DIR, { recursive: true });
  const log = openSync(join(LOG_DIR, `${spec.name}.log`), 'a');
  const child = spawn(spec.command, spec.args, {
    cwd: spec.cwd,
    env: spec.env ?? process.env,
    detached: true,
    stdio: ['ignore', log, log],
  });
  if (child.pid === undefined) throw new Error(`could not start ${spec.name} (${spec.command})`);
  child.unref();
  const record: PidFile = { pid: child.pid, startTime: startTimeOf(child.pid) ?? '' };
  writeFileSync(join(PID_DIR, `${spec.name}.pid`), JSON.stringify(record));
  return child.pid;
}

/**
 * Stops one process of the stack (SIGTERM to its group, SIGKILL after 10 s) and starts it again
 * after `downMs` with the command line, working directory and environment /proc showed for it
 * (read into memory only); resolves with the new pid and when the old one was gone. For fault
 * tests, which must hold the stack lock while the process is away.
 */
export async function restartProcess(name: string, downMs = 0): Promise<{ pid: number; stoppedAt: number }> {
  const found = readPidFiles().find((p) => p.name === name);
  if (!found || !isOurs(found.record)) throw new Error(`${name} is not running as started by the stack script`);
  const { pid } = found.record;
  const [command, ...args] = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  const cwd = readlinkSync(`/proc/${pid}/cwd`);
  const env = Object.fromEntries(
    readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .filter(Boolean)
      .map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]),
  );
  signalGroup(pid, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (isOurs(found.record) && Date.now() < deadline) await sleep(50);
  if (isOurs(found.record)) signalGroup(pid, 'SIGKILL');
  while (isOurs(found.record)) await sleep(50);
  const stoppedAt = Date.now();
  if (downMs > 0) await sleep(downMs);
  return { pid: startProcess({ name, command: command!, args, cwd, env }), stoppedAt };
}

function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; fields after its closing parenthesis are plain.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' ? undefined : fields[19];
  } catch {
    return undefined;
  }
}

/** The process is alive and is still the one we started. */
const isOurs = (record: PidFile) => record.startTime !== '' && startTimeOf(record.pid) === record.startTime;

function readPidFiles(): Array<{ name: string; record: PidFile }> {
  if (!existsSync(PID_DIR)) return [];
  return readdirSync(PID_DIR)
    .filter((f) => f.endsWith('.pid'))
    .map((f) => ({ name: f.slice(0, -4), record: JSON.parse(readFileSync(join(PID_DIR, f), 'utf8')) as PidFile }));
}

export function runningProcesses(): Map<string, number> {
  return new Map(readPidFiles().filter(({ record }) => isOurs(record)).map(({ name, record }) => [name, record.pid]));
}

const signalGroup = (pid: number, signal: NodeJS.Signals) => {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
};

/** Stops every process this script started: SIGTERM to its process group, SIGKILL after 10 s. */
export async function stopAll(log: (line: string) => void): Promise<void> {
  const ours = readPidFiles().filter(({ record }) => isOurs(record));
  for (const { record } of ours) signalGroup(record.pid, 'SIGTERM');
  for (const { name, record } of ours) {
    const deadline = Date.now() + 10_000;
    while (isOurs(record) && Date.now() < deadline) await sleep(100);
    if (isOurs(record)) {
      log(`${name} (pid ${record.pid}) ignored SIGTERM for 10 s; sending SIGKILL`);
      signalGroup(record.pid, 'SIGKILL');
    }
    log(`stopped ${name} (pid ${record.pid})`);
  }
  rmSync(PID_DIR, { recursive: true, force: true });
}

/** Polls until `check` passes, printing what it waits for every 5 s; fails with the log's tail. */
export async function waitHealthy(
  name: string,
  check: () => Promise<boolean>,
  log: (line: string) => void,
  signal: AbortSignal,
  timeoutMs = 120_000,
): Promise<number> {
  const started = Date.now();
  let nextNotice = started + 5_000;
  for (;;) {
    signal.throwIfAborted();
    if (await check().catch(() => false)) return Date.now() - started;
    const pidFile = join(PID_DIR, `${name}.pid`);
    if (existsSync(pidFile) && !isOurs(JSON.parse(readFileSync(pidFile, 'utf8')) as PidFile)) {
      throw new Error(`${name} exited during start-up; last lines of ${join(LOG_DIR, `${name}.log`)}:\n${logTail(name)}`);
    }
    if (Date.now() - started > timeoutMs) {
      throw new Error(`${name} was not healthy after ${timeoutMs / 1000} s; last lines of its log:\n${logTail(name)}`);
    }
    if (Date.now() >= nextNotice) {
      log(`waiting for ${name} (${Math.round((Date.now() - started) / 1000)} s)`);
      nextNotice += 5_000;
    }
    await sleep(200);
  }
}

function logTail(name: string): string {
  try {
    return readFileSync(join(LOG_DIR, `${name}.log`), 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '(no log)';
  }
}
