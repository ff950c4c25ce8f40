// Element-wise ops (engine/ops/arithmetic.ts): each float64 reference against central differences, then the
// GPU forward and every input gradient against the reference, over broadcast and non-contiguous inputs.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import {
  arb, applyLayout, checkOp, F32_EPS, f32Tolerance, gradcheck, ref, withLayouts, denseLayout,
  type Layout, type RefOp, type RefTensor, type Tolerance,
} from '../engine/testing/index.ts';
import * as R from '../engine/testing/index.ts';

// WGSL's accuracy (spec, "Floating point accuracy"): exp and exp2 are within 3 + 2|x| ULP; log and log2
// within 3 ULP, or 2^-21 (= 4 eps) absolute on [0.5, 2]; tanh inherits exp's error, an absolute few ULP of
// 1; pow(x, y) is exp2(y log2 x), relative error (3 + 2|y log2 x|) ULP plus |y| * 4 eps * ln 2 from log2.
// One ULP is at most eps * |value|. f32Tolerance() allows 32 eps relative plus 32 eps absolute: exp on
// |x| <= 4 needs 11 ULP (12 with the gradient's product), log/tanh/sigmoid a few eps absolute, so they
// use it as is; pow's bound is computed from its inputs below, plus 1 ULP per extra rounded operation.
function powTolerance(a: RefTensor, b: RefTensor, extraOps: number): Tolerance {
  const maxAbs = (xs: Iterable<number>) => Math.max(0, ...xs);
  const y = maxAbs(Array.from(b.data, Math.abs)) + 1; // + 1: the base's gradient raises to b - 1
  const t = y * maxAbs(Array.from(a.data, (v) => (v === 0 ? 0 : Math.abs(Math.log2(Math.abs(v))))));
  const ulps = 3 + 2 * t + 4 * Math.LN2 * y + extraOps;
  return { rtol: Math.max(32, ulps) * F32_EPS, atol: 32 * F32_EPS };
}

const size = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);

/** Elements of the shape two shapes broadcast to. */
function broadcastSize(x: readonly number[], y: readonly number[]): number {
  let n = 1;
  for (let i = 1; i <= Math.max(x.length, y.length); i++) n *= Math.max(x[x.length - i] ?? 1, y[y.length - i] ?? 1);
  return n;
}

/**
 * The gradient tolerance of a broadcasting binary op. An input that broadcasts (or is expanded) gets the sum
 * of its gradient's terms over those axes, each term as accurate as `own` allows relative to itself; where
 * the terms cancel, the sum's error follows the terms' size, not the sum's. So the absolute part grows with
 * the largest term (`term`, the output gradient being at most 1) and, as in f32Tolerance, with the square
 * root of the number summed. `a` and `b` carry the logical shapes the op sees and the stored values.
 */
function broadcastGradTolerance(own: Tolerance, a: RefTensor, b: RefTensor, term: (x: number, y: number, input: 0 | 1) => number): Tolerance {
  const out = broadcastSize(a.shape, b.shape);
  let atol = own.atol;
  for (const input of [0, 1] as const) {
    const summed = out / (input === 0 ? a.data.length : b.data.length);
    if (summed <= 1) continue;
    let largest = 0;
    for (const x of a.data) for (const y of b.data) largest = Math.max(largest, term(x, y, input));
    atol = Math.max(atol, own.rtol * largest * Math.sqrt(summed));
  }
  return { rtol: own.rtol, atol };
}

/** d(a^b)/da = b·a^(b-1), d(a^b)/db = a^b·ln|a| (a = 0 gives no finite term to sum). */
const powTerm = (x: number, y: number, input: 0 | 1) =>
  x === 0 ? 0 : input === 0 ? Math.abs(y) * Math.abs(x) ** (y - 1) : Math.abs(x) ** y * Math.abs(Math.log(Math.abs(x)));
const powGradTolerance = (a: RefTensor, b: RefTensor) => broadcastGradTolerance(powTolerance(a, b, 3), a, b, powTerm);

/** Integers in [lo, hi] for shape s: exact on the GPU, and ties are common. */
const integers = (s: number[], lo = -2, hi = 2) =>
  fc.array(fc.integer({ min: lo, max: hi }), { minLength: size(s), maxLength: size(s) }).map((v) => ref(s, v));
/** Two broadcasting shapes with integer values. */
const integerPair = (lo?: number, hi?: number) =>
  arb.broadcastPair(small).chain(([sa, sb]) => fc.tuple(integers(sa, lo, hi), integers(sb, lo, hi)));

