// Synthetic detection from real glyphs: the same scenes as the segmentation task (see segmentation.ts;
// default 1..3 glyphs on 64x64, box IoU between glyphs <= 0.3, so they may overlap a bit). Each pasted
// glyph gives one box, the tight box of its nonzero pixels ([x1, y1, x2, y2], pixel-edge coordinates,
// see types.ts), and its class id (0..9, no background class). Boxes are listed in paint order.

import type { GlyphDataset } from './datasets.ts';
import { fillValue, normaliseGrey } from './glyphs.ts';
import { type GlyphTaskOptions, glyphScene, resolveGlyphOptions } from './segmentation.ts';
import { type Dataset, type DetectionTarget, type Sample, checkIndex } from './types.ts';

export function createDetectionTask(source: GlyphDataset, options: GlyphTaskOptions): Dataset<DetectionTarget> {
  const o = resolveGlyphOptions(options);
  return {
    length: o.count,
    imageShape: [o.normalisation.channels, o.canvasSize, o.canvasSize],
    numClasses: source.classes,
    classNames: source.classNames,
    fill: fillValue(o.normalisation),
    get(index: number): Sample<DetectionTarget> {
      checkIndex('detection task', index, o.count);
      const scene = glyphScene(source, o, index);
      return {
        image: normaliseGrey(scene.grey, o.normalisation),
        target: {
          kind: 'detection',
          boxes: Float32Array.from(scene.glyphs.flatMap((g) => g.box)),
          classes: Int32Array.from(scene.glyphs, (g) => g.classId),
        },
      };
    },
  };
}
