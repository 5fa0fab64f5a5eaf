// Puts one local file into an S3-compatible bucket so that a crash at any moment leaves either
// the finished object or nothing visible, and the next attempt picks up where the last one died.
//
// Small files go up in one PutObject (atomic on every S3 implementation). Larger files go up as
// a multipart upload, which stays invisible until it is completed. An upload a dead worker left
// behind is found again with ListMultipartUploads; each part it finished is kept only when its
// size and ETag (the MD5 of its bytes) match the same range of the local file, every other part
// is sent again, and the upload is completed. Other stale uploads of the same key are aborted,
// so none lingers in the bucket. An object that already holds the file (same SHA-256 in its
// metadata) is not sent again, which makes archiving a recovered session's earlier segments cheap.
import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { sha256File } from '../media/recording/manifest.ts';

/** S3's smallest part (all parts but the last); also the default part size. */
export const MIN_PART_BYTES = 5 * 1024 * 1024;
/** S3's largest number of parts in one upload. */
const MAX_PARTS = 10_000;

export interface S3UploadOptions {
  client: S3Client;
  bucket: string;
  key: string;
  path: string;
  contentType: string;
  partBytes: number;
  /** Aborting leaves the upload as a crash would (for tests of the resumption, and shutdown). */
  signal?: AbortSignal;
  /** Called after each part the server acknowledged. */
  onPart?: (partNumber: number, of: number) => void;
}

export interface S3UploadResult {
  key: string;
  bytes: number;
  /** `put`: one request; `multipart`: a new multipart upload; `resumed`: one left by an earlier attempt; `present`: the object already held the file. */
  how: 'put' | 'multipart' | 'resumed' | 'present';
  parts: number;
  /** Parts of an earlier attempt that were kept. */
  partsKept: number;
  /** Stale uploads of this key that were aborted. */
  aborted: number;
}

const SHA256_META = 'sha256';
const stripQuotes = (etag: string | undefined) => (etag ?? '').replaceAll('"', '');

export async function uploadFile(opts: S3UploadOptions): Promise<S3UploadResult> {
  const { client, bucket, key } = opts;
  const { size } = await stat(opts.path);
  const sha256 = await sha256File(opts.path);
  const sendOpts = opts.signal ? { abortSignal: opts.signal } : {};

  if ((await existingSha256(opts)) === sha256) {
    const aborted = await abortUploads(opts, (await uploadsOf(opts)).map((u) => u.UploadId!));
    return { key, bytes: size, how: 'present', parts: 0, partsKept: 0, aborted };
  }

  if (size <= opts.partBytes) {
    const body = await readRange(opts.path, 0, size);
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: size, ContentType: opts.contentType, ContentMD5: md5(body, 'base64'), Metadata: { [SHA256_META]: sha256 } }),
      sendOpts,
    );
    const aborted = await abortUploads(opts, (await uploadsOf(opts)).map((u) => u.UploadId!));
    return { key, bytes: size, how: 'put', parts: 1, partsKept: 0, aborted };
  }

  const partBytes = Math.max(opts.partBytes, Math.ceil(size / MAX_PARTS));
  const count = Math.ceil(size / partBytes);
  const range = (n: number) => ({ start: (n - 1) * partBytes, length: Math.min(partBytes, size - (n - 1) * partBytes) });

  // The newest upload of this key is resumed when every part it holds matches the file; a
  // part that does not (a different file, a different part size) means it was begun for other
  // content, and it is aborted like the older ones.
  const stale = (await uploadsOf(opts)).sort((a, b) => (b.Initiated?.getTime() ?? 0) - (a.Initiated?.getTime() ?? 0));
  let aborted = await abortUploads(opts, stale.slice(1).map((u) => u.UploadId!));
  let uploadId = stale[0]?.UploadId;
  const done = new Map<number, string>();
  if (uploadId) {
    for (const part of await partsOf(opts, uploadId)) {
      const n = part.PartNumber!;
      const matches =
        n <= count && part.Size === range(n).length && stripQuotes(part.ETag) === md5(await readRange(opts.path, range(n).start, range(n).length), 'hex');
      if (!matches) {
        aborted += await abortUploads(opts, [uploadId]);
        uploadId = undefined;
        done.clear();
        break;
      }
      done.set(n, part.ETag!);
    }
  }
  if (uploadId && done.size === 0) {
    // Nothing to keep, and its metadata might name other content: start afresh.
    aborted += await abortUploads(opts, [uploadId]);
    uploadId = undefined;
  }
  const partsKept = done.size;
  const how = uploadId ? 'resumed' : 'multipart';
  if (!uploadId) {
    const created = await client.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ContentType: opts.contentType, Metadata: { [SHA256_META]: sha256 } }),
      sendOpts,
    );
    uploadId = created.UploadId!;
  }

  for (let n = 1; n <= count; n++) {
    if (done.has(n)) continue;
    const { start, length } = range(n);
    const body = await readRange(opts.path, start, length);
    const sent = await client.send(
      new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: n, Body: body, ContentLength: length, ContentMD5: md5(body, 'base64') }),
      sendOpts,
    );
    if (stripQuotes(sent.ETag) !== md5(body, 'hex')) throw new Error(`part ${n} of ${key}: the server's ETag ${sent.ETag} is not the MD5 of the bytes sent`);
    done.set(n, sent.ETag!);
    opts.onPart?.(n, count);
  }

  const parts: CompletedPart[] = [...done].sort(([a], [b]) => a - b).map(([PartNumber, ETag]) => ({ PartNumber, ETag }));
  try {
    await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }), sendOpts);
  } catch (err) {
    // Another attempt completed or aborted this upload meanwhile: the object tells which.
    if ((err as { name?: string }).name === 'NoSuchUpload' && (await existingSha256(opts)) === sha256) {
      return { key, bytes: size, how: 'present', parts: count, partsKept, aborted };
    }
    throw err;
  }
  // A resumed upload carries the metadata its first attempt gave it: it must name this file.
  if (how === 'resumed' && (await existingSha256(opts)) !== sha256) {
    throw new Error(`${key}: the resumed upload was begun for other content (its checksum differs); the object holds this file's bytes but not its checksum`);
  }
  return { key, bytes: size, how, parts: count, partsKept, aborted };
}

