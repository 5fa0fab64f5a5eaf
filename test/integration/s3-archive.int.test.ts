// Issue 13.9 on the real stack: the archive in an S3-compatible server (versitygw, started by the
// stack script on loopback). A multipart upload cut off mid-way is invisible and the next attempt
// resumes it; a recorder cluster whose recording worker is killed archives every segment (the
// recovering worker delivers the killed one's files too), and the objects, downloaded back, play
// the call's tone. The room gets every segment's files as well.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dispose } from '@livekit/rtc-node';
import { CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, UploadPartCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { S3Sink } from '../../src/delivery/s3-sink.ts';
import { MIN_PART_BYTES, uploadFile } from '../../src/delivery/s3-upload.ts';
import { HlsMirror } from '../../src/outputs/stream/hls-mirror.ts';
import { decryptAttachment, type EncryptedFile } from '../../src/delivery/attachment-crypto.ts';
import type { Manifest } from '../../src/media/recording/manifest.ts';
import { decodeToPcm, probeDuration } from '../helpers/audio-files.ts';
import { dominantFrequency, toneSnrDb } from '../helpers/fft.ts';
import { registerUser, TestClient, waitFor } from '../helpers/matrix.ts';
import { startRecorder, stackRecorderConfig, type RecorderProcess } from '../helpers/recorder-process.ts';
import { createCallRoom, inviteBot } from '../helpers/rooms.ts';
import { startRtcPeer, type RtcPeer } from '../peers/rtc-peer.ts';
import { readStackInfo } from '../stack/info.ts';
import { s3Client } from '../stack/stack.ts';

const stack = readStackInfo();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;
const s3 = s3Client(stack);
const bucket = stack.s3.bucket;
const processes: RecorderProcess[] = [];
const peers: RtcPeer[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const sinkOptions = (prefix: string) => ({
  bucket,
  endpoint: stack.s3.endpoint,
  region: stack.s3.region,
  accessKeyId: stack.s3.accessKeyId,
  secretAccessKey: stack.s3.secretAccessKey,
  forcePathStyle: true,
  prefix,
  pathTemplate: '{session}',
  partBytes: MIN_PART_BYTES,
});

afterAll(async () => {
  await Promise.all(peers.map((p) => p.stop().catch(() => undefined)));
  await Promise.all(processes.map((p) => p.stop()));
  await dispose();
});

async function download(key: string): Promise<Buffer> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await object.Body!.transformToByteArray());
}

async function listKeys(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).map((c) => c.Key!));
    token = page.NextContinuationToken;
  } while (token);
  return keys.sort();
}

const pendingUploads = async (key: string) =>
  ((await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }))).Uploads ?? []).filter((u) => u.Key === key);

const objectExists = (key: string) =>
  s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).then(
    () => true,
    (err: { $metadata?: { httpStatusCode?: number } }) => (err.$metadata?.httpStatusCode === 404 ? false : Promise.reject(err)),
  );

describe('S3 archive: resumable multipart uploads against the real server', () => {
  const path = join(mkdtempSync(join(tmpdir(), 'mrr-s3-')), 'segment.bin');
  const content = randomBytes(3 * MIN_PART_BYTES + 4321);
  writeFileSync(path, content);
  const base = { client: s3, bucket, path, contentType: 'application/octet-stream', partBytes: MIN_PART_BYTES };

  it('an upload cut off after its first part leaves no object; the next attempt keeps that part, sends the rest and completes', async () => {
    const key = `resume-${randomBytes(4).toString('hex')}/segment.bin`;
    const cut = new AbortController();
    const first = await uploadFile({ ...base, key, signal: cut.signal, onPart: (n) => n === 1 && cut.abort() }).then(
      () => 'completed',
      (err: Error) => err.name,
    );
    expect(first).toBe('AbortError');
    // What a crashed worker leaves: an unfinished upload, and no object anyone could read half of.
    expect(await objectExists(key)).toBe(false);
    expect(await pendingUploads(key)).toHaveLength(1);

    const started = Date.now();
    const second = await uploadFile({ ...base, key });
    console.log(`[measure] S3 resume: ${JSON.stringify(second)} in ${Date.now() - started} ms`);
    expect(second).toMatchObject({ how: 'resumed', parts: 4, partsKept: 1, aborted: 0 });
    expect(sha256(await download(key))).toBe(sha256(content));
    expect(await pendingUploads(key)).toHaveLength(0);

    // Again: the object already holds the file, nothing is sent.
    expect(await uploadFile({ ...base, key })).toMatchObject({ how: 'present' });
  });

  it('an upload begun for other bytes is aborted, not completed with them', async () => {
    const key = `stale-${randomBytes(4).toString('hex')}/segment.bin`;
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: randomBytes(MIN_PART_BYTES) }));
    const result = await uploadFile({ ...base, key });
    expect(result).toMatchObject({ how: 'multipart', partsKept: 0, aborted: 1 });
    expect(sha256(await download(key))).toBe(sha256(content));
    expect(await pendingUploads(key)).toHaveLength(0);
  });
});

