// Reductions (engine/ops/reduce.ts): sum, mean, max, min over any axes with keepdim; references against
// central differences, GPU against references on strided/expanded inputs, zero-size axes, rank 0, 2^16+.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import {
  arb, applyLayout, checkOp, f32Tolerance, gradcheck, maxRef, meanRef, minRef, ref, sumRef, withLayouts,
  type RefOp, type RefTensor, type Tolerance,
} from '../engine/testing/index.ts';

type Axes = number[] | undefined;
type Kind = 'sum' | 'mean' | 'max' | 'min';
const refs: Record<Kind, (axes: Axes, keepdim: boolean) => RefOp> = { sum: sumRef, mean: meanRef, max: maxRef, min: minRef };
const gpus: Record<Kind, (x: Tensor, axes: Axes, keepdim: boolean) => Tensor> = { sum: E.sum, mean: E.mean, max: E.max, min: E.min };

const size = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);
const small = { maxRank: 4, maxDim: 7, maxSize: 120 };

// The kernels sum serially within chunks of at most 1024 terms, then sum the chunk partials the same way
// (engine/ops/reduce.ts reduceBlock): random rounding leaves an error of about eps * s * sqrt(n) times a
// small factor for n terms of magnitude s, under f32Tolerance(n, s)'s 32 sqrt(n) eps s. A mean divides both the error and the scale by n. max/min/gradients are exact
// up to one rounding.
function reduceTolerance(kind: Kind, x: RefTensor, count: number): Tolerance {
  let scale = 1e-30;
  for (const v of x.data) scale = Math.max(scale, Math.abs(v));
  if (kind === 'sum') return f32Tolerance(count, scale);
  if (kind === 'mean') return f32Tolerance(count, scale / Math.max(1, count));
  return f32Tolerance();
}

/** A shape, a layout of it, axes (undefined = all) and keepdim. */
const reduceCase = arb.shape(small).chain((s) =>
  fc.record({
    layout: arb.layoutOf(s),
    axes: fc.option(arb.axesOf(s.length), { nil: undefined }),
    keepdim: fc.boolean(),
  }),
);
const reducedCount = (shape: number[], axes: Axes) =>
  axes === undefined ? size(shape) : size(axes.map((a) => shape[a < 0 ? a + shape.length : a] ?? 1));

/** Distinct values (no ties), so max/min are differentiable where gradcheck looks. */
const distinct = (n: number) =>
  fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }).map((p) => p.map((i) => (i - n / 2) * 0.05));
/** Small integers: ties are common and the GPU's max/min are exact. */
const tied = (n: number) => fc.array(fc.integer({ min: -2, max: 2 }), { minLength: n, maxLength: n });

for (const kind of ['sum', 'mean', 'max', 'min'] as const) {
  describe(kind, () => {
    const extremum = kind === 'max' || kind === 'min';
    it('reference gradient matches central differences', () => {
      const gen = reduceCase.chain((c) =>
        (extremum ? distinct(size(c.layout.stored)) : arb.values(size(c.layout.stored))).map((v) => ({ ...c, x: ref(c.layout.stored, v) })),
      );
      fc.assert(
        fc.property(gen, ({ layout, axes, keepdim, x }) => {
          const report = gradcheck(withLayouts(refs[kind](axes, keepdim), [layout]), [x]);
          expect(report.ok, report.message).toBe(true);
        }),
        { numRuns: 60 },
      );
    });

    it('GPU forward and gradient match the reference (any axes, keepdim, strided and expanded inputs)', async () => {
      const gen = reduceCase.chain((c) =>
        (extremum ? tied(size(c.layout.stored)) : arb.values(size(c.layout.stored))).map((v) => ({ ...c, x: ref(c.layout.stored, v) })),
      );
      await fc.assert(
        fc.asyncProperty(gen, async ({ layout, axes, keepdim, x }) => {
          await checkOp({
            ref: withLayouts(refs[kind](axes, keepdim), [layout]),
            inputs: [x],
            gpu: ([t]) => gpus[kind](applyLayout(t, layout), axes, keepdim),
            tol: reduceTolerance(kind, x, reducedCount(layout.shape, axes)),
            gradTol: f32Tolerance(),
          });
        }),
        { numRuns: 20 },
      );
    });

    it('rank 0: all axes, axis 0 and axis -1 keep the one element', async () => {
      for (const axes of [undefined, [0], [-1]]) {
        for (const keepdim of [false, true]) {
          await checkOp({ ref: refs[kind](axes, keepdim), inputs: [ref([], [1.5])], gpu: ([t]) => gpus[kind](t, axes, keepdim) });
        }
      }
      const x = E.scalar(1);
      expect(() => gpus[kind](x, [1], false)).toThrow(new RegExp(`${kind}: axis 1 is out of range for rank 0`));
      x.dispose();
    });
  });
}

