// Batches from a Dataset: a seeded shuffle per epoch, optional drop-last, per-sample augmentation, and
// one batch of prefetch. Everything random is derived from (seed, epoch, sample index), so a batch is the
// same whatever was read before it. Producing a batch is synchronous CPU work; prefetching schedules the
// next one with setImmediate before handing out the current one, so it runs while the consumer awaits
// (GPU submission and readback), which is where upload can overlap compute.

import { type AugmentOptions, augment } from './augment.ts';
import { Rng } from './rng.ts';
import type { Dataset, Sample, Target } from './types.ts';

export interface LoaderOptions {
  batchSize: number;
  shuffle?: boolean;
  seed?: number;
  dropLast?: boolean;
  augment?: AugmentOptions;
  prefetch?: boolean;
}

export type BatchTargets =
  | { kind: 'class'; labels: Int32Array }
  | { kind: 'segmentation'; labels: Int32Array; shape: [number, number, number] }
  | { kind: 'detection'; boxes: Float32Array[]; classes: Int32Array[] }
  | { kind: 'pose'; keypoints: Float32Array; visible: Uint8Array; referenceSizes: Float32Array; numKeypoints: number };

export interface Batch {
  images: Float32Array;
  shape: [number, number, number, number];
  targets: BatchTargets;
  /** Dataset indices of the batch's samples, in batch order. */
  indices: Int32Array;
  epoch: number;
}

const SHUFFLE_STREAM = 0x5eed;
const AUGMENT_STREAM = 0xa06;

export class DataLoader<T extends Target = Target> {
  readonly batchSize: number;
  private readonly options: Required<Omit<LoaderOptions, 'augment'>> & { augment?: AugmentOptions };

  constructor(readonly dataset: Dataset<T>, options: LoaderOptions) {
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
      throw new Error(`DataLoader: batchSize must be a positive integer, got ${options.batchSize}`);
    }
    this.batchSize = options.batchSize;
    this.options = { shuffle: true, seed: 0, dropLast: false, prefetch: true, ...options };
  }

  get batchesPerEpoch(): number {
    const n = this.dataset.length / this.batchSize;
    return this.options.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /** The order in which epoch `epoch` visits the dataset. */
  order(epoch: number): Int32Array {
    const n = this.dataset.length;
    if (!this.options.shuffle) return Int32Array.from({ length: n }, (_, i) => i);
    return Rng.derive(this.options.seed, SHUFFLE_STREAM, epoch).permutation(n);
  }

  /** Builds batch `k` of epoch `epoch` synchronously. */
  batch(epoch: number, k: number, order = this.order(epoch)): Batch {
    if (!Number.isInteger(k) || k < 0 || k >= this.batchesPerEpoch) {
      throw new Error(`DataLoader.batch: batch ${k} out of range [0, ${this.batchesPerEpoch})`);
    }
    const indices = order.slice(k * this.batchSize, Math.min((k + 1) * this.batchSize, order.length));
    const [channels, height, width] = this.dataset.imageShape;
    const geometry = { channels, height, width, fill: this.dataset.fill, flipPairs: this.dataset.keypointFlipPairs };
    const samples = Array.from(indices, (index) => {
      const sample = this.dataset.get(index);
      if (sample.image.length !== channels * height * width) {
        throw new Error(`DataLoader: sample ${index} has ${sample.image.length} pixels, imageShape [${this.dataset.imageShape}] needs ${channels * height * width}`);
      }
      const aug = this.options.augment;
      return aug ? augment(sample, geometry, Rng.derive(this.options.seed, AUGMENT_STREAM, epoch, index), aug) : sample;
    });
    return {
      images: concatImages(samples),
      shape: [samples.length, channels, height, width],
      targets: collateTargets(samples, height, width),
      indices,
      epoch,
    };
  }

  /** All batches of one epoch; with prefetch, batch k+1 is being built while the consumer holds batch k. */
  async *epoch(epoch = 0): AsyncGenerator<Batch> {
    const order = this.order(epoch);
    const count = this.batchesPerEpoch;
    const produce = (k: number) => this.produceLater(epoch, k, order);
    let pending = this.options.prefetch && count > 0 ? produce(0) : undefined;
    for (let k = 0; k < count; k++) {
      const batch = pending ? await pending : this.batch(epoch, k, order);
      pending = this.options.prefetch && k + 1 < count ? produce(k + 1) : undefined;
      yield batch;
    }
  }

  private produceLater(epoch: number, k: number, order: Int32Array): Promise<Batch> {
    const promise = new Promise<Batch>((resolve, reject) => {
      setImmediate(() => {
        try {
          resolve(this.batch(epoch, k, order));
        } catch (err) {
          reject(err);
        }
      });
    });
    // If the consumer stops early, a failure of the abandoned prefetch must not become an unhandled rejection.
    promise.catch(() => undefined);
    return promise;
  }
}

function concatImages(samples: Sample[]): Float32Array {
  const size = samples[0]?.image.length ?? 0;
  const out = new Float32Array(samples.length * size);
  samples.forEach((s, i) => out.set(s.image, i * size));
  return out;
}

function collateTargets(samples: Sample[], height: number, width: number): BatchTargets {
  const targets = samples.map((s) => s.target);
  const kind = targets[0]?.kind ?? 'class';
  const mixed = targets.find((t) => t.kind !== kind);
  if (mixed) throw new Error(`DataLoader: a batch mixes '${kind}' and '${mixed.kind}' targets`);
  const all = <K extends Target['kind']>(_: K) => targets as Extract<Target, { kind: K }>[];
  switch (kind) {
    case 'class':
      return { kind, labels: Int32Array.from(all(kind), (t) => t.label) };
    case 'segmentation': {
      const labels = new Int32Array(targets.length * height * width);
      all(kind).forEach((t, i) => labels.set(t.labels, i * height * width));
      return { kind, labels, shape: [targets.length, height, width] };
    }
    case 'detection':
      return { kind, boxes: all(kind).map((t) => t.boxes), classes: all(kind).map((t) => t.classes) };
    case 'pose': {
      const poses = all(kind);
      const k = poses[0].visible.length;
      const keypoints = new Float32Array(poses.length * k * 2);
      const visible = new Uint8Array(poses.length * k);
      poses.forEach((t, i) => (keypoints.set(t.keypoints, i * k * 2), visible.set(t.visible, i * k)));
      return { kind, keypoints, visible, referenceSizes: Float32Array.from(poses, (t) => t.referenceSize), numKeypoints: k };
    }
  }
}
