// Draws the call's picture: camera and screen-share pictures scaled into their tiles, name labels,
// name cards with initials for members without video, the active speaker's border, "not recorded"
// for members who opted out (tile-painter.ts). While the layout changes, Skia (@napi-rs/canvas)
// draws each frame whole, the pictures converted to RGBA and the result back to I420 by libyuv;
// while it stands still (nearly always), only the pictures change and are scaled in I420.
import { createCanvas, ImageData, type Canvas, type SKRSContext2D } from '@napi-rs/canvas';
import { registerFonts } from './fonts.ts';
import type { I420, Size } from './i420.ts';
import { aspectCover, aspectFit, type Rect } from './layout.ts';
import { DecoratedScene, DecorationCanvas } from './decorated-scene.ts';
import { COLOURS, TilePainter, tilePixels } from './tile-painter.ts';
import { i420ToRgba, rgbaToI420 } from './yuv-convert.ts';

export type TileContent =
  /** A camera (cropped to fill its tile, as Element Call shows cameras) or a screen share (whole, letterboxed). */
  | { kind: 'video'; picture: I420; fit: 'cover' | 'contain' }
  /** A member without a picture: their initials on a coloured disc. */
  | { kind: 'card' }
  /** A member who is not to be recorded: a grey tile that says so, nothing of them. */
  | { kind: 'hidden' };

export interface SceneTile {
  id: string;
  rect: Rect;
  /** Below 1 while the tile fades in. */
  alpha: number;
  /** The label (and, for a card, where the initials come from). */
  name: string;
  /** Picks the card's colour, stable for a member. */
  colourKey: string;
  speaking: boolean;
  content: TileContent;
}

export interface Scene {
  /** Nothing of the call is shown (the recording is paused). */
  paused: boolean;
  tiles: readonly SceneTile[];
}

interface SourceCanvas {
  canvas: Canvas;
  /** The frame last copied in: a new object per frame, so identity says whether to copy again. */
  picture: I420 | undefined;
}

export class Compositor {
  readonly size: Size;
  readonly #canvas: Canvas;
  readonly #ctx: SKRSContext2D;
  readonly #painter: TilePainter;
  readonly #decorations: DecorationCanvas;
  readonly #sources = new Map<string, SourceCanvas>();
  /** What the last frame showed, but for its pictures' content: the same twice means the layout stands still. */
  #lastKey = '';
  #settled: DecoratedScene | undefined;
  /** Frames drawn whole by Skia (the layout changing), and frames put together from a still layout's decorations. */
  readonly drawn = { whole: 0, still: 0 };

  constructor(size: Size) {
    if (size.width % 2 || size.height % 2) throw new Error(`the picture must have even sides for I420, not ${size.width}x${size.height}`);
    this.size = size;
    const font = registerFonts();
    this.#canvas = createCanvas(size.width, size.height);
    // Opaque: nothing shows through, and Skia skips alpha work.
    this.#ctx = this.#canvas.getContext('2d', { alpha: false });
    this.#painter = new TilePainter(this.#ctx, font, size);
    this.#decorations = new DecorationCanvas(size, font);
  }

  /**
   * The scene as an I420 picture, valid until the next call (an output that keeps it longer
   * copies it). While tiles move or fade, Skia draws every frame whole; once a layout has held for
   * a frame, its decorations are drawn once and the pictures are scaled into them in I420, into
   * one buffer reused frame after frame (decorated-scene.ts).
   */
  compose(scene: Scene): I420 {
    const key = sceneKey(scene);
    const still = key === this.#lastKey && scene.tiles.every((t) => t.alpha >= 1);
    this.#lastKey = key;
    if (!still) {
      this.#settled = undefined;
      this.drawn.whole++;
      return this.#drawWhole(scene);
    }
    this.drawn.still++;
    if (!this.#settled) {
      this.#settled = DecoratedScene.draw(scene, this.#decorations);
      this.#sources.clear();
    }
    return this.#settled.compose(scene);
  }

  #drawWhole(scene: Scene): I420 {
    const ctx = this.#ctx;
    ctx.globalAlpha = 1;
    ctx.fillStyle = COLOURS.background;
    ctx.fillRect(0, 0, this.size.width, this.size.height);
    const shown = new Set<string>();
    if (!scene.paused) {
      // Tiles fading in go underneath, so the tiles moving to make room stay in front of them.
      const order = [...scene.tiles].sort((a, b) => Number(a.alpha >= 1) - Number(b.alpha >= 1));
      for (const tile of order) {
        if (tile.rect.width < 2 || tile.rect.height < 2) continue;
        ctx.save();
        ctx.globalAlpha = tile.alpha;
        this.#painter.tile(tile, (t, content, r) => this.#drawPicture(t.id, content.picture, content.fit, r));
        ctx.restore();
        if (tile.content.kind === 'video') shown.add(tile.id);
      }
    }
    // A tile gone (or hidden, or the pause) frees its source canvas.
    for (const id of this.#sources.keys()) if (!shown.has(id)) this.#sources.delete(id);
    const { width, height } = this.size;
    // getImageData, not canvas.data(): measured 2.2 against 3.7 ms a 1280x720 picture (both allocate).
    const rgba = ctx.getImageData(0, 0, width, height).data;
    return { width, height, data: rgbaToI420(new Uint8Array(rgba.buffer, rgba.byteOffset, rgba.byteLength), this.size) };
  }

  #drawPicture(id: string, picture: I420, fit: 'cover' | 'contain', r: Rect): void {
    const source = this.#sourceCanvas(id, picture);
    if (fit === 'cover') {
      const s = aspectCover(picture, r);
      this.#ctx.drawImage(source, s.x, s.y, s.width, s.height, r.x, r.y, r.width, r.height);
    } else {
      const d = aspectFit(picture, r);
      this.#ctx.drawImage(source, d.x, d.y, d.width, d.height);
    }
  }

  /** The tile's latest frame as an RGBA canvas Skia can scale: converted only when a new frame came. */
  #sourceCanvas(id: string, picture: I420): Canvas {
    let source = this.#sources.get(id);
    if (!source || source.canvas.width !== picture.width || source.canvas.height !== picture.height) {
      source = { canvas: createCanvas(picture.width, picture.height), picture: undefined };
      this.#sources.set(id, source);
    }
    // By the picture, not its buffer: CallVideo copies each new frame into the tile's same buffer
    // and hands it on as a new picture (call-video.ts, #keep).
    if (source.picture !== picture) {
      const rgba = i420ToRgba(picture.data, picture);
      // Opaque, like the picture: Skia copies and scales it without alpha work (3.0 against 4.9 ms for 8 cameras).
      source.canvas.getContext('2d', { alpha: false }).putImageData(new ImageData(new Uint8ClampedArray(rgba.buffer, rgba.byteOffset, rgba.byteLength), picture.width, picture.height), 0, 0);
      source.picture = picture;
    }
    return source.canvas;
  }
}

/** Everything a frame shows but the pictures' content: tiles on whole pixels, names, borders, picture sizes. */
function sceneKey(scene: Scene): string {
  const tiles = scene.tiles.map((t) => {
    const r = tilePixels(t.rect);
    const picture = t.content.kind === 'video' ? `${t.content.fit} ${t.content.picture.width}x${t.content.picture.height}` : t.content.kind;
    return `${t.id}\u0001${r.x},${r.y},${r.width},${r.height}\u0001${t.alpha}\u0001${t.name}\u0001${t.colourKey}\u0001${t.speaking}\u0001${picture}`;
  });
  return `${scene.paused}\u0002${tiles.join('\u0002')}`;
}