const RUNS = { numRuns: 40 };
const GPU_RUNS = { numRuns: 15 };
const small = { maxRank: 4, maxDim: 7, maxSize: 96 };

function expectGradcheck(op: RefOp, inputs: RefTensor[], inputsToCheck?: number[]): void {
  const report = gradcheck(op, inputs, { inputs: inputsToCheck });
  expect(report.ok, report.message).toBe(true);
}

/** One input in a random layout with values in [lo, hi] away from `avoid`. */
const input = (shape: number[], lo: number, hi: number, avoid: number[] = [], margin?: number) =>
  arb.layoutOf(shape).chain((layout) =>
    arb.values(size(layout.stored), lo, hi, avoid, margin).map((v) => ({ layout, x: ref(layout.stored, v) })),
  );

interface UnaryCase {
  ref: RefOp;
  gpu: (x: Tensor) => Tensor;
  lo: number;
  hi: number;
  kinks?: number[];
}
const unaryCases: Record<string, UnaryCase> = {
  neg: { ref: R.negRef, gpu: E.neg, lo: -4, hi: 4 },
  exp: { ref: R.expRef, gpu: E.exp, lo: -4, hi: 4 },
  log: { ref: R.logRef, gpu: E.log, lo: 0.05, hi: 4 },
  sqrt: { ref: R.sqrtRef, gpu: E.sqrt, lo: 0.05, hi: 4 },
  abs: { ref: R.absRef, gpu: E.abs, lo: -3, hi: 3, kinks: [0] },
  relu: { ref: R.reluRef, gpu: E.relu, lo: -3, hi: 3, kinks: [0] },
  relu6: { ref: R.relu6Ref, gpu: E.relu6, lo: -2, hi: 8, kinks: [0, 6] },
  sigmoid: { ref: R.sigmoidRef, gpu: E.sigmoid, lo: -8, hi: 8 },
  tanh: { ref: R.tanhRef, gpu: E.tanh, lo: -4, hi: 4 },
  clamp: { ref: R.clampRef(-0.5, 1.25), gpu: (x) => E.clamp(x, -0.5, 1.25), lo: -2, hi: 2, kinks: [-0.5, 1.25] },
  affine: { ref: R.affineRef(1.5, -0.25), gpu: (x) => E.affine(x, 1.5, -0.25), lo: -2, hi: 2 },
  mulScalar: { ref: R.mulScalarRef(-3), gpu: (x) => E.mulScalar(x, -3), lo: -2, hi: 2 },
  addScalar: { ref: R.addScalarRef(0.75), gpu: (x) => E.addScalar(x, 0.75), lo: -2, hi: 2 },
};

describe('unary ops', () => {
  for (const [name, c] of Object.entries(unaryCases)) {
    it(`${name}: reference gradient matches central differences`, () => {
      fc.assert(
        fc.property(arb.shape(small).chain((s) => arb.tensorOf(s, c.lo, c.hi, c.kinks)), (x) => expectGradcheck(c.ref, [x])),
        RUNS,
      );
    });
    it(`${name}: GPU forward and gradient match the reference on strided and expanded inputs`, async () => {
      await fc.assert(
        fc.asyncProperty(arb.shape(small).chain((s) => input(s, c.lo, c.hi, c.kinks)), async ({ layout, x }) => {
          await checkOp({ ref: withLayouts(c.ref, [layout]), inputs: [x], gpu: ([t]) => c.gpu(applyLayout(t, layout)) });
        }),
        GPU_RUNS,
      );
    });
  }
});

interface BinaryCase {
  ref: RefOp;
  gpu: (a: Tensor, b: Tensor) => Tensor;
  a: [number, number];
  b: [number, number];
  /** Values of b kept at least `margin` away from. */
  bAvoid?: number[];
  margin?: number;
  tol?: (a: RefTensor, b: RefTensor) => Tolerance;
  gradTol?: (a: RefTensor, b: RefTensor) => Tolerance;
}
/** Gradient tolerances for ops whose own accuracy is f32Tolerance(): terms of d/da and d/db. */
const sumGradTolerance = (term: (x: number, y: number, input: 0 | 1) => number) => (a: RefTensor, b: RefTensor) =>
  broadcastGradTolerance(f32Tolerance(), a, b, term);