describe('ties and empty axes', () => {
  it('max/min share the gradient equally among tied extremes', async () => {
    const x = ref([2, 4], [3, 1, 3, 3, -1, -1, 0, -1]);
    for (const kind of ['max', 'min'] as const) {
      await checkOp({ ref: refs[kind]([1], false), inputs: [ref(x.shape, x.data)], gpu: ([t]) => gpus[kind](t, [1], false) });
    }
    const g = refs.max([1], false).backward!([x], ref([2], [1, 1]));
    expect(Array.from(g[0]!.data)).toEqual([1 / 3, 0, 1 / 3, 1 / 3, 0, 0, 1, 0]);
  });

  it('sum over a zero-size axis gives zeros; reducing to an empty output gives an empty tensor', async () => {
    await checkOp({ ref: sumRef([1], false), inputs: [ref([3, 0])], gpu: ([t]) => E.sum(t, [1]) });
    await checkOp({ ref: sumRef(undefined, true), inputs: [ref([2, 0, 3])], gpu: ([t]) => E.sum(t, undefined, true) });
    for (const kind of ['sum', 'mean', 'max', 'min'] as const) {
      await checkOp({ ref: refs[kind]([0], false), inputs: [ref([3, 0])], gpu: ([t]) => gpus[kind](t, [0], false) });
    }
  });

  it('mean, max and min over a zero-size axis throw, naming the op and the shape', () => {
    const x = E.zeros([3, 0]);
    expect(() => E.mean(x, 1)).toThrow(/mean: cannot reduce over an empty axis of \[3, 0\]/);
    expect(() => E.max(x, 1)).toThrow(/max: cannot reduce over an empty axis of \[3, 0\]/);
    expect(() => E.min(x)).toThrow(/min: cannot reduce over an empty axis/);
    expect(() => meanRef([1]).forward([ref([3, 0])])).toThrow(/empty axis/);
    x.dispose();
  });

  it('repeated or out-of-range axes throw', () => {
    const x = E.zeros([2, 3]);
    expect(() => E.sum(x, [1, -1])).toThrow(/sum: repeated axis/);
    expect(() => E.max(x, 2)).toThrow(/max: axis 2 is out of range for rank 2/);
    x.dispose();
  });
});

describe('sizes just past 2^16 elements', () => {
  const values = (s: number[], seed: number) => ref(s, fc.sample(arb.values(size(s)), { numRuns: 1, seed })[0]);

  it('long rows, many short rows (one thread each) and keepdim means', async () => {
    const cases: [Kind, number[], Axes][] = [
      ['sum', [65537], undefined],
      ['sum', [257, 257], [0]],
      ['mean', [257, 257], [1]],
      ['sum', [2, 32769], [0]], // 32769 rows of 2: the one-thread-per-row kernel
      ['mean', [3, 5, 4373], [0, 2]],
      ['max', [65537], [0]],
    ];
    for (const [kind, shape, axes] of cases) {
      const x = values(shape, shape.length);
      await checkOp({
        ref: refs[kind](axes, true),
        inputs: [x],
        gpu: ([t]) => gpus[kind](t, axes, true),
        tol: reduceTolerance(kind, x, reducedCount(shape, axes)),
        gradTol: f32Tolerance(),
      });
    }
  });

  it('65537 rows of 64 (one invocation per row, a single pass)', async () => {
    const shape = [65537, 64];
    const x = ref(shape, Array.from({ length: size(shape) }, (_, i) => ((i * 7919) % 1000) / 250 - 2));
    await checkOp({
      ref: sumRef([1]),
      inputs: [x],
      gpu: ([t]) => E.sum(t, 1),
      tol: reduceTolerance('sum', x, 64),
      gradTol: f32Tolerance(),
    });
  });
});

