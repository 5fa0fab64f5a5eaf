// Draws one tile of the call's picture with Skia: its rounded background, what fills it (a
// picture, drawn by the caller; a name card; "not recorded"), the name label and the speaker's
// border. The whole picture (compositor.ts) and its decorations alone (decorated-scene.ts) are
// drawn by the same code, so a recording looks the same whichever path drew a frame.
import type { SKRSContext2D } from '@napi-rs/canvas';
import type { Size } from './i420.ts';
import { aspectFit, initials, type Rect } from './layout.ts';
import type { PixelRect } from './i420-scaler.ts';
import type { SceneTile, TileContent } from './compositor.ts';

/** Element Call's dark theme: the page, a tile without video, the speaking border. */
export const COLOURS = {
  background: '#101317',
  tile: '#21262c',
  letterbox: '#000000',
  speaking: '#0dbd8b',
  label: 'rgba(0, 0, 0, 0.6)',
  text: '#ffffff',
  /** Y 40 in limited range: the grey of a member who is not recorded. */
  notRecorded: '#1c1c1c',
  notRecordedText: '#a0a0a0',
} as const;

/** Avatar colours of name cards (none is the speaking border's green). */
const CARD_COLOURS = ['#368bd6', '#ac3ba8', '#e64f7a', '#ff812d', '#2dc2c5', '#5c56f5'];

export function cardColour(key: string): string {
  let hash = 0;
  for (const ch of key) hash = (hash * 31 + ch.codePointAt(0)!) >>> 0;
  return CARD_COLOURS[hash % CARD_COLOURS.length]!;
}

export type VideoContent = Extract<TileContent, { kind: 'video' }>;

/** Draws a tile's picture into `r` (the tile on whole pixels), clipped to its rounded corners already. */
export type PictureDrawer = (tile: SceneTile, content: VideoContent, r: Rect) => void;

/** The tile on whole pixels: both drawing paths place pictures on the same pixels. */
export const tilePixels = (r: Rect): Rect => {
  const x = Math.round(r.x);
  const y = Math.round(r.y);
  return { x, y, width: Math.round(r.x + r.width) - x, height: Math.round(r.y + r.height) - y };
};

/** Where a picture shows inside its tile, on whole pixels: all of it for a camera (cropped), letterboxed for a screen share. */
export function picturePixels(content: VideoContent, r: Rect): PixelRect {
  if (content.fit === 'cover') return { x0: r.x, y0: r.y, x1: r.x + r.width, y1: r.y + r.height };
  const d = aspectFit(content.picture, r);
  const x0 = Math.max(r.x, Math.round(d.x));
  const y0 = Math.max(r.y, Math.round(d.y));
  return { x0, y0, x1: Math.max(x0 + 1, Math.min(r.x + r.width, Math.round(d.x + d.width))), y1: Math.max(y0 + 1, Math.min(r.y + r.height, Math.round(d.y + d.height))) };
}

export class TilePainter {
  readonly #ctx: SKRSContext2D;
  readonly #font: string;
  readonly #picture: Size;

  constructor(ctx: SKRSContext2D, font: string, picture: Size) {
    this.#ctx = ctx;
    this.#font = font;
    this.#picture = picture;
  }

  tile(tile: SceneTile, drawPicture: PictureDrawer): void {
    const ctx = this.#ctx;
    const r = tilePixels(tile.rect);
    const radius = Math.min(12, r.height * 0.05);
    ctx.beginPath();
    ctx.roundRect(r.x, r.y, r.width, r.height, radius);
    const content = tile.content;
    if (content.kind === 'hidden') {
      ctx.fillStyle = COLOURS.notRecorded;
      ctx.fill();
      this.#centredText('not recorded', r, Math.max(10, Math.round(r.height * 0.07)), COLOURS.notRecordedText, 'normal');
      return;
    }
    ctx.fillStyle = content.kind === 'video' && content.fit === 'contain' ? COLOURS.letterbox : COLOURS.tile;
    ctx.fill();
    if (content.kind === 'video') {
      ctx.save();
      ctx.clip();
      drawPicture(tile, content, r);
      ctx.restore();
    } else {
      const diameter = Math.min(r.width, r.height) * 0.4;
      ctx.beginPath();
      ctx.arc(r.x + r.width / 2, r.y + r.height / 2, diameter / 2, 0, 2 * Math.PI);
      ctx.fillStyle = cardColour(tile.colourKey);
      ctx.fill();
      this.#centredText(initials(tile.name), r, Math.round(diameter * 0.42), COLOURS.text, 'bold');
    }
    this.#label(tile.name, r);
    if (tile.speaking) {
      const width = Math.max(2, Math.round(this.#picture.height / 180));
      ctx.beginPath();
      ctx.roundRect(r.x + width / 2, r.y + width / 2, r.width - width, r.height - width, Math.max(0, radius - width / 2));
      ctx.lineWidth = width;
      ctx.strokeStyle = COLOURS.speaking;
      ctx.stroke();
    }
  }

  /** The name at the tile's bottom left, on a dark pill, cut short with an ellipsis when too long. */
  #label(name: string, r: Rect): void {
    const ctx = this.#ctx;
    const size = Math.min(20, Math.max(9, Math.round(r.height * 0.06)));
    const pad = Math.round(size * 0.4);
    ctx.font = `${size}px "${this.#font}"`;
    const text = fitText(ctx, name, r.width - 4 * pad);
    if (!text) return;
    const width = ctx.measureText(text).width + 2 * pad;
    const height = size + 2 * pad;
    const x = r.x + pad;
    const y = r.y + r.height - height - pad;
    ctx.beginPath();
    ctx.roundRect(x, y, width, height, height / 4);
    ctx.fillStyle = COLOURS.label;
    ctx.fill();
    ctx.fillStyle = COLOURS.text;
    ctx.textAlign = 'left';
    ctx.textBaseline = 'middle';
    ctx.fillText(text, x + pad, y + height / 2);
  }

  #centredText(text: string, r: Rect, size: number, colour: string, weight: 'normal' | 'bold'): void {
    const ctx = this.#ctx;
    ctx.font = `${weight} ${size}px "${this.#font}"`;
    ctx.fillStyle = colour;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.fillText(fitText(ctx, text, r.width * 0.9), r.x + r.width / 2, r.y + r.height / 2);
  }
}

/** `text`, or as much of it as fits in `width` followed by an ellipsis. */
function fitText(ctx: SKRSContext2D, text: string, width: number): string {
  if (ctx.measureText(text).width <= width) return text;
  const chars = [...text];
  for (let n = chars.length - 1; n > 0; n--) {
    const cut = `${chars.slice(0, n).join('').trimEnd()}…`;
    if (ctx.measureText(cut).width <= width) return cut;
  }
  return '';
}
