// upsampleBilinear: PyTorch golden values, float64 reference (gradcheck), GPU vs reference.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { upsampleBilinear, type UpsampleOptions } from '../engine/ops/upsample.ts';
import { fromArray } from '../engine/ops/creation.ts';
import { arb, checkOp, f32Tolerance, gradcheck, ref, seededValues } from '../engine/testing/index.ts';
import { upsampleBilinearRef, type UpsampleRefOptions } from '../engine/testing/refs/upsample.ts';

interface UpsampleCase {
  shape: number[];
  alignCorners: boolean;
  size?: [number, number];
  factors?: [number, number];
  seed: number;
}

const upsampleCase = (maxOut = 3000): fc.Arbitrary<UpsampleCase> =>
  fc
    .record({
      shape: fc.tuple(fc.integer({ min: 1, max: 8 }), arb.dim(5), fc.integer({ min: 1, max: 11 }), fc.integer({ min: 1, max: 11 })),
      alignCorners: fc.boolean(),
      bySize: fc.boolean(),
      size: fc.tuple(fc.integer({ min: 1, max: 23 }), fc.integer({ min: 1, max: 23 })),
      factors: fc.tuple(fc.constantFrom(0.5, 0.75, 1, 1.5, 2, 2.5, 3, 4), fc.constantFrom(0.5, 0.75, 1, 1.5, 2, 2.5, 3, 4)),
      seed: fc.integer({ min: 1, max: 1e9 }),
    })
    .map(({ bySize, size, factors, ...c }) => (bySize ? { ...c, size } : { ...c, factors }))
    .filter((c) => {
      const [oh, ow] = outOf(c);
      return oh >= 1 && ow >= 1 && c.shape[0] * c.shape[1] * oh * ow <= maxOut;
    });

function outOf(c: UpsampleCase): [number, number] {
  return c.size ?? [Math.floor(c.shape[2] * c.factors![0]), Math.floor(c.shape[3] * c.factors![1])];
}
const refOptions = (c: UpsampleCase): UpsampleRefOptions => ({ out: outOf(c), alignCorners: c.alignCorners, factors: c.factors });
const gpuOptions = (c: UpsampleCase): UpsampleOptions => ({ alignCorners: c.alignCorners, ...(c.size ? { size: c.size } : { scale: c.factors }) });

async function checkUpsample(c: UpsampleCase): Promise<void> {
  const n = c.shape.reduce((a, b) => a * b, 1);
  const x = ref(c.shape, seededValues(n, c.seed).map((v) => 2 * v));
  const [oh, ow] = outOf(c);
  const [h, w] = [c.shape[2], c.shape[3]];
  // Source coordinates are computed in f32 (as PyTorch does), so tap weights carry an error ~ eps·(input length).
  const coordinate = 1 + Math.max(h, w);
  const gathered = (Math.ceil((2 * oh) / h) + 3) * (Math.ceil((2 * ow) / w) + 3);
  await checkOp({
    ref: upsampleBilinearRef(refOptions(c)),
    inputs: [x],
    gpu: ([t]) => upsampleBilinear(t, gpuOptions(c)),
    tol: f32Tolerance(4, 2 * coordinate),
    gradTol: f32Tolerance(gathered, coordinate),
    seed: c.seed,
  });
}

describe('upsampleBilinear reference', () => {
  it('matches PyTorch on a 2×2 -> 4×4 example, align_corners false and true', () => {
    const x = ref([1, 1, 2, 2], [1, 2, 3, 4]);
    const plain = upsampleBilinearRef({ out: [4, 4], alignCorners: false }).forward([x]).data;
    expect(Array.from(plain)).toEqual([1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4]);
    const aligned = upsampleBilinearRef({ out: [4, 4], alignCorners: true }).forward([x]).data;
    const third = (k: number) => 1 + k / 3;
    const expected = [0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7, 8, 9].map(third);
    aligned.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 12));
  });

  it('uses 1 / scale_factor for source indices when a scale is given, in / out when a size is', () => {
    const x = ref([1, 1, 1, 5], [0, 1, 2, 3, 4]);
    // scale 1.5: src(d) = (d + 0.5) / 1.5 - 0.5; size 7: src(d) = (d + 0.5) · 5/7 - 0.5
    const byScale = upsampleBilinearRef({ out: [1, 7], alignCorners: false, factors: [1, 1.5] }).forward([x]).data;
    const bySize = upsampleBilinearRef({ out: [1, 7], alignCorners: false }).forward([x]).data;
    const src = (d: number, s: number) => Math.min(Math.max(s * (d + 0.5) - 0.5, 0), 4);
    byScale.forEach((v, d) => expect(v).toBeCloseTo(src(d, 1 / 1.5), 12));
    bySize.forEach((v, d) => expect(v).toBeCloseTo(src(d, 5 / 7), 12));
  });

  it('backward matches central differences', () => {
    fc.assert(
      fc.property(upsampleCase(600), (c) => {
        const x = ref(c.shape, seededValues(c.shape.reduce((a, b) => a * b, 1), c.seed));
        const report = gradcheck(upsampleBilinearRef(refOptions(c)), [x]);
        expect(report.ok, report.message).toBe(true);
      }),
      { numRuns: 60 },
    );
  });
});

describe('upsampleBilinear on the GPU', () => {
  it('matches the reference for sizes and scale factors, align_corners false and true', async () => {
    await fc.assert(fc.asyncProperty(upsampleCase(), checkUpsample), { numRuns: 60 });
  });

  it('matches on edge cases: 1×1 in or out, one channel, non-square', async () => {
    for (const alignCorners of [false, true]) {
      for (const [shape, size] of [[[2, 3, 1, 1], [5, 4]], [[1, 1, 6, 5], [1, 1]], [[3, 1, 7, 2], [3, 9]], [[1, 2, 4, 9], [4, 9]]] as const) {
        await checkUpsample({ shape: [...shape], size: [...size] as [number, number], alignCorners, seed: 17 });
      }
    }
  });

  it('runs past 65535 workgroups: forward (upsampling) and backward (downsampling)', async () => {
    await checkUpsample({ shape: [1, 1, 1025, 1025], size: [2049, 2049], alignCorners: false, seed: 1 });
    await checkUpsample({ shape: [1, 1, 2049, 2049], size: [1025, 1025], alignCorners: true, seed: 2 });
  });

  it('rejects bad arguments with the op, the shapes and what was expected', () => {
    const x = fromArray(new Float32Array(12), [1, 3, 2, 2]);
    expect(() => upsampleBilinear(x, {})).toThrow(/upsampleBilinear: give exactly one of size and scale/);
    expect(() => upsampleBilinear(x, { scale: 0.2 })).toThrow(/upsampleBilinear: input \[1, 3, 2, 2\] to output 0×0/);
    x.dispose();
  });
});
