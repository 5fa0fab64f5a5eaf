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
