// Pooling: float64 references (gradcheck), GPU vs reference for forward and input gradient.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { adaptiveAvgPool2d, avgPool2d, globalAvgPool, maxPool2d } from '../engine/ops/pool.ts';
import { fromArray } from '../engine/ops/creation.ts';
import type { Tensor } from '../engine/tensor.ts';
import { arb, checkOp, f32Tolerance, gradcheck, ref, seededValues, type RefTensor } from '../engine/testing/index.ts';
import { avgPool2dRef, globalAvgPoolRef, maxPool2dRef, poolOutputSize, type PoolRefOptions } from '../engine/testing/refs/pool.ts';

interface PoolCase extends PoolRefOptions {
  shape: number[];
  seed: number;
}

const poolCase = (maxSize = 2000): fc.Arbitrary<PoolCase> =>
  fc
    .record({
      shape: fc.tuple(fc.integer({ min: 1, max: 8 }), arb.dim(5), fc.integer({ min: 1, max: 13 }), fc.integer({ min: 1, max: 13 })),
      kernel: fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 })),
      stride: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
      padFraction: fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })),
      ceilMode: fc.boolean(),
      countIncludePad: fc.boolean(),
      seed: fc.integer({ min: 1, max: 1e9 }),
    })
    .map(({ padFraction, ...c }) => ({
      ...c,
      padding: [Math.floor(padFraction[0] * (Math.floor(c.kernel[0] / 2) + 0.99)), Math.floor(padFraction[1] * (Math.floor(c.kernel[1] / 2) + 0.99))] as [number, number],
    }))
    .filter((c) => {
      const [n, ch, h, w] = c.shape;
      const oh = poolOutputSize(h, c.kernel[0], c.padding[0], c.stride[0], c.ceilMode);
      const ow = poolOutputSize(w, c.kernel[1], c.padding[1], c.stride[1], c.ceilMode);
      return n * ch * h * w <= maxSize && oh >= 1 && ow >= 1;
    });

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
/** Distinct values (a scrambled ramp: i -> i·a mod n is a permutation when gcd(a, n) = 1), so max pooling has no ties. */
const distinct = (c: PoolCase): RefTensor => {
  const n = size(c.shape);
  let a = 7919 + (c.seed % 1000);
  while (gcd(a, n) !== 1) a++;
  return ref(c.shape, Float64Array.from({ length: n }, (_, i) => (((i * a + c.seed) % n) - n / 2) / 8));
};
const smooth = (c: PoolCase): RefTensor => ref(c.shape, seededValues(size(c.shape), c.seed).map((v) => 2 * v));
const maxAbs = (t: RefTensor) => t.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

const options = (c: PoolCase) => ({ stride: c.stride, padding: c.padding, ceilMode: c.ceilMode, countIncludePad: c.countIncludePad });
/** Output windows that can cover one input element, along both axes. */
const overlap = (c: PoolCase) => Math.ceil(c.kernel[0] / c.stride[0]) * Math.ceil(c.kernel[1] / c.stride[1]);

async function checkAvg(c: PoolCase): Promise<void> {
  const x = smooth(c);
  await checkOp({
    ref: avgPool2dRef(c),
    inputs: [x],
    gpu: ([t]) => avgPool2d(t, c.kernel, options(c)),
    tol: f32Tolerance(c.kernel[0] * c.kernel[1], maxAbs(x)),
    gradTol: f32Tolerance(overlap(c)),
    seed: c.seed,
  });
}

async function checkMax(c: PoolCase, x: RefTensor): Promise<void> {
  await checkOp({
    ref: maxPool2dRef(c),
    inputs: [x],
    gpu: ([t]) => maxPool2d(t, c.kernel, options(c)),
    tol: { atol: 0, rtol: 0 },
    gradTol: f32Tolerance(overlap(c)),
    seed: c.seed,
  });
}

describe('pooling references', () => {
  it('avgPool2d and maxPool2d backward match central differences', () => {
    fc.assert(
      fc.property(poolCase(400), (c) => {
        for (const [op, x] of [[avgPool2dRef(c), smooth(c)], [maxPool2dRef(c), distinct(c)]] as const) {
          const report = gradcheck(op, [x]);
          expect(report.ok, report.message).toBe(true);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('globalAvgPool backward matches central differences', () => {
    const x = ref([2, 3, 4, 5], seededValues(120, 9));
    expect(gradcheck(globalAvgPoolRef, [x]).ok).toBe(true);
  });
});

describe('pooling on the GPU', () => {
  it('avgPool2d matches the reference (padding, ceil mode, count_include_pad)', async () => {
    await fc.assert(fc.asyncProperty(poolCase(), checkAvg), { numRuns: 50 });
  });

  it('maxPool2d matches the reference', async () => {
    await fc.assert(fc.asyncProperty(poolCase(), (c) => checkMax(c, distinct(c))), { numRuns: 50 });
  });

  it('maxPool2d routes tied maxima to the first one in the window', async () => {
    const ties = (c: PoolCase) => ref(c.shape, seededValues(size(c.shape), c.seed).map((v) => Math.floor(v * 1.5)));
    await fc.assert(fc.asyncProperty(poolCase(), (c) => checkMax(c, ties(c))), { numRuns: 25 });
  });

  it('globalAvgPool and adaptiveAvgPool2d(1) match the reference', async () => {
    for (const shape of [[1, 1, 1, 1], [3, 5, 7, 2], [8, 3, 1, 9], [2, 7, 12, 11]]) {
      const x = ref(shape, seededValues(size(shape), 4));
      const hw = shape[2] * shape[3];
      for (const gpu of [([t]: Tensor[]) => globalAvgPool(t), ([t]: Tensor[]) => adaptiveAvgPool2d(t, [1, 1])]) {
        await checkOp({ ref: globalAvgPoolRef, inputs: [x], gpu, tol: f32Tolerance(hw), gradTol: f32Tolerance() });
      }
    }
  });

  it('runs past 65535 workgroups in forward and backward', async () => {
    const c: PoolCase = { shape: [2, 2, 1025, 1025], kernel: [2, 2], stride: [1, 1], padding: [0, 0], seed: 21 };
    await checkAvg(c);
    await checkMax({ ...c, kernel: [3, 2], padding: [1, 0] }, distinct(c));
  });

  it('rejects bad arguments with the op, the shapes and what was expected', () => {
    const x = fromArray(new Float32Array(2 * 3 * 4 * 4), [2, 3, 4, 4]);
    expect(() => avgPool2d(x, 2, { padding: 2 })).toThrow(/avgPool2d: kernel \[2,2\].*padding \[2,2\].*padding <= kernel \/ 2/);
    expect(() => maxPool2d(x, 5)).toThrow(/maxPool2d: input \[2, 3, 4, 4\] is smaller than kernel \[5,5\]/);
    expect(() => adaptiveAvgPool2d(x, 2)).toThrow(/adaptiveAvgPool2d: only output size 1×1.*\[2, 3, 4, 4\]/);
    x.dispose();
  });
});
