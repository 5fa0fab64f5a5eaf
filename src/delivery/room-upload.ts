// Puts finished files into the room: uploaded to the homeserver's media repository (encrypted
// as Matrix attachments in E2EE rooms) and posted as events by the session's own client, which
// encrypts the events themselves in E2EE rooms. A recording over the homeserver's upload limit
// (or the operator's lower one) is cut into parts that each play on their own (split-media.ts),
// uploaded one after another; any other file over it is skipped with the reason, never truncated.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import type { MatrixClient } from 'matrix-js-sdk';
import type { Logger } from '../observability/logger.ts';
import { matrixRequest } from '../rtc/http.ts';
import { attachmentEncryptor } from './attachment-crypto.ts';
import { formatBytes } from '../format.ts';
import { canSplit, splitMedia } from './split-media.ts';

export interface RoomFile {
  path: string;
  mimetype: string;
  msgtype: 'm.audio' | 'm.video' | 'm.file';
  durationMs?: number;
  /** What the room shows for it (a caption beside the file name); default: the file name. */
  caption?: string;
}

export type UploadOutcome =
  | { path: string; uploaded: true; bytes: number; eventId: string; parts?: { count: number; limitBytes: number } }
  | { path: string; uploaded: false; bytes: number; reason: string };

export interface RoomUploadOptions {
  client: MatrixClient;
  homeserverUrl: string;
  accessToken: string;
  roomId: string;
  encrypted: boolean;
  /** Cutting recordings over the limit into parts; without it they are skipped. */
  split?: { ffmpegPath: string; maxBytes?: number | undefined };
  log: Logger;
}

/** The homeserver's upload limit in bytes, when it states one. */
async function uploadLimit(opts: RoomUploadOptions): Promise<number | undefined> {
  try {
    const config = await matrixRequest<{ 'm.upload.size'?: number }>('reading the media config', `${opts.homeserverUrl}/_matrix/client/v1/media/config`, {
      accessToken: opts.accessToken,
    });
    return config['m.upload.size'];
  } catch (err) {
    opts.log.warn({ err }, 'could not read the media upload limit; uploading without checking it');
    return undefined;
  }
}

async function upload(opts: RoomUploadOptions, file: RoomFile, bytes: number) {
  const name = basename(file.path);
  const encryptor = opts.encrypted ? attachmentEncryptor() : undefined;
  const source = createReadStream(file.path);
  const body = Readable.toWeb(encryptor ? source.pipe(encryptor.stream) : source) as ReadableStream;
  // In an encrypted room the name travels only inside the encrypted event: file names carry
  // user IDs, and the homeserver must learn nothing from the upload.
  const query = encryptor ? '' : `?filename=${encodeURIComponent(name)}`;
  const { content_uri } = await matrixRequest<{ content_uri: string }>(
    `uploading ${name}`,
    `${opts.homeserverUrl}/_matrix/media/v3/upload${query}`,
    {
      method: 'POST',
      accessToken: opts.accessToken,
      rawBody: { body, contentType: encryptor ? 'application/octet-stream' : file.mimetype, length: bytes },
      timeoutMs: 600_000,
    },
  );
  const info = { mimetype: file.mimetype, size: bytes, ...(file.durationMs !== undefined ? { duration: file.durationMs } : {}) };
  return {
    msgtype: file.msgtype,
    body: file.caption ?? name,
    filename: name,
    info,
    ...(encryptor ? { file: await encryptor.file(content_uri) } : { url: content_uri }),
  };
}

export async function uploadToRoom(opts: RoomUploadOptions, files: RoomFile[]): Promise<UploadOutcome[]> {
  const serverLimit = await uploadLimit(opts);
  const ownLimit = opts.split?.maxBytes;
  const limit = serverLimit === undefined ? ownLimit : ownLimit === undefined ? serverLimit : Math.min(serverLimit, ownLimit);
  const outcomes: UploadOutcome[] = [];
  for (const file of files) {
    const { size: bytes } = await stat(file.path);
    if (limit !== undefined && bytes > limit && opts.split && canSplit(file.path)) {
      outcomes.push(await uploadInParts(opts, file, bytes, limit, opts.split.ffmpegPath));
      continue;
    }
    if (limit !== undefined && bytes > limit) {
      // Exact byte counts where the rounded sizes would read the same.
      const [size, max] = formatBytes(bytes) === formatBytes(limit) ? [`${bytes} bytes`, `${limit} bytes`] : [formatBytes(bytes), formatBytes(limit)];
      outcomes.push({ path: file.path, uploaded: false, bytes, reason: `it is ${size}, over this homeserver's upload limit of ${max}` });
      continue;
    }
    try {
      const content = await upload(opts, file, bytes);
      const { event_id } = await opts.client.sendMessage(opts.roomId, content as never);
      outcomes.push({ path: file.path, uploaded: true, bytes, eventId: event_id });
      opts.log.info({ file: file.path, bytes, encrypted: opts.encrypted }, 'uploaded to the room');
    } catch (err) {
      opts.log.error({ err, file: file.path }, 'upload to the room failed');
      outcomes.push({ path: file.path, uploaded: false, bytes, reason: (err as Error).message });
    }
  }
  return outcomes;
}

/** A recording over the limit, as parts that each play on their own; all of them or an outcome that says which failed. */
async function uploadInParts(opts: RoomUploadOptions, file: RoomFile, bytes: number, limitBytes: number, ffmpegPath: string): Promise<UploadOutcome> {
  let split;
  try {
    split = await splitMedia(file.path, { limitBytes, ffmpegPath });
  } catch (err) {
    opts.log.error({ err, file: file.path }, 'could not cut a file over the upload limit into parts');
    return { path: file.path, uploaded: false, bytes, reason: `it is over the upload limit of ${formatBytes(limitBytes)} and could not be cut into parts: ${(err as Error).message}` };
  }
  try {
    const count = split.parts.length;
    let firstEventId = '';
    for (const [i, part] of split.parts.entries()) {
      const label = `part ${i + 1} of ${count}`;
      try {
        const content = await upload(opts, { ...file, path: part.path, durationMs: part.durationMs, ...(file.caption ? { caption: `${file.caption} (${label})` } : {}) }, part.bytes);
        const { event_id } = await opts.client.sendMessage(opts.roomId, content as never);
        firstEventId ||= event_id;
      } catch (err) {
        opts.log.error({ err, file: file.path, part: i + 1 }, 'upload of a part to the room failed');
        return { path: file.path, uploaded: false, bytes, reason: `it was cut into ${count} parts to fit the upload limit of ${formatBytes(limitBytes)}, and ${label} failed after ${i} were attached: ${(err as Error).message}` };
      }
    }
    opts.log.info({ file: file.path, bytes, parts: split.parts.map((p) => ({ bytes: p.bytes, durationMs: p.durationMs })), limitBytes }, 'uploaded to the room in parts');
    return { path: file.path, uploaded: true, bytes, eventId: firstEventId, parts: { count, limitBytes } };
  } finally {
    await split.dispose();
  }
}