async function existingSha256(opts: S3UploadOptions): Promise<string | undefined> {
  try {
    const head = await opts.client.send(new HeadObjectCommand({ Bucket: opts.bucket, Key: opts.key }), opts.signal ? { abortSignal: opts.signal } : {});
    return head.Metadata?.[SHA256_META];
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 404) return undefined;
    throw err;
  }
}

/** Unfinished multipart uploads of exactly this key. */
async function uploadsOf(opts: S3UploadOptions) {
  const found = [];
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    const page = await opts.client.send(
      new ListMultipartUploadsCommand({ Bucket: opts.bucket, Prefix: opts.key, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
      opts.signal ? { abortSignal: opts.signal } : {},
    );
    found.push(...(page.Uploads ?? []).filter((u) => u.Key === opts.key && u.UploadId));
    if (!page.IsTruncated) return found;
    keyMarker = page.NextKeyMarker;
    uploadIdMarker = page.NextUploadIdMarker;
  }
}

async function partsOf(opts: S3UploadOptions, uploadId: string) {
  const found = [];
  let marker: string | undefined;
  for (;;) {
    const page = await opts.client.send(
      new ListPartsCommand({ Bucket: opts.bucket, Key: opts.key, UploadId: uploadId, PartNumberMarker: marker }),
      opts.signal ? { abortSignal: opts.signal } : {},
    );
    found.push(...(page.Parts ?? []));
    if (!page.IsTruncated) return found;
    marker = page.NextPartNumberMarker;
  }
}

async function abortUploads(opts: S3UploadOptions, uploadIds: string[]): Promise<number> {
  for (const UploadId of uploadIds) {
    await opts.client.send(new AbortMultipartUploadCommand({ Bucket: opts.bucket, Key: opts.key, UploadId }), opts.signal ? { abortSignal: opts.signal } : {});
  }
  return uploadIds.length;
}

async function readRange(path: string, start: number, length: number): Promise<Buffer> {
  const file = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    let read = 0;
    while (read < length) {
      const { bytesRead } = await file.read(buffer, read, length - read, start + read);
      if (bytesRead === 0) throw new Error(`${path} ended at ${start + read} bytes while reading ${length} from ${start}; it changed during the upload`);
      read += bytesRead;
    }
    return buffer;
  } finally {
    await file.close();
  }
}

const md5 = (data: Buffer, encoding: 'hex' | 'base64') => createHash('md5').update(data).digest(encoding);
