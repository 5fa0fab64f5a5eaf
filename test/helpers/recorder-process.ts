// Runs matrixrtc-recorder as a real child process (`node src/cli.ts <role>`), as deployed,
// with a config written for the local stack. Its JSON log lines are collected for assertions.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { StackInfo } from '../stack/info.ts';
import { RECORDER_ENV, RECORDER_NODE_FLAGS } from '../../src/node-flags.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface RecorderProcess {
  child: ChildProcess;
  logs: string[];
  configPath: string;
  /** Every log line is also appended here, for reading after a failed test. */
  logPath: string;
  /** Resolves with the first log line matching, or rejects after `timeoutMs` naming what it waited for. */
  waitForLog(match: (entry: Record<string, unknown>) => boolean, what: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startRecorder(role: 'all' | 'bridge' | 'worker', config: Record<string, unknown>): Promise<RecorderProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'mrr-recorder-'));
  const configPath = join(dir, 'config.yaml');
  writeFileSync(configPath, stringify(config));
  const child = spawn(process.execPath, [...RECORDER_NODE_FLAGS, join(root, 'src/cli.ts'), role, '--config', configPath], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...RECORDER_ENV },
  });
  const logs: string[] = [];
  const logPath = join(dir, 'recorder.log');
  const waiters = new Set<() => void>();
  let buffered = '';
  const onData = (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) if (line) logs.push(line);
    appendFileSync(logPath, lines.filter(Boolean).map((l) => `${l}\n`).join(''));
    for (const check of waiters) check();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // Never outlive the test process (a leftover would hold the appservice port).
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  void exited.then(() => process.off('exit', killOnExit));

  const parsed = (line: string): Record<string, unknown> => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      return { msg: line };
    }
  };

  const proc: RecorderProcess = {
    child,
    logs,
    configPath,
    logPath,
    waitForLog(match, what, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        let seen = 0;
        const check = () => {
          for (; seen < logs.length; seen++) {
            const entry = parsed(logs[seen]!);
            if (match(entry)) {
              cleanup();
              resolve(entry);
              return;
            }
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`recorder (${role}) did not log "${what}" within ${timeoutMs} ms. Log: ${logPath}. Last lines:\n${logs.slice(-15).join('\n')}`));
        }, timeoutMs);
        const onExit = (code: number | null) => {
          cleanup();
          reject(new Error(`recorder (${role}) exited with ${code} before logging "${what}". Last lines:\n${logs.slice(-15).join('\n')}`));
        };
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
          child.off('exit', onExit);
        };
        waiters.add(check);
        child.once('exit', onExit);
        check();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      // A process that does not finish its shutdown in 20 s is a failure to see, not to wait on.
      const timer = setTimeout(() => {
        logs.push(`[test] recorder did not exit 20 s after ${signal}; killing it`);
        child.kill('SIGKILL');
      }, 20_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  return proc;
}

/** Where a running recorder serves the metrics and health endpoints of `role` (from its log line). */
export async function metricsUrl(recorder: RecorderProcess, role: 'bridge' | 'worker'): Promise<string> {
  const line = await recorder.waitForLog((e) => e.msg === 'metrics listening' && e.role === role, `metrics listening (${role})`);
  return line.url as string;
}

/** A recorder config for the local stack; each call gets its own Redis prefix so runs never share jobs. */
export function stackRecorderConfig(stack: StackInfo, overrides: Record<string, Record<string, unknown>> = {}): Record<string, unknown> {
  const base: Record<string, Record<string, unknown>> = {
    homeserver: { url: stack.synapse.url, domain: stack.synapse.serverName },
    appservice: {
      registrationFile: stack.appservice.registrationFile,
      bindAddress: stack.appservice.bindAddress,
      port: stack.appservice.port,
      publicUrl: stack.appservice.url,
    },
    encryption: { storeDir: stack.botCrypto.storeDir, storeKey: stack.botCrypto.storeKey, crossSigningKeysFile: stack.botCrypto.crossSigningKeysFile },
    redis: { url: stack.redis.url, prefix: `mrr-test-${randomBytes(3).toString('hex')}` },
    recording: { outputDir: mkdtempSync(join(tmpdir(), 'mrr-recordings-')), ffmpegPath: stack.ffmpegPath },
    // The homeserver advertises SFU a only; SFU b stands for a partner's SFU the operator allows.
    rtc: { allowedAuthorizers: stack.sfus.slice(1).map((sfu) => new URL(sfu.authorizerUrl).host) },
    logging: { level: 'debug' },
    // A test that stops its only worker mid-session ends the session at once (handover.int.test.ts sets its own).
    jobs: { handoverTimeoutMs: 0 },
    // Any free ports: tests run several recorder processes on one host (find them with metricsUrl).
    metrics: { bridgePort: 0, workerPort: 0 },
  };
  for (const [section, values] of Object.entries(overrides)) base[section] = { ...base[section], ...values };
  return base;
}
