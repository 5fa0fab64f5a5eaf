// The upload limit path, against a loopback stand-in for the media repository (the real
// Synapse's limit is far above what tests write): a file over the limit is skipped with the
// reason and the sizes, the others are uploaded, and nothing is truncated.
import { execFileSync } from 'node:child_process';
import { writeFileSync, mkdtempSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MatrixClient } from 'matrix-js-sdk';
import { uploadToRoom } from './room-upload.ts';

const LIMIT = 4096;
let limit = LIMIT;
const uploads: number[] = [];
const uploadUrls: string[] = [];
const server = createServer((req, res) => {
  if (req.url?.startsWith('/_matrix/media/v3/upload')) uploadUrls.push(req.url);
  if (req.url?.startsWith('/_matrix/client/v1/media/config')) return void res.end(JSON.stringify({ 'm.upload.size': limit }));
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

  it('cuts a recording over the limit into parts, each uploaded and posted under the limit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mrr-upload-'));
    const path = join(dir, 'mixed.ogg');
    execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=8', '-c:a', 'libopus', '-b:a', '64k', path]);
    const sent: Array<Record<string, unknown>> = [];
    const client = { sendMessage: async (_room: string, content: Record<string, unknown>) => (sent.push(content), { event_id: `$${sent.length}` }) } as unknown as MatrixClient;
    const before = uploads.length;
    limit = 1 << 20;
    try {
      const outcomes = await uploadToRoom(
        { client, homeserverUrl, accessToken: 'token', roomId: '!r:localhost', encrypted: false, split: { ffmpegPath: 'ffmpeg', maxBytes: 20_000 }, log: pino({ level: 'silent' }) },
        [{ path, mimetype: 'audio/ogg', msgtype: 'm.audio', caption: 'everyone' }],
      );
      const count = sent.length;
      expect(count).toBeGreaterThanOrEqual(3);
      expect(outcomes).toEqual([{ path, uploaded: true, bytes: statSync(path).size, eventId: '$1', parts: { count, limitBytes: 20_000 } }]);
      expect(uploads.slice(before)).toHaveLength(count);
      expect(uploads.slice(before).every((bytes) => bytes <= 20_000)).toBe(true);
      expect(sent.map((c) => [c.body, c.filename])).toEqual(sent.map((_, i) => [`everyone (part ${i + 1} of ${count})`, `mixed.part-${i + 1}-of-${count}.ogg`]));
      const total = sent.reduce((sum, c) => sum + (c.info as { duration: number }).duration, 0);
      expect(Math.abs(total - 8000)).toBeLessThan(100);
    } finally {
      limit = LIMIT;
    }
  });
});
