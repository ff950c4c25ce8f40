import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backward } from '../engine/autograd.ts';
import { add, mul, sub } from '../engine/ops/arithmetic.ts';
import { fromArray } from '../engine/ops/creation.ts';
import { transpose } from '../engine/ops/movement.ts';
import { sum } from '../engine/ops/reduce.ts';
import { memory, runtime, sync } from '../engine/runtime.ts';
import { tidy } from '../engine/scope.ts';
import type { Tensor } from '../engine/tensor.ts';
import {
  Adam,
  AdamW,
  clipGradNorm,
  constantLr,
  cosineLr,
  linearWarmup,
  polyLr,
  RMSprop,
  SGD,
  stepLr,
  type Optimizer,
} from '../engine/optim/index.ts';
import { assertClose, F32_EPS } from '../engine/testing/allclose.ts';
import { seededValues } from '../engine/testing/reference.ts';
import {
  newRefState,
  refAdamStep,
  refClipGradNorm,
  refRmspropStep,
  refSgdStep,
  type RefOptimState,
} from '../engine/testing/refs/optim.ts';

type AnyOptimizer = Optimizer<any>;

/** Gradients change scale between steps, so second moments also shrink (AMSGrad's max matters). */
const STEP_SCALES = [1, 0.1, 2, 0.05, 1, 0.5];

const f32Values = (n: number, seed: number, scale = 1) => Float32Array.from(seededValues(n, seed), (x) => x * scale);

function maxAbs(xs: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < xs.length; i++) m = Math.max(m, Math.abs(xs[i]));
  return m;
}

/**
 * float32 tolerance for a value after `steps` fused updates. Values come from sums whose terms may cancel
 * (p - lr * update near 0), so the absolute part scales with `scale`: the largest magnitude the quantity
 * took along the way (default: the largest in the expected array).
 */
function expectClose(actual: ArrayLike<number>, expected: Float64Array, steps: number, what: string, scale = maxAbs(expected)): void {
  const k = 16 * steps * F32_EPS;
  assertClose(actual, expected, { rtol: k, atol: k * scale }, what);
}

interface Case {
  sizes: number[];
  steps: number;
  seed: number;
  /** present[s * sizes.length + k]: parameter k has a gradient at step s. */
  present: boolean[];
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  sizes: fc.array(fc.oneof(fc.integer({ min: 1, max: 300 }), fc.constantFrom(1, 255, 256, 257)), { minLength: 2, maxLength: 3 }),
  steps: fc.integer({ min: 1, max: 5 }),
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
  // Each (step, parameter) has a gradient 4 times in 5; parameters without one are skipped.
  present: fc.array(fc.integer({ min: 0, max: 4 }).map((x) => x > 0), { minLength: 15, maxLength: 15 }),
});

/**
 * Runs `steps` steps on the GPU and with the float64 rule; parameter k is in group k % 2. Compares every
 * parameter and state buffer, and checks that nothing leaks.
 */
async function checkAgainstReference(
  c: Case,
  build: (groups: [Tensor[], Tensor[]]) => AnyOptimizer,
  refStep: (p: Float64Array, g: Float64Array, state: RefOptimState, group: number) => void,
): Promise<void> {
  const live = memory().live;
  const init = c.sizes.map((n, k) => f32Values(n, c.seed + k));
  const params = init.map((v) => fromArray(v, [v.length], { requiresGrad: true }));
  const refs = init.map((v) => Float64Array.from(v));
  const states = init.map(() => newRefState());
  const peaks = init.map((v) => new Map([['param', maxAbs(v)]]));
  const notePeaks = (k: number) => {
    for (const [name, xs] of [['param', refs[k]], ...Object.entries(states[k].buffers)] as [string, Float64Array][]) {
      peaks[k].set(name, Math.max(peaks[k].get(name) ?? 0, maxAbs(xs)));
    }
  };
  const opt = build([params.filter((_, k) => k % 2 === 0), params.filter((_, k) => k % 2 === 1)]);
  for (let s = 0; s < c.steps; s++) {
    params.forEach((p, k) => {
      if (!c.present[s * c.sizes.length + k]) return;
      const g = f32Values(p.size, c.seed * 7919 + s * 31 + k, STEP_SCALES[s]);
      p.grad = fromArray(g);
      refStep(refs[k], Float64Array.from(g), states[k], k % 2);
      notePeaks(k);
    });
    opt.step();
    opt.zeroGrad();
  }
  for (const [k, p] of params.entries()) {
    const where = `param ${k} (${p.size} elements, ${states[k].step} steps)`;
    expectClose(await p.toArray(), refs[k], c.steps, where, peaks[k].get('param'));
    const gpuState = opt.stateOf(p);
    expect(gpuState?.step ?? 0).toBe(states[k].step);
    expect(Object.keys(gpuState?.buffers ?? {}).sort()).toEqual(Object.keys(states[k].buffers).sort());
    for (const [name, expected] of Object.entries(states[k].buffers)) {
      expectClose(await gpuState!.buffers[name].toArray(), expected, c.steps, `${where} ${name}`, peaks[k].get(name));
    }
  }
  opt.dispose();
  for (const p of params) p.dispose();
  await sync();
  expect(memory().live).toBe(live);
}

