// Request bodies decoded the way lk-jwt-service decodes them: Go's json.Decoder with
// DisallowUnknownFields into fixed structs. Where that differs from JSON.parse: only the first
// JSON value of the body is read (whatever follows it is ignored); keys match fields
// case-insensitively; unknown keys, wrong types and numbers that are not int64 literals for int
// fields fail; null leaves a field at its zero value; lone surrogates become U+FFFD.
// Not modelled: a key repeated with the same spelling, which JSON.parse collapses before we see it
// (Go merges a repeated struct-valued key into one struct).

/** A Go struct's JSON fields (lower-case names) and their types. */
export type GoStruct = { readonly [field: string]: 'string' | 'int' | GoStruct };

/** The body does not decode into the struct (what Go's Decode returns an error for). */
export class GoDecodeError extends Error {}

/** A number as written in the body, so that int fields can be checked as Go parses them. */
class JsonNumber {
  readonly literal: string;
  constructor(literal: string) {
    this.literal = literal;
  }
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const isInt64 = (literal: string) => /^-?(0|[1-9]\d*)$/.test(literal) && BigInt(literal) >= INT64_MIN && BigInt(literal) <= INT64_MAX;

/** Go's case folding of field names: ASCII case, and the long s that folds to 's' (the Kelvin sign lower-cases to 'k'). */
const fold = (key: string) => key.replace(/\u017f/g, 's').toLowerCase();

/** Decodes `body` into `struct`, keeping the fields that are present and not null. */
export function decodeGoStruct(body: string, struct: GoStruct): Record<string, unknown> {
  return assign(firstValue(body), struct, {}, 'the body');
}

/** The first JSON value of the body, as Decoder.Decode reads it. Only an object or null can fill a struct. */
function firstValue(body: string): unknown {
  const start = body.search(/[^ \t\r\n]/);
  if (start < 0) throw new GoDecodeError('EOF');
  if (body.startsWith('null', start)) return null;
  if (body[start] !== '{') throw new GoDecodeError('the body is not a JSON object');
  let depth = 0;
  let inString = false;
  for (let i = start; i < body.length; i++) {
    const c = body[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if ((c === '}' || c === ']') && --depth === 0) return parse(body.slice(start, i + 1));
  }
  throw new GoDecodeError('unexpected EOF');
}

function parse(text: string): unknown {
  try {
    // The reviver's context (V8's JSON.parse source text access) keeps each number's literal.
    return JSON.parse(text, (_key, value: unknown, context?: { source?: string }) =>
      typeof value === 'number' ? new JsonNumber(context?.source ?? String(value)) : value,
    );
  } catch (err) {
    throw new GoDecodeError((err as Error).message);
  }
}

function assign(value: unknown, struct: GoStruct, into: Record<string, unknown>, what: string): Record<string, unknown> {
  if (value === null) return into;
  if (typeof value !== 'object' || Array.isArray(value) || value instanceof JsonNumber) throw new GoDecodeError(`${what} is not a JSON object`);
  for (const [key, field] of Object.entries(value)) {
    const name = fold(key);
    const type = Object.hasOwn(struct, name) ? struct[name] : undefined;
    if (type === undefined) throw new GoDecodeError(`unknown field "${key}"`);
    if (field === null) continue;
    if (typeof type === 'object') into[name] = assign(field, type, (into[name] as Record<string, unknown> | undefined) ?? {}, name);
    else if (type === 'string' && typeof field === 'string') into[name] = field.toWellFormed();
    else if (type === 'int' && field instanceof JsonNumber && isInt64(field.literal)) into[name] = Number(field.literal);
    else throw new GoDecodeError(`${name} is not a JSON ${type === 'int' ? 'integer' : type}`);
  }
  return into;
}
