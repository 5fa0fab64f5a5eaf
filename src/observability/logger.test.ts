import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.ts';
import { registerSecret } from './secrets.ts';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, stream };
}

describe('logger', () => {
  it('never writes a token: redacted by field name and scrubbed from free text', () => {
    const token = 'syt_cmVjb3JkZXI_TokenThatMustNeverLeak_0aB1c2';
    const asToken = 'f'.repeat(64);
    registerSecret(asToken);
    const { lines, stream } = capture();
    const log = createLogger({ level: 'debug', redactPaths: ['redis.url'] }, stream);
    const child = log.child({ roomId: '!r:hs', sessionId: 's1', jobId: 'j1' });
    child.info({ accessToken: token, nested: { access_token: token }, deep: { a: { jwt: token } } }, 'fields');
    child.info({ redis: { url: 'redis://:pw@h' } }, 'config');
    child.error({ err: new Error(`request to /x?access_token=${asToken} failed`) }, 'error with token in message');
    child.warn(`as_token is ${asToken}`);
    const out = lines.join('');
    expect(out).not.toContain(token);
    expect(out).not.toContain(asToken);
    expect(out).not.toContain('redis://:pw@h');
    expect(out).toContain('[REDACTED]');
    expect(JSON.parse(lines[0]!)).toMatchObject({ roomId: '!r:hs', sessionId: 's1', jobId: 'j1', msg: 'fields' });
  });
});
