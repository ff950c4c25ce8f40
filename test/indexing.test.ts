import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concat, fromArray, gather, indexSelect, pad, permute, slice, type Tensor } from '../engine/index.ts';
import { arb, checkOp, gradcheck, ref, seededValues, type RefOp, type RefTensor } from '../engine/testing/index.ts';
import { concatRef, gatherRef, padRef, sliceRef } from '../engine/testing/refs/indexing.ts';

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const values = (shape: number[], seed: number): RefTensor => ref(shape, seededValues(size(shape), seed).map((v) => 5 * v));

/**
 * Both checks for one case: the reference's backward against finite differences (small cases only: each
 * checked element costs two reference forwards), then GPU against reference.
 */
async function checkBoth(refOp: RefOp, inputs: RefTensor[], gpu: (t: Tensor[]) => Tensor, intInputs: number[] = []): Promise<void> {
  if (inputs.every((t) => t.data.length <= 4096)) {
    const report = gradcheck(refOp, inputs.map((t) => ref(t.shape, t.data)));
    expect(report.ok, report.message).toBe(true);
  }
  // Copies and selections are exact in float32.
  await checkOp({ ref: refOp, inputs, gpu, intInputs, tol: { atol: 0, rtol: 0 }, gradTol: { atol: 1e-6, rtol: 1e-6 } });
}

describe('concat', () => {
  const caseArb = arb.shape({ minRank: 1, maxRank: 4, maxDim: 6, maxSize: 500 }).chain((s) =>
    fc.record({
      base: fc.constant(s),
      axis: fc.integer({ min: -s.length, max: s.length - 1 }),
      sizes: fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 4 }),
      seed: fc.integer({ min: 1, max: 1000 }),
    }),
  );

  it('forward and gradients (slices of the output gradient) match the reference', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ base, axis, sizes, seed }) => {
        const a = axis < 0 ? axis + base.length : axis;
        const inputs = sizes.map((d, k) => values(base.map((b, i) => (i === a ? d : b)), seed + k));
        await checkBoth(concatRef(axis), inputs, (ts) => concat(ts, axis));
      }),
      { numRuns: 50 },
    );
  });

  it('handles more than 2^16 elements and strided inputs', async () => {
    await checkBoth(concatRef(0), [values([65537], 1), values([3], 2)], (ts) => concat(ts, 0));
    await checkBoth(concatRef(1), [values([4, 3], 1), values([4, 5], 2)], ([a, b]) =>
      concat([a, permute(permute(b, [1, 0]), [1, 0])], 1),
    );
  });

  it('joins int32 tensors bit for bit', async () => {
    const a = fromArray(new Int32Array([1, -2, 2 ** 31 - 1]), [3], { dtype: 'int32' });
    const b = fromArray(new Int32Array([-(2 ** 31)]), [1], { dtype: 'int32' });
    const c = concat([a, b]);
    expect(c.dtype).toBe('int32');
    expect(Array.from(await c.toArray())).toEqual([1, -2, 2 ** 31 - 1, -(2 ** 31)]);
    for (const t of [a, b, c]) t.dispose();
  });

  it('errors name the op, the shapes and what was expected', () => {
    const a = fromArray(new Float32Array(6), [2, 3]);
    const b = fromArray(new Float32Array(8), [2, 4]);
    expect(() => concat([a, b], 0)).toThrow(/concat: along axis 0, shapes \[2, 3\] float32, \[2, 4\] float32 must match except on that axis/);
    expect(() => concat([])).toThrow(/concat: needs at least one tensor/);
    expect(() => concat([a, b], 2)).toThrow(/concat: axis 2 is out of range for rank 2/);
    a.dispose();
    b.dispose();
  });
});

