// Views (engine/ops/movement.ts): reshape, permute, transpose, expand, contiguous, on dense and
// non-contiguous inputs; references against central differences, GPU values and gradients against them.
import fc from 'fast-check';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import { transposeKernels } from '../kernels/transpose.ts';
import {
  arb, applyLayout, checkOp, composeInputs, contiguousRef, expandRef, gradcheck, permuteRef, ref, reshapeRef,
  transposeRef, withLayouts, type Layout, type RefOp, type RefTensor,
} from '../engine/testing/index.ts';

const size = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);
const small = { maxRank: 4, maxDim: 6, maxSize: 120 };

/** A shape, a layout of it, and values for the stored tensor. */
const input = (opts = small) =>
  arb.shape(opts).chain((s) => arb.layoutOf(s).chain((layout) => arb.values(size(layout.stored)).map((v) => ({ layout, x: ref(layout.stored, v) }))));

/** Another shape with the same number of elements: dims shuffled, neighbours merged, 1s inserted, maybe one -1. */
const reshapeTarget = (s: number[]) =>
  fc
    .record({
      order: fc.shuffledSubarray(s, { minLength: s.length, maxLength: s.length }),
      merge: fc.boolean(),
      ones: fc.integer({ min: 0, max: 2 }),
      infer: fc.boolean(),
      at: fc.nat(),
    })
    .map(({ order, merge, ones, infer, at }) => {
      const t = merge && order.length >= 2 ? [order[0] * order[1], ...order.slice(2)] : [...order];
      for (let k = 0; k < ones; k++) t.splice(at % (t.length + 1), 0, 1);
      if (infer && t.length && size(s) > 0) t[at % t.length] = -1;
      return t;
    });

/** A shape that `s` expands to: some of its 1s stretched, and up to two new leading axes. */
const expandTarget = (s: number[]) =>
  fc
    .tuple(fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 2 }), fc.array(fc.integer({ min: 1, max: 3 }), { minLength: s.length, maxLength: s.length }))
    .map(([lead, grow]) => [...lead, ...s.map((d, i) => (d === 1 ? grow[i] : d))]);

function expectGradcheck(op: RefOp, x: RefTensor): void {
  const report = gradcheck(op, [x]);
  expect(report.ok, report.message).toBe(true);
}

interface ViewCase {
  name: string;
  gen: fc.Arbitrary<{ layout: Layout; x: RefTensor; ref: RefOp; gpu: (t: Tensor) => Tensor }>;
}
const rankAtLeast2 = { ...small, minRank: 2 };
const cases: ViewCase[] = [
  {
    name: 'reshape (of dense, permuted and expanded views; with -1)',
    gen: input().chain(({ layout, x }) =>
      reshapeTarget(layout.shape).map((shape) => ({ layout, x, ref: reshapeRef(shape), gpu: (t: Tensor) => E.reshape(t, shape) })),
    ),
  },
  {
    name: 'permute (negative axes too)',
    gen: input().chain(({ layout, x }) => {
      const r = layout.shape.length;
      return fc
        .tuple(fc.shuffledSubarray([...Array(r).keys()], { minLength: r, maxLength: r }), fc.array(fc.boolean(), { minLength: r, maxLength: r }))
        .map(([dims, neg]) => dims.map((d, i) => (neg[i] ? d - r : d)))
        .map((dims) => ({ layout, x, ref: permuteRef(dims), gpu: (t: Tensor) => E.permute(t, dims) }));
    }),
  },
  {
    name: 'transpose (any two axes, the same axis twice too)',
    gen: input(rankAtLeast2).chain(({ layout, x }) => {
      const r = layout.shape.length;
      return fc
        .tuple(fc.integer({ min: -r, max: r - 1 }), fc.integer({ min: -r, max: r - 1 }))
        .map(([a, b]) => ({ layout, x, ref: transposeRef(a, b), gpu: (t: Tensor) => E.transpose(t, a, b) }));
    }),
  },
  {
    name: 'expand (size-1 axes and new leading axes)',
    gen: input().chain(({ layout, x }) =>
      expandTarget(layout.shape).map((shape) => ({ layout, x, ref: expandRef(shape), gpu: (t: Tensor) => E.expand(t, shape) })),
    ),
  },
  {
    name: 'contiguous',
    gen: input().map(({ layout, x }) => ({ layout, x, ref: contiguousRef, gpu: (t: Tensor) => E.contiguous(t) })),
  },
];

