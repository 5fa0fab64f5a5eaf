// The call's one picture, shared by every video output, laid out as Element Call shows a call:
// a tile per member with their name (their camera, or a name card with their initials), the
// active speaker's border, a screen share large with the others in a strip beside it. Composed
// (natively, compositor.ts) when something changed and handed to every subscriber as I420 at
// the frame rate; a join or a leave moves the tiles to their new places over a short transition.
// The clock runs only while some output wants pictures, so audio-only sessions pay nothing for it.
import type { Logger } from '../observability/logger.ts';
import { Compositor, type SceneTile } from '../media/video/compositor.ts';
import type { I420 } from '../media/video/i420.ts';
import { layoutTiles, TileMotion, type TileRequest } from '../media/video/layout.ts';
import type { VideoFormat } from '../media/ffmpeg/video-args.ts';
import { collectYoungGarbage, freeNow, youngGarbageCollectable } from '../media/video/young-garbage.ts';

/** Pictures between collections of the young generation (young-garbage.ts): ~130 ms at 30 fps. */
const FRAMES_PER_YOUNG_COLLECTION = 4;

export type VideoSubscriber = (canvas: I420) => void;

/** What a video track shows: a member's camera, or the screen they share (a tile of its own). */
export type VideoSource = 'camera' | 'screen';

export interface CallVideoOptions {
  format: VideoFormat;
  log: Logger;
  /** Nothing of the call is shown while this says so (the recording is paused). */
  paused?: () => boolean;
  /** A member (by tile key) whose picture is not to be recorded: their tile says "not recorded". */
  hidden?: (key: string) => boolean;
  /** The name a member's tile shows (their display name). */
  name?: (key: string) => string;
  /** How long tiles take to move to a new layout. */
  transitionMs?: number;
  now?: () => number;
}

const SCREEN = '\u0000screen';
const tileId = (key: string, source: VideoSource) => (source === 'screen' ? key + SCREEN : key);

export class CallVideo {
  readonly format: VideoFormat;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #paused: () => boolean;
  readonly #hidden: (key: string) => boolean;
  readonly #name: (key: string) => string;
  readonly #compositor: Compositor;
  readonly #motion: TileMotion;
  /** Each tile's latest frame, by tile id (a member's key, or their key and SCREEN). */
  readonly #latest = new Map<string, I420>();
  /** Tracks feeding each tile: a republished track may start before the old one ended. */
  readonly #feeding = new Map<string, number>();
  readonly #subscribers = new Set<VideoSubscriber>();
  /** Names looked up since the members last changed (a lookup reads the call's memberships). */
  readonly #names = new Map<string, string>();
  #members: string[] = [];
  #speaking: string | undefined;
  #layout = '';
  #canvas: I420 | undefined;
  #dirty = true;
  #clockStart = 0;
  #frames = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Tiles whose latest frame no clock frame has shown yet. */
  readonly #unshown = new Set<string>();
  /** Since the clock started: frames received, frames replaced before shown, clock frames with nothing new. */
  #stats = { received: 0, replacedUnseen: 0, repeated: 0 };

  constructor(opts: CallVideoOptions) {
    this.format = opts.format;
    this.#log = opts.log.child({ module: 'call-video' });
    this.#now = opts.now ?? Date.now;
    this.#paused = opts.paused ?? (() => false);
    this.#hidden = opts.hidden ?? (() => false);
    this.#name = opts.name ?? ((key) => key);
    this.#motion = new TileMotion(opts.transitionMs ?? 300);
    // Fails here, when the call is joined with video, if the fonts are missing.
    this.#compositor = new Compositor(opts.format);
  }