describe('slice', () => {
  const caseArb = arb.shape({ minRank: 1, maxRank: 4, maxDim: 9, maxSize: 800 }).chain((s) =>
    fc.record({
      shape: fc.constant(s),
      starts: fc.tuple(...s.map((d) => fc.integer({ min: -d - 2, max: d + 2 }))),
      ends: fc.tuple(...s.map((d) => fc.integer({ min: -d - 2, max: d + 2 }))),
      steps: fc.tuple(...s.map(() => fc.integer({ min: 1, max: 3 }))),
      trailing: fc.integer({ min: 0, max: s.length }),
      seed: fc.integer({ min: 1, max: 1000 }),
    }),
  );

  it('is a view whose gradient is the output gradient placed into zeros (any steps)', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ shape, starts, ends, steps, trailing, seed }) => {
        // Leave `trailing` axes unspecified: they are taken whole.
        const keep = shape.length - trailing;
        const [st, en, sp] = [starts.slice(0, keep), ends.slice(0, keep), steps.slice(0, keep)];
        await checkBoth(sliceRef(st, en, sp), [values(shape, seed)], ([x]) => slice(x, st, en, sp));
      }),
      { numRuns: 60 },
    );
  });

  it('shares storage with its input and composes with offsets', async () => {
    const x = fromArray(Float32Array.from({ length: 24 }, (_, i) => i), [4, 6]);
    const y = slice(x, [1, 1], [4, 6], [2, 2]);
    expect(y.storage).toBe(x.storage);
    expect(y.shape).toEqual([2, 3]);
    const z = slice(y, [1], [2]);
    expect(Array.from(await z.toArray())).toEqual([19, 21, 23]);
    for (const t of [x, y, z]) t.dispose();
  });

  it('handles more than 2^16 elements', async () => {
    await checkBoth(sliceRef([1, 0], [257, 250], [1, 3]), [values([257, 257], 3)], ([x]) => slice(x, [1, 0], [257, 250], [1, 3]));
  });

  it('errors name the op, the shapes and what was expected', () => {
    const x = fromArray(new Float32Array(6), [2, 3]);
    expect(() => slice(x, [0], [1], [0])).toThrow(/slice\(\[2, 3\], starts \[0\], ends \[1\], steps \[0\]\): steps must be positive integers/);
    expect(() => slice(x, [0, 0, 0], [1, 1, 1])).toThrow(/more entries than the 2 axes/);
    x.dispose();
  });
});

describe('pad', () => {
  const caseArb = arb.shape({ minRank: 0, maxRank: 4, maxDim: 7, maxSize: 400 }).chain((s) =>
    fc.record({
      shape: fc.constant(s),
      pads: fc.tuple(...s.map(() => fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 })))),
      value: fc.constantFrom(0, 1.5, -7),
      seed: fc.integer({ min: 1, max: 1000 }),
    }),
  );

  it('forward and gradient (a slice of the output gradient) match the reference', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ shape, pads, value, seed }) => {
        const p = pads as [number, number][];
        await checkBoth(padRef(p, value), [values(shape, seed)], ([x]) => pad(x, p, value));
      }),
      { numRuns: 50 },
    );
  });

  it('pads int32 tensors and large tensors', async () => {
    const x = fromArray(new Int32Array([5, -6]), [2], { dtype: 'int32' });
    const y = pad(x, [[1, 2]], 9);
    expect(Array.from(await y.toArray())).toEqual([9, 5, -6, 9, 9]);
    for (const t of [x, y]) t.dispose();
    await checkBoth(padRef([[0, 1], [2, 0]]), [values([256, 255], 4)], ([t]) => pad(t, [[0, 1], [2, 0]]));
  });

  it('errors name the op, the shapes and what was expected', () => {
    const x = fromArray(new Float32Array(6), [2, 3]);
    expect(() => pad(x, [[1, 1]])).toThrow(/pad: pads \[\[1,1\]\] for \[2, 3\] must hold one \[before, after\] pair of non-negative integers per axis \(2\)/);
    expect(() => pad(x, [[1, 1], [-1, 0]])).toThrow(/non-negative/);
    x.dispose();
  });
});

