import { format } from 'node:util';
import type { Logger as SdkLogger } from 'matrix-js-sdk/lib/logger.js';
import type { Logger } from '../observability/logger.ts';

/**
 * matrix-js-sdk logs a lot at info (every sync, every membership action). Its info and below go
 * to our debug level; its warnings and errors stay warnings and errors. Lines pass through the
 * same redaction as ours.
 */
export function sdkLogger(log: Logger, namespace = 'matrix-js-sdk'): SdkLogger {
  const child = log.child({ sdk: namespace });
  const text = (args: unknown[]) => format(...args);
  return {
    trace: (...args: unknown[]) => child.trace(text(args)),
    debug: (...args: unknown[]) => child.debug(text(args)),
    info: (...args: unknown[]) => child.debug(text(args)),
    warn: (...args: unknown[]) => child.warn(text(args)),
    error: (...args: unknown[]) => child.error(text(args)),
    getChild: (name: string) => sdkLogger(log, `${namespace}/${name}`),
  };
}

type MethodFactory = (methodName: string) => (this: { prefix?: string }, ...args: unknown[]) => void;

/**
 * Parts of matrix-js-sdk (MatrixRTCSession, its membership and encryption managers) log through
 * the SDK's global logger rather than the client's, straight to the console, which would
 * interleave plain text with our JSON lines. Route that global logger into pino, once per process.
 */
export function routeSdkGlobalLogger(root: unknown, log: Logger): void {
  const target = root as { methodFactory: MethodFactory; rebuild(): void };
  const child = log.child({ sdk: 'matrix-js-sdk' });
  target.methodFactory = (methodName) =>
    function (this: { prefix?: string }, ...args: unknown[]) {
      const line = format(...(this.prefix ? [this.prefix, ...args] : args));
      if (methodName === 'error') child.error(line);
      else if (methodName === 'warn') child.warn(line);
      else child.debug(line);
    };
  target.rebuild();
}