describe('optimizers match their float64 references', () => {
  it('SGD: momentum, dampening, Nesterov, weight decay, two groups', async () => {
    const options = fc
      .record({
        lr: fc.constantFrom(0.1, 0.01),
        momentum: fc.constantFrom(0, 0.9),
        dampening: fc.constantFrom(0, 0.5),
        nesterov: fc.boolean(),
        weightDecay: fc.constantFrom(0, 5e-4, 1e-2),
      })
      .map((o) => (o.nesterov ? { ...o, momentum: 0.9, dampening: 0 } : o));
    await fc.assert(
      fc.asyncProperty(options, caseArb, async (o, c) => {
        const groupOptions = [o, { ...o, lr: o.lr * 10, weightDecay: 0 }];
        await checkAgainstReference(
          c,
          ([a, b]) => new SGD([{ params: a }, { params: b, lr: o.lr * 10, weightDecay: 0 }], o),
          (p, g, state, group) => refSgdStep(p, g, state, groupOptions[group]),
        );
      }),
      { numRuns: 30 },
    );
  });

  it('SGD updates parameters two a dispatch where their layouts agree, and matches the reference', async () => {
    const pairCase = fc.record({
      // vec4 (multiples of 4) and scalar sizes mixed, so pairs form out of order and leftovers go alone.
      sizes: fc.array(fc.oneof(fc.integer({ min: 1, max: 300 }), fc.constantFrom(4, 256, 1024)), { minLength: 4, maxLength: 9 }),
      steps: fc.integer({ min: 1, max: 3 }),
      seed: fc.integer({ min: 1, max: 2 ** 30 }),
      present: fc.array(fc.integer({ min: 0, max: 4 }).map((x) => x > 0), { minLength: 27, maxLength: 27 }),
    });
    const o = { lr: 0.05, momentum: 0.9, dampening: 0, nesterov: true, weightDecay: 1e-3 };
    await fc.assert(
      fc.asyncProperty(pairCase, async (c) => {
        await checkAgainstReference(c, ([a, b]) => new SGD([{ params: [...a, ...b] }], o), (p, g, state) => refSgdStep(p, g, state, o));
      }),
      { numRuns: 20 },
    );
    // 3 vec4 parameters (a pair and one alone) and 2 scalar ones (a pair): 3 dispatches instead of 5.
    const params = [8, 5, 12, 7, 16].map((n, k) => fromArray(f32Values(n, k + 1), [n], { requiresGrad: true }));
    const opt = new SGD(params, o);
    for (const p of params) p.grad = fromArray(f32Values(p.size, 9));
    await sync();
    const before = runtime().queue.stats.dispatches;
    opt.step();
    expect(runtime().queue.stats.dispatches - before).toBe(3);
    opt.zeroGrad();
    opt.dispose();
    for (const p of params) p.dispose();
  });

  it('SGD never pairs parameters that are views of one buffer (a buffer bound writable twice)', async () => {
    const flat = fromArray(f32Values(16, 3));
    const views = [flat.view([8], [1], 0), flat.view([8], [1], 8)];
    for (const v of views) v.requiresGrad = true;
    const expected = views.map(() => new Float64Array(0));
    const init = await flat.toArray();
    const o = { lr: 0.1, momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 0 };
    const opt = new SGD(views, o);
    views.forEach((v, k) => {
      const g = f32Values(8, 20 + k);
      v.grad = fromArray(g);
      const p = Float64Array.from(init.slice(8 * k, 8 * k + 8));
      refSgdStep(p, Float64Array.from(g), newRefState(), o);
      expected[k] = p;
    });
    opt.step();
    const after = await flat.toArray();
    views.forEach((_, k) => expectClose(after.slice(8 * k, 8 * k + 8), expected[k], 1, `view ${k}`));
    opt.zeroGrad();
    opt.dispose();
    for (const t of [...views, flat]) t.dispose();
  });

  it('Adam and AdamW: betas, eps, weight decay, AMSGrad, two groups', async () => {
    const options = fc.record({
      lr: fc.constantFrom(1e-3, 3e-4, 0.1),
      betas: fc.constantFrom<[number, number]>([0.9, 0.999], [0.5, 0.999], [0.8, 0.99]),
      eps: fc.constantFrom(1e-8, 1e-3),
      weightDecay: fc.constantFrom(0, 1e-3, 1e-2),
      amsgrad: fc.boolean(),
      decoupled: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(options, caseArb, async ({ decoupled, ...o }, c) => {
        const groupOptions = [o, { ...o, lr: o.lr * 10, weightDecay: 0 }];
        const Kind = decoupled ? AdamW : Adam;
        await checkAgainstReference(
          c,
          ([a, b]) => new Kind([{ params: a }, { params: b, lr: o.lr * 10, weightDecay: 0 }], o),
          (p, g, state, group) => refAdamStep(p, g, state, { ...groupOptions[group], decoupled }),
        );
      }),
      { numRuns: 30 },
    );
  });

  it('RMSprop: alpha, eps inside/outside scale, momentum, centered, weight decay, two groups', async () => {
    const options = fc.record({
      lr: fc.constantFrom(0.01, 0.05),
      alpha: fc.constantFrom(0.99, 0.9),
      eps: fc.constantFrom(1e-8, 1.0),
      weightDecay: fc.constantFrom(0, 4e-5, 1e-2),
      momentum: fc.constantFrom(0, 0.9),
      centered: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(options, caseArb, async (o, c) => {
        const groupOptions = [o, { ...o, lr: o.lr * 10, weightDecay: 0 }];
        await checkAgainstReference(
          c,
          ([a, b]) => new RMSprop([{ params: a }, { params: b, lr: o.lr * 10, weightDecay: 0 }], o),
          (p, g, state, group) => refRmspropStep(p, g, state, groupOptions[group]),
        );
      }),
      { numRuns: 30 },
    );
  });

  it('a parameter past 2^16 elements (FNA arch recipe: Adam 3e-4, betas 0.5/0.999, wd 1e-3)', async () => {
    const o = { lr: 3e-4, betas: [0.5, 0.999] as [number, number], eps: 1e-8, weightDecay: 1e-3, amsgrad: false };
    const c: Case = { sizes: [65537, 3], steps: 2, seed: 99, present: Array(15).fill(true) };
    await checkAgainstReference(
      c,
      ([a, b]) => new Adam([{ params: a }, { params: b, lr: o.lr * 10, weightDecay: 0 }], o),
      (p, g, state, group) => refAdamStep(p, g, state, { ...o, ...(group ? { lr: o.lr * 10, weightDecay: 0 } : {}), decoupled: false }),
    );
  });

  it('takes parameters and gradients at an offset of their storage, and strided gradients', async () => {
    const base = fromArray(f32Values(20, 5), [20]);
    const p = base.view([3, 4], [4, 1], 6);
    p.requiresGrad = true;
    const gT = fromArray(f32Values(12, 6), [4, 3]);
    const expectedP = Float64Array.from(await p.toArray());
    const gView = transpose(gT);
    const gValues = Float64Array.from(await gView.toArray());
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9, weightDecay: 1e-2 });
    p.grad = gView;
    expect(p.grad.isContiguous()).toBe(false);
    opt.step();
    refSgdStep(expectedP, gValues, newRefState(), { lr: 0.1, momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 1e-2 });
    expectClose(await p.toArray(), expectedP, 1, 'offset parameter');
    const all = await base.toArray();
    expect([...all.slice(0, 6), ...all.slice(18)]).toEqual([...f32Values(20, 5).slice(0, 6), ...f32Values(20, 5).slice(18)]);
    opt.zeroGrad();
    opt.dispose();
    for (const t of [p, base, gT]) t.dispose();
  });

  it('validates options and parameters with messages that name the problem', () => {
    const p = fromArray([1, 2, 3], [3], { requiresGrad: true });
    expect(() => new SGD([p], { momentum: 0, nesterov: true })).toThrow(/Nesterov momentum needs momentum > 0/);
    expect(() => new SGD([p], { lr: -1 })).toThrow(/lr must be a finite number >= 0/);
    expect(() => new Adam([p], { betas: [1, 0.999] })).toThrow(/betas must lie in \[0, 1\)/);
    expect(() => new RMSprop([p, p])).toThrow(/appears in more than one place/);
    const q = add(p, p);
    expect(() => new SGD([q])).toThrow(/not a leaf tensor/);
    expect(() => clipGradNorm([p], 1, 0)).toThrow(/normType must be a positive number or Infinity/);
    for (const t of [p, q]) t.dispose();
  });
});

