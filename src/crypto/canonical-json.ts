// Canonical JSON as the Matrix spec defines it for signing (appendix "Canonical JSON"): object
// keys sorted by Unicode code point, no insignificant whitespace, non-ASCII characters written
// as UTF-8 rather than \u escapes, and only integers in the range [-(2^53)+1, 2^53-1].
// Two parties that sign and verify the same object must produce the same bytes, so anything
// outside that grammar (floats, undefined, functions) is refused instead of approximated.
import { RecorderError } from '../errors.ts';

export function canonicalJson(value: unknown): string {
  return encode(value, '$');
}

/** The bytes a Matrix signature covers: the object without its `signatures` and `unsigned`. */
export function signingPayload(object: Record<string, unknown>): string {
  const { signatures: _signatures, unsigned: _unsigned, ...signed } = object;
  return canonicalJson(signed);
}

function encode(value: unknown, path: string): string {
  if (value === null || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw notCanonical(path, `${value} is not an integer in the canonical JSON range`);
    // Object.is(-0, 0) is false, but -0 must be written as 0 (JSON.stringify does that).
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((item, i) => encode(item, `${path}[${i}]`)).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => compareCodePoints(a, b));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${encode(v, `${path}.${k}`)}`).join(',')}}`;
  }
  throw notCanonical(path, `a value of type ${typeof value} has no JSON form`);
}

/** Orders by code point; String comparison in JS orders UTF-16 units, which differs above U+FFFF. */
function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const ca = ia.next();
    const cb = ib.next();
    if (ca.done || cb.done) return ca.done && cb.done ? 0 : ca.done ? -1 : 1;
    const diff = ca.value.codePointAt(0)! - cb.value.codePointAt(0)!;
    if (diff !== 0) return diff;
  }
}

function notCanonical(path: string, problem: string): RecorderError {
  return new RecorderError(`cannot encode ${path} as canonical JSON: ${problem}`, 'MRR_CANONICAL_JSON', { retryable: false });
}
