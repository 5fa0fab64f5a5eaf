// Where each tile of the call's picture goes, in the manner of Element Call: a grid of 16:9 tiles
// as large as the picture allows (the last row centred), or, while someone shares their screen,
// the screen share large on the left and everyone else in a strip beside it. Pure arithmetic, so
// it is unit-tested without media; the drawing is compositor.ts's.

import type { Size } from './i420.ts';

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface TileRequest {
  id: string;
  /** A screen share: shown large while it is the first one. */
  screen: boolean;
}

const TILE_ASPECT = 16 / 9;

/** The space between tiles and around the picture, in pixels (8 at 720p). */
export const gapFor = (canvas: Size) => Math.max(2, Math.round(canvas.height / 90));

/** The largest rectangle of `src`'s aspect ratio inside `box`, centred (letterboxed). */
export function aspectFit(src: Size, box: Rect): Rect {
  if (src.width <= 0 || src.height <= 0) throw new Error(`a picture of ${src.width}x${src.height} has no aspect ratio`);
  const scale = Math.min(box.width / src.width, box.height / src.height);
  const width = src.width * scale;
  const height = src.height * scale;
  return { x: box.x + (box.width - width) / 2, y: box.y + (box.height - height) / 2, width, height };
}

/** The part of `src` that fills `box` with its aspect ratio kept (cropped, as cameras are shown): source coordinates. */
export function aspectCover(src: Size, box: Size): Rect {
  if (src.width <= 0 || src.height <= 0) throw new Error(`a picture of ${src.width}x${src.height} has no aspect ratio`);
  const scale = Math.max(box.width / src.width, box.height / src.height);
  const width = box.width / scale;
  const height = box.height / scale;
  return { x: (src.width - width) / 2, y: (src.height - height) / 2, width, height };
}

/** `count` 16:9 tiles in the box, in the column count that makes them largest; rows centred. */
export function gridRects(count: number, box: Rect, gap: number): Rect[] {
  if (count <= 0) return [];
  let best = { columns: 1, width: 0, height: 0 };
  for (let columns = 1; columns <= count; columns++) {
    const rows = Math.ceil(count / columns);
    const cell = { width: (box.width - (columns - 1) * gap) / columns, height: (box.height - (rows - 1) * gap) / rows };
    const tile = aspectFit({ width: TILE_ASPECT, height: 1 }, { x: 0, y: 0, ...cell });
    if (tile.width > best.width) best = { columns, width: tile.width, height: tile.height };
  }
  const { columns, width, height } = best;
  const rows = Math.ceil(count / columns);
  const top = box.y + (box.height - (rows * height + (rows - 1) * gap)) / 2;
  return Array.from({ length: count }, (_, i) => {
    const row = Math.floor(i / columns);
    const inRow = row === rows - 1 ? count - row * columns : columns;
    const left = box.x + (box.width - (inRow * width + (inRow - 1) * gap)) / 2;
    return { x: left + (i % columns) * (width + gap), y: top + row * (height + gap), width, height };
  });
}

/** A column of `count` 16:9 tiles, at most `box.width` wide, centred in the box. */
export function stripRects(count: number, box: Rect, gap: number): Rect[] {
  if (count <= 0) return [];
  const height = Math.min(box.width / TILE_ASPECT, (box.height - (count - 1) * gap) / count);
  const width = height * TILE_ASPECT;
  const top = box.y + (box.height - (count * height + (count - 1) * gap)) / 2;
  return Array.from({ length: count }, (_, i) => ({ x: box.x + (box.width - width) / 2, y: top + i * (height + gap), width, height }));
}

/** The share of the picture's width the strip beside a screen share takes. */
export const STRIP_SHARE = 0.2;

/**
 * Each tile's place. Without a screen share: a grid. With one: the first screen share fills the
 * left (its own picture is letterboxed inside by the drawing), the other tiles, in their order,
 * a strip on the right.
 */
