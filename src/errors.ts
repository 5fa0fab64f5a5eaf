// Typed errors shared by every module. Each keeps what its boundary needs to report it:
// a Matrix error keeps `errcode`; an authorizer error keeps the HTTP status and body.
// `userMessage` is the plain sentence a person in the room sees.

export interface ErrorOptions {
  userMessage?: string;
  /** false: retrying cannot help (BullMQ maps this to UnrecoverableError). */
  retryable?: boolean;
  cause?: unknown;
}

export class RecorderError extends Error {
  /** Matrix errcode, or one of ours prefixed MRR_ (documented where thrown). */
  readonly errcode: string;
  readonly userMessage: string | undefined;
  readonly retryable: boolean;

  constructor(message: string, errcode: string, opts: ErrorOptions = {}) {
    super(message, { cause: opts.cause });
    this.name = new.target.name;
    this.errcode = errcode;
    this.userMessage = opts.userMessage;
    this.retryable = opts.retryable ?? true;
  }
}

/** MRR_CONFIG: the configuration is invalid; `path` names the key. */
export class ConfigError extends RecorderError {
  readonly path: string;
  constructor(path: string, problem: string, opts: ErrorOptions = {}) {
    super(path ? `${path}: ${problem}` : problem, 'MRR_CONFIG', { retryable: false, ...opts });
    this.path = path;
  }
}

/** A user's command was wrong or not allowed; `userMessage` says why. */
export class CommandError extends RecorderError {
  constructor(userMessage: string, errcode = 'MRR_COMMAND') {
    super(userMessage, errcode, { userMessage, retryable: false });
  }
}

/** A homeserver request failed with a Matrix error body. */
export class MatrixApiError extends RecorderError {
  readonly httpStatus: number;
  readonly matrixError: string;
  constructor(what: string, httpStatus: number, errcode: string, matrixError: string, opts: ErrorOptions = {}) {
    super(`${what} failed: HTTP ${httpStatus} ${errcode}: ${matrixError}`, errcode, {
      retryable: httpStatus >= 500 || httpStatus === 429,
      ...opts,
    });
    this.httpStatus = httpStatus;
    this.matrixError = matrixError;
  }
}

/** Describes any thrown value in one line, without a stack, for replies and logs. */
export function describeError(err: unknown): string {
  if (err instanceof RecorderError) return err.userMessage ?? err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

/** The LiveKit authorizer (lk-jwt-service) refused or failed; keeps its HTTP status and body. */
export class AuthorizerError extends RecorderError {
  readonly httpStatus: number;
  readonly body: string;
  constructor(url: string, httpStatus: number, body: string, errcode: string | undefined, matrixError: string | undefined, opts: ErrorOptions = {}) {
    const detail = errcode ? `${errcode}: ${matrixError ?? ''}` : body.slice(0, 200) || '(empty body)';
    super(`the LiveKit authorizer at ${url} answered HTTP ${httpStatus} ${detail}`, errcode ?? 'MRR_AUTHORIZER', {
      retryable: httpStatus >= 500 || httpStatus === 429,
      // Neither the address nor the body in the room: the body is whatever the authorizer chose to write.
      userMessage: `The call's LiveKit authorizer refused me a token (HTTP ${httpStatus}${errcode ? ` ${errcode}` : ''}).`,
      ...opts,
    });
    this.httpStatus = httpStatus;
    this.body = body;
  }
}

/** ffmpeg (or another media process) failed; keeps its exit code, signal and last stderr lines. */
export class MediaError extends RecorderError {
  readonly exitCode: number | null;
  readonly signal: string | null;
  constructor(message: string, exitCode: number | null, signal: string | null, opts: ErrorOptions = {}) {
    super(message, 'MRR_MEDIA', opts);
    this.exitCode = exitCode;
    this.signal = signal;
  }
}
