// Property-based fuzzing of what a worker reads back from Redis: output records (the hash
// `<prefix>:outputs:<jobId>`) and segment records (`<prefix>:segments:<jobId>`), mostly as this
// version writes them with fields swapped for anything. A record is taken as written or refused
// with its own error naming the field; a segment record taken is described for the manifest
// without throwing, whatever its directory holds.
import fc from 'fast-check';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { describeEarlierSegments } from '../outputs/recording/earlier-segments.ts';
import { OutputRecordError, parseOutputRecord } from './outputs.ts';
import { parseSegmentRecord, SegmentRecordError } from './segment-record.ts';

const RUNS = 10_000;
const log = pino({ level: 'silent' });
const mostly = <T,>(good: fc.Arbitrary<T>) => fc.oneof({ weight: 12, arbitrary: good }, { weight: 1, arbitrary: fc.anything() });
const serialised = (value: fc.Arbitrary<unknown>) => fc.oneof({ weight: 8, arbitrary: value.map((v) => JSON.stringify(v) ?? 'undefined') }, fc.string(), fc.json());

// A recording's folder as a crashed worker may leave it, and what else a record could point at.
const root = mkdtempSync(join(tmpdir(), 'mrr-records-fuzz-'));
const segmentDir = join(root, 'segment-1');
mkdirSync(join(segmentDir, 'folder.ogg'), { recursive: true });
writeFileSync(join(segmentDir, 'mixed.ogg'), Buffer.from('OggS not really'));
writeFileSync(join(segmentDir, 'stem-01-alice.ogg'), Buffer.alloc(0));
writeFileSync(join(segmentDir, 'composite.mkv'), Buffer.from([0x1a, 0x45, 0xdf, 0xa3]));
const aFile = join(root, 'not-a-folder');
writeFileSync(aFile, 'x');
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('fuzzing records read back from Redis', () => {
  it(`output records are taken as written or refused naming the field (${RUNS} cases)`, () => {
    const common = { kind: mostly(fc.constantFrom('audio', 'video')), requestedBy: mostly(fc.constant('@alice:hs')), requestEventId: mostly(fc.constant('$ev')), at: mostly(fc.integer({ min: 0 })) };
    const recording = fc.record({ id: mostly(fc.constant('recording')), type: mostly(fc.constant('recording')), ...common }, { requiredKeys: ['id', 'type', 'kind', 'requestedBy', 'requestEventId', 'at'] });
    const stream = fc.record(
      { id: mostly(fc.constantFrom('stream:youtube', 'stream:rtmp://h/app/••••')), type: mostly(fc.constant('stream')), destination: mostly(fc.constantFrom('youtube', 'hls')), label: mostly(fc.constant('youtube')), sealedUrl: mostly(fc.base64String()), ...common },
      { requiredKeys: ['id', 'type', 'kind', 'destination', 'label', 'requestedBy', 'requestEventId', 'at'] },
    );
    const entry = fc.tuple(fc.oneof(recording, stream), fc.boolean(), fc.string()).chain(([record, sameId, otherId]) =>
      serialised(fc.constant(record)).map((raw) => ({ field: sameId && typeof record.id === 'string' ? record.id : otherId, raw })),
    );
    const seen = { taken: 0, refused: 0 };
    fc.assert(
      fc.property(entry, ({ field, raw }) => {
        try {
          const record = parseOutputRecord(field, raw);
          seen.taken++;
          expect(record.id).toBe(field);
          expect(['audio', 'video']).toContain(record.kind);
          expect(Number.isFinite(record.at)).toBe(true);
          if (record.type === 'stream') expect(record.destination.length * record.label.length).toBeGreaterThan(0);
        } catch (err) {
          seen.refused++;
          expect(err).toBeInstanceOf(OutputRecordError);
          expect((err as Error).message).toMatch(/^the output record ".*" in Redis is not valid: (it is not|.* (is|are|differs|must)|\w+ is )/s);
        }
      }),
      { numRuns: RUNS },
    );
    console.info(`output records: ${JSON.stringify(seen)}`);
    expect(seen.taken).toBeGreaterThan(RUNS / 5);
    expect(seen.refused).toBeGreaterThan(RUNS / 5);
  });

  it(`segment records are refused naming the field, or described for the manifest without throwing (${RUNS} cases)`, async () => {
    const offset = fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 0, max: 3_600_000 }) }, fc.double());
    const record = fc.record(
      {
        index: mostly(fc.integer({ min: 0, max: 5 })),
        startedAt: mostly(fc.constantFrom('2026-11-25T20:00:00.000Z', '2026-11-25T20:00:00.000Z', '2026-11-25T20:00:00.000Z', 'yesterday')),
        worker: mostly(fc.constant('host:123')),
        dir: mostly(fc.constantFrom(segmentDir, segmentDir, join(root, 'gone'), aFile, 'relative/segment-1', root)),
        participants: mostly(fc.array(mostly(fc.record({ userId: mostly(fc.constant('@alice:hs')), deviceId: mostly(fc.constant('DEV')), joinedMs: mostly(offset), leftMs: offset }, { requiredKeys: ['userId', 'deviceId', 'joinedMs'] })), { maxLength: 3 })),
        stems: mostly(fc.array(mostly(fc.record({ file: mostly(fc.constantFrom('stem-01-alice.ogg', 'stem-01-alice.ogg', 'x.ogg', 'x.ogg', '../../etc/passwd')), userId: mostly(fc.constant('@alice:hs')), deviceId: mostly(fc.constant('DEV')) }, { requiredKeys: ['file'] })), { maxLength: 3 })),
        // A segment handed over to another worker at shutdown: closed, with its cut point.
        endedAt: mostly(fc.constant('2026-11-25T20:05:00.000Z')),
        playFromMs: mostly(fc.integer({ min: 0, max: 3_600_000 })),
        playUntilMs: mostly(fc.integer({ min: 0, max: 3_600_000 })),
      },
      { requiredKeys: ['index', 'startedAt', 'worker', 'dir', 'participants', 'stems'] },
    );
    const seen = { described: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(serialised(record), { maxLength: 3 }), async (raws) => {
        const taken = [];
        for (const raw of raws) {
          try {
            taken.push(parseSegmentRecord(raw));
          } catch (err) {
            seen.refused++;
            expect(err).toBeInstanceOf(SegmentRecordError);
            expect((err as Error).message).toMatch(/^a segment record in Redis is not valid: (it is not|index|segment \d+: (startedAt|worker|dir|participant|stem|endedAt|playFromMs|playUntilMs))/);
          }
        }
        const earlier = await describeEarlierSegments(taken, 6, log);
        seen.described += earlier.segments.length;
        expect(earlier.segments.length).toBe(taken.filter((r) => r.index < 6).length);
        // A closed (handed-over) segment is not called interrupted, and keeps its cut.
        const records = taken.filter((r) => r.index < 6).sort((a, b) => a.index - b.index);
        earlier.segments.forEach((segment, i) => {
          expect(segment.interrupted === true).toBe(records[i]!.endedAt === undefined);
          expect(segment.playUntilMs).toBe(records[i]!.playUntilMs);
        });
        // Only what lies in the record's own folder is delivered.
        for (const f of earlier.local) expect(f.path.startsWith(segmentDir) || f.path.startsWith(root)).toBe(true);
      }),
      { numRuns: RUNS },
    );
    console.info(`segment records: ${JSON.stringify(seen)}`);
    expect(seen.described).toBeGreaterThan(RUNS / 10);
  }, 60_000);
});
