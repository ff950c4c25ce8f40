// mixedOp (FNA++ spec §3.1, §3.3): float64 reference (gradcheck), GPU vs reference for the weighted sum,
// candidate and alpha gradients, and the expected cost.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { mixedOp } from '../engine/ops/mixedop.ts';
import { setTuning } from '../engine/tuning.ts';
import { MIXED_CHUNK, MIXED_MAX_SUBSET, MIXED_SUM_CHUNK, mixedSum } from '../kernels/mixedop.ts';
import { fromArray } from '../engine/ops/creation.ts';
import { backward } from '../engine/autograd.ts';
import { tidy } from '../engine/scope.ts';
import '../engine/ops/arithmetic.ts'; // registers the autograd helpers (ones, add) that backward() uses
import type { Tensor } from '../engine/tensor.ts';
import { arb, checkOp, f32Tolerance, gradcheck, ref, seededValues, type RefTensor } from '../engine/testing/index.ts';
import { expectedCostRef, mixedOpRef, subsetSoftmax } from '../engine/testing/refs/mixedop.ts';

interface MixedCase {
  shape: number[];
  k: number;
  subset: number[];
  temperature: number;
  costs: number[];
  seed: number;
}

const mixedCase = (maxSize = 1500): fc.Arbitrary<MixedCase> =>
  fc
    .record({
      shape: fc.tuple(fc.integer({ min: 1, max: 8 }), arb.dim(7), arb.dim(6), arb.dim(6)),
      k: fc.integer({ min: 1, max: 14 }),
      pick: fc.array(fc.boolean(), { minLength: 14, maxLength: 14 }),
      all: fc.boolean(),
      temperature: fc.constantFrom(1, 0.9, 0.5, 2),
      seed: fc.integer({ min: 1, max: 1e9 }),
    })
    .map(({ k, pick, all, ...c }) => {
      const subset = all ? [...Array(k).keys()] : [...Array(k).keys()].filter((j) => pick[j]);
      // Subset order is the caller's; shuffle it to make sure nothing assumes sorted indices.
      if (c.seed % 2) subset.reverse();
      return { ...c, k, subset, costs: Array.from(seededValues(k, c.seed + 1), (v) => 0.3 + Math.abs(v)) };
    })
    .filter((c) => c.subset.length > 0 && c.shape.reduce((a, b) => a * b, 1) * c.subset.length <= maxSize);

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
const maxAbs = (xs: ArrayLike<number>) => Array.from(xs).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

function inputsFor(c: MixedCase): RefTensor[] {
  const cands = c.subset.map((k) => ref(c.shape, seededValues(size(c.shape), c.seed + 10 + k).map((v) => 2 * v)));
  return [...cands, ref([c.k], seededValues(c.k, c.seed + 2).map((v) => 3 * v))];
}

/** Candidates laid out one per alpha entry, null where not sampled. */
function gpuMixed(c: MixedCase) {
  return (tensors: Tensor[]) => {
    const cands: (Tensor | null)[] = new Array(c.k).fill(null);
    c.subset.forEach((k, j) => (cands[k] = tensors[j]));
    return mixedOp(cands, tensors[tensors.length - 1], { sampled: c.subset, temperature: c.temperature }).out;
  };
}

/**
 * Float32 budget: p carries the rounding of exp at arguments up to max|alpha|/tau, so sums over the subset
 * scale with (1 + max logit); the alpha gradient sums ⟨g, c⟩ over n elements, whose partial sums grow
 * like sqrt(n)·max|c|.
 */
function tolerances(c: MixedCase, inputs: RefTensor[]) {
  const logit = 1 + maxAbs(inputs[inputs.length - 1].data) / c.temperature;
  const cand = Math.max(...inputs.slice(0, -1).map((t) => maxAbs(t.data)));
  const n = size(c.shape);
  return {
    forward: f32Tolerance(c.subset.length, cand * logit),
    candidates: f32Tolerance(1, logit),
    alpha: f32Tolerance(n * c.subset.length, (Math.sqrt(n) * cand * logit) / c.temperature),
    cost: f32Tolerance(c.subset.length, (maxAbs(c.costs) * logit) / c.temperature),
  };
}

async function checkMixed(c: MixedCase): Promise<void> {
  const inputs = inputsFor(c);
  for (const t of inputs) t.data.forEach((v, i) => (t.data[i] = Math.fround(v)));
  const tol = tolerances(c, inputs);
  const refOp = mixedOpRef({ subset: c.subset, temperature: c.temperature });
  const s = c.subset.length;
  await checkOp({ ref: refOp, inputs, gpu: gpuMixed(c), grad: [...Array(s).keys()], tol: tol.forward, gradTol: tol.candidates, seed: c.seed });
  await checkOp({ ref: refOp, inputs, gpu: gpuMixed(c), grad: [s], tol: tol.forward, gradTol: tol.alpha, seed: c.seed });
}

