import { MatrixApiError, RecorderError } from '../errors.ts';

/** A JSON request to a homeserver; Matrix error bodies become MatrixApiError with their errcode. */
export async function matrixRequest<T>(
  what: string,
  url: string,
  init: {
    method?: string;
    accessToken?: string;
    body?: unknown;
    /** A streamed body (uploads) instead of JSON. */
    rawBody?: { body: ReadableStream; contentType: string; length: number };
    timeoutMs?: number;
  } = {},
): Promise<T> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: init.method ?? 'GET',
      headers: {
        ...(init.accessToken ? { Authorization: `Bearer ${init.accessToken}` } : {}),
        ...(init.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        ...(init.rawBody ? { 'Content-Type': init.rawBody.contentType, 'Content-Length': String(init.rawBody.length) } : {}),
      },
      body: init.rawBody ? init.rawBody.body : init.body !== undefined ? JSON.stringify(init.body) : undefined,
      ...(init.rawBody ? { duplex: 'half' } : {}),
      signal: AbortSignal.timeout(init.timeoutMs ?? 15_000),
    } as RequestInit);
  } catch (err) {
    throw new RecorderError(`${what} failed: ${(err as Error).message}`, 'MRR_HTTP', { cause: err });
  }
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    json = undefined;
  }
  if (!response.ok) {
    const body = (json ?? {}) as { errcode?: string; error?: string };
    throw new MatrixApiError(what, response.status, body.errcode ?? 'M_UNKNOWN', body.error ?? text.slice(0, 200));
  }
  if (json === undefined) throw new RecorderError(`${what} returned a body that is not JSON`, 'M_NOT_JSON');
  return json as T;
}