describe('HLS into S3', () => {
  it('the mirror copies segments, then the playlist, into the bucket with their content types', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mrr-hls-'));
    const segment = randomBytes(50_000);
    writeFileSync(join(dir, 'seg00001.ts'), segment);
    writeFileSync(join(dir, 'seg00001.ts.tmp'), 'ffmpeg is still writing this');
    writeFileSync(join(dir, 'index.m3u8'), '#EXTM3U\n#EXTINF:4.0,\nseg00001.ts\n');
    const log = pino({ level: 'silent' });
    const prefix = `hls-${randomBytes(4).toString('hex')}/`;
    const sink = new S3Sink({ ...sinkOptions(prefix), log });
    const mirror = new HlsMirror({ directory: dir, sink, facts: { roomId: '!room:localhost', sessionId: 'job-hls', startedAt: Date.now() }, log });
    await mirror.sync();
    writeFileSync(join(dir, 'index.m3u8'), '#EXTM3U\n#EXTINF:4.0,\nseg00001.ts\n#EXT-X-ENDLIST\n');
    await mirror.stop();
    const keys = await listKeys(prefix);
    expect(keys).toEqual([`${prefix}job-hls/index.m3u8`, `${prefix}job-hls/seg00001.ts`]);
    expect(sha256(await download(`${prefix}job-hls/seg00001.ts`))).toBe(sha256(segment));
    expect((await download(`${prefix}job-hls/index.m3u8`)).toString()).toContain('#EXT-X-ENDLIST');
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: `${prefix}job-hls/index.m3u8` }));
    expect(head.ContentType).toBe('application/vnd.apple.mpegurl');
  });
});

/** A recorder config archiving into the stack's bucket below `prefix`, with short locks so that a dead worker is noticed within seconds. */
const clusterConfig = (prefix: string, jobs = { lockDurationMs: 4_000, stalledIntervalMs: 2_000 }) =>
  stackRecorderConfig(stack, {
    jobs,
    rtc: { delayedLeaveEventDelayMs: 5_000 },
    storage: {
      s3Bucket: bucket,
      s3Endpoint: stack.s3.endpoint,
      s3Region: stack.s3.region,
      s3AccessKeyId: stack.s3.accessKeyId,
      s3SecretAccessKey: stack.s3.secretAccessKey,
      s3Prefix: prefix,
      pathTemplate: '{session}',
    },
  });

/** One bridge and two workers sharing Redis, once all three are ready; the previous case's go first (one appservice port). */
async function startCluster(config: Record<string, unknown>): Promise<RecorderProcess[]> {
  await Promise.all(processes.splice(0).map((p) => p.stop()));
  const bridge = await startRecorder('bridge', config);
  const workers = [await startRecorder('worker', config), await startRecorder('worker', config)];
  processes.push(bridge, ...workers);
  await bridge.waitForLog((e) => e.msg === 'appservice listening', 'appservice listening');
  await Promise.all(workers.map((w) => w.waitForLog((e) => e.msg === 'worker taking jobs', 'worker taking jobs')));
  return [bridge, ...workers];
}