const binaryCases: Record<string, BinaryCase> = {
  add: { ref: R.addRef, gpu: E.add, a: [-3, 3], b: [-3, 3], gradTol: sumGradTolerance(() => 1) },
  sub: { ref: R.subRef, gpu: E.sub, a: [-3, 3], b: [-3, 3], gradTol: sumGradTolerance(() => 1) },
  mul: { ref: R.mulRef, gpu: E.mul, a: [-3, 3], b: [-3, 3], gradTol: sumGradTolerance((x, y, k) => Math.abs(k === 0 ? y : x)) },
  div: {
    ref: R.divRef, gpu: E.div, a: [-3, 3], b: [-3, 3], bAvoid: [0], margin: 0.25,
    gradTol: sumGradTolerance((x, y, k) => (k === 0 ? 1 / Math.abs(y) : Math.abs(x) / (y * y))),
  },
  'pow (positive base)': { ref: R.powRef, gpu: E.pow, a: [0.1, 3], b: [-3, 3], tol: (a, b) => powTolerance(a, b, 3), gradTol: powGradTolerance },
};

/** Two inputs of shapes that broadcast together, each in a random layout. */
function binaryInputs(c: Pick<BinaryCase, 'a' | 'b' | 'bAvoid' | 'margin'>, opts = small) {
  return arb
    .broadcastPair(opts)
    .chain(([sa, sb]) => fc.tuple(input(sa, c.a[0], c.a[1]), input(sb, c.b[0], c.b[1], c.bAvoid, c.margin)));
}

function checkBinary(c: BinaryCase, [a, b]: { layout: Layout; x: RefTensor }[]) {
  const tol = c.tol?.(a.x, b.x);
  return checkOp({
    ref: withLayouts(c.ref, [a.layout, b.layout]),
    inputs: [a.x, b.x],
    gpu: ([ta, tb]) => c.gpu(applyLayout(ta, a.layout), applyLayout(tb, b.layout)),
    tol,
    gradTol: c.gradTol?.({ shape: a.layout.shape, data: a.x.data }, { shape: b.layout.shape, data: b.x.data }) ?? tol,
  });
}

describe('binary ops with broadcasting', () => {
  for (const [name, c] of Object.entries(binaryCases)) {
    it(`${name}: reference gradient matches central differences`, () => {
      fc.assert(
        fc.property(binaryInputs(c), ([a, b]) => expectGradcheck(withLayouts(c.ref, [a.layout, b.layout]), [a.x, b.x])),
        RUNS,
      );
    });
    it(`${name}: GPU matches the reference`, async () => {
      await fc.assert(fc.asyncProperty(binaryInputs(c), (inputs) => checkBinary(c, inputs)), GPU_RUNS);
    });
  }

  // Negative bases need integer exponents; the exponent's gradient is then out * log|a| (not checkable by
  // differences, as a^b is undefined between integers), so gradcheck covers the base only.
  const negativeBase = arb
    .broadcastPair(small)
    .chain(([sa, sb]) => fc.tuple(input(sa, -3, 3, [0], 0.1), integers(sb, -3, 3).map((x) => ({ layout: denseLayout(sb), x }))));
  it('pow (negative base, integer exponent): reference and GPU', async () => {
    fc.assert(
      fc.property(negativeBase, ([a, b]) => expectGradcheck(withLayouts(R.powRef, [a.layout, b.layout]), [a.x, b.x], [0])),
      RUNS,
    );
    await fc.assert(
      fc.asyncProperty(negativeBase, (inputs) =>
        checkBinary(
          { ref: R.powRef, gpu: E.pow, a: [0, 0], b: [0, 0], tol: (a, b) => powTolerance(a, b, 3), gradTol: powGradTolerance },
          inputs,
        ),
      ),
      GPU_RUNS,
    );
  });

  it('pow at zero and negative bases: 0^0 = 1, 0^-1 = inf, (-2)^3 = -8, (-2)^0.5 = NaN, and finite gradients', async () => {
    const a = ref([8], [0, 0, 0, 0, -2, -2, -2, 2]);
    const b = ref([8], [0, 1, 2, 0.5, 3, 2, -1, 0.5]);
    await checkOp({ ref: R.powRef, inputs: [a, b], gpu: ([x, y]) => E.pow(x, y) });
    const special = ref([3], [0, -2, 0]);
    const exps = ref([3], [-1, 0.5, -2]);
    await checkOp({ ref: R.powRef, inputs: [special, exps], gpu: ([x, y]) => E.pow(x, y), grad: [] });
    expect(Array.from(R.powRef.forward([special, exps]).data)).toEqual([Infinity, NaN, Infinity]);
  });

  // max/min: values on a coarse grid so that ties (gradient split in half) are common.
  for (const [name, refOp, gpu] of [
    ['maximum', R.maximumRef, E.maximum],
    ['minimum', R.minimumRef, E.minimum],
  ] as const) {
    it(`${name}: reference gradient away from ties, GPU with ties`, async () => {
      const apart = arb
        .broadcastPair(small)
        .chain(([sa, sb]) => fc.tuple(arb.tensorOf(sa, -3, 3), arb.tensorOf(sb, -3, 3)))
        .filter(([a, b]) => R.subRef.forward([a, b]).data.every((d) => Math.abs(d) > 1e-3));
      fc.assert(fc.property(apart, ([a, b]) => expectGradcheck(refOp, [a, b])), RUNS);
      await fc.assert(
        fc.asyncProperty(integerPair(), ([a, b]) =>
          checkOp({ ref: refOp, inputs: [a, b], gpu: ([x, y]) => gpu(x, y), gradTol: broadcastGradTolerance(f32Tolerance(), a, b, () => 1) }),
        ),
        GPU_RUNS,
      );
    });
  }
});

