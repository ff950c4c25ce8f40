import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromArray, logSoftmax, permute, slice, softmax } from '../engine/index.ts';
import { arb, checkOp, f32Tolerance, gradcheck, ref, seededValues, type RefTensor } from '../engine/testing/index.ts';
import { softmaxRef } from '../engine/testing/refs/softmax.ts';
import { forceRowVariant } from '../kernels/softmax.ts';

const MODES = [
  { name: 'softmax', log: false, op: softmax },
  { name: 'logSoftmax', log: true, op: logSoftmax },
] as const;

/** A shape (rank 0-4) with one of its axes, possibly spelled negative. */
const shapeAndAxis = (maxSize = 2000) =>
  arb
    .shape({ minRank: 0, maxRank: 4, maxDim: 40, maxSize })
    .chain((s) => fc.tuple(fc.constant(s), s.length ? fc.integer({ min: -s.length, max: s.length - 1 }) : fc.constant(-1)));

function input(shape: number[], scale = 4, seed = 1): RefTensor {
  return ref(shape, seededValues(shape.reduce((a, b) => a * b, 1), seed).map((v) => v * scale));
}

/**
 * Each output depends on a sum over its row, so rounding grows with the row length. Softmax values are at
 * most 1; log-softmax values reach |x - max| + log(len) <= 2 * scale + log(len). Gradients sum len terms
 * of size |g| * y <= 1.
 */
function tolerances(shape: number[], axis: number, scale: number, log: boolean) {
  const len = shape.length ? shape[axis < 0 ? axis + shape.length : axis] : 1;
  return { tol: f32Tolerance(len, log ? 2 * scale + Math.log(len + 1) : 1), gradTol: f32Tolerance(len, 2) };
}

describe.each(MODES)('$name', ({ log, op }) => {
  it('reference backward matches finite differences', () => {
    fc.assert(
      fc.property(shapeAndAxis(60), fc.integer(), ([shape, axis], seed) => {
        const report = gradcheck(softmaxRef(axis, log), [input(shape, 3, seed)]);
        expect(report.ok, report.message).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('GPU forward and gradient match the reference on random shapes and axes', async () => {
    await fc.assert(
      fc.asyncProperty(shapeAndAxis(), fc.integer({ min: 1, max: 1000 }), async ([shape, axis], seed) => {
        await checkOp({ ref: softmaxRef(axis, log), inputs: [input(shape, 4, seed)], gpu: ([x]) => op(x, axis), ...tolerances(shape, axis, 4, log) });
      }),
      { numRuns: 40 },
    );
  });

  it.each([
    { what: 'rows of length 1', shape: [5, 1], axis: -1 },
    { what: 'a length-1 middle axis', shape: [3, 1, 4], axis: 1 },
    { what: 'long rows (> 1024)', shape: [3, 3000], axis: -1 },
    { what: 'one very long row (workgroup per row on lavapipe)', shape: [1, 20000], axis: -1 },
    { what: 'a long leading axis', shape: [2500, 3], axis: 0 },
    { what: 'many short rows along a strided axis', shape: [6, 900], axis: 0 },
  ])('handles $what $shape axis $axis', async ({ shape, axis }) => {
    await checkOp({ ref: softmaxRef(axis, log), inputs: [input(shape)], gpu: ([x]) => op(x, axis), ...tolerances(shape, axis, 4, log) });
  });

  it.each(['workgroup', 'thread'] as const)('%s-per-row variant: odd shapes and 65537 rows (past 65535 workgroups: a 2-D grid when one workgroup per row)', async (variant) => {
    forceRowVariant(variant);
    try {
      for (const [shape, axis] of [[[65537, 3], 1], [[3, 70, 5], 1], [[2, 1], 0], [[130], 0]] as [number[], number][]) {
        await checkOp({ ref: softmaxRef(axis, log), inputs: [input(shape)], gpu: ([x]) => op(x, axis), ...tolerances(shape, axis, 4, log) });
      }
    } finally {
      forceRowVariant(null);
    }
  });

  it('is stable for large logits: no overflow, and only differences from the row max matter', async () => {
    const shape = [4, 33];
    const base = input(shape, 4, 5);
    // x - max is exact for values near 8000, so the tolerance scales with the spread, not the magnitude.
    const shifted = ref(shape, base.data.map((v) => v + 8000));
    await checkOp({ ref: softmaxRef(-1, log), inputs: [shifted], gpu: ([x]) => op(x, -1), ...tolerances(shape, -1, 4, log) });
    const huge = ref(shape, base.data.map((v) => v * 1e4));
    await checkOp({ ref: softmaxRef(-1, log), inputs: [huge], gpu: ([x]) => op(x, -1), ...tolerances(shape, -1, 4e4, log) });
  });

  it('reads strided (permuted) views', async () => {
    // Axis 1 stays axis 1 under this permutation, so permuting before and after gives softmax(x, 1).
    await checkOp({
      ref: softmaxRef(1, log),
      inputs: [input([7, 5, 6])],
      gpu: ([x]) => permute(op(permute(x, [2, 1, 0]), 1), [2, 1, 0]),
      ...tolerances([7, 5, 6], 1, 4, log),
    });
  });
});

describe('softmax errors', () => {
  it('names the op, the shape and what was expected', () => {
    const ints = fromArray(new Int32Array([1, 2, 3]), [3], { dtype: 'int32' });
    expect(() => softmax(ints)).toThrow(/softmax: expects a float32 tensor, got int32 \[3\]/);
    expect(() => logSoftmax(ints, 2)).toThrow(/logSoftmax/);
    ints.dispose();
    const x = fromArray([1, 2, 3, 4], [2, 2]);
    expect(() => softmax(x, 2)).toThrow(/softmax: axis 2 is out of range for rank 2/);
    x.dispose();
  });

  it('a view with an offset gives the rows it covers', async () => {
    const x = fromArray([0, 0, 1, 2, 3, 4], [3, 2]);
    const tail = slice(x, [1], [3]);
    const y = softmax(tail, -1);
    const got = Array.from(await y.toArray());
    const e = 1 / (1 + Math.E);
    expect(got[0]).toBeCloseTo(e, 6);
    expect(got[1]).toBeCloseTo(1 - e, 6);
    expect(got[2]).toBeCloseTo(e, 6);
    for (const t of [x, tail, y]) t.dispose();
  });
});
