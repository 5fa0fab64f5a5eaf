import { pino, type Logger, type LoggerOptions, type DestinationStream } from 'pino';
import { REDACTED, scrubSecrets } from './secrets.ts';

export type { Logger };

/** Field names that hold credentials anywhere in a logged object (one or two levels deep). */
const SECRET_FIELDS = [
  'as_token', 'hs_token', 'asToken', 'hsToken', 'access_token', 'accessToken', 'token', 'jwt',
  'password', 'secret', 'apiSecret', 'key', 'keyBytes', 'openid_token', 'openIdToken', 'authorization',
];

export interface LoggerConfig {
  level: string;
  pretty?: boolean;
  /** Extra dotted paths to redact, e.g. secret config keys. */
  redactPaths?: string[];
}

export function redactPaths(extra: string[] = []): string[] {
  const paths = new Set<string>(extra);
  for (const field of SECRET_FIELDS) {
    paths.add(field);
    paths.add(`*.${field}`);
    paths.add(`*.*.${field}`);
  }
  paths.add('req.headers.authorization');
  return [...paths];
}

/** The root logger. Modules get children (`log.child({ module })`), never a global. */
export function createLogger(cfg: LoggerConfig, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level: cfg.level,
    base: { app: 'matrixrtc-recorder' },
    redact: { paths: redactPaths(cfg.redactPaths), censor: REDACTED },
    hooks: { streamWrite: scrubSecrets },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (cfg.pretty && !destination) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { singleLine: true } } });
  }
  return destination ? pino(options, destination) : pino(options);
}