describe('where and comparisons', () => {
  const triple = arb.shape({ maxRank: 3, maxDim: 5, maxSize: 60 }).chain((s) =>
    fc
      .tuple(fc.constant(s), integers(s, 0, 1), arb.layoutOf(s), arb.layoutOf(s))
      .chain(([shape, mask, la, lb]) => fc.tuple(fc.constant({ shape, mask, la, lb }), arb.tensorOf(la.stored), arb.tensorOf(lb.stored))),
  );
  it('where: gradients reach a and b with their (broadcast) shapes, none reaches cond', async () => {
    const whereIn = (c: { shape: number[]; la: Layout; lb: Layout }) =>
      withLayouts(R.whereRef, [denseLayout(c.shape), c.la, c.lb]);
    fc.assert(fc.property(triple, ([c, a, b]) => expectGradcheck(whereIn(c), [c.mask, a, b], [1, 2])), RUNS);
    await fc.assert(
      fc.asyncProperty(triple, ([c, a, b]) =>
        checkOp({
          ref: whereIn(c),
          inputs: [c.mask, a, b],
          gpu: ([cond, x, y]) => E.where(cond, applyLayout(x, c.la), applyLayout(y, c.lb)),
          grad: [1, 2],
          // An expanded input's gradient sums output-gradient terms (at most 1) over the expanded axes.
          gradTol: broadcastGradTolerance(f32Tolerance(), { shape: c.la.shape, data: a.data }, { shape: c.lb.shape, data: b.data }, () => 1),
        }),
      ),
      GPU_RUNS,
    );
  });

  it('where: cond [3, 1] with a [4] and b [] broadcast to [3, 4]', async () => {
    const cond = ref([3, 1], [1, 0, 1]);
    const inputs = [cond, ref([4], [1, 2, 3, 4]), ref([], [-5])];
    await checkOp({ ref: R.whereRef, inputs, gpu: ([c, a, b]) => E.where(c, a, b), grad: [1, 2] });
  });

  for (const [name, refOp, gpu] of [
    ['greater', R.greaterRef, E.greater],
    ['less', R.lessRef, E.less],
    ['equal', R.equalRef, E.equal],
  ] as const) {
    it(`${name}: 0/1 masks equal the reference (ties included)`, async () => {
      await fc.assert(
        fc.asyncProperty(integerPair(), ([a, b]) => checkOp({ ref: refOp, inputs: [a, b], gpu: ([x, y]) => gpu(x, y), grad: [] })),
        GPU_RUNS,
      );
    });
  }
});

