// The audio files of a recording: a mix of everyone and one stem per speaker, written from the
// call's shared clock (CallAudio), so they line up sample for sample with each other and with
// the recording's start (the first tick this output saw). Ogg Opus written progressively:
// playable up to the last second if the process is killed. The files share ffmpeg processes
// (shared-opus-encoder.ts): the mix and everyone heard in the first second are one process.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../observability/logger.ts';
import { CHUNK_MS, CHUNK_SAMPLES } from '../../media/recording/audio-timeline.ts';
import type { AudioTick, CallAudio, Speaker } from '../../call/call-audio.ts';
import { formatDuration } from '../../format.ts';
import type { Chapter } from '../../media/recording/manifest.ts';
import { PartedOutput, type AudioPart, type PartEvent } from './parted-output.ts';
import { SharedOpusEncoders } from './shared-opus-encoder.ts';

export interface AudioFileResult {
  path: string;
  durationMs: number;
  /** Audio left out because ffmpeg did not keep up (see MAX_PENDING_AUDIO_BYTES); the file is this much shorter. */
  droppedMs?: number;
  /** Silence at the start made by ffmpeg itself (a speaker heard late), included in durationMs. */
  leadMs?: number;
  error?: string;
  /** Where the file went on after its ffmpeg died (parted-output.ts); `durationMs` above is then the first part's. */
  parts?: AudioPart[];
}

export interface StemResult extends AudioFileResult {
  speaker: Speaker;
  /** Offset from the recording's start of the first chunk with audio, in ms. */
  firstAudioMs?: number;
  /** Chunks (of CHUNK_MS) that carried audio rather than silence. */
  audioChunks: number;
}

export interface AudioRecording {
  startedAt: number;
  /** When the last chunk taken (paused or not) was heard: with pauses, later than startedAt + durationMs. */
  endedAt: number;
  durationMs: number;
  /** One at each resume and each mark, at their offsets in the files (paused spans are not in them). */
  chapters: Chapter[];
  mixed: AudioFileResult;
  stems: StemResult[];
}

/** Audio ffmpeg has not taken yet, at most: 5 s of 20 ms chunks (about 480 kB per file). */
export const MAX_PENDING_AUDIO_BYTES = (5_000 / CHUNK_MS) * CHUNK_SAMPLES * 2;

interface StemState {
  speaker: Speaker;
  stem: PartedOutput;
  firstAudioChunk?: number;
  audioChunks: number;
}

export interface AudioFilesOptions {
  dir: string;
  ffmpegPath: string;
  log: Logger;
  /** How long each ffmpeg gets to close its file before it is killed (default FINISH_TIMEOUT_MS). */
  finishTimeoutMs?: number;
  /** Receives every mixed chunk as it is written (the composite video's soundtrack). */
  onMixed?(chunk: Int16Array): void;
  /** Called when a speaker's stem file is created. */
  onStem?(speaker: Speaker): void;
  /** False once the job is another worker's (its lock was lost): later ticks are not written, not even the clock's catch-up after a pause. */
  keepWriting?(): boolean;
  /** A file's ffmpeg died: the file went on in a new part, or stopped (a full disk). */
  onPartEvent?(event: PartEvent): void;
}

const SILENCE = new Int16Array(CHUNK_SAMPLES);

export class AudioFiles {
  readonly #opts: AudioFilesOptions;
  readonly #log: Logger;
  readonly #stems = new Map<string, StemState>();
  readonly #mixed: PartedOutput;
  readonly #encoders: SharedOpusEncoders;
  #unsubscribe: (() => void) | undefined;
  #startedAt = 0;
  #written = 0;
  readonly #chapters: Chapter[] = [];
  readonly #marks: Array<{ title: string; at: number }> = [];
  /** When the pause that is going on began (heard time of its first tick). */
  #pausedSince: number | undefined;
  #lastHeardAt: number | undefined;

  constructor(opts: AudioFilesOptions) {
    this.#opts = opts;
    this.#log = opts.log.child({ module: 'audio-files' });
    mkdirSync(opts.dir, { recursive: true });
    this.#encoders = new SharedOpusEncoders({ ffmpegPath: opts.ffmpegPath, log: this.#log, maxPendingBytesPerFile: MAX_PENDING_AUDIO_BYTES, finishTimeoutMs: opts.finishTimeoutMs });
    this.#mixed = this.#parted(join(opts.dir, 'mixed.ogg'), 0);
  }

  /** Time zero of every file: when the first chunk written was heard. */
  get startedAt(): number {
    return this.#startedAt;
  }

