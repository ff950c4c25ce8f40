// Synthetic semantic segmentation from real glyphs. Sample i (seeded by Rng.derive(seed, i)):
//  - 1..3 glyphs (default), each scaled by U(0.75, 1.25), pasted fully inside a 64x64 canvas at a
//    random position; their nonzero-pixel boxes overlap with IoU <= 0.3; the image is the pixelwise
//    max of the glyphs, normalised (see types.ts).
//  - labels (H x W): a pixel where a glyph's intensity is >= foregroundThreshold (128) gets that
//    glyph's class + 1; where several glyphs qualify, the one pasted last wins. Everything else is 0.
//  - with ignoreBoundary, pixels that are not labelled but carry some ink (the antialiased fringe of a
//    stroke) get IGNORE_LABEL (255) instead of 0, so only pixels with no ink at all are background.
// numClasses = source classes + 1 (background is 0).

import type { GlyphDataset } from './datasets.ts';
import { type PlacedGlyph, fillValue, glyphAt, normaliseGrey, pasteGlyphs, scatterGlyphs } from './glyphs.ts';
import { Rng } from './rng.ts';
import {
  type Dataset, DEFAULT_NORMALISATION, IGNORE_LABEL, type Normalisation, type Sample, type SegmentationTarget, checkIndex,
} from './types.ts';

export interface GlyphTaskOptions {
  /** Number of samples (indices 0..count-1). */
  count: number;
  seed?: number;
  canvasSize?: number;
  minGlyphs?: number;
  maxGlyphs?: number;
  scaleRange?: readonly [number, number];
  maxOverlapIoU?: number;
  normalisation?: Normalisation;
}

export interface SegmentationOptions extends GlyphTaskOptions {
  foregroundThreshold?: number;
  ignoreBoundary?: boolean;
}

export interface GlyphScene {
  grey: Uint8Array;
  glyphs: PlacedGlyph[];
}

export type ResolvedGlyphOptions = Required<GlyphTaskOptions>;

export function resolveGlyphOptions(options: GlyphTaskOptions): ResolvedGlyphOptions {
  if (!Number.isInteger(options.count) || options.count < 0) {
    throw new Error(`glyph task: count must be a non-negative integer, got ${options.count}`);
  }
  const resolved: ResolvedGlyphOptions = {
    count: options.count,
    seed: options.seed ?? 0,
    canvasSize: options.canvasSize ?? 64,
    minGlyphs: options.minGlyphs ?? 1,
    maxGlyphs: options.maxGlyphs ?? 3,
    scaleRange: options.scaleRange ?? [0.75, 1.25],
    maxOverlapIoU: options.maxOverlapIoU ?? 0.3,
    normalisation: options.normalisation ?? DEFAULT_NORMALISATION,
  };
  if (resolved.minGlyphs < 0 || resolved.maxGlyphs < resolved.minGlyphs) {
    throw new Error(`glyph task: need 0 <= minGlyphs <= maxGlyphs, got ${resolved.minGlyphs}, ${resolved.maxGlyphs}`);
  }
  return resolved;
}

/** The scene behind sample `index` (shared by the segmentation and detection tasks). */
export function glyphScene(source: GlyphDataset, options: ResolvedGlyphOptions, index: number): GlyphScene {
  const rng = Rng.derive(options.seed, index);
  const glyphs = scatterGlyphs(rng, source, options);
  const grey = new Uint8Array(options.canvasSize * options.canvasSize);
  pasteGlyphs(grey, options.canvasSize, glyphs);
  return { grey, glyphs };
}

export function segmentationLabels(
  scene: GlyphScene, canvasSize: number, foregroundThreshold: number, ignoreBoundary: boolean,
): Uint8Array {
  const labels = new Uint8Array(canvasSize * canvasSize);
  for (const g of scene.glyphs) {
    for (let i = 0; i < g.size; i++) {
      for (let j = 0; j < g.size; j++) {
        if (glyphAt(g, g.y + i, g.x + j) >= foregroundThreshold) labels[(g.y + i) * canvasSize + g.x + j] = g.classId + 1;
      }
    }
  }
  if (ignoreBoundary) {
    for (let p = 0; p < labels.length; p++) if (labels[p] === 0 && scene.grey[p] > 0) labels[p] = IGNORE_LABEL;
  }
  return labels;
}

export function createSegmentationTask(source: GlyphDataset, options: SegmentationOptions): Dataset<SegmentationTarget> {
  const o = resolveGlyphOptions(options);
  const threshold = options.foregroundThreshold ?? 128;
  const ignoreBoundary = options.ignoreBoundary ?? false;
  return {
    length: o.count,
    imageShape: [o.normalisation.channels, o.canvasSize, o.canvasSize],
    numClasses: source.classes + 1,
    classNames: ['background', ...source.classNames],
    fill: fillValue(o.normalisation),
    get(index: number): Sample<SegmentationTarget> {
      checkIndex('segmentation task', index, o.count);
      const scene = glyphScene(source, o, index);
      return {
        image: normaliseGrey(scene.grey, o.normalisation),
        target: { kind: 'segmentation', labels: segmentationLabels(scene, o.canvasSize, threshold, ignoreBoundary) },
      };
    },
  };
}