  /** The members shown, in tile order (everyone in the call, with or without video). */
  setMembers(keys: string[]): void {
    if (keys.join('\n') === this.#members.join('\n')) return;
    this.#members = [...keys];
    this.#names.clear();
    this.#dirty = true;
  }

  /** The member whose tile is highlighted as speaking (undefined: nobody). */
  setSpeaking(key: string | undefined): void {
    if (key === this.#speaking) return;
    this.#speaking = key;
    this.#dirty = true;
  }

  /** Composes anew at the next frame (who may be shown, or a name, changed). */
  invalidate(): void {
    this.#names.clear();
    this.#dirty = true;
  }

  /**
   * Shows a member's video track: each frame replaces the last one in its tile; when the track
   * ends, the tile goes (a camera's back to a name card). The frames are CallVideo's: each is
   * copied and its buffer freed (read as empty afterwards).
   */
  addTrack(key: string, frames: AsyncIterable<I420>, source: VideoSource = 'camera'): void {
    const id = tileId(key, source);
    this.#feeding.set(id, (this.#feeding.get(id) ?? 0) + 1);
    void (async () => {
      try {
        for await (const frame of frames) {
          this.#latest.set(id, this.#keep(id, frame));
          this.#dirty = true;
          this.#stats.received++;
          if (this.#unshown.has(id)) this.#stats.replacedUnseen++;
          else this.#unshown.add(id);
        }
      } finally {
        const left = (this.#feeding.get(id) ?? 1) - 1;
        if (left > 0) this.#feeding.set(id, left);
        else {
          this.#feeding.delete(id);
          this.#latest.delete(id);
          this.#dirty = true;
        }
      }
    })().catch((err: unknown) => this.#log.error({ err, member: key, source }, 'video track failed'));
  }

  /** The current picture (composed now if anything changed, or while tiles move). */
  canvas(): I420 {
    const now = this.#now();
    const tiles = this.#tileRequests();
    const layout = tiles.map((t) => t.id).join('\n');
    if (layout !== this.#layout) {
      this.#motion.retarget(layoutTiles(tiles, this.format), now);
      this.#layout = layout;
      this.#dirty = true;
    }
    if (this.#dirty || this.#motion.moving(now) || !this.#canvas) {
      // Moving tiles are still drawn next frame: the last step lands them exactly.
      this.#dirty = this.#motion.moving(now);
      const placed = this.#motion.at(now);
      this.#canvas = this.#compositor.compose({
        paused: this.#paused(),
        tiles: tiles.map((t) => ({ ...t.scene, ...placed.get(t.id)! })),
      });
    }
    return this.#canvas;
  }

  /** Every tile in order: per member their camera (or card, or "not recorded"), then their screen share. */
  #tileRequests(): Array<TileRequest & { scene: Omit<SceneTile, 'rect' | 'alpha'> }> {
    const tiles: Array<TileRequest & { scene: Omit<SceneTile, 'rect' | 'alpha'> }> = [];
    for (const key of this.#members) {
      if (this.#hidden(key)) {
        tiles.push({ id: key, screen: false, scene: { id: key, name: '', colourKey: key, speaking: false, content: { kind: 'hidden' } } });
        continue;
      }
      let name = this.#names.get(key);
      if (name === undefined) this.#names.set(key, (name = this.#name(key)));
      const camera = this.#latest.get(key);
      tiles.push({
        id: key,
        screen: false,
        scene: { id: key, name, colourKey: key, speaking: key === this.#speaking, content: camera ? { kind: 'video', picture: camera, fit: 'cover' } : { kind: 'card' } },
      });
      const screenId = tileId(key, 'screen');
      const screen = this.#latest.get(screenId);
      if (screen) tiles.push({ id: screenId, screen: true, scene: { id: screenId, name: `${name} (screen)`, colourKey: key, speaking: false, content: { kind: 'video', picture: screen, fit: 'contain' } } });
    }
    return tiles;
  }

  /** Adds an output; the clock starts with the first and stops with the last. */
  subscribe(subscriber: VideoSubscriber): () => void {
    this.#subscribers.add(subscriber);
    if (!this.#timer) {
      this.#clockStart = this.#now();
      this.#frames = 0;
      this.#stats = { received: 0, replacedUnseen: 0, repeated: 0 };
      this.#timer = setInterval(() => this.#tick(), 1000 / this.format.fps / 2);
      if (!youngGarbageCollectable) this.#log.info('node runs without --expose-gc: the pictures\' buffers are left to V8 to collect, which costs more CPU');
    }
    return () => {
      this.#subscribers.delete(subscriber);
      if (this.#subscribers.size === 0) this.stop();
    };
  }

  stop(): void {
    // Frames lost or shown twice between the cameras and the clock (the benchmark reads this line).
    if (this.#timer) this.#log.info({ frames: this.#frames, ...this.#stats, drawnWhole: this.#compositor.drawn.whole, drawnStill: this.#compositor.drawn.still }, 'video clock stopped');
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * The frame, its pixels copied into the tile's own buffer (reused while the size holds). A tile
   * holds its latest frame across young-generation collections, which would move rtc-node's
   * buffer to the old generation: at 9 cameras that was ~90 MB/s of buffers freed only by full
   * collections, one every ~0.3 s. Copied at once, rtc-node's buffer is freed there and then
   * (freeNow: the frame is the tile's, nothing else reads it). A new object per frame, so that
   * what caches by identity (the compositor's copies, the scalers' copy in WebAssembly memory:
   * i420-scaler.ts) sees a new picture.
   */
  #keep(id: string, frame: I420): I420 {
    const held = this.#latest.get(id)?.data;
    const data = held?.length === frame.data.length ? held : new Uint8Array(frame.data.length);
    data.set(frame.data);
    freeNow(frame.data);
    return { width: frame.width, height: frame.height, data };
  }

  #tick(): void {
    const due = Math.floor((this.#now() - this.#clockStart) / (1000 / this.format.fps)) - this.#frames;
    for (let i = 0; i < due; i++) {
      if (!this.#dirty) this.#stats.repeated++;
      const canvas = this.canvas();
      this.#unshown.clear();
      if (++this.#frames % FRAMES_PER_YOUNG_COLLECTION === 0) collectYoungGarbage();
      for (const subscriber of this.#subscribers) {
        try {
          subscriber(canvas);
        } catch (err) {
          this.#log.error({ err }, 'a video output failed on a frame; the others go on');
        }
      }
    }
  }
}
