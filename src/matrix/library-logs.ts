import { Writable } from 'node:stream';
import { Logger as BridgeLibraryLogger } from 'matrix-appservice-bridge';
import type { Logger } from '../observability/logger.ts';

const LEVELS: Record<string, 'debug' | 'info' | 'warn' | 'error'> = {
  DEBUG: 'debug', VERBOSE: 'debug', TRACE: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error',
};

/**
 * matrix-appservice-bridge logs through winston to the console. Route it into our pino logger
 * instead, so its lines are JSON like ours and pass through the same secret scrubbing.
 */
export function routeBridgeLibraryLogs(log: Logger): void {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        try {
          const entry = JSON.parse(line) as { level?: string; module?: string; message?: string; error?: string };
          const level = LEVELS[entry.level ?? ''] ?? 'info';
          log[level]({ lib: entry.module, error: entry.error }, entry.message ?? '');
        } catch {
          log.info(line);
        }
      }
      done();
    },
  });
  BridgeLibraryLogger.root.configureLogging({ json: true }, sink);
}