for (const c of cases) {
  describe(c.name, () => {
    it('reference gradient matches central differences', () => {
      fc.assert(fc.property(c.gen, ({ layout, x, ref: op }) => expectGradcheck(withLayouts(op, [layout]), x)), { numRuns: 50 });
    });
    it('GPU values and gradient match the reference', async () => {
      await fc.assert(
        fc.asyncProperty(c.gen, ({ layout, x, ref: op, gpu }) =>
          checkOp({ ref: withLayouts(op, [layout]), inputs: [x], gpu: ([t]) => gpu(applyLayout(t, layout)) }),
        ),
        { numRuns: 20 },
      );
    });
  });
}

describe('chains of views', () => {
  it('permute -> reshape -> expand -> contiguous -> transpose, rank 0 and zero-size', async () => {
    const x = ref([2, 3, 4], Array.from({ length: 24 }, (_, i) => i - 11.5));
    const chain = composeInputs(transposeRef(0, 2), [
      composeInputs(contiguousRef, [composeInputs(expandRef([5, 12, 2]), [composeInputs(reshapeRef([12, 2]), [permuteRef([2, 0, 1])])])]),
    ]);
    await checkOp({
      ref: chain,
      inputs: [x],
      gpu: ([t]) => E.transpose(E.contiguous(E.expand(E.reshape(E.permute(t, [2, 0, 1]), [12, 2]), [5, 12, 2])), 0, 2),
    });
    await checkOp({ ref: reshapeRef([1, 1]), inputs: [ref([], [2])], gpu: ([t]) => E.reshape(t, [1, 1]) });
    await checkOp({ ref: expandRef([3, 2]), inputs: [ref([], [2])], gpu: ([t]) => E.expand(t, [3, 2]) });
    await checkOp({ ref: permuteRef([]), inputs: [ref([], [2])], gpu: ([t]) => E.permute(t, []) });
    await checkOp({ ref: reshapeRef([3, 0]), inputs: [ref([0, 3])], gpu: ([t]) => E.reshape(E.transpose(t), [3, 0]) });
  });

  it('just past 2^16 elements: reshape of a transposed view, expand then copy', async () => {
    const x = ref([32769, 2], Array.from({ length: 65538 }, (_, i) => (i % 1000) / 250 - 2));
    await checkOp({ ref: composeInputs(reshapeRef([65538]), [transposeRef()]), inputs: [x], gpu: ([t]) => E.reshape(E.transpose(t), [65538]) });
    const row = ref([1, 257], Array.from({ length: 257 }, (_, i) => i / 64 - 2));
    await checkOp({ ref: composeInputs(contiguousRef, [expandRef([257, 257])]), inputs: [row], gpu: ([t]) => E.contiguous(E.expand(t, [257, 257])) });
  });

  it('contiguous copies of transposed matrices (the transpose kernel: 4x4 blocks or per element, with offsets and batches)', async () => {
    const viewCase = fc.record({
      batch: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
      rows: fc.oneof(fc.integer({ min: 2, max: 13 }), fc.constantFrom(4, 8, 16, 36)),
      cols: fc.oneof(fc.integer({ min: 2, max: 13 }), fc.constantFrom(4, 8, 16, 36)),
      offset: fc.constantFrom(0, 1, 4, 7, 8),
    });
    await fc.assert(
      fc.asyncProperty(viewCase, async ({ batch, rows, cols, offset }) => {
        const batches = batch.reduce((a, b) => a * b, 1);
        const base = E.fromArray(Float32Array.from({ length: offset + batches * rows * cols }, (_, i) => i * 0.5 - 3));
        const strides = [...batch.map((_, i) => batch.slice(i + 1).reduce((a, b) => a * b, rows * cols)), 1, rows];
        const view = base.view([...batch, rows, cols], strides, offset);
        const dense = E.contiguous(view);
        const expected = new Float32Array(batches * rows * cols);
        for (let b = 0; b < batches; b++) {
          for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) expected[(b * rows + r) * cols + c] = (offset + (b * cols + c) * rows + r) * 0.5 - 3;
        }
        expect(dense.isDense()).toBe(true);
        expect(Array.from(await dense.toArray())).toEqual(Array.from(expected));
        for (const t of [base, view, dense]) t.dispose();
      }),
      { numRuns: 40 },
    );
    // Row tiles (64+ blocks of 4 along r: lanes along r on a 3-D grid), a partial last tile, with offsets
    // and batches; the spy checks that they took that layout.
    const layouts = vi.spyOn(transposeKernels, 'get');
    onTestFinished(() => layouts.mockRestore());
    for (const [batch, rows, cols, offset] of [[1, 256, 4, 0], [3, 516, 8, 4], [2, 260, 12, 8]]) {
      const base = E.fromArray(Float32Array.from({ length: offset + batch * rows * cols }, (_, i) => (i % 1013) * 0.25));
      const view = base.view([batch, rows, cols], [rows * cols, 1, rows], offset);
      const dense = E.contiguous(view);
      const expected = new Float32Array(batch * rows * cols);
      for (let b = 0; b < batch; b++) {
        for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) expected[(b * rows + r) * cols + c] = ((offset + (b * cols + c) * rows + r) % 1013) * 0.25;
      }
      expect(Array.from(await dense.toArray())).toEqual(Array.from(expected));
      for (const t of [base, view, dense]) t.dispose();
    }
    expect(layouts.mock.calls.map(([v]) => v.layout)).toEqual(['rows64', 'rows64', 'rows64']);
    layouts.mockRestore();
    // 4097 x 4099 per element: past 65535 workgroups of 256.
    const [rows, cols] = [4097, 4099];
    const base = E.fromArray(Float32Array.from({ length: rows * cols }, (_, i) => i % 9973));
    const t = E.transpose(base.view([cols, rows], [rows, 1], 0));
    const dense = E.contiguous(t);
    const got = await dense.toArray();
    let mismatches = 0;
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) if (got[r * cols + c] !== (c * rows + r) % 9973) mismatches++;
    expect(mismatches).toBe(0);
    for (const x of [base, t, dense]) x.dispose();
  });

  it('offset views (what slicing makes): contiguous gives a dense copy, element-wise ops read them in place', async () => {
    const base = E.fromArray(Array.from({ length: 12 }, (_, i) => i));
    const rows = base.view([2, 3], [3, 1], 5); // elements 5..10: contiguous, but not from element 0
    const dense = E.contiguous(rows);
    expect(rows.isContiguous() && !rows.isDense()).toBe(true);
    expect(dense.isDense()).toBe(true);
    expect(Array.from(await dense.toArray())).toEqual([5, 6, 7, 8, 9, 10]);
    const cols = base.view([3, 2], [1, 4], 1); // a strided column pair with an offset
    const doubled = E.mulScalar(cols, 2);
    expect(Array.from(await doubled.toArray())).toEqual([2, 10, 4, 12, 6, 14]);
    const colSums = E.sum(cols, 0);
    expect(Array.from(await colSums.toArray())).toEqual([6, 18]);
    for (const t of [base, rows, dense, cols, doubled, colSums]) t.dispose();
  });

  it('invalid views throw, naming the op and the shapes', () => {
    const x = E.zeros([2, 3]);
    expect(() => E.reshape(x, [4, 2])).toThrow(/reshape: cannot view 6 elements as \[4, 2\]/);
    expect(() => E.reshape(x, [4, -1])).toThrow(/reshape: cannot infer -1 in \[4, -1\] for 6 elements/);
    expect(() => E.permute(x, [0, 0])).toThrow(/permute: \[0,0\] is not a permutation of the 2 axes of \[2, 3\]/);
    expect(() => E.permute(x, [0])).toThrow(/permute: \[0\] is not a permutation/);
    expect(() => E.expand(x, [2, 4])).toThrow(/expand: cannot expand \[2, 3\] to \[2, 4\]/);
    expect(() => E.expand(x, [3])).toThrow(/expand: cannot expand \[2, 3\] to \[3\]/);
    expect(() => E.transpose(x, 0, 2)).toThrow(/transpose: axis 2 is out of range for rank 2/);
    x.dispose();
  });
});
