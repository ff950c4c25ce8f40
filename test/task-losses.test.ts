// Task losses: float64 references (gradcheck), GPU vs reference for the loss and its gradients.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { heatmapMseLoss, sigmoidFocalLoss, smoothL1Loss, type TaskLossReduction } from '../engine/ops/task-losses.ts';
import { fromArray } from '../engine/ops/creation.ts';
import { arb, checkOp, f32Tolerance, gradcheck, ref, seededValues, type RefTensor } from '../engine/testing/index.ts';
import { heatmapMseLossRef, jointsMseLossLiteral, sigmoidFocalLossRef, smoothL1LossRef } from '../engine/testing/refs/task-losses.ts';

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
const maxAbs = (xs: ArrayLike<number>) => Array.from(xs).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const shape4 = fc.tuple(fc.integer({ min: 1, max: 8 }), arb.dim(7), arb.dim(9), arb.dim(9)).filter((s) => size(s) <= 2000);
const reduction = fc.constantFrom<TaskLossReduction>('none', 'mean', 'sum');
const seed = fc.integer({ min: 1, max: 1e9 });

interface FocalCase {
  shape: number[];
  alpha: number;
  gamma: number;
  reduction: TaskLossReduction;
  soft: boolean;
  seed: number;
}
const focalCase = fc.record({
  shape: shape4,
  alpha: fc.constantFrom(0.25, 0.5, -1),
  gamma: fc.constantFrom(2, 1, 0, 1.5, 3),
  reduction,
  soft: fc.boolean(),
  seed,
});

function focalInputs(c: FocalCase): RefTensor[] {
  const n = size(c.shape);
  const logits = ref(c.shape, seededValues(n, c.seed).map((v) => 8 * v));
  const targets = ref(c.shape, seededValues(n, c.seed + 1).map((v) => (c.soft ? (v + 1) / 2 : v > 0.6 ? 1 : 0)));
  return [logits, targets];
}

/**
 * f32 budget: ce = max(x, 0) - x·t carries eps·|x|; m^gamma = exp2(gamma·log2 m) magnifies the rounding
 * of its argument, about gamma·|x|/ln 2 for m ≈ e^-|x|. Reductions add `n` terms.
 */
function focalTolerances(c: FocalCase, inputs: RefTensor[]) {
  const x = maxAbs(inputs[0].data);
  const scale = (1 + x) * (1 + c.gamma * x * 1.5);
  const terms = c.reduction === 'none' ? 1 : size(c.shape);
  return { forward: f32Tolerance(terms, c.reduction === 'sum' ? scale * Math.sqrt(terms) : scale), grad: f32Tolerance(1, scale) };
}

interface SmoothCase {
  shape: number[];
  beta: number;
  reduction: TaskLossReduction;
  seed: number;
}
const smoothCase = fc.record({ shape: shape4, beta: fc.constantFrom(0.11, 1, 0.5, 0), reduction, seed });

function smoothInputs(c: SmoothCase): RefTensor[] {
  const n = size(c.shape);
  const a = ref(c.shape, seededValues(n, c.seed).map((v) => 2 * v));
  // Keep |a - b| off 0 when beta = 0, where L1's derivative jumps.
  const b = ref(c.shape, seededValues(n, c.seed + 1).map((v, i) => {
    const d = v * 1.5;
    return a.data[i] - (c.beta === 0 && Math.abs(d) < 1e-2 ? 0.5 : d);
  }));
  return [a, b];
}

interface HeatmapCase {
  shape: number[];
  seed: number;
}

function heatmapInputs(c: HeatmapCase): RefTensor[] {
  const n = size(c.shape);
  const [b, k] = c.shape;
  return [
    ref(c.shape, seededValues(n, c.seed)),
    ref(c.shape, seededValues(n, c.seed + 1).map((v) => Math.abs(v))),
    ref([b, k], seededValues(b * k, c.seed + 2).map((v) => (v > -0.3 ? 1 : 0) * (1 + v / 2))),
  ];
}

describe('task loss references', () => {
  it('backward matches central differences', () => {
    fc.assert(
      fc.property(focalCase.filter((c) => size(c.shape) <= 300), smoothCase.filter((c) => size(c.shape) <= 300), seed, (f, s, h) => {
        for (const [op, inputs] of [
          [sigmoidFocalLossRef(f), focalInputs(f)],
          [smoothL1LossRef(s), smoothInputs(s)],
          [heatmapMseLossRef, heatmapInputs({ shape: f.shape, seed: h })],
        ] as const) {
          const report = gradcheck(op, inputs, { inputs: [0, 1] });
          expect(report.ok, report.message).toBe(true);
        }
      }),
      { numRuns: 50 },
    );
  });

  it('heatmap MSE normalises as JointsMSELoss: per joint 0.5·mean over N·H·W of squared weighted errors, averaged over joints', () => {
    for (const shape of [[2, 3, 4, 5], [1, 17, 8, 6], [3, 1, 1, 1]]) {
      const inputs = heatmapInputs({ shape, seed: 3 });
      expect(heatmapMseLossRef.forward(inputs).data[0]).toBeCloseTo(jointsMseLossLiteral(inputs[0], inputs[1], inputs[2]), 12);
    }
  });

  it('focal loss at gamma 0 and alpha -1 is binary cross-entropy with logits', () => {
    const [x, t] = focalInputs({ shape: [1, 1, 3, 7], alpha: -1, gamma: 0, reduction: 'none', soft: true, seed: 2 });
    const out = sigmoidFocalLossRef({ alpha: -1, gamma: 0, reduction: 'none' }).forward([x, t]).data;
    out.forEach((v, i) => {
      const p = 1 / (1 + Math.exp(-x.data[i]));
      expect(v).toBeCloseTo(-(t.data[i] * Math.log(p) + (1 - t.data[i]) * Math.log(1 - p)), 10);
    });
  });
});