describe('clipGradNorm', () => {
  it('matches clip_grad_norm_ for 2-, 1-, 3- and inf-norms, clipping or not', async () => {
    const sizes = fc.array(fc.oneof(fc.integer({ min: 0, max: 300 }), fc.constantFrom(4096, 4097, 9000)), { minLength: 1, maxLength: 4 });
    await fc.assert(
      fc.asyncProperty(sizes, fc.constantFrom(2, 1, 3, Infinity), fc.constantFrom(0.5, 2), fc.integer({ min: 1, max: 2 ** 30 }), async (ns, normType, ratio, seed) => {
        const live = memory().live;
        const grads = ns.map((n, k) => f32Values(n, seed + k, 3));
        const params = ns.map((n) => fromArray(new Float32Array(n), [n], { requiresGrad: true }));
        params.forEach((p, k) => (p.grad = fromArray(grads[k], [ns[k]])));
        const expected = grads.map((g) => Float64Array.from(g));
        const trueNorm = refClipGradNorm(expected.map((g) => g.slice()), Infinity, normType);
        const maxNorm = Math.fround(trueNorm * ratio);
        const expectedNorm = refClipGradNorm(expected, maxNorm, normType);
        const norm = clipGradNorm(params, maxNorm, normType);
        // General p goes through WGSL pow, whose accuracy is inherited from exp2(p * log2(x)): a few ulps more.
        const normTol = (normType === 3 ? 32 : 8) * F32_EPS;
        assertClose([await norm.item()], [expectedNorm], { rtol: normTol, atol: 0 }, 'norm');
        for (const [k, p] of params.entries()) expectClose(await p.grad!.toArray(), expected[k], 1, `grad ${k}`);
        norm.dispose();
        for (const p of params) p.dispose();
        await sync();
        expect(memory().live).toBe(live);
      }),
      { numRuns: 40 },
    );
  });

  it('scales gradients that autograd made share a storage exactly once', async () => {
    const a = fromArray(f32Values(5, 1), [5], { requiresGrad: true });
    const b = fromArray(f32Values(5, 2), [5], { requiresGrad: true });
    const loss = tidy(() => sum(add(a, b)));
    backward(loss);
    expect(a.grad!.storage).toBe(b.grad!.storage);
    const norm = clipGradNorm([a, b], 1);
    expect(await norm.item()).toBeCloseTo(Math.sqrt(10), 5);
    for (const p of [a, b]) for (const x of await p.grad!.toArray()) expect(x).toBeCloseTo(1 / (Math.sqrt(10) + 1e-6), 6);
    for (const t of [a, b, loss, norm]) t.dispose();
  });

  it('returns 0 and touches nothing when no parameter has a gradient', async () => {
    const p = fromArray([3, 4], [2], { requiresGrad: true });
    const norm = clipGradNorm([p], 1);
    expect(await norm.item()).toBe(0);
    expect(p.grad).toBeNull();
    for (const t of [p, norm]) t.dispose();
  });
});