// The vec4/planes layouts of kernels/elementwise.ts: an operand repeating along the leading axes (rows), one
// constant along the trailing axes (planes, a bias [C, 1, 1] against [N, C, H, W]) or a single element
// (splat), on vec4s when sizes and offsets are multiples of 4 and on scalars otherwise; in any input position.
describe('broadcast layouts (rows, planes, splat)', () => {
  const sizes = fc.constantFrom(1, 2, 3, 4, 5, 7, 8, 12);
  const layoutCase = fc
    .record({
      lead: fc.array(sizes, { minLength: 1, maxLength: 2 }),
      core: fc.array(sizes, { minLength: 1, maxLength: 2 }),
      inner: fc.array(sizes, { minLength: 0, maxLength: 2 }),
      ones: fc.integer({ min: 0, max: 2 }),
      splat: fc.boolean(),
      // Offsets of the operand's and a full input's views: multiples of 4 keep the vec4 layouts.
      offset: fc.constantFrom(0, 3, 4, 8),
      fullOffset: fc.constantFrom(0, 0, 1, 4),
      position: fc.constantFrom(0, 1, 2),
      splatOther: fc.boolean(),
    })
    .map((c) => {
      const out = [...c.lead, ...c.core, ...c.inner];
      const operand = c.splat ? Array(c.ones).fill(1) : [...Array(c.ones).fill(1), ...c.core, ...c.inner.map(() => 1)];
      return { ...c, out, operand };
    });

  /** The stored tensor [offset + size] seen from element `offset` on with shape `shape`. */
  const offsetRef = (offset: number, shape: number[]): RefOp => ({
    name: `from${offset}`,
    forward: ([x]) => ref(shape, x.data.slice(offset)),
    backward: ([x], g) => [ref(x.shape, [...Array(offset).fill(0), ...g.data])],
  });
  const offsetView = (t: Tensor, offset: number, shape: number[]) => {
    if (offset === 0) return E.reshape(t, shape);
    const s = E.slice(t, [offset], [t.size]);
    const v = E.reshape(s, shape);
    s.dispose();
    return v;
  };
  /** Values for a flat stored tensor [offset + size(shape)]. */
  const stored = (offset: number, shape: number[]) => arb.values(offset + size(shape), -3, 3).map((v) => ref([v.length], v));
  // A broadcast operand's gradient sums |g| < 1 over size(out) / size(operand) output elements.
  const sumTol = (c: { out: number[] }) => f32Tolerance(size(c.out), 1);

  it('where with the broadcast operand as cond, a or b (and a splat elsewhere) matches the reference', async () => {
    const cases = layoutCase.chain((c) => {
      const shapes = [c.out, c.out, c.out];
      shapes[c.position] = c.operand;
      // A second operand, a single element, in another position (not cond, whose values are 0/1 integers).
      const other = c.position === 2 ? 1 : 2;
      if (c.splatOther) shapes[other] = [1];
      const offsets = shapes.map((_, k) => (k === c.position ? c.offset : k === other ? 0 : c.fullOffset));
      const values = shapes.map((s, k) =>
        k === 0
          ? fc.array(fc.integer({ min: 0, max: 1 }), { minLength: offsets[0] + size(s), maxLength: offsets[0] + size(s) }).map((v) => ref([v.length], v))
          : stored(offsets[k], s),
      );
      return fc.tuple(fc.constant({ c, shapes, offsets }), fc.tuple(...values));
    });
    await fc.assert(
      fc.asyncProperty(cases, async ([{ c, shapes, offsets }, inputs]) => {
        const views = shapes.map((s, k) => offsetRef(offsets[k], s));
        await checkOp({
          ref: R.composeInputs(R.whereRef, views),
          inputs,
          gpu: (ts) => {
            const [c, a, b] = ts.map((t, k) => offsetView(t, offsets[k], shapes[k]));
            const out = E.where(c, a, b);
            for (const t of [c, a, b]) t.dispose();
            return out;
          },
          grad: [1, 2],
          gradTol: sumTol(c),
        });
      }),
      { numRuns: 40 },
    );
  });

  it('sub with the broadcast operand first or second matches the reference, gradients summed back', async () => {
    const cases = layoutCase.chain((c) => fc.tuple(fc.constant(c), stored(c.offset, c.operand), stored(c.fullOffset, c.out), fc.boolean()));
    await fc.assert(
      fc.asyncProperty(cases, async ([c, operand, full, first]) => {
        const [sa, sb] = first ? [c.operand, c.out] : [c.out, c.operand];
        const [oa, ob] = first ? [c.offset, c.fullOffset] : [c.fullOffset, c.offset];
        await checkOp({
          ref: R.composeInputs(R.subRef, [offsetRef(oa, sa), offsetRef(ob, sb)]),
          inputs: first ? [operand, full] : [full, operand],
          gpu: ([x, y]) => {
            const [a, b] = [offsetView(x, oa, sa), offsetView(y, ob, sb)];
            const out = E.sub(a, b);
            a.dispose();
            b.dispose();
            return out;
          },
          gradTol: sumTol(c),
        });
      }),
      { numRuns: 40 },
    );
  });

  it('bias-add shapes take the rows and planes layouts, on vec4s and on scalars, past 2^16 elements', async () => {
    const big = (s: number[]) => ref(s, fc.sample(arb.values(size(s)), { numRuns: 1, seed: 5 })[0]);
    const sumOf = (terms: number) => f32Tolerance(terms, 1);
    const cases: [number[], number[], string][] = [
      [[67, 1024], [1024], 'vec4:-r'], // rows: 67 rows, not a multiple of 4 per invocation
      [[259, 257], [257], 'vec41:-r'], // rows on scalars
      [[3, 8, 56, 56], [1, 8, 1, 1], 'planes:-p'], // planes of 56 * 56
      [[5, 7, 7, 7 * 39], [7, 1, 1], 'planes1:-p'], // planes on scalars (7 * 273 elements)
      [[70001, 4], [1], 'vec4:-s'],
    ];
    for (const [sa, sb, key] of cases) {
      await checkOp({ ref: R.addRef, inputs: [big(sa), big(sb)], gpu: ([a, b]) => E.add(a, b), gradTol: sumOf(size(sa) / size(sb)) });
      expect(E.runtime().pipelines.names().some((n) => n.includes(`map[add:f32,f32->f32,${key}]`)), key).toBe(true);
    }
  });
});