describe('gather and indexSelect', () => {
  /** Indices mostly in range, some repeated (gradient accumulation), a few out of range (read as 0). */
  function indices(n: number, len: number, seed: number, outOfRange: boolean): RefTensor {
    const u = seededValues(n, seed).map((v) => (v + 1) / 2);
    return ref([n], u.map((v) => (outOfRange && v > 0.9 ? (v > 0.95 ? -1 : len + 1) : Math.min(len - 1, Math.floor(v * len)))));
  }

  const gatherArb = arb.shape({ minRank: 1, maxRank: 3, maxDim: 7, maxSize: 300 }).chain((s) =>
    fc.record({
      shape: fc.constant(s),
      axis: fc.integer({ min: -s.length, max: s.length - 1 }),
      // index sizes: <= x on non-axis dims, anything (>= 1) along the axis
      indexShape: fc.tuple(...s.map((d) => fc.integer({ min: 1, max: d + 3 }))),
      outOfRange: fc.boolean(),
      seed: fc.integer({ min: 1, max: 1000 }),
    }),
  );

  it('gather: forward and the deterministic, atomic-free gradient match the reference', async () => {
    await fc.assert(
      fc.asyncProperty(gatherArb, async ({ shape, axis, indexShape, outOfRange, seed }) => {
        const a = axis < 0 ? axis + shape.length : axis;
        const idxShape = indexShape.map((d, i) => (i === a ? d : Math.min(d, shape[i])));
        const index = { ...indices(size(idxShape), shape[a], seed + 1, outOfRange), shape: idxShape };
        await checkBoth(gatherRef(axis), [values(shape, seed), index], ([x, i]) => gather(x, axis, i), [1]);
      }),
      { numRuns: 60 },
    );
  });

  it('indexSelect: forward and gradient match the reference', async () => {
    await fc.assert(
      fc.asyncProperty(gatherArb, async ({ shape, axis, indexShape, outOfRange, seed }) => {
        const a = axis < 0 ? axis + shape.length : axis;
        const index = indices(indexShape[a], shape[a], seed + 2, outOfRange);
        await checkBoth(gatherRef(axis, 'select'), [values(shape, seed), index], ([x, i]) => indexSelect(x, axis, i), [1]);
      }),
      { numRuns: 60 },
    );
  });

  it('handles more than 2^16 outputs, strided inputs and int32 data', async () => {
    const index = indices(300 * 240, 240, 5, false);
    index.shape = [300, 240];
    await checkBoth(gatherRef(1), [values([300, 240], 6), index], ([x, i]) => gather(x, 1, i), [1]);
    await checkBoth(gatherRef(0, 'select'), [values([5, 4], 7), indices(6, 4, 8, false)], ([x, i]) =>
      indexSelect(permute(permute(x, [1, 0]), [1, 0]), 0, i),
    [1]);
    const xi = fromArray(new Int32Array([10, 20, 30]), [3], { dtype: 'int32' });
    const idx = fromArray(new Int32Array([2, 2, 0]), [3], { dtype: 'int32' });
    const out = gather(xi, 0, idx);
    expect(Array.from(await out.toArray())).toEqual([30, 30, 10]);
    for (const t of [xi, idx, out]) t.dispose();
  });

  it('errors name the op, the shapes and what was expected', () => {
    const x = fromArray(new Float32Array(6), [2, 3]);
    const fIdx = fromArray([0, 1], [2]);
    const idx = fromArray(new Int32Array([0, 1, 1, 0, 1, 0]), [3, 2], { dtype: 'int32' });
    expect(() => gather(x, 0, fIdx)).toThrow(/gather: index \[2\] must be int32, got float32/);
    expect(() => gather(x, 1, idx)).toThrow(/gather: index \[3, 2\] must have the rank of input \[2, 3\] and no larger size on axes other than 1/);
    expect(() => indexSelect(x, 0, idx)).toThrow(/indexSelect: index \[3, 2\] must be 1-D/);
    for (const t of [x, fIdx, idx]) t.dispose();
  });
});
