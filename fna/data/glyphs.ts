// Shared machinery of the synthetic tasks: scale real glyphs, scatter them on a canvas with bounded
// overlap, composite them, and turn a grey canvas into a normalised CHW float image.

import { type GlyphDataset, glyph } from './datasets.ts';
import type { Rng } from './rng.ts';
import type { Normalisation } from './types.ts';

export interface PlacedGlyph {
  sourceIndex: number;
  classId: number;
  /** Top-left corner on the canvas and side length of the square, scaled glyph. */
  x: number;
  y: number;
  size: number;
  pixels: Uint8Array;
  /** Tight box of the glyph's nonzero pixels on the canvas: [x1, y1, x2, y2], pixel-edge coordinates. */
  box: [number, number, number, number];
}

export interface ScatterOptions {
  canvasSize: number;
  minGlyphs: number;
  maxGlyphs: number;
  /** Glyph side = round(28 * scale) for scale uniform in this range. */
  scaleRange: readonly [number, number];
  /** A glyph whose box has IoU above this with an earlier one is re-drawn (up to `placementTries`). */
  maxOverlapIoU: number;
  placementTries?: number;
}

/** Bilinear resize of a square grey image (half-pixel centres, edges clamped). */
export function resizeGrey(src: Uint8Array, srcSize: number, dstSize: number): Uint8Array {
  const out = new Uint8Array(dstSize * dstSize);
  const ratio = srcSize / dstSize;
  for (let i = 0; i < dstSize; i++) {
    const sy = Math.min(Math.max((i + 0.5) * ratio - 0.5, 0), srcSize - 1);
    const y0 = Math.floor(sy);
    const y1 = Math.min(y0 + 1, srcSize - 1);
    const fy = sy - y0;
    for (let j = 0; j < dstSize; j++) {
      const sx = Math.min(Math.max((j + 0.5) * ratio - 0.5, 0), srcSize - 1);
      const x0 = Math.floor(sx);
      const x1 = Math.min(x0 + 1, srcSize - 1);
      const fx = sx - x0;
      const top = src[y0 * srcSize + x0] * (1 - fx) + src[y0 * srcSize + x1] * fx;
      const bottom = src[y1 * srcSize + x0] * (1 - fx) + src[y1 * srcSize + x1] * fx;
      out[i * dstSize + j] = Math.round(top * (1 - fy) + bottom * fy);
    }
  }
  return out;
}

/** [x1, y1, x2, y2] of the nonzero pixels, or undefined when all are zero. */
export function nonzeroBox(pixels: Uint8Array, size: number): [number, number, number, number] | undefined {
  let x1 = size;
  let y1 = size;
  let x2 = -1;
  let y2 = -1;
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < size; j++) {
      if (pixels[i * size + j] === 0) continue;
      x1 = Math.min(x1, j);
      x2 = Math.max(x2, j);
      y1 = Math.min(y1, i);
      y2 = Math.max(y2, i);
    }
  }
  return x2 < 0 ? undefined : [x1, y1, x2 + 1, y2 + 1];
}

export function boxIoU(a: readonly number[], b: readonly number[]): number {
  const iw = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const ih = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = iw * ih;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

/** Draws 1..n glyphs at random positions, fully inside the canvas, in paint order. */
export function scatterGlyphs(rng: Rng, source: GlyphDataset, options: ScatterOptions): PlacedGlyph[] {
  const { canvasSize, minGlyphs, maxGlyphs, scaleRange, maxOverlapIoU } = options;
  const tries = options.placementTries ?? 20;
  const wanted = minGlyphs + rng.int(maxGlyphs - minGlyphs + 1);
  const placed: PlacedGlyph[] = [];
  for (let g = 0; g < wanted; g++) {
    const sourceIndex = rng.int(source.count);
    const size = Math.min(canvasSize, Math.max(4, Math.round(source.width * rng.uniform(scaleRange[0], scaleRange[1]))));
    const pixels = resizeGrey(glyph(source, sourceIndex), source.width, size);
    const local = nonzeroBox(pixels, size);
    if (!local) continue;
    for (let t = 0; t < tries; t++) {
      const x = rng.int(canvasSize - size + 1);
      const y = rng.int(canvasSize - size + 1);
      const box: PlacedGlyph['box'] = [local[0] + x, local[1] + y, local[2] + x, local[3] + y];
      if (placed.every((p) => boxIoU(p.box, box) <= maxOverlapIoU)) {
        placed.push({ sourceIndex, classId: source.labels[sourceIndex], x, y, size, pixels, box });
        break;
      }
    }
  }
  return placed;
}

/** The glyph's intensity at canvas pixel (row, col), 0 outside its square. */
export function glyphAt(g: PlacedGlyph, row: number, col: number): number {
  const i = row - g.y;
  const j = col - g.x;
  return i < 0 || j < 0 || i >= g.size || j >= g.size ? 0 : g.pixels[i * g.size + j];
}

/** Max-composites glyphs (scaled by `intensity`) onto `canvas` (side `canvasSize`). */
export function pasteGlyphs(canvas: Uint8Array, canvasSize: number, glyphs: readonly PlacedGlyph[], intensity = 1): void {
  for (const g of glyphs) {
    for (let i = 0; i < g.size; i++) {
      const row = (g.y + i) * canvasSize + g.x;
      for (let j = 0; j < g.size; j++) {
        const v = Math.round(g.pixels[i * g.size + j] * intensity);
        if (v > canvas[row + j]) canvas[row + j] = v;
      }
    }
  }
}

export function normaliseGrey(grey: Uint8Array, norm: Normalisation): Float32Array {
  const plane = grey.length;
  const out = new Float32Array(plane * norm.channels);
  for (let p = 0; p < plane; p++) out[p] = (grey[p] / 255 - norm.mean) / norm.std;
  for (let c = 1; c < norm.channels; c++) out.copyWithin(c * plane, 0, plane);
  return out;
}

export function fillValue(norm: Normalisation): number {
  return (0 - norm.mean) / norm.std;
}
