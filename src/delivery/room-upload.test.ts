// The upload limit path, against a loopback stand-in for the media repository (the real
// Synapse's limit is far above what tests write): a file over the limit is skipped with the
// reason and the sizes, the others are uploaded, and nothing is truncated.
import { writeFileSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MatrixClient } from 'matrix-js-sdk';
import { uploadToRoom } from './room-upload.ts';

const LIMIT = 4096;
const uploads: number[] = [];
const uploadUrls: string[] = [];
const server = createServer((req, res) => {
  if (req.url?.startsWith('/_matrix/media/v3/upload')) uploadUrls.push(req.url);
  if (req.url?.startsWith('/_matrix/client/v1/media/config')) return void res.end(JSON.stringify({ 'm.upload.size': LIMIT }));
  let bytes = 0;
  req.on('data', (chunk: Buffer) => (bytes += chunk.length));
  req.on('end', () => {
    uploads.push(bytes);
    res.end(JSON.stringify({ content_uri: `mxc://localhost/${uploads.length}` }));
  });
});
let homeserverUrl = '';
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  homeserverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('uploadToRoom', () => {
  it('skips a file over the homeserver limit with a clear reason and uploads the rest whole', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mrr-upload-'));
    writeFileSync(join(dir, 'small.ogg'), Buffer.alloc(1000, 1));
    writeFileSync(join(dir, 'big.ogg'), Buffer.alloc(LIMIT + 1, 2));
    const sent: unknown[] = [];
    const client = { sendMessage: async (_room: string, content: unknown) => (sent.push(content), { event_id: `$${sent.length}` }) } as unknown as MatrixClient;
    const outcomes = await uploadToRoom({ client, homeserverUrl, accessToken: 'token', roomId: '!r:localhost', encrypted: false, log: pino({ level: 'silent' }) }, [
      { path: join(dir, 'small.ogg'), mimetype: 'audio/ogg', msgtype: 'm.audio' },
      { path: join(dir, 'big.ogg'), mimetype: 'audio/ogg', msgtype: 'm.audio' },
    ]);
    expect(outcomes[0]).toMatchObject({ uploaded: true, bytes: 1000 });
    expect(outcomes[1]).toMatchObject({ uploaded: false, bytes: LIMIT + 1, reason: "it is 4097 bytes, over this homeserver's upload limit of 4096 bytes" });
    expect(uploads).toEqual([1000]);
    expect(sent).toHaveLength(1);
  });

  it('tells the homeserver no file name when the room is encrypted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mrr-upload-'));
    const path = join(dir, 'stem-@alice_localhost_ALICEDEVICE.ogg');
    writeFileSync(path, Buffer.alloc(100, 1));
    const sent: Array<Record<string, unknown>> = [];
    const client = { sendMessage: async (_room: string, content: Record<string, unknown>) => (sent.push(content), { event_id: '$1' }) } as unknown as MatrixClient;
    uploadUrls.length = 0;
    const outcomes = await uploadToRoom({ client, homeserverUrl, accessToken: 'token', roomId: '!r:localhost', encrypted: true, log: pino({ level: 'silent' }) }, [
      { path, mimetype: 'audio/ogg', msgtype: 'm.audio' },
    ]);
    expect(outcomes[0]).toMatchObject({ uploaded: true });
    expect(uploadUrls).toEqual(['/_matrix/media/v3/upload']);
    // The name stays inside the event, which the client encrypts.
    expect(sent[0]).toMatchObject({ body: 'stem-@alice_localhost_ALICEDEVICE.ogg', file: { url: 'mxc://localhost/2' } });
  });
});