export function layoutTiles(tiles: readonly TileRequest[], canvas: Size): Map<string, Rect> {
  const gap = gapFor(canvas);
  const inner: Rect = { x: gap, y: gap, width: canvas.width - 2 * gap, height: canvas.height - 2 * gap };
  const stage = tiles.find((t) => t.screen);
  const placed = new Map<string, Rect>();
  if (!stage) {
    gridRects(tiles.length, inner, gap).forEach((rect, i) => placed.set(tiles[i]!.id, rect));
    return placed;
  }
  const others = tiles.filter((t) => t !== stage);
  const stripWidth = others.length > 0 ? Math.round(inner.width * STRIP_SHARE) : 0;
  placed.set(stage.id, { x: inner.x, y: inner.y, width: inner.width - stripWidth - (stripWidth > 0 ? gap : 0), height: inner.height });
  const strip: Rect = { x: inner.x + inner.width - stripWidth, y: inner.y, width: stripWidth, height: inner.height };
  stripRects(others.length, strip, gap).forEach((rect, i) => placed.set(others[i]!.id, rect));
  return placed;
}

/**
 * The letters of a name card: the first letter of the first and of the last word ("Ada
 * Lovelace" → "AL"; "@bob:example.org" → "B"), by grapheme so that accents and emoji stay whole.
 */
export function initials(name: string): string {
  // A Matrix ID stands for a name when there is no display name: its localpart is the name.
  const text = name.startsWith('@') ? name.slice(1).split(':')[0]! : name;
  const words = text.trim().split(/\s+/).filter(Boolean);
  const first = (word: string | undefined) => (word ? ([...GRAPHEMES.segment(word)][0]?.segment ?? '') : '');
  const letters = words.length > 1 ? first(words[0]) + first(words.at(-1)) : first(words[0]);
  return letters.toLocaleUpperCase() || '?';
}

const GRAPHEMES = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

const lerp = (a: number, b: number, t: number) => a + (b - a) * t;
/** Slow at both ends, like the layout transitions of a call client. */
export const easeInOut = (t: number) => (t < 0.5 ? 2 * t * t : 1 - (-2 * t + 2) ** 2 / 2);

export function lerpRect(from: Rect, to: Rect, t: number): Rect {
  return { x: lerp(from.x, to.x, t), y: lerp(from.y, to.y, t), width: lerp(from.width, to.width, t), height: lerp(from.height, to.height, t) };
}

/** A tile where the picture shows it now: its place, and how opaque it is (a new tile fades in). */
export interface PlacedTile {
  rect: Rect;
  alpha: number;
}

/**
 * Moves tiles from where they were to where a new layout puts them over `durationMs`, so a join
 * or a leave reflows the picture instead of jumping; a new tile fades in at its place.
 */
export class TileMotion {
  readonly #durationMs: number;
  readonly #tiles = new Map<string, { from: Rect; to: Rect; fadeIn: boolean; startedAt: number }>();

  constructor(durationMs = 300) {
    this.#durationMs = durationMs;
  }

  /** The layout's targets from now on; tiles not in it are gone at once. */
  retarget(targets: Map<string, Rect>, now: number): void {
    for (const id of this.#tiles.keys()) if (!targets.has(id)) this.#tiles.delete(id);
    for (const [id, to] of targets) {
      const tile = this.#tiles.get(id);
      if (!tile) this.#tiles.set(id, { from: to, to, fadeIn: true, startedAt: now });
      else if (!sameRect(tile.to, to)) this.#tiles.set(id, { from: this.#at(tile, now).rect, to, fadeIn: false, startedAt: now });
    }
  }

  at(now: number): Map<string, PlacedTile> {
    return new Map([...this.#tiles].map(([id, tile]) => [id, this.#at(tile, now)]));
  }

  /** Some tile is still on its way (the picture changes with every frame until then). */
  moving(now: number): boolean {
    return [...this.#tiles.values()].some((t) => now - t.startedAt < this.#durationMs);
  }

  #at(tile: { from: Rect; to: Rect; fadeIn: boolean; startedAt: number }, now: number): PlacedTile {
    const t = this.#durationMs <= 0 ? 1 : Math.min(1, Math.max(0, (now - tile.startedAt) / this.#durationMs));
    return { rect: lerpRect(tile.from, tile.to, easeInOut(t)), alpha: tile.fadeIn ? t : 1 };
  }
}

const sameRect = (a: Rect, b: Rect) => a.x === b.x && a.y === b.y && a.width === b.width && a.height === b.height;
