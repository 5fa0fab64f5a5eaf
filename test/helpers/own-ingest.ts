// An RTMP ingest of a test's own (nginx + libnginx-mod-rtmp on its own loopback ports), to kill
// and restart while the stack's ingest stays up for everyone else.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rtmpInfo, writeNginxConfig } from '../stack/configs.ts';
import type { RtmpInfo } from '../stack/info.ts';
import { waitFor } from './matrix.ts';

export interface OwnIngest {
  info: RtmpInfo;
  start(): Promise<void>;
  /** SIGKILL to nginx's process group: master and worker die at once, like a crash. */
  kill(): Promise<void>;
  /** Kills it if it runs and removes its files. */
  dispose(): Promise<void>;
}

export function ownIngest(ports: { rtmp: number; http: number }, goodKey: string): OwnIngest {
  const info = rtmpInfo(ports, goodKey);
  const dir = mkdtempSync(join(tmpdir(), 'mrr-nginx-'));
  const { args } = writeNginxConfig(dir, info);
  let nginx: ChildProcess | undefined;
  const running = () => nginx !== undefined && nginx.exitCode === null && nginx.signalCode === null;
  const ingest: OwnIngest = {
    info,
    async start() {
      nginx = spawn('nginx', args, { stdio: 'ignore', detached: true });
      await waitFor(async () => ((await fetch(`http://127.0.0.1:${ports.http}/healthz`).catch(() => undefined))?.ok ? true : undefined), 'nginx healthy', 10_000, 50);
    },
    async kill() {
      const exited = once(nginx!, 'exit');
      process.kill(-nginx!.pid!, 'SIGKILL');
      await exited;
    },
    async dispose() {
      if (running()) await ingest.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return ingest;
}