describe('task losses on the GPU', () => {
  it('sigmoidFocalLoss matches the reference (alpha, gamma, soft targets, reductions)', async () => {
    await fc.assert(
      fc.asyncProperty(focalCase, async (c) => {
        const inputs = focalInputs(c);
        const tol = focalTolerances(c, inputs);
        const opts = { alpha: c.alpha, gamma: c.gamma, reduction: c.reduction };
        await checkOp({ ref: sigmoidFocalLossRef(opts), inputs, gpu: ([x, t]) => sigmoidFocalLoss(x, t, opts), grad: [0], tol: tol.forward, gradTol: tol.grad, seed: c.seed });
      }),
      { numRuns: 40 },
    );
  });

  it('sigmoidFocalLoss stays finite and accurate for large |logits|', async () => {
    const x = ref([1, 1, 2, 4], [-90, -30, -17, -9, 9, 17, 30, 90]);
    const t = ref([1, 1, 2, 4], [0, 1, 0, 1, 0, 1, 1, 0]);
    const opts = { alpha: 0.25, gamma: 2, reduction: 'none' as const };
    const tol = focalTolerances({ shape: [1, 1, 2, 4], ...opts, soft: false, seed: 1 }, [x, t]);
    await checkOp({ ref: sigmoidFocalLossRef(opts), inputs: [x, t], gpu: ([a, b]) => sigmoidFocalLoss(a, b, opts), grad: [0], tol: tol.forward, gradTol: tol.grad });
  });

  it('smoothL1Loss matches the reference (beta incl. 0, reductions)', async () => {
    await fc.assert(
      fc.asyncProperty(smoothCase, async (c) => {
        const inputs = smoothInputs(c);
        const terms = c.reduction === 'none' ? 1 : size(c.shape);
        const scale = 4 + 4 / Math.max(c.beta, 1);
        await checkOp({
          ref: smoothL1LossRef(c),
          inputs,
          gpu: ([a, b]) => smoothL1Loss(a, b, { beta: c.beta, reduction: c.reduction }),
          tol: f32Tolerance(terms, c.reduction === 'sum' ? scale * Math.sqrt(terms) : scale),
          gradTol: f32Tolerance(1, 1 / Math.max(c.beta, 0.1)),
          seed: c.seed,
        });
      }),
      { numRuns: 40 },
    );
  });

  it('heatmapMseLoss matches the reference, with and without weights', async () => {
    await fc.assert(
      fc.asyncProperty(shape4, seed, fc.boolean(), async (shape, s, weighted) => {
        const inputs = heatmapInputs({ shape, seed: s });
        if (!weighted) inputs[2].data.fill(1);
        await checkOp({
          ref: heatmapMseLossRef,
          inputs,
          gpu: ([p, t, w]) => (weighted ? heatmapMseLoss(p, t, w) : heatmapMseLoss(p, t)),
          grad: [0, 1],
          tol: f32Tolerance(size(shape), 4),
          gradTol: f32Tolerance(1, 4),
          seed: s,
        });
      }),
      { numRuns: 30 },
    );
  });

  it('runs past 65535 workgroups', async () => {
    const focal: FocalCase = { shape: [1, 1, 2049, 2049], alpha: 0.25, gamma: 2, reduction: 'none', soft: false, seed: 6 };
    const inputs = focalInputs(focal);
    const tol = focalTolerances(focal, inputs);
    await checkOp({ ref: sigmoidFocalLossRef(focal), inputs, gpu: ([x, t]) => sigmoidFocalLoss(x, t, focal), grad: [0], tol: tol.forward, gradTol: tol.grad });
    const smooth: SmoothCase = { shape: [1, 1, 2049, 2049], beta: 0.11, reduction: 'mean', seed: 7 };
    const terms = size(smooth.shape);
    await checkOp({ ref: smoothL1LossRef(smooth), inputs: smoothInputs(smooth), gpu: ([a, b]) => smoothL1Loss(a, b, smooth), tol: f32Tolerance(terms, 1), gradTol: f32Tolerance(1, 10) });
  });

  it('rejects bad arguments with the op, the shapes and what was expected', () => {
    const a = fromArray(new Float32Array(6), [1, 1, 2, 3]);
    const b = fromArray(new Float32Array(4), [1, 1, 2, 2]);
    const w = fromArray(new Float32Array(2), [2]);
    expect(() => sigmoidFocalLoss(a, b)).toThrow(/sigmoidFocalLoss: logits \[1, 1, 2, 3\].*targets \[1, 1, 2, 2\].*one shape/);
    expect(() => smoothL1Loss(a, a, { beta: -1 })).toThrow(/smoothL1Loss: beta must be >= 0/);
    expect(() => heatmapMseLoss(a, a, w)).toThrow(/heatmapMseLoss: weights \[2\].*\[1, 1\]/);
    for (const t of [a, b, w]) t.dispose();
  });
});
