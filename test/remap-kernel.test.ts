// Kernel and width remapping of single tensors (issue #6 items 3, 4, 5; spec §1.6 items 3-8).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type HostTensor, hostTensor } from '../engine/host.ts';
import { firstK, kernelAxisMap, kernelOffsets, remapConvWeight, remapVector } from '../fna/remap/index.ts';
import { conv2dRef, tensor64 } from './helpers/conv-ref.ts';
import { bitwiseEqual, firstMismatch, maxAbs, nonZero, rng } from './helpers/random.ts';

function randomWeight(shape: number[], seed: number): HostTensor {
  const random = rng(seed);
  return hostTensor(shape, Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => nonZero(random)));
}

/** Every seed entry holds 1 + its flat index, so a target value says exactly where it came from. */
function indexCoded(shape: number[]): HostTensor {
  return hostTensor(shape, Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i + 1));
}

const at = (t: HostTensor, o: number, i: number, y: number, x: number) =>
  t.data[((o * t.shape[1] + i) * t.shape[2] + y) * t.shape[3] + x];

const oddKernel = fc.integer({ min: 0, max: 4 }).map((h) => 2 * h + 1);
const oddPair = fc.tuple(oddKernel, oddKernel).filter(([a, b]) => a < b);

describe('conv2d reference', () => {
  it('matches a hand-computed 3x3 example with padding, stride and dilation', () => {
    const x = tensor64([1, 1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const ones = { shape: [1, 1, 3, 3], data: new Array(9).fill(1) };
    expect(Array.from(conv2dRef(x, ones, { padding: 1 }).data)).toEqual([12, 21, 16, 27, 45, 33, 24, 39, 28]);
    expect(Array.from(conv2dRef(x, ones, { padding: 1, stride: 2 }).data)).toEqual([12, 16, 24, 28]);
    // dilation 2: output (y, x) sums the input rows/columns {y-2, y, y+2} that exist
    expect(Array.from(conv2dRef(x, ones, { padding: 2, dilation: 2 }).data)).toEqual([20, 10, 20, 10, 5, 10, 20, 10, 20]);
  });

  it('computes grouped convs group by group', () => {
    const x = tensor64([1, 4, 2, 2], Array.from({ length: 16 }, (_, i) => i));
    const w = { shape: [2, 2, 1, 1], data: [1, 10, 100, 1000] };
    // group 0: out 0 = x0 + 10 x1; group 1: out 1 = 100 x2 + 1000 x3
    expect(Array.from(conv2dRef(x, w, { groups: 2 }).data)).toEqual([40, 51, 62, 73, 12800, 13900, 15000, 16100]);
  });
});

describe('kernel offsets (spec §1.6 item 6)', () => {
  it.each([[3, 5, 1, 0], [3, 7, 2, 0], [7, 3, 0, 2], [5, 3, 0, 1], [3, 3, 0, 0], [1, 7, 3, 0], [7, 1, 0, 3]])(
    '%d -> %d gives target %d, seed %d', (ks, kt, target, seed) => {
      expect(kernelOffsets(ks, kt)).toEqual({ target, seed });
    });

  it('a shrink crops the centre window', () => {
    fc.assert(fc.property(oddPair, fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer(), ([kt, ks], o, i, seed) => {
      const s = randomWeight([o, i, ks, ks], seed);
      const t = remapConvWeight(s, [o, i, kt, kt]);
      const off = (ks - kt) / 2;
      for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) for (let y = 0; y < kt; y++) for (let x = 0; x < kt; x++) {
        expect(at(t, a, b, y, x)).toBe(at(s, a, b, y + off, x + off));
      }
    }), { numRuns: 200 });
  });
});

describe('kernel growth', () => {
  it('leaves exactly kt^2 - ks^2 zeros per filter and the seed in the centre (items 4, 5)', () => {
    fc.assert(fc.property(oddPair, fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer(), ([ks, kt], o, i, seed) => {
      const s = randomWeight([o, i, ks, ks], seed);
      const t = remapConvWeight(s, [o, i, kt, kt]);
      const off = (kt - ks) / 2;
      for (let a = 0; a < o; a++) {
        for (let b = 0; b < i; b++) {
          let zeros = 0;
          for (let y = 0; y < kt; y++) for (let x = 0; x < kt; x++) if (at(t, a, b, y, x) === 0) zeros++;
          expect(zeros).toBe(kt * kt - ks * ks);
          for (let y = 0; y < ks; y++) for (let x = 0; x < ks; x++) expect(at(t, a, b, y + off, x + off)).toBe(at(s, a, b, y, x));
        }
      }
    }), { numRuns: 300 });
  });

  it('is undone bit for bit by cropping back, for any odd pair (item 4)', () => {
    fc.assert(fc.property(oddPair, fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer(), ([ks, kt], o, i, seed) => {
      const s = randomWeight([o, i, ks, ks], seed);
      expect(bitwiseEqual(remapConvWeight(remapConvWeight(s, [o, i, kt, kt]), [o, i, ks, ks]), s)).toBe(true);
      if (ks === 1 || (kt - 1) % (ks - 1) === 0) {
        const dilated = remapConvWeight(s, [o, i, kt, kt], { kernelPlacement: 'dilate' });
        expect(bitwiseEqual(remapConvWeight(dilated, [o, i, ks, ks], { kernelPlacement: 'dilate' }), s)).toBe(true);
      }
    }), { numRuns: 300 });
  });

  const convCase = fc.record({
    pair: oddPair.filter(([, kt]) => kt <= 7),
    stride: fc.constantFrom(1, 2),
    dilation: fc.integer({ min: 1, max: 3 }),
    kind: fc.constantFrom('dense', 'grouped', 'depthwise'),
    groups: fc.integer({ min: 2, max: 3 }),
    inPerGroup: fc.integer({ min: 1, max: 3 }),
    outPerGroup: fc.integer({ min: 1, max: 3 }),
    batch: fc.integer({ min: 1, max: 2 }),
    h: fc.integer({ min: 1, max: 9 }),
    w: fc.integer({ min: 1, max: 9 }),
    seed: fc.integer(),
  });

  it('preserves the conv function with padding (k-1)d/2: dense, grouped, depthwise; stride 1, 2; dilation (item 3)', () => {
    fc.assert(fc.property(convCase, (c) => {
      const [ks, kt] = c.pair;
      const groups = c.kind === 'dense' ? 1 : c.groups;
      const inPerGroup = c.kind === 'depthwise' ? 1 : c.inPerGroup;
      const outChannels = c.kind === 'depthwise' ? groups : groups * c.outPerGroup;
      const channels = groups * inPerGroup;
      const seedWeight = randomWeight([outChannels, inPerGroup, ks, ks], c.seed);
      const grown = remapConvWeight(seedWeight, [outChannels, inPerGroup, kt, kt]);
      const random = rng(c.seed ^ 0x5eed);
      const x = tensor64([c.batch, channels, c.h, c.w], Array.from({ length: c.batch * channels * c.h * c.w }, () => 2 * random() - 1));
      const conv = (weight: HostTensor, k: number) =>
        conv2dRef(x, weight, { stride: c.stride, dilation: c.dilation, padding: ((k - 1) * c.dilation) / 2, groups });
      const expected = conv(seedWeight, ks);
      const actual = conv(grown, kt);
      expect(actual.shape).toEqual(expected.shape);
      expect(firstMismatch(actual.data, expected.data, maxAbs(expected.data) + 1)).toBe(-1);
    }), { numRuns: 300 });
  });

  it('the function check catches a misplaced kernel (dilated placement, off-centre copy)', () => {
    const seedWeight = randomWeight([2, 2, 3, 3], 7);
    const random = rng(11);
    const x = tensor64([1, 2, 6, 6], Array.from({ length: 72 }, () => 2 * random() - 1));
    const expected = conv2dRef(x, seedWeight, { padding: 1 });
    const dilated = remapConvWeight(seedWeight, [2, 2, 5, 5], { kernelPlacement: 'dilate' });
    expect(firstMismatch(conv2dRef(x, dilated, { padding: 2 }).data, expected.data, maxAbs(expected.data) + 1)).not.toBe(-1);
    const offCentre = hostTensor([2, 2, 5, 5]);
    for (let a = 0; a < 2; a++) for (let b = 0; b < 2; b++) for (let y = 0; y < 3; y++) for (let xx = 0; xx < 3; xx++) {
      offCentre.data[((a * 2 + b) * 5 + y) * 5 + xx] = at(seedWeight, a, b, y, xx);
    }
    expect(firstMismatch(conv2dRef(x, offCentre, { padding: 2 }).data, expected.data, maxAbs(expected.data) + 1)).not.toBe(-1);
  });

  it("'dilate' places a 3x3 seed at {0, (k-1)/2, k-1} and zeros the rest", () => {
    fc.assert(fc.property(fc.constantFrom(5, 7, 9, 11), fc.integer({ min: 1, max: 3 }), fc.integer(), (k, o, seed) => {
      const s = randomWeight([o, 1, 3, 3], seed);
      const t = remapConvWeight(s, [o, 1, k, k], { kernelPlacement: 'dilate' });
      const positions = [0, (k - 1) / 2, k - 1];
      for (let a = 0; a < o; a++) for (let y = 0; y < k; y++) for (let x = 0; x < k; x++) {
        const py = positions.indexOf(y);
        const px = positions.indexOf(x);
        expect(at(t, a, 0, y, x)).toBe(py >= 0 && px >= 0 ? at(s, a, 0, py, px) : 0);
      }
    }), { numRuns: 200 });
    expect(kernelAxisMap(3, 7, 'dilate')).toEqual({ target: [0, 3, 6], source: [0, 1, 2] });
    expect(kernelAxisMap(7, 3, 'dilate')).toEqual({ target: [0, 1, 2], source: [0, 3, 6] });
    expect(kernelAxisMap(1, 5, 'dilate')).toEqual({ target: [2], source: [0] });
    expect(() => kernelAxisMap(5, 7, 'dilate')).toThrow('(7 - 1) divisible by (5 - 1)');
  });
});

describe('width (first-k)', () => {
  const dims = fc.integer({ min: 1, max: 6 });

  it('shrink keeps the first-k block and no seed channel beyond it; growth zero-fills (items 5, 7, 8)', () => {
    fc.assert(fc.property(dims, dims, dims, dims, fc.constantFrom(1, 3), (os, is, ot, it_, k) => {
      const s = indexCoded([os, is, k, k]);
      const t = remapConvWeight(s, [ot, it_, k, k]);
      for (let o = 0; o < ot; o++) for (let i = 0; i < it_; i++) for (let y = 0; y < k; y++) for (let x = 0; x < k; x++) {
        const value = at(t, o, i, y, x);
        if (o < os && i < is) expect(value).toBe(at(s, o, i, y, x));
        else expect(value).toBe(0);
      }
      for (const value of t.data) {
        if (value === 0) continue;
        const flat = value - 1;
        expect(Math.floor(flat / (is * k * k))).toBeLessThan(ot);
        expect(Math.floor(flat / (k * k)) % is).toBeLessThan(it_);
      }
    }), { numRuns: 300 });
  });

  it('1-D tensors keep the first entries and the initial values beyond them', () => {
    fc.assert(fc.property(dims, dims, fc.constantFrom(0, 1), fc.integer(), (ns, nt, initValue, seed) => {
      const s = randomWeight([ns], seed);
      const init = hostTensor([nt], new Array(nt).fill(initValue));
      const t = remapVector(s, init, firstK(ns, nt));
      for (let j = 0; j < nt; j++) expect(t.data[j]).toBe(j < ns ? s.data[j] : initValue);
      expect(init.data.every((v) => v === initValue)).toBe(true);
    }), { numRuns: 200 });
  });
});