describe('S3 archive of a recovered session', () => {
  it('kill -9 of the recording worker: every segment lands in S3 and in the room, and plays the tone', async () => {
    const prefix = `cluster-${randomBytes(4).toString('hex')}/`;
    const config = clusterConfig(prefix);
    const [bridge, ...workers] = await startCluster(config);

    const alice = new TestClient(await registerUser(stack, 'alice'));
    const roomId = await createCallRoom(alice, { encrypted: true });
    await inviteBot(alice, roomId, botUserId);
    const peer = await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 440, e2ee: 'keys' });
    peers.push(peer);
    const botSays = (pattern: RegExp, what: string, timeoutMs = 60_000) => alice.waitForMessage(roomId, botUserId, pattern, what, timeoutMs);

    await alice.sendText(roomId, '!record');
    await botSays(/^Recording started by/, 'the start notice');
    const recording = workers.find((w) => w.logs.some((l) => l.includes('"starting session"')))!;
    const other = workers.find((w) => w !== recording)!;
    await sleep(5_000);
    await recording.stop('SIGKILL');
    await other.waitForLog((e) => e.msg === 'recovering session', 'the other worker to recover the job', 60_000);
    await botSays(/^Recording resumed/, 'the resumed notice');
    await sleep(5_000);
    await alice.sendText(roomId, '!stop');
    const summary = String((await botSays(/^Recording ended/, 'the end summary')).content.body);
    expect(summary).toContain(`Archived to s3://${bucket}/${prefix}`);
    expect(summary).not.toContain('Problems');
    expect(summary).not.toContain(stack.s3.secretAccessKey);

    // The archive: the manifest above a folder per segment, as the manifest names them.
    const keys = await listKeys(prefix);
    const manifestKey = keys.find((k) => k.endsWith('/manifest.json'))!;
    const manifest = JSON.parse((await download(manifestKey)).toString('utf8')) as Manifest;
    const folder = manifestKey.slice(0, -'manifest.json'.length);
    expect(manifest.segments).toHaveLength(2);
    expect(manifest.segments.map((s) => s.interrupted ?? false)).toEqual([true, false]);
    const expected = [...manifest.files.map((f) => `${folder}${manifest.segments.find((s) => s.index === f.segment)!.dir}/${f.name}`), manifestKey].sort();
    expect(keys).toEqual(expected);

    // Each object, downloaded back, is the file the manifest describes, and plays the tone.
    const scratch = mkdtempSync(join(tmpdir(), 'mrr-s3-back-'));
    const lines: string[] = [];
    for (const file of manifest.files) {
      const segment = manifest.segments.find((s) => s.index === file.segment)!;
      const bytes = await download(`${folder}${segment.dir}/${file.name}`);
      expect(sha256(bytes)).toBe(file.sha256);
      const local = join(scratch, `${segment.dir}-${file.name}`);
      writeFileSync(local, bytes);
      const pcm = decodeToPcm(local, stack.ffmpegPath).subarray(48_000);
      const seconds = probeDuration(local);
      lines.push(`${segment.dir}/${file.kind} ${bytes.length} B ${seconds.toFixed(2)} s ${toneSnrDb(pcm, 48_000, 440).toFixed(1)} dB`);
      expect(Math.abs(dominantFrequency(pcm, 48_000) - 440)).toBeLessThan(5);
      expect(toneSnrDb(pcm, 48_000, 440)).toBeGreaterThan(20);
    }
    const archived = other.logs.filter((l) => l.includes('"archived a file in S3"')).map((l) => JSON.parse(l) as { object: string; bytes: number; how: string; ms: number });
    console.log(`[measure] S3 archive of a recovered session: ${lines.join('; ')}; uploads by the recovering worker: ${archived.map((a) => `${a.object.split('/').slice(-2).join('/')} ${a.bytes} B ${a.how} ${a.ms} ms`).join(', ')}`);
    expect(archived.every((a) => a.how === 'put')).toBe(true);

    // The room got the killed worker's segment too: its mix, named as such, decrypts to the archived bytes.
    const first = manifest.segments[0]!;
    const firstMix = manifest.files.find((f) => f.segment === first.index && f.kind === 'mixed')!;
    const room = peer.client.getRoom(roomId)!;
    const event = await waitFor(
      async () => room.getLiveTimeline().getEvents().find((e) => e.getContent().body === `${firstMix.name}, segment ${first.index} (recorded until its worker stopped)`),
      "the killed worker's mix in the room",
      30_000,
      200,
    );
    const file = event.getContent().file as EncryptedFile;
    const [server, mediaId] = file.url.slice('mxc://'.length).split('/');
    const response = await fetch(`${stack.synapse.url}/_matrix/client/v1/media/download/${server}/${mediaId}`, { headers: { authorization: `Bearer ${alice.user.accessToken}` } });
    expect(sha256(decryptAttachment(Buffer.from(await response.arrayBuffer()), file))).toBe(firstMix.sha256);

    // The secret key never reached a log line.
    for (const proc of [bridge!, ...workers]) expect(readFileSync(proc.logPath, 'utf8')).not.toContain(stack.s3.secretAccessKey);
  });

  it('the call ends while no worker holds the job: the recovering worker cannot rejoin, and archives the killed segment all the same', async () => {
    const prefix = `orphan-${randomBytes(4).toString('hex')}/`;
    // The lock outlasts the killed device's delayed leave, so the call is over when the job is taken up again.
    const config = clusterConfig(prefix, { lockDurationMs: 9_000, stalledIntervalMs: 2_000 });
    const [, ...workers] = await startCluster(config);
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const roomId = await createCallRoom(alice, { encrypted: true });
    await inviteBot(alice, roomId, botUserId);
    const peer = await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 440, e2ee: 'keys' });
    peers.push(peer);
    await alice.sendText(roomId, '!record');
    await alice.waitForMessage(roomId, botUserId, /^Recording started by/, 'the start notice', 60_000);
    const recording = workers.find((w) => w.logs.some((l) => l.includes('"starting session"')))!;
    const other = workers.find((w) => w !== recording)!;
    await sleep(4_000);
    await recording.stop('SIGKILL');
    await peer.stop();
    await other.waitForLog((e) => e.msg === 'recovering session', 'the other worker to take the job up', 60_000);
    const notice = String((await alice.waitForMessage(roomId, botUserId, /^I could not record this call/, 'the notice of the failed recovery', 60_000)).content.body);
    console.log(`[measure] orphaned segment notice: ${JSON.stringify(notice)}`);
    expect(notice).toMatch(/^I could not record this call: the call ended while no worker held the recording, so it is not taken up again\.\n/);
    expect(notice).toContain(`The segment recorded before the recording's worker stopped is archived to s3://${bucket}/${prefix}`);

    const keys = await listKeys(prefix);
    const manifestKey = keys.find((k) => k.endsWith('/manifest.json'))!;
    const manifest = JSON.parse((await download(manifestKey)).toString('utf8')) as Manifest;
    expect(manifest.segments.map((s) => s.interrupted)).toEqual([true]);
    const folder = manifestKey.slice(0, -'manifest.json'.length);
    expect(keys).toEqual([...manifest.files.map((f) => `${folder}${manifest.segments[0]!.dir}/${f.name}`), manifestKey].sort());
    const mix = manifest.files.find((f) => f.kind === 'mixed')!;
    const bytes = await download(`${folder}${manifest.segments[0]!.dir}/${mix.name}`);
    expect(sha256(bytes)).toBe(mix.sha256);
    const local = join(mkdtempSync(join(tmpdir(), 'mrr-s3-back-')), mix.name);
    writeFileSync(local, bytes);
    const pcm = decodeToPcm(local, stack.ffmpegPath).subarray(48_000);
    expect(toneSnrDb(pcm, 48_000, 440)).toBeGreaterThan(20);
  });

  it('!stop while no worker holds the job: the recovering worker records nothing and archives the killed segment', async () => {
    const prefix = `stopped-${randomBytes(4).toString('hex')}/`;
    const [, ...workers] = await startCluster(clusterConfig(prefix, { lockDurationMs: 6_000, stalledIntervalMs: 2_000 }));
    const alice = new TestClient(await registerUser(stack, 'alice'));
    const roomId = await createCallRoom(alice, { encrypted: true });
    await inviteBot(alice, roomId, botUserId);
    peers.push(await startRtcPeer({ stack, roomId, user: alice.user, toneHz: 440, e2ee: 'keys' }));
    await alice.sendText(roomId, '!record');
    await alice.waitForMessage(roomId, botUserId, /^Recording started by/, 'the start notice', 60_000);
    const recording = workers.find((w) => w.logs.some((l) => l.includes('"starting session"')))!;
    const other = workers.find((w) => w !== recording)!;
    await sleep(4_000);
    await recording.stop('SIGKILL');
    await alice.sendText(roomId, '!stop');
    await other.waitForLog((e) => e.msg === 'recovering session', 'the other worker to take the job up', 60_000);
    const notice = String((await alice.waitForMessage(roomId, botUserId, /recorded before the recording's worker stopped/, 'where the earlier segment went', 60_000)).content.body);
    console.log(`[measure] stopped-during-outage notice: ${JSON.stringify(notice)}`);
    expect(notice).toContain(`The segment recorded before the recording's worker stopped is archived to s3://${bucket}/${prefix}`);
    const keys = await listKeys(prefix);
    const manifestKey = keys.find((k) => k.endsWith('/manifest.json'))!;
    const manifest = JSON.parse((await download(manifestKey)).toString('utf8')) as Manifest;
    expect([manifest.segments.length, manifest.endReason]).toEqual([1, 'stopped while no worker held the recording']);
    const mix = manifest.files.find((f) => f.kind === 'mixed')!;
    expect(sha256(await download(`${manifestKey.slice(0, -'manifest.json'.length)}${manifest.segments[0]!.dir}/${mix.name}`))).toBe(mix.sha256);
    // Nothing was recorded by the recovering worker.
    expect(other.logs.some((l) => l.includes('"recording finished"'))).toBe(false);
  });
});
