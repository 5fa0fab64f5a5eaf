// The archive in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, versitygw, …): each file of a
// session goes to `<prefix><path template>/<name>`, resumably (s3-upload.ts), so a worker that
// dies while archiving leaves no broken object and whoever delivers next finishes the job.
import { S3Client } from '@aws-sdk/client-s3';
import { extname } from 'node:path';
import { ConfigError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import { registerSecret } from '../observability/secrets.ts';
import { uploadFile, type S3UploadResult } from './s3-upload.ts';
import { checkFileName, renderPathTemplate, validatePathTemplate, type SessionFacts, type SinkFile, type StorageSink, type StoredFile } from './storage-sink.ts';

export interface S3SinkOptions {
  bucket: string;
  /** An S3-compatible server's URL; unset: AWS S3 in `region`. */
  endpoint?: string | undefined;
  region: string;
  /** Unset (both): the AWS SDK's default credential chain (environment, profile, instance role). */
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
  forcePathStyle: boolean;
  prefix: string;
  pathTemplate: string;
  partBytes: number;
  log: Logger;
}

const CONTENT_TYPES: Record<string, string> = {
  '.ogg': 'audio/ogg',
  '.mkv': 'video/x-matroska',
  '.json': 'application/json',
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.ts': 'video/mp2t',
};

export class S3Sink implements StorageSink {
  readonly name = 's3';
  readonly #client: S3Client;
  readonly #opts: S3SinkOptions;
  readonly #log: Logger;

  constructor(opts: S3SinkOptions) {
    validatePathTemplate(opts.pathTemplate);
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(opts.bucket)) throw new ConfigError('storage.s3Bucket', 'expected an S3 bucket name (3-63 lowercase letters, digits, dots and hyphens)');
    if (Boolean(opts.accessKeyId) !== Boolean(opts.secretAccessKey)) {
      throw new ConfigError('storage.s3AccessKeyId', 'set both s3AccessKeyId and s3SecretAccessKey, or neither (then the AWS default credential chain is used)');
    }
    if (opts.prefix && (opts.prefix.startsWith('/') || !opts.prefix.endsWith('/'))) throw new ConfigError('storage.s3Prefix', 'expected a relative key prefix ending in "/"');
    registerSecret(opts.secretAccessKey);
    this.#opts = opts;
    this.#log = opts.log.child({ module: 's3-sink' });
    this.#client = new S3Client({
      region: opts.region,
      forcePathStyle: opts.forcePathStyle,
      ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
      ...(opts.accessKeyId && opts.secretAccessKey ? { credentials: { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey } } : {}),
      // Content-MD5 on every body (s3-upload.ts) is what all S3-compatible servers check; the
      // SDK's newer default checksums (CRC32 trailers) are not understood by all of them.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  #prefix(facts: SessionFacts): string {
    return `${this.#opts.prefix}${renderPathTemplate(this.#opts.pathTemplate, facts)}`;
  }

  folder(facts: SessionFacts): string {
    return `s3://${this.#opts.bucket}/${this.#prefix(facts)}`;
  }

  async store(files: SinkFile[], facts: SessionFacts, signal?: AbortSignal): Promise<StoredFile[]> {
    const prefix = this.#prefix(facts);
    const stored: StoredFile[] = [];
    for (const file of files) {
      const key = `${prefix}/${checkFileName(file.name)}`;
      const started = Date.now();
      const result: S3UploadResult = await uploadFile({
        client: this.#client,
        bucket: this.#opts.bucket,
        key,
        path: file.path,
        contentType: CONTENT_TYPES[extname(file.name)] ?? 'application/octet-stream',
        partBytes: this.#opts.partBytes,
        ...(signal ? { signal } : {}),
      });
      this.#log.info({ object: key, bytes: result.bytes, how: result.how, parts: result.parts, partsKept: result.partsKept, abortedUploads: result.aborted, ms: Date.now() - started }, 'archived a file in S3');
      stored.push({ source: file.path, location: `s3://${this.#opts.bucket}/${key}` });
    }
    return stored;
  }

  /** For tests and tools: the client this sink talks through. */
  get client(): S3Client {
    return this.#client;
  }
}
