// Values that must never appear in log output, wherever they occur in a line (also inside
// error messages and URLs, which key-based redaction cannot see). Tokens are registered here
// when they are read or minted; the logger scrubs every line it writes.
const registered = new Set<string>();
const MIN_LENGTH = 8; // shorter values would scrub ordinary words

export function registerSecret(value: string | undefined | null): void {
  if (value && value.length >= MIN_LENGTH) registered.add(value);
}

export function forgetSecret(value: string): void {
  registered.delete(value);
}

export const REDACTED = '[REDACTED]';

export function scrubSecrets(line: string): string {
  let out = line;
  for (const secret of registered) {
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  return out;
}