describe('edge values and sizes', () => {
  it('sigmoid and tanh stay finite and saturate for large |x|', async () => {
    const x = ref([8], [-1e30, -200, -90, -20, 20, 90, 200, 1e30]);
    for (const [refOp, gpu] of [[R.sigmoidRef, E.sigmoid], [R.tanhRef, E.tanh]] as const) {
      await checkOp({ ref: refOp, inputs: [ref(x.shape, x.data)], gpu: ([t]) => gpu(t) });
    }
  });

  it('rank-0 and size-1 operands', async () => {
    await checkOp({ ref: R.mulRef, inputs: [ref([], [1.5]), ref([], [-2])], gpu: ([a, b]) => E.mul(a, b) });
    await checkOp({ ref: R.addRef, inputs: [ref([], [0.5]), ref([1, 3, 1], [1, 2, 3])], gpu: ([a, b]) => E.add(a, b) });
    await checkOp({ ref: R.expRef, inputs: [ref([], [0.25])], gpu: ([a]) => E.exp(a) });
  });

  // Just past 2^16 elements: 2-D dispatch grids, and broadcast gradients summed over long axes.
  it('inputs just past 2^16 elements', async () => {
    const big = (s: number[]) => ref(s, fc.sample(arb.values(size(s)), { numRuns: 1, seed: 3 })[0]);
    // The gradient of a broadcast operand sums the output gradient (|g| < 1) over the stretched axes.
    const sumOf = (terms: number) => f32Tolerance(terms, 1);
    await checkOp({ ref: R.addRef, inputs: [big([257, 257]), big([257])], gpu: ([a, b]) => E.add(a, b), gradTol: sumOf(257) });
    await checkOp({ ref: R.expRef, inputs: [big([65537])], gpu: ([a]) => E.exp(a) });
    const layout: Layout = { shape: [2, 32769], stored: [32769, 2], permute: [1, 0] };
    const sigmoidOfView = withLayouts(R.sigmoidRef, [layout]);
    await checkOp({ ref: sigmoidOfView, inputs: [big(layout.stored)], gpu: ([a]) => E.sigmoid(applyLayout(a, layout)) });
    const s = [3, 5, 4373];
    const cond = ref(s, Array.from({ length: size(s) }, (_, i) => ((i * 7919) % 3 === 0 ? 1 : 0)));
    const where = ([c, a, b]: Tensor[]) => E.where(c, a, b);
    await checkOp({ ref: R.whereRef, inputs: [cond, big(s), big([4373])], gpu: where, grad: [1, 2], gradTol: sumOf(15) });
  });

  it('ops reject the wrong dtype with a message naming the op', () => {
    const i = E.fromArray(new Int32Array([1, 2]));
    const f = E.fromArray([1, 2]);
    expect(() => E.exp(i)).toThrow(/exp: expects a float32 tensor, got int32/);
    expect(() => E.add(i, f)).toThrow(/add: expects float32/);
    expect(() => E.where(i, f, f)).toThrow(/where: expects float32/);
    const f3 = E.fromArray([1, 2, 3]);
    expect(() => E.add(f, f3)).toThrow(/add: shapes \[2\] and \[3\] cannot be broadcast/);
    for (const t of [i, f, f3]) t.dispose();
  });
});
