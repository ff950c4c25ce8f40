import { describe, expect, it } from 'vitest';
import {
  type Batch, type ClassTarget, DataLoader, type Dataset, type Sample, createDetectionTask, createPoseTask,
  createSegmentationTask, loadDataset,
} from '../fna/data/index.ts';

const mnist = loadDataset('mnist', 'train');

/** A tiny dataset whose image encodes its index, and which records every get(). */
function countingDataset(length: number): Dataset<ClassTarget> & { calls: number[] } {
  const calls: number[] = [];
  return {
    length, imageShape: [1, 2, 2], numClasses: 10, classNames: [], fill: 0, calls,
    get(index: number): Sample<ClassTarget> {
      calls.push(index);
      return { image: Float32Array.from([index, index, index, -index]), target: { kind: 'class', label: index % 10 } };
    },
  };
}

async function collect(it: AsyncIterable<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

describe('DataLoader', () => {
  it('visits every index exactly once per epoch, in a seeded order that changes per epoch', async () => {
    const loader = new DataLoader(countingDataset(23), { batchSize: 5, seed: 7 });
    expect(loader.batchesPerEpoch).toBe(5);
    const epoch0 = await collect(loader.epoch(0));
    const seen = epoch0.flatMap((b) => [...b.indices]);
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 23 }, (_, i) => i));
    expect(seen).not.toEqual(Array.from({ length: 23 }, (_, i) => i));
    expect(epoch0.map((b) => b.shape[0])).toEqual([5, 5, 5, 5, 3]);
    const epoch1 = (await collect(loader.epoch(1))).flatMap((b) => [...b.indices]);
    expect(epoch1).not.toEqual(seen);
    expect([...epoch1].sort((a, b) => a - b)).toEqual([...seen].sort((a, b) => a - b));
  });

  it('is deterministic by seed, and batch(e, k) equals what the iterator yields', async () => {
    const a = await collect(new DataLoader(countingDataset(20), { batchSize: 4, seed: 3 }).epoch(2));
    const b = await collect(new DataLoader(countingDataset(20), { batchSize: 4, seed: 3 }).epoch(2));
    const c = await collect(new DataLoader(countingDataset(20), { batchSize: 4, seed: 4 }).epoch(2));
    expect(a).toEqual(b);
    expect(a.map((x) => [...x.indices])).not.toEqual(c.map((x) => [...x.indices]));
    expect(new DataLoader(countingDataset(20), { batchSize: 4, seed: 3 }).batch(2, 3)).toEqual(a[3]);
  });

  it('collates images and labels in batch order', () => {
    const batch = new DataLoader(countingDataset(10), { batchSize: 3, shuffle: false }).batch(0, 1);
    expect([...batch.indices]).toEqual([3, 4, 5]);
    expect(batch.shape).toEqual([3, 1, 2, 2]);
    expect([...batch.images]).toEqual([3, 3, 3, -3, 4, 4, 4, -4, 5, 5, 5, -5]);
    expect(batch.targets).toEqual({ kind: 'class', labels: Int32Array.from([3, 4, 5]) });
  });

  it('drops the last partial batch when asked', async () => {
    const loader = new DataLoader(countingDataset(23), { batchSize: 5, seed: 1, dropLast: true });
    const batches = await collect(loader.epoch(0));
    expect(batches.map((b) => b.shape[0])).toEqual([5, 5, 5, 5]);
    expect(new Set(batches.flatMap((b) => [...b.indices])).size).toBe(20);
    expect(() => loader.batch(0, 4)).toThrow(/batch 4 out of range \[0, 4\)/);
    expect(() => new DataLoader(countingDataset(3), { batchSize: 0 })).toThrow(/batchSize must be a positive integer/);
  });

  it('prefetches the next batch while the consumer holds the current one', async () => {
    const data = countingDataset(12);
    const iterator = new DataLoader(data, { batchSize: 4, seed: 2 }).epoch(0)[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(data.calls.length).toBe(4);
    await new Promise((resolve) => setImmediate(resolve)); // the consumer awaits its own work (GPU readback)
    expect(data.calls.length).toBe(8); // batch 1 was built meanwhile, before anyone asked for it
    const second = await iterator.next();
    expect(data.calls.slice(4, 8)).toEqual([...second.value!.indices]);
    expect(first.value!.indices).not.toEqual(second.value!.indices);

    const lazy = countingDataset(12);
    const lazyIterator = new DataLoader(lazy, { batchSize: 4, seed: 2, prefetch: false }).epoch(0)[Symbol.asyncIterator]();
    await lazyIterator.next();
    await new Promise((resolve) => setImmediate(resolve));
    expect(lazy.calls.length).toBe(4);
  });

  it('surfaces dataset errors from a prefetched batch', async () => {
    const data = countingDataset(8);
    const failing = { ...data, get: (i: number) => (i === 5 ? (() => { throw new Error('bad sample 5'); })() : data.get(i)) };
    await expect(collect(new DataLoader(failing, { batchSize: 2, shuffle: false }).epoch(0))).rejects.toThrow(/bad sample 5/);
  });

  it('augments each sample the same way whatever the batch size', () => {
    const seg = createSegmentationTask(mnist, { count: 12, seed: 1 });
    const augment = { flipProbability: 0.5, scaleRange: [0.8, 1.3] as const };
    const small = new DataLoader(seg, { batchSize: 3, seed: 5, augment });
    const large = new DataLoader(seg, { batchSize: 12, seed: 5, augment });
    const all = large.batch(1, 0);
    const part = small.batch(1, 2);
    const plane = 3 * 64 * 64;
    for (let i = 0; i < 3; i++) {
      const j = all.indices.indexOf(part.indices[i]);
      expect(part.images.subarray(i * plane, (i + 1) * plane)).toEqual(all.images.subarray(j * plane, (j + 1) * plane));
    }
    const plain = new DataLoader(seg, { batchSize: 12, seed: 5 }).batch(1, 0);
    expect(plain.images).not.toEqual(all.images);
    expect(all.targets.kind).toBe('segmentation');
    if (all.targets.kind === 'segmentation') expect(all.targets.shape).toEqual([12, 64, 64]);
  });

  it('collates detection and pose targets', () => {
    const task = createDetectionTask(mnist, { count: 6, seed: 2 });
    const det = new DataLoader(task, { batchSize: 6, shuffle: false }).batch(0, 0);
    if (det.targets.kind !== 'detection') throw new Error('expected detection targets');
    expect(det.targets.boxes).toEqual(Array.from({ length: 6 }, (_, i) => task.get(i).target.boxes));
    expect(det.targets.classes).toEqual(Array.from({ length: 6 }, (_, i) => task.get(i).target.classes));
    const pose = new DataLoader(createPoseTask(mnist, { count: 5, seed: 2 }), { batchSize: 5, augment: { flipProbability: 1 } }).batch(0, 0);
    if (pose.targets.kind !== 'pose') throw new Error('expected pose targets');
    expect(pose.targets.numKeypoints).toBe(14);
    expect(pose.targets.keypoints.length).toBe(5 * 14 * 2);
    expect(pose.targets.visible.length).toBe(5 * 14);
    expect(pose.targets.referenceSizes.length).toBe(5);
  });
});