describe('long axes: chunked partial passes (columns of 4, rows), any layout of runs', () => {
  const kinds = fc.constantFrom<Kind>('sum', 'mean', 'max', 'min');

  it('leading, middle, trailing and several axes match the reference past one chunk (odd widths)', async () => {
    // [outer, len, inner(, tail)]: len beyond a 64-row column chunk, inner not a multiple of 4.
    const gen = fc
      .record({
        dims: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 60, max: 700 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 5 })),
        rank: fc.constantFrom(3, 4),
        kind: kinds,
        keepdim: fc.boolean(),
      })
      .chain(({ dims, rank, kind, keepdim }) => {
        const shape = dims.slice(0, rank);
        return fc.record({
          shape: fc.constant(shape),
          kind: fc.constant(kind),
          keepdim: fc.constant(keepdim),
          axes: fc.oneof(fc.constantFrom<number[]>([1], [0, 2], rank === 4 ? [0, 2, 3] : [0, 1]), arb.axesOf(rank)),
          values: (kind === 'max' || kind === 'min' ? tied(size(shape)) : arb.values(size(shape))) as fc.Arbitrary<ArrayLike<number>>,
        });
      });
    await fc.assert(
      fc.asyncProperty(gen, async ({ shape, kind, keepdim, axes, values }) => {
        const x = ref(shape, values);
        await checkOp({
          ref: refs[kind](axes, keepdim),
          inputs: [x],
          gpu: ([t]) => gpus[kind](t, axes, keepdim),
          tol: reduceTolerance(kind, x, reducedCount(shape, axes)),
          gradTol: f32Tolerance(),
        });
      }),
      { numRuns: 12 },
    );
  });

  it('a contiguous view at an offset (a slice) is reduced in place, every layout', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 11 }), kinds,
        fc.constantFrom<number[]>([0], [1], [0, 1]),
        async (skip, rows, cols, kind, axes) => {
          const all = Array.from({ length: (rows + skip) * cols }, (_, i) => ((i * 37) % 101) / 25 - 2);
          const t = E.fromArray(all, [rows + skip, cols]);
          const view = E.slice(t, [skip, 0], [rows + skip, cols]);
          const r = gpus[kind](view, axes, false);
          const got = await r.toArray();
          r.dispose();
          const x = ref([rows, cols], all.slice(skip * cols));
          const want = refs[kind](axes, false).forward([x]);
          const tol = reduceTolerance(kind, x, reducedCount([rows, cols], axes));
          expect(got.length).toBe(want.data.length);
          want.data.forEach((w, i) => expect(Math.abs(got[i] - w)).toBeLessThanOrEqual(tol.atol + tol.rtol * Math.abs(w)));
          view.dispose();
          t.dispose();
        },
      ),
      { numRuns: 15 },
    );
  });

  it('bias gradients: [N, C, H, W] over (0, 2, 3) and [B, F] over 0, long enough for partials', async () => {
    const cases: [Kind, number[], number[]][] = [
      ['sum', [3, 5, 23, 29], [0, 2, 3]],
      ['sum', [1000, 13], [0]],
      ['mean', [2, 700, 6], [0, 1]],
      ['max', [3, 7, 300], [0, 2]],
    ];
    for (const [kind, shape, axes] of cases) {
      const x = ref(shape, fc.sample((kind === 'max' ? tied(size(shape)) : arb.values(size(shape))) as fc.Arbitrary<ArrayLike<number>>, { numRuns: 1, seed: 7 })[0]);
      await checkOp({
        ref: refs[kind](axes, true),
        inputs: [x],
        gpu: ([t]) => gpus[kind](t, axes, true),
        tol: reduceTolerance(kind, x, reducedCount(shape, axes)),
        gradTol: f32Tolerance(),
      });
    }
  });

  it('more than 65535 workgroups of outputs (a 2-D grid): a size-1 axis of 2^24 + 256 rows', async () => {
    const n = 65537 * 256;
    const t = E.fromArray(Float32Array.from({ length: n }, (_, i) => (i % 1000) - 500), [n, 1]);
    const out = E.sum(t, 1);
    const got = await out.toArray();
    expect(got.length).toBe(n);
    let bad = -1;
    for (let i = 0; i < n && bad < 0; i++) if (got[i] !== (i % 1000) - 500) bad = i;
    expect(bad).toBe(-1);
    out.dispose();
    t.dispose();
  });
});
