// The call's picture while its layout stands still: everything but the moving pictures (the page,
// name cards, labels, the speaker's border, the tiles' rounded corners) is drawn by Skia once,
// into a layer with holes where the pictures go, and turned into I420 once. The frame lives in the
// scalers' WebAssembly memory: the layer is copied in once per layout, each frame scales every
// camera straight into its hole (i420-scaler.ts) and blends back, in place, the few layer pixels
// that lie over a picture (a label, a border, an antialiased corner), each with its own alpha.
// Nothing is converted or allocated per frame, and the frame is handed out as it lies.
import { createCanvas, type Canvas, type SKRSContext2D } from '@napi-rs/canvas';
import { i420Bytes, planeOffsets, type I420, type Size } from './i420.ts';
import { chromaRect, I420Scaler, ScalerMemory, type PixelRect } from './i420-scaler.ts';
import { aspectCover } from './layout.ts';
import { picturePixels, TilePainter, COLOURS } from './tile-painter.ts';
import type { Scene } from './compositor.ts';
import { rgbaToI420 } from './yuv-convert.ts';

/** The layer's pixels over one picture that are not fully see-through: runs of a plane's bytes, each byte's alpha. */
interface BlendRuns {
  starts: Int32Array;
  lengths: Int32Array;
  alpha: Uint8Array;
}

interface PictureSlot {
  scaler: I420Scaler;
  /** The hole: what the scaler writes, and what the base is copied back into when no picture comes. */
  hole: PixelRect;
  luma: BlendRuns;
  chroma: BlendRuns;
}

/** What drawing a layout needs, kept between layouts: a canvas with alpha (3.7 MB at 720p), the scalers' memory. */
export class DecorationCanvas {
  readonly canvas: Canvas;
  readonly ctx: SKRSContext2D;
  readonly painter: TilePainter;
  readonly memory = new ScalerMemory();

  constructor(size: Size, font: string) {
    this.canvas = createCanvas(size.width, size.height);
    this.ctx = this.canvas.getContext('2d');
    this.painter = new TilePainter(this.ctx, font, size);
  }
}

export class DecoratedScene {
  readonly #size: Size;
  readonly #base: I420;
  /** By tile id: where its picture goes, and the layer's pixels over it. */
  readonly #slots: Map<string, PictureSlot>;
  readonly #memory: ScalerMemory;
  /** Which of the memory's layouts this one is: a later draw hands the same memory out again. */
  readonly #generation: number;
  /** The frame, put together where it lies in the scalers' memory and handed out from there (compose says why). */
  readonly #frame: Uint8Array;
  /** Whether the frame holds the base yet (the first compose copies it in). */
  #based = false;
  /** Slots whose hole holds a picture, not the base: a frame that draws no picture there copies the base back. */
  readonly #showing = new Set<PictureSlot>();

  private constructor(size: Size, base: I420, slots: Map<string, PictureSlot>, memory: ScalerMemory, frameAt: number) {
    this.#size = size;
    this.#base = base;
    this.#slots = slots;
    this.#memory = memory;
    this.#generation = memory.generation;
    // Made after the scalers' allocations: only alloc grows the memory (which detaches views of it).
    this.#frame = memory.bytes().subarray(frameAt, frameAt + base.data.length);
  }

  /** Draws the scene's decorations: `scene`'s tiles must have settled (whole alpha, whole pixels). */
  static draw(scene: Scene, target: DecorationCanvas): DecoratedScene {
    const { ctx, painter } = target;
    const size = { width: target.canvas.width, height: target.canvas.height };
    ctx.globalCompositeOperation = 'source-over';
    ctx.globalAlpha = 1;
    ctx.fillStyle = COLOURS.background;
    ctx.fillRect(0, 0, size.width, size.height);
    const holes = new Map<string, { hole: PixelRect; picture: Size; fit: 'cover' | 'contain' }>();
    if (!scene.paused) {
      for (const tile of scene.tiles) {
        if (tile.rect.width < 2 || tile.rect.height < 2) continue;
        painter.tile(tile, (t, content, r) => {
          const hole = picturePixels(content, r);
          // Cut to transparent inside the tile's rounded clip: the corners keep the page.
          ctx.globalCompositeOperation = 'destination-out';
          ctx.fillRect(hole.x0, hole.y0, hole.x1 - hole.x0, hole.y1 - hole.y0);
          ctx.globalCompositeOperation = 'source-over';
          holes.set(t.id, { hole, picture: { width: content.picture.width, height: content.picture.height }, fit: content.fit });
        });
      }
    }
    const image = ctx.getImageData(0, 0, size.width, size.height).data;
    const rgba = new Uint8Array(image.buffer, image.byteOffset, image.byteLength);
    const base = { ...size, data: rgbaToI420(rgba, size) };
    // The last layout's scalers go with it: their memory is handed out anew.
    const memory = target.memory;
    memory.reset();
    const frameAt = memory.alloc(i420Bytes(size));
    const slots = new Map<string, PictureSlot>();
    for (const [id, { hole, picture, fit }] of holes) {
      const box = { width: hole.x1 - hole.x0, height: hole.y1 - hole.y0 };
      const crop = fit === 'cover' ? aspectCover(picture, box) : { x: 0, y: 0, ...picture };
      slots.set(id, { scaler: new I420Scaler(memory, picture, crop, size, frameAt, hole), hole, luma: lumaRuns(rgba, size, hole), chroma: chromaRuns(rgba, size, hole) });
    }
    return new DecoratedScene(size, base, slots, memory, frameAt);
  }