describe('mixedOp reference', () => {
  it('backward matches central differences (candidates and alpha)', () => {
    fc.assert(
      fc.property(mixedCase(200), (c) => {
        const report = gradcheck(mixedOpRef({ subset: c.subset, temperature: c.temperature }), inputsFor(c));
        expect(report.ok, report.message).toBe(true);
        const costRef = expectedCostRef({ subset: c.subset, temperature: c.temperature, costs: c.costs });
        const costReport = gradcheck(costRef, [inputsFor(c).pop()!]);
        expect(costReport.ok, costReport.message).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('softmax over a subset ignores the other alphas', () => {
    const p = subsetSoftmax(Float64Array.from([5, 0, 100, 0]), { subset: [1, 3], temperature: 1 });
    expect(p).toEqual([0.5, 0.5]);
  });
});

/** mixedOp's alpha gradient at 600k elements of positive data against an f64 reference (see its test). */
async function checkAlphaGradSums(): Promise<void> {
  const shape = [2, 24, 112, 112];
  const n = size(shape);
  const k = 7;
  const base = Float32Array.from({ length: n }, (_, i) => 1 + ((i * 37) % 101) / 101);
  const gData = Float32Array.from({ length: n }, (_, i) => 1 + (i % 13) / 13);
  const scaleOf = (j: number) => 1 + j / 4;
  const cands = Array.from({ length: k }, (_, j) => fromArray(base.map((v) => Math.fround(v * scaleOf(j))), shape, { requiresGrad: true }));
  const alphaData = Float32Array.from({ length: k }, (_, j) => 0.1 * j - 0.3);
  const alpha = fromArray(alphaData, [k], { requiresGrad: true });
  const g = fromArray(gData, shape);
  const { out } = mixedOp(cands, alpha, { temperature: 0.9 });
  backward(out, g);
  const got = await alpha.grad!.toArray();
  const p = subsetSoftmax(Float64Array.from(alphaData), { subset: [...Array(k).keys()], temperature: 0.9 });
  const dots = Array.from({ length: k }, (_, j) => {
    let d = 0;
    for (let i = 0; i < n; i++) d += gData[i] * Math.fround(base[i] * scaleOf(j));
    return d;
  });
  const mean = p.reduce((acc, pj, j) => acc + pj * dots[j], 0);
  for (let j = 0; j < k; j++) {
    const want = (p[j] * (dots[j] - mean)) / 0.9;
    expect(Math.abs(got[j] - want), `alpha grad ${j}: ${got[j]} vs ${want}`).toBeLessThan((2e-5 * p[j] * dots[0]) / 0.9);
  }
  for (const t of [...cands, alpha]) t.grad?.dispose();
  for (const t of [...cands, alpha, g, out]) t.dispose();
}

/** Fewer items than invocations, odd counts near a grid step, and the largest subset. */
async function checkGridEdges(): Promise<void> {
  const base = { temperature: 1, costs: [], seed: 21 };
  await checkMixed({ ...base, shape: [1, 1, 1, 3], k: 7, subset: [0, 1, 2, 3, 4, 5, 6] });
  await checkMixed({ ...base, shape: [1, 1, 1, 4], k: 3, subset: [2, 0] });
  await checkMixed({ ...base, shape: [1, 1, 65, 65], k: 3, subset: [0, 1, 2] });
  await checkMixed({ ...base, shape: [1, 1, 4, 4097], k: 3, subset: [1, 2] });
  await checkMixed({ ...base, shape: [1, 2, 3, 5], k: 32, subset: [...Array(32).keys()].reverse() });
}

describe('mixedOp on the GPU', () => {
  it('matches the reference: output, candidate gradients, alpha gradient (subsets, chunks past 6 and 7, tau)', async () => {
    await fc.assert(fc.asyncProperty(mixedCase(), checkMixed), { numRuns: 40 });
  });

  it('matches on edge shapes: one sampled path, 1×1 spatial, one channel, K = 7 (one sum chunk, two gradient chunks)', async () => {
    const base = { temperature: 1, costs: [1, 2, 3, 4, 5, 6, 7], seed: 8 };
    await checkMixed({ ...base, shape: [2, 3, 5, 4], k: 7, subset: [4] });
    await checkMixed({ ...base, shape: [8, 5, 1, 1], k: 7, subset: [0, 1, 2, 3, 4, 5, 6] });
    await checkMixed({ ...base, shape: [1, 1, 7, 3], k: 7, subset: [6, 2, 0] });
  });

  it('expected cost and its alpha gradient match the reference', async () => {
    await fc.assert(
      fc.asyncProperty(mixedCase(200), async (c) => {
        const alpha = inputsFor(c).pop()!;
        await checkOp({
          ref: expectedCostRef({ subset: c.subset, temperature: c.temperature, costs: c.costs }),
          inputs: [alpha],
          gpu: ([a]) => {
            const cands = Array.from({ length: c.k }, (_, k) => (c.subset.includes(k) ? fromArray([1, 2], [2]) : null));
            return mixedOp(cands, a, { sampled: c.subset, temperature: c.temperature, costs: c.costs }).expectedCost!;
          },
          tol: tolerances(c, [alpha]).cost,
          seed: c.seed,
        });
      }),
      { numRuns: 30 },
    );
  });

  it('reads alpha from a row of a larger matrix and gives unsampled candidates no gradient', async () => {
    const k = 4;
    const matrix = fromArray(Float32Array.from({ length: 3 * k }, (_, i) => Math.sin(i)), [3, k]);
    const row = matrix.view([k], [1], 2 * k);
    row.requiresGrad = true;
    const cands = Array.from({ length: k }, (_, j) => fromArray(Float32Array.from({ length: 6 }, (_, i) => i * (j + 1)), [1, 1, 2, 3], { requiresGrad: true }));
    const { out, expectedCost } = mixedOp(cands, row, { sampled: [3, 1], costs: [1, 2, 3, 4] });
    const loss = tidy(() => {
      const o = fromArray(new Float32Array(6).fill(1), [1, 1, 2, 3]);
      backward(out, o);
      backward(expectedCost!);
      return o;
    });
    expect(cands[0].grad).toBeNull();
    expect(cands[2].grad).toBeNull();
    const alphaGrad = await row.grad!.toArray();
    expect(alphaGrad[0]).toBe(0);
    expect(alphaGrad[2]).toBe(0);
    const p = subsetSoftmax(Float64Array.from([8, 9, 10, 11].map(Math.sin)), { subset: [3, 1], temperature: 1 });
    const dots = [3, 1].map((j) => 15 * (j + 1));
    const mean = p[0] * (dots[0] + 4) + p[1] * (dots[1] + 2);
    expect(alphaGrad[3]).toBeCloseTo(p[0] * (dots[0] + 4 - mean), 4);
    expect(alphaGrad[1]).toBeCloseTo(p[1] * (dots[1] + 2 - mean), 4);
    for (const t of [matrix, row, out, expectedCost!, loss, ...cands]) t.dispose();
  });

  // The element-wise kernels run at most 1024 invocations (MIXED_MAX_THREADS) that stride over the tensors,
  // about 64 items each below the cap, and the dots leave one partial per invocation and candidate. These
  // cases exercise many stride iterations per invocation (scalar with an odd count; vec4 with 8 candidates,
  // so the sum's second chunk accumulates and the gradients run two chunks), and fewer items than invocations.
  it('handles 4.2M-element candidates (grid-stride loops, scalar path)', async () => {
    await checkMixed({ shape: [1, 1, 2049, 2049], k: 2, subset: [0, 1], temperature: 1, costs: [1, 1], seed: 4 });
  });

  it('handles candidates past the invocation cap on the vec4 path (~150 vec4s per invocation, two chunks)', async () => {
    await checkMixed({ shape: [2, 24, 112, 112], k: 8, subset: [7, 6, 0, 1, 2, 3, 4, 5], temperature: 0.9, costs: [1, 2, 3, 4, 5, 6, 7, 8], seed: 12 });
  });

  // checkMixed's alpha tolerance, sized for signed random data, is too loose at this size to see one lost
  // partial. With positive data every dot is ~n and the f32 sums (~150 terms per invocation, then 1024
  // partials) land within ~1e-6 of it, so a dropped or double-counted partial (~1/1024 of a dot) shows.
  it('sums every partial of the alpha gradient at 600k elements (positive data, f64 reference)', () => checkAlphaGradSums());

  it('handles fewer items than invocations, odd counts near a grid step, and the largest subset (32: five sum chunks, six gradient chunks)', () => checkGridEdges());

  // mixed_sum binds MIXED_SUM_CHUNK (7) candidates and reads p from its output's storage tail; the
  // gradient kernels bind MIXED_CHUNK (6). Each subset size around a multiple of either, on both paths
  // (12 elements: vec4; 9: f32), hits a different split: one full chunk, a full chunk plus a one-slot
  // chunk that accumulates, several chunks.
  it('matches across chunkings: subsets of 1 to MIXED_MAX_SUBSET around multiples of 6 and 7 (vec4 and f32)', async () => {
    const sizes = new Set([1, 2, MIXED_CHUNK, MIXED_SUM_CHUNK, MIXED_SUM_CHUNK + 1, 2 * MIXED_CHUNK, 2 * MIXED_CHUNK + 1]);
    for (const s of [2 * MIXED_SUM_CHUNK, 2 * MIXED_SUM_CHUNK + 1, 3 * MIXED_SUM_CHUNK + 1, MIXED_MAX_SUBSET]) sizes.add(s);
    for (const s of sizes) {
      for (const shape of [[1, 2, 2, 3], [1, 1, 3, 3]]) {
        // Distinct (3 is coprime to MIXED_MAX_SUBSET = 32), unsorted alpha indices.
        const subset = [...Array(s).keys()].map((j) => (MIXED_MAX_SUBSET - 1 + 3 * MIXED_MAX_SUBSET - 3 * j) % MIXED_MAX_SUBSET);
        await checkMixed({ shape, k: MIXED_MAX_SUBSET, subset, temperature: 0.9, costs: [], seed: 30 + s });
      }
    }
  });

  it('runs a first sum chunk that fills all 7 slots as the full variant (constant slots and trip count), others generic', async () => {
    const get = vi.spyOn(mixedSum, 'get');
    onTestFinished(() => get.mockRestore());
    for (const s of [MIXED_SUM_CHUNK, 2 * MIXED_SUM_CHUNK, MIXED_SUM_CHUNK - 1]) {
      get.mockClear();
      const subset = [...Array(s).keys()];
      await checkMixed({ shape: [2, 3, 8, 8], k: 2 * MIXED_SUM_CHUNK, subset, temperature: 1.1, costs: [], seed: 50 + s });
      // Each forward of the check (it runs more than one) dispatches its chunks in order.
      const full = get.mock.calls.map(([v]) => Boolean(v.full && v.per));
      const perForward = s === MIXED_SUM_CHUNK ? [true] : s === 2 * MIXED_SUM_CHUNK ? [true, false] : [false];
      expect(full.length > 0 && full.length % perForward.length === 0, `${full.length} calls`).toBe(true);
      expect(full, `subset of ${s}`).toEqual(Array.from({ length: full.length / perForward.length }, () => perForward).flat());
    }
  });

  it("keeps p in out's storage past its elements: out reads back, and feeds another mixed op, at its own size", async () => {
    const shape = [1, 2, 2, 3];
    const xs = [0, 1, 2].map((j) => fromArray(Float32Array.from({ length: 12 }, (_, i) => i + 10 * j), shape));
    const alpha = fromArray([0.5, -1, 2], [3]);
    const { out } = mixedOp(xs, alpha);
    expect(out.shape).toEqual(shape);
    expect(out.isDense()).toBe(true);
    const first = await out.toArray();
    expect(first.length).toBe(12);
    // out as the only sampled candidate: softmax over one entry is 1, so the result is out, exactly.
    const again = mixedOp([out, xs[0], xs[1]], alpha, { sampled: [0] }).out;
    expect(await again.toArray()).toEqual(first);
    const p = subsetSoftmax(Float64Array.from([0.5, -1, 2]), { subset: [0, 1, 2], temperature: 1 });
    first.forEach((v, i) => expect(v).toBeCloseTo(p[0] * i + p[1] * (i + 10) + p[2] * (i + 20), 4));
    for (const t of [...xs, alpha, out, again]) t.dispose();
  });

  it('rejects bad arguments with the op, the shapes and what was expected', () => {
    const a = fromArray([0, 0, 0], [3]);
    const x = fromArray(new Float32Array(4), [1, 1, 2, 2]);
    const y = fromArray(new Float32Array(6), [1, 1, 2, 3]);
    expect(() => mixedOp([x, y, x], a)).toThrow(/mixedOp: sampled candidate 1 is \[1, 1, 2, 3\].*expected float32 \[1, 1, 2, 2\]/);
    expect(() => mixedOp([x, x], a)).toThrow(/mixedOp: 2 candidates for alpha \[3\]/);
    expect(() => mixedOp([x, null, x], a)).toThrow(/sampled candidate 1 is null/);
    expect(() => mixedOp([x, x, x], a, { sampled: [0, 0] })).toThrow(/distinct indices/);
    for (const t of [a, x, y]) t.dispose();
  });
});

describe('mixedOp under gpu tuning (4 items an invocation, alpha partials summed by the reduction kernel)', () => {
  beforeAll(() => setTuning('gpu'));
  afterAll(() => setTuning('auto'));

  it('matches the reference: output, candidate gradients, alpha gradient', async () => {
    await fc.assert(fc.asyncProperty(mixedCase(), checkMixed), { numRuns: 20 });
  });

  // [1, 1, 65, 65] and [1, 1, 4, 4097] give more than MIXED_MAX_THREADS partials here; 600k elements ~37k.
  it('handles grid edges and sums every partial of the alpha gradient at 600k elements', async () => {
    await checkGridEdges();
    await checkAlphaGradSums();
  });
});