  /** Each stem's file and speaker, so far. */
  get stemFiles(): Array<{ path: string; speaker: Speaker }> {
    return [...this.#stems.values()].map((s) => ({ path: s.stem.path, speaker: s.speaker }));
  }

  /** Starts writing from the call's next tick; `startedAt` is that tick's time. */
  attach(audio: CallAudio): void {
    this.#startedAt = audio.startedAt + audio.nextIndex * CHUNK_MS;
    this.#unsubscribe = audio.subscribe((tick) => this.#write(tick));
  }

  /** Adds a chapter at the moment `at` (wall clock) was heard; during a pause, where the recording resumes. */
  mark(title: string, at: number): void {
    this.#marks.push({ title, at });
  }

  /** How much has been written so far, in ms of the files. */
  get writtenMs(): number {
    return this.#written * CHUNK_MS;
  }

  #write(tick: AudioTick): void {
    if (this.#opts.keepWriting && !this.#opts.keepWriting()) return;
    this.#lastHeardAt = tick.heardAt;
    // A paused span is not in the files at all: they go on where the pause began.
    if (tick.paused) {
      this.#pausedSince ??= tick.heardAt;
      return;
    }
    if (this.#pausedSince !== undefined) {
      // A segment that began paused (recovered after a crash) does not know when the pause began.
      const title = this.#pausedSince === this.#startedAt ? 'Resumed' : `Resumed (after a pause of ${formatDuration(tick.heardAt - this.#pausedSince)})`;
      this.#chapters.push({ startMs: this.#written * CHUNK_MS, title, at: new Date(tick.heardAt).toISOString() });
      this.#pausedSince = undefined;
    }
    while (this.#marks[0] && this.#marks[0].at <= tick.heardAt + CHUNK_MS) {
      const { title } = this.#marks.shift()!;
      this.#chapters.push({ startMs: this.#written * CHUNK_MS, title, at: new Date(tick.heardAt).toISOString() });
    }
    for (const { speaker, chunk } of tick.speakers) {
      // A stem exists from its speaker's first recorded sound: nobody left out gets a file.
      const state = chunk ? this.#stem(speaker) : this.#stems.get(speaker.key);
      state?.stem.write(chunk ?? SILENCE);
      if (!state || !chunk) continue;
      state.audioChunks++;
      state.firstAudioChunk ??= this.#written;
    }
    this.#mixed.write(tick.mixed);
    this.#encoders.endTick();
    this.#opts.onMixed?.(tick.mixed);
    this.#written++;
  }

  #stem(speaker: Speaker): StemState {
    let state = this.#stems.get(speaker.key);
    if (state) return state;
    const index = String(this.#stems.size + 1).padStart(2, '0');
    // Time-aligned with the recording's start: ffmpeg puts silence up to the moment this speaker appears.
    const stem = this.#parted(join(this.#opts.dir, `stem-${index}-${speaker.label}.ogg`), this.#written);
    state = { speaker, stem, audioChunks: 0 };
    this.#stems.set(speaker.key, state);
    this.#opts.onStem?.(speaker);
    return state;
  }

  /** A file whose later parts (after an ffmpeg death) start at their offset, with no lead of their own. */
  #parted(path: string, leadChunks: number): PartedOutput {
    return new PartedOutput({
      path,
      startChunks: leadChunks,
      start: (partPath, first) => this.#encoders.open(partPath, first ? leadChunks : 0),
      onEvent: (event) => this.#opts.onPartEvent?.(event),
      log: this.#log,
    });
  }

  /** Stops taking ticks and finishes every file. */
  async finish(): Promise<AudioRecording> {
    this.#unsubscribe?.();
    // Every file is told at once: files sharing an encoder end together, and none may take that end for a crash.
    const [mixed, stems] = await Promise.all([
      this.#mixed.finish(),
      Promise.all(
        [...this.#stems.values()].map(async (state): Promise<StemResult> => ({
          ...(await state.stem.finish()),
          speaker: state.speaker,
          audioChunks: state.audioChunks,
          ...(state.firstAudioChunk !== undefined ? { firstAudioMs: state.firstAudioChunk * CHUNK_MS } : {}),
        })),
      ),
    ]);
    const endedAt = this.#lastHeardAt === undefined ? this.#startedAt : this.#lastHeardAt + CHUNK_MS;
    return { startedAt: this.#startedAt, endedAt, durationMs: this.#written * CHUNK_MS, chapters: [...this.#chapters], mixed, stems };
  }
}
