// The archive sinks a deployment configured (`storage`): a local directory, an S3 bucket, both, or none.
import type { Config } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import { S3Sink } from './s3-sink.ts';
import { LocalDirectorySink, SinkSet, type StorageSink } from './storage-sink.ts';

export function storageSinkFromConfig(storage: Config['storage'], log: Logger): StorageSink | undefined {
  const sinks: StorageSink[] = [];
  if (storage.directory) sinks.push(new LocalDirectorySink(storage.directory, storage.pathTemplate));
  if (storage.s3Bucket) {
    sinks.push(
      new S3Sink({
        bucket: storage.s3Bucket,
        endpoint: storage.s3Endpoint,
        region: storage.s3Region,
        accessKeyId: storage.s3AccessKeyId,
        secretAccessKey: storage.s3SecretAccessKey,
        forcePathStyle: storage.s3ForcePathStyle,
        prefix: storage.s3Prefix,
        pathTemplate: storage.pathTemplate,
        partBytes: storage.s3PartSizeBytes,
        log,
      }),
    );
  }
  if (sinks.length === 0) return undefined;
  return sinks.length === 1 ? sinks[0] : new SinkSet(sinks);
}
