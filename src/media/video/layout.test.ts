import { describe, expect, it } from 'vitest';
import { aspectCover, aspectFit, gapFor, gridRects, initials, layoutTiles, STRIP_SHARE, TileMotion } from './layout.ts';

const canvas = { width: 1280, height: 720 };
const near = (n: number) => Math.round(n * 100) / 100;

describe('aspectFit and aspectCover', () => {
  it('fits a 4:3 picture into a 16:9 box letterboxed left and right, centred', () => {
    expect(aspectFit({ width: 640, height: 480 }, { x: 10, y: 20, width: 320, height: 180 })).toEqual({ x: 50, y: 20, width: 240, height: 180 });
  });

  it('crops a 4:3 picture to fill a 16:9 box: the middle rows of the source', () => {
    expect(aspectCover({ width: 640, height: 480 }, { width: 320, height: 180 })).toEqual({ x: 0, y: 60, width: 640, height: 360 });
  });

  it('refuses a picture without size', () => {
    expect(() => aspectFit({ width: 0, height: 10 }, { x: 0, y: 0, width: 10, height: 10 })).toThrow(/no aspect ratio/);
  });
});

describe('gridRects', () => {
  it('keeps every tile 16:9 and inside the box, with the gap between them', () => {
    for (let n = 1; n <= 16; n++) {
      const box = { x: 8, y: 8, width: 1264, height: 704 };
      const rects = gridRects(n, box, 8);
      expect(rects).toHaveLength(n);
      for (const r of rects) {
        expect(near(r.width / r.height)).toBe(near(16 / 9));
        expect(r.x).toBeGreaterThanOrEqual(box.x - 1e-9);
        expect(r.y).toBeGreaterThanOrEqual(box.y - 1e-9);
        expect(r.x + r.width).toBeLessThanOrEqual(box.x + box.width + 1e-9);
        expect(r.y + r.height).toBeLessThanOrEqual(box.y + box.height + 1e-9);
      }
      // No two tiles overlap.
      for (const a of rects) for (const b of rects) if (a !== b) expect(a.x + a.width <= b.x + 1e-9 || b.x + b.width <= a.x + 1e-9 || a.y + a.height <= b.y + 1e-9 || b.y + b.height <= a.y + 1e-9).toBe(true);
    }
  });

  it('puts two members side by side and centres a last row that is not full', () => {
    const two = gridRects(2, { x: 8, y: 8, width: 1264, height: 704 }, 8);
    expect(two.map((r) => near(r.y))).toEqual([near(two[0]!.y), near(two[0]!.y)]);
    expect(near(two[0]!.width)).toBe(628);
    const three = gridRects(3, { x: 8, y: 8, width: 1264, height: 704 }, 8);
    expect(near(three[2]!.x + three[2]!.width / 2)).toBe(640);
  });
});

describe('layoutTiles', () => {
  it('is a grid without a screen share', () => {
    const placed = layoutTiles([{ id: 'a', screen: false }, { id: 'b', screen: false }], canvas);
    expect([...placed.keys()]).toEqual(['a', 'b']);
    expect(placed.get('a')!.x).toBeLessThan(placed.get('b')!.x);
  });

  it('gives a screen share the large tile and puts the cameras in a strip beside it, in order', () => {
    const gap = gapFor(canvas);
    const placed = layoutTiles([{ id: 'a', screen: false }, { id: 'a-screen', screen: true }, { id: 'b', screen: false }, { id: 'c', screen: false }], canvas);
    const stage = placed.get('a-screen')!;
    const stripWidth = Math.round((canvas.width - 2 * gap) * STRIP_SHARE);
    expect(stage).toEqual({ x: gap, y: gap, width: canvas.width - 3 * gap - stripWidth, height: canvas.height - 2 * gap });
    const strip = ['a', 'b', 'c'].map((id) => placed.get(id)!);
    for (const r of strip) {
      expect(r.x).toBeGreaterThanOrEqual(stage.x + stage.width + gap - 1e-9);
      expect(r.x + r.width).toBeLessThanOrEqual(canvas.width - gap + 1e-9);
      expect(near(r.width / r.height)).toBe(near(16 / 9));
    }
    expect(strip[0]!.y).toBeLessThan(strip[1]!.y);
    expect(strip[1]!.y).toBeLessThan(strip[2]!.y);
  });

  it('shrinks the strip tiles to fit many members, and a second screen share goes into the strip', () => {
    const tiles = [{ id: 's1', screen: true }, { id: 's2', screen: true }, ...Array.from({ length: 12 }, (_, i) => ({ id: `m${i}`, screen: false }))];
    const placed = layoutTiles(tiles, canvas);
    const strip = tiles.slice(1).map((t) => placed.get(t.id)!);
    expect(strip.at(-1)!.y + strip.at(-1)!.height).toBeLessThanOrEqual(canvas.height - gapFor(canvas) + 1e-9);
    expect(placed.get('s1')!.width).toBeGreaterThan(900);
  });

  it('lets a lone screen share take the whole picture', () => {
    expect(layoutTiles([{ id: 's', screen: true }], canvas).get('s')).toEqual({ x: 8, y: 8, width: 1264, height: 704 });
  });
});

describe('initials', () => {
  it('takes the first letters of the first and last word', () => {
    expect(initials('Ada Lovelace')).toBe('AL');
    expect(initials('  grace  brewster murray hopper ')).toBe('GH');
    expect(initials('Bob')).toBe('B');
  });

  it('takes a user ID localpart when there is no display name', () => {
    expect(initials('@carol:example.org')).toBe('C');
  });

  it('keeps accented letters and emoji whole', () => {
    expect(initials('émile zola')).toBe('ÉZ');
    expect(initials('👩🏽‍🚀 Astro')).toBe('👩🏽‍🚀A');
  });

  it('is a question mark for an empty name', () => {
    expect(initials('   ')).toBe('?');
  });
});

describe('TileMotion', () => {
  it('fades a new tile in at its place, and moves a tile to a new place over the transition', () => {
    const motion = new TileMotion(300);
    const a1 = { x: 0, y: 0, width: 100, height: 100 };
    motion.retarget(new Map([['a', a1]]), 0);
    expect(motion.at(150).get('a')).toEqual({ rect: a1, alpha: 0.5 });
    expect(motion.moving(150)).toBe(true);
    expect(motion.at(300).get('a')).toEqual({ rect: a1, alpha: 1 });
    expect(motion.moving(300)).toBe(false);

    const a2 = { x: 100, y: 0, width: 50, height: 50 };
    motion.retarget(new Map([['a', a2], ['b', a1]]), 1000);
    const halfway = motion.at(1150).get('a')!;
    expect(halfway).toEqual({ rect: { x: 50, y: 0, width: 75, height: 75 }, alpha: 1 });
    expect(motion.at(1300).get('a')!.rect).toEqual(a2);
    expect(motion.at(1150).get('b')!.alpha).toBe(0.5);
  });

  it('drops a tile that left, and a retarget mid-way starts from where the tile is', () => {
    const motion = new TileMotion(100);
    motion.retarget(new Map([['a', { x: 0, y: 0, width: 10, height: 10 }], ['b', { x: 0, y: 0, width: 10, height: 10 }]]), 0);
    motion.retarget(new Map([['a', { x: 100, y: 0, width: 10, height: 10 }]]), 200);
    expect([...motion.at(250).keys()]).toEqual(['a']);
    motion.retarget(new Map([['a', { x: 0, y: 0, width: 10, height: 10 }]]), 250);
    expect(motion.at(250).get('a')!.rect.x).toBe(50);
  });
});
