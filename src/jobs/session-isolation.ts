// A worker runs several sessions in one process. Node ends the process on an error nobody
// caught (a rejected promise without a handler, a throw in an event listener), and with it every
// other session: their calls would be left mid-recording for the stalled-job check to recover.
// A worker logs such an error loudly and lets the sessions go on; each session's own failures
// still end only that session (its runner throws, the job fails).
import type { Logger } from '../observability/logger.ts';

let installed: Logger | undefined;

export function keepSessionsApart(log: Logger): void {
  if (installed) return;
  installed = log;
  process.on('unhandledRejection', (reason) => {
    log.error({ err: reason }, 'an error nobody handled (a rejected promise); the other sessions go on');
  });
  process.on('uncaughtException', (err, origin) => {
    log.error({ err, origin }, 'an error nobody caught; the other sessions go on');
  });
}
