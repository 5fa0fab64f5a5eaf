// Values that must never appear in log output, wherever they occur in a line (also inside
// error messages and URLs, which key-based redaction cannot see). Tokens are registered here
// when they are read or minted; the logger scrubs every line it writes.
//
// A worker mints secrets for every session (the call user's access token, SFU JWTs, stream
// keys); kept forever they would make the list, and the cost of scrubbing each line, grow with
// every session the worker ever ran. A session therefore runs in a secret scope: what is
// registered inside it (through any await) is forgotten when the scope ends, unless something
// outside the scope registered the same value too.
import { AsyncLocalStorage } from 'node:async_hooks';

/** How many holders (the process itself, open scopes) each secret has. */
const registered = new Map<string, number>();
const MIN_LENGTH = 8; // shorter values would scrub ordinary words

interface Scope {
  readonly values: Set<string>;
  open: boolean;
}
const currentScope = new AsyncLocalStorage<Scope>();

export function registerSecret(value: string | undefined | null): void {
  if (!value || value.length < MIN_LENGTH) return;
  const scope = currentScope.getStore();
  // A closed scope's late registration (a timer that outlived its session) is kept for good: safe over small.
  if (scope?.open) {
    if (scope.values.has(value)) return;
    scope.values.add(value);
  }
  registered.set(value, (registered.get(value) ?? 0) + 1);
}

export function forgetSecret(value: string): void {
  registered.delete(value);
}

/** Runs `work` in a scope of its own: secrets registered while it runs are forgotten once it has settled. */
export async function withSecretScope<T>(work: () => Promise<T>): Promise<T> {
  const scope: Scope = { values: new Set(), open: true };
  try {
    return await currentScope.run(scope, work);
  } finally {
    scope.open = false;
    for (const value of scope.values) {
      const holders = (registered.get(value) ?? 0) - 1;
      if (holders > 0) registered.set(value, holders);
      else registered.delete(value);
    }
  }
}

/** How many distinct secrets are scrubbed from log lines now. */
export const registeredSecretCount = () => registered.size;

export const REDACTED = '[REDACTED]';

export function scrubSecrets(line: string): string {
  let out = line;
  for (const secret of registered.keys()) {
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  return out;
}
