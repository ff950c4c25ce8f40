// Plain image classification over a glyph dataset (e.g. MNIST digits): sample i is glyph i, normalised.

import { type GlyphDataset, glyph } from './datasets.ts';
import { fillValue, normaliseGrey } from './glyphs.ts';
import { type ClassTarget, type Dataset, DEFAULT_NORMALISATION, type Normalisation, type Sample, checkIndex } from './types.ts';

export function createClassificationTask(
  source: GlyphDataset, normalisation: Normalisation = DEFAULT_NORMALISATION,
): Dataset<ClassTarget> {
  return {
    length: source.count,
    imageShape: [normalisation.channels, source.height, source.width],
    numClasses: source.classes,
    classNames: source.classNames,
    fill: fillValue(normalisation),
    get(index: number): Sample<ClassTarget> {
      checkIndex('classification task', index, source.count);
      return {
        image: normaliseGrey(glyph(source, index), normalisation),
        target: { kind: 'class', label: source.labels[index] },
      };
    },
  };
}