  /**
   * This frame: the layer, each tile's latest picture in its hole, the layer's pixels over them
   * blended back. The picture is the frame in the scalers' memory itself, not a copy: a buffer per
   * frame (1.38 MB at 720p, 30 a second) was what still tipped V8 into full collections back to
   * back, and copying the layer in and the frame out cost two whole-picture copies a frame. So the
   * picture is valid until the next frame (the next compose, or the next layout's draw, which may
   * grow the memory and leave this view empty); an output that holds it longer copies it (the
   * composite file, BoundedWriter's copy mode and the stream encoder do, on the frame; CallVideo
   * hands it out again only on ticks with nothing composed since).
   *
   * Only the holes change between frames of a layout, so the layer is copied in whole once, and a
   * frame writes only the holes. Blending in place is safe: every blended pixel lies in its own
   * hole, which the scaler has just rewritten whole this frame, so a pixel is blended once over a
   * fresh picture, never again over last frame's blend. A hole that gets no picture this frame
   * (its tile's content is not video) had one before: the base is copied back over it, holes
   * first, so a picture drawn into an overlapping hole still lands on top as it always did; the
   * base holds the layer's pixels there as drawn, so its decorations come back with it.
   */
  compose(scene: Scene): I420 {
    if (this.#slots.size === 0) return this.#base;
    if (this.#memory.generation !== this.#generation) throw new Error('a layout composed after a newer one was drawn into the same memory');
    const frame = this.#frame;
    if (!this.#based) {
      frame.set(this.#base.data);
      this.#based = true;
    }
    // By slot, the picture it gets (a tile id twice: the last one, as it would have been drawn over the first).
    const drawn = new Map<PictureSlot, I420>();
    for (const tile of scene.tiles) {
      const slot = this.#slots.get(tile.id);
      if (slot && tile.content.kind === 'video') drawn.set(slot, tile.content.picture);
    }
    const planes = planeOffsets(this.#size);
    for (const slot of this.#showing) {
      if (drawn.has(slot)) continue;
      restore(slot.hole, this.#size, planes, this.#base.data, frame);
      this.#showing.delete(slot);
    }
    for (const [slot, picture] of drawn) {
      slot.scaler.draw(picture);
      this.#showing.add(slot);
    }
    const [y, u, v] = planes;
    for (const slot of drawn.keys()) {
      blend(slot.luma, y, this.#base.data, frame);
      blend(slot.chroma, u, this.#base.data, frame);
      blend(slot.chroma, v, this.#base.data, frame);
    }
    return { ...this.#size, data: frame };
  }
}

/** Copies the base back over a hole, plane by plane (chroma: the chroma pixels the hole touches). */
function restore(hole: PixelRect, size: Size, planes: [number, number, number], base: Uint8Array, frame: Uint8Array): void {
  const rects = [hole, chromaRect(hole), chromaRect(hole)];
  const strides = [size.width, size.width / 2, size.width / 2];
  for (let p = 0; p < 3; p++) {
    const r = rects[p]!;
    for (let row = r.y0; row < r.y1; row++) {
      const at = planes[p]! + row * strides[p]!;
      frame.set(base.subarray(at + r.x0, at + r.x1), at + r.x0);
    }
  }
}

/** Runs of luma pixels inside `rect` whose alpha is above 0. */
function lumaRuns(rgba: Uint8Array, size: Size, rect: PixelRect): BlendRuns {
  return collectRuns(rect, size.width, (x, y) => rgba[(y * size.width + x) * 4 + 3]!);
}

/** The same for chroma, each chroma pixel's alpha the mean of the four luma pixels it covers. */
function chromaRuns(rgba: Uint8Array, size: Size, rect: PixelRect): BlendRuns {
  const alphaAt = (x: number, y: number) => rgba[(y * size.width + x) * 4 + 3]!;
  return collectRuns(chromaRect(rect), size.width / 2, (x, y) => (alphaAt(2 * x, 2 * y) + alphaAt(2 * x + 1, 2 * y) + alphaAt(2 * x, 2 * y + 1) + alphaAt(2 * x + 1, 2 * y + 1) + 2) >> 2);
}

function collectRuns(rect: PixelRect, stride: number, alphaAt: (x: number, y: number) => number): BlendRuns {
  const starts: number[] = [];
  const lengths: number[] = [];
  const alpha: number[] = [];
  for (let y = rect.y0; y < rect.y1; y++) {
    let run = -1;
    for (let x = rect.x0; x < rect.x1; x++) {
      const a = alphaAt(x, y);
      if (a === 0) {
        run = -1;
        continue;
      }
      if (run < 0) {
        run = starts.length;
        starts.push(y * stride + x);
        lengths.push(0);
      }
      lengths[run]!++;
      alpha.push(a);
    }
  }
  return { starts: Int32Array.from(starts), lengths: Int32Array.from(lengths), alpha: Uint8Array.from(alpha) };
}

/** out = layer·a + out·(1 − a) over the runs of one plane starting at `offset` (exact rounding of /255). */
function blend(runs: BlendRuns, offset: number, layer: Uint8Array, out: Uint8Array): void {
  const { starts, lengths, alpha } = runs;
  let k = 0;
  for (let r = 0; r < starts.length; r++) {
    let p = offset + starts[r]!;
    const end = p + lengths[r]!;
    for (; p < end; p++) {
      const a = alpha[k++]!;
      if (a === 255) out[p] = layer[p]!;
      else {
        const v = layer[p]! * a + out[p]! * (255 - a) + 128;
        out[p] = (v + (v >> 8)) >> 8;
      }
    }
  }
}
