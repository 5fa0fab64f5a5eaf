// The libraries running in a script's own process log to stdout by default: matrix-js-sdk's global
// logger (MatrixRTCSession and its managers; the test helpers route it to an error-level pino on
// stdout) and rtc-node's own pino logger, which logs at debug unless NODE_ENV is production and
// which rtc-node does not export. The demo and the bench send both to a file instead, so their
// terminal output is the story or the figures.
import { logger as sdkGlobalLogger } from 'matrix-js-sdk/lib/logger.js';
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { destination, pino, symbols } from 'pino';
import { routeSdkGlobalLogger } from '../src/rtc/sdk-logger.ts';

/** Sends the libraries' logs to a new file below the temporary directory; returns its path. */
export function sendLibraryLogsToFile(prefix: string): string {
  const path = join(mkdtempSync(join(tmpdir(), prefix)), 'libraries.log');
  const stream = destination({ dest: path, sync: true });
  routeSdkGlobalLogger(sdkGlobalLogger, pino({ level: 'debug' }, stream));
  const require = createRequire(import.meta.url);
  const rtcNodeLogModule = join(dirname(require.resolve('@livekit/rtc-node')), 'log.cjs');
  const rtcNodeLog = (require(rtcNodeLogModule) as { log?: Record<symbol, unknown> }).log;
  if (!rtcNodeLog || !(symbols.streamSym in rtcNodeLog)) throw new Error(`rtc-node's logger is not where this script expects it (${rtcNodeLogModule}): its debug lines would reach the terminal`);
  rtcNodeLog[symbols.streamSym] = stream;
  return path;
}