describe('learning-rate schedules', () => {
  it('step, poly (FNA PolyLR), cosine and mmcv linear warm-up give the hand-computed values', () => {
    const step = stepLr({ milestones: [8, 11], gamma: 0.1 });
    expect([0, 7, 8, 10, 11, 20].map((s) => step.lr(s, 0.02))).toEqual([0.02, 0.02, 0.02 * 0.1, 0.02 * 0.1, 0.02 * 0.1 ** 2, 0.02 * 0.1 ** 2]);

    const poly = polyLr({ total: 100, power: 0.9, warmup: 10, warmupFrom: 1e-4 });
    expect(poly.lr(0, 0.01)).toBeCloseTo(1e-4, 15);
    expect(poly.lr(5, 0.01)).toBeCloseTo(0.00505, 15);
    expect(poly.lr(10, 0.01)).toBeCloseTo(0.01, 15);
    expect(poly.lr(55, 0.01)).toBeCloseTo(0.01 * 0.5 ** 0.9, 15);
    expect(poly.lr(100, 0.01)).toBe(0);
    expect(poly.lr(150, 0.01)).toBe(0);
    expect(polyLr({ total: 10, power: 1, floor: 1e-3 }).lr(5, 0.021)).toBeCloseTo(0.011, 15);

    const cosine = cosineLr({ total: 10, floor: 1e-3 });
    expect([0, 5, 10, 30].map((s) => cosine.lr(s, 0.02))).toEqual([0.02, 0.0105, 1e-3, 1e-3].map((x) => expect.closeTo(x, 15)));
    expect(cosineLr({ total: 4, floorRatio: 0.1 }).lr(2, 0.1)).toBeCloseTo(0.055, 15);

    const warm = linearWarmup(stepLr({ milestones: [1000] }), { iters: 500, ratio: 1 / 3 });
    expect(warm.lr(0, 0.02)).toBeCloseTo(0.02 / 3, 15);
    expect(warm.lr(250, 0.02)).toBeCloseTo((0.02 * 2) / 3, 15);
    expect(warm.lr(500, 0.02)).toBe(0.02);
    expect(warm.lr(1000, 0.02)).toBeCloseTo(0.002, 15);
    expect(constantLr().lr(123, 0.3)).toBe(0.3);
  });

  it('apply() sets each group from its own initial lr (a 10x decoder group stays 10x)', () => {
    const backbone = fromArray([1], [1], { requiresGrad: true });
    const decoder = fromArray([1], [1], { requiresGrad: true });
    const opt = new SGD([{ params: [backbone] }, { params: [decoder], lr: 0.1, weightDecay: 0 }], { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
    const poly = polyLr({ total: 100, warmup: 10, warmupFromRatio: 0.01 });
    poly.apply(opt, 0);
    expect(opt.groups.map((g) => g.lr)).toEqual([1e-4, 1e-3].map((x) => expect.closeTo(x, 15)));
    poly.apply(opt, 55);
    expect(opt.groups[1].lr / opt.groups[0].lr).toBeCloseTo(10, 12);
    expect(opt.groups.map((g) => g.initialLr)).toEqual([0.01, 0.1]);
    expect(opt.groups.map((g) => g.weightDecay)).toEqual([5e-4, 0]);
    opt.dispose();
    for (const t of [backbone, decoder]) t.dispose();
  });

  it('rejects schedules that cannot run', () => {
    expect(() => polyLr({ total: 0 })).toThrow(/total must be a positive integer/);
    expect(() => polyLr({ total: 10, warmup: 10 })).toThrow(/warmup must be an integer in \[0, total\)/);
    expect(() => linearWarmup(constantLr(), { iters: 0 })).toThrow(/iters must be a positive integer/);
  });
});

const recipes: [string, (p: Tensor[]) => AnyOptimizer][] = [
  ['SGD (momentum, Nesterov, wd)', (p) => new SGD(p, { lr: 0.02, momentum: 0.9, nesterov: true, weightDecay: 1e-4 })],
  ['Adam (amsgrad, wd)', (p) => new Adam(p, { lr: 0.05, amsgrad: true, weightDecay: 1e-3 })],
  ['AdamW', (p) => new AdamW(p, { lr: 0.05 })],
  ['RMSprop (centered, momentum)', (p) => new RMSprop(p, { lr: 0.01, momentum: 0.9, centered: true, weightDecay: 1e-4 })],
];

describe('state dict and training', () => {
  it.each(recipes)('%s: stateDict / loadStateDict resumes bit-identically', async (_name, make) => {
    const live = memory().live;
    const sizes = [7, 130];
    const a = sizes.map((n, k) => fromArray(f32Values(n, 10 + k), [n], { requiresGrad: true }));
    const optA = make(a);
    const stepWith = (opt: AnyOptimizer, params: Tensor[], s: number) => {
      params.forEach((p, k) => (p.grad = fromArray(f32Values(p.size, 100 * s + k, STEP_SCALES[s % 6]))));
      opt.step();
      opt.zeroGrad();
    };
    for (let s = 0; s < 3; s++) stepWith(optA, a, s);
    optA.groups[0].lr *= 0.5;
    const saved = structuredClone(await optA.stateDict());
    const b = await Promise.all(a.map(async (p) => fromArray(await p.toArray(), p.shape, { requiresGrad: true })));
    const optB = make(b);
    optB.loadStateDict(saved);
    expect(optB.groups[0].lr).toBe(optA.groups[0].lr);
    for (let s = 3; s < 5; s++) {
      stepWith(optA, a, s);
      stepWith(optB, b, s);
    }
    for (let k = 0; k < a.length; k++) {
      expect(Buffer.from((await b[k].toArray()).buffer)).toEqual(Buffer.from((await a[k].toArray()).buffer));
      for (const [name, t] of Object.entries(optA.stateOf(a[k])!.buffers)) {
        expect(await optB.stateOf(b[k])!.buffers[name].toArray()).toEqual(await t.toArray());
      }
    }
    const otherKind = optA.kind === 'SGD' ? new Adam(b) : new SGD(b);
    expect(() => otherKind.loadStateDict(saved as never)).toThrow(/state dict is from/);
    for (const o of [optA, optB]) o.dispose();
    for (const t of [...a, ...b]) t.dispose();
    await sync();
    expect(memory().live).toBe(live);
  });

  it.each([
    ...recipes,
    ['RMSprop, FNA++ SSDLite recipe (eps 1, momentum 0.9, wd 4e-5)', (p: Tensor[]) => new RMSprop(p, { lr: 0.05, eps: 1.0, momentum: 0.9, weightDecay: 4e-5 })],
  ] as [string, (p: Tensor[]) => AnyOptimizer][])('%s minimises a quadratic with clipping, without leaking', async (_name, make) => {
    const n = 64;
    const x = fromArray(f32Values(n, 3, 2), [n], { requiresGrad: true });
    const target = fromArray(f32Values(n, 4), [n]);
    const curvature = fromArray(Float32Array.from({ length: n }, (_, i) => 0.5 + (i % 4)), [n]);
    const opt = make([x]);
    const losses: number[] = [];
    let liveAfterFirst = 0;
    for (let s = 0; s < 60; s++) {
      const loss = tidy(() => {
        const d = sub(x, target);
        const l = sum(mul(curvature, mul(d, d)));
        backward(l);
        return l;
      });
      const norm = clipGradNorm([x], 35);
      tidy(() => opt.step()); // state must outlive the scope
      opt.zeroGrad();
      if (s % 10 === 0 || s === 59) losses.push(await loss.item());
      for (const t of [loss, norm]) t.dispose();
      if (s === 0) liveAfterFirst = memory().live;
    }
    expect(memory().live).toBe(liveAfterFirst);
    expect(losses[losses.length - 1]).toBeLessThan(0.05 * losses[0]);
    opt.dispose();
    for (const t of [x, target, curvature]) t.dispose();
  });
});
