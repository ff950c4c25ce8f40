import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backward, crossEntropy, fromArray, memory, mseLoss, sync, type Reduction } from '../engine/index.ts';
import { checkOp, f32Tolerance, gradcheck, ref, seededValues, type RefTensor } from '../engine/testing/index.ts';
import { crossEntropyRef, mseLossRef } from '../engine/testing/refs/loss.ts';
import { forceRowVariant } from '../kernels/softmax.ts';

interface CeCase {
  shape: number[]; // logits [N, C, ...spatial]
  reduction: Reduction;
  ignoreIndex: number;
  labelSmoothing: number;
  /** Fractions of targets set to ignoreIndex and to an out-of-range class. */
  ignored: number;
  outOfRange: number;
  seed: number;
}

const ceCase = (maxC = 9): fc.Arbitrary<CeCase> =>
  fc.record({
    shape: fc
      .tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: maxC }), fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 2 }))
      .map(([n, c, spatial]) => [n, c, ...spatial]),
    reduction: fc.constantFrom<Reduction>('mean', 'sum', 'none'),
    ignoreIndex: fc.constantFrom(-100, 0, 255),
    labelSmoothing: fc.constantFrom(0, 0, 0.1, 0.5, 1),
    ignored: fc.constantFrom(0, 0.2, 1),
    outOfRange: fc.constantFrom(0, 0, 0.2),
    seed: fc.integer({ min: 1, max: 100_000 }),
  });

function ceInputs(c: CeCase, scale = 4): [RefTensor, RefTensor] {
  const [n, classes, ...spatial] = c.shape;
  const logits = ref(c.shape, seededValues(c.shape.reduce((a, b) => a * b, 1), c.seed).map((v) => v * scale));
  const rows = n * spatial.reduce((a, b) => a * b, 1);
  const u = seededValues(2 * rows, c.seed + 1).map((v) => (v + 1) / 2);
  const target = ref([n, ...spatial]);
  for (let r = 0; r < rows; r++) {
    const pick = u[2 * r];
    if (pick < c.ignored) target.data[r] = c.ignoreIndex;
    else if (pick < c.ignored + c.outOfRange) target.data[r] = u[2 * r + 1] < 0.5 ? -1 : classes + 3;
    else target.data[r] = Math.min(classes - 1, Math.floor(u[2 * r + 1] * classes));
  }
  return [logits, target];
}

/** Each row sums C terms; 'mean' / 'sum' add up to N*H*W rows of magnitude <= 2*scale + log C. */
function ceTolerance(c: CeCase, scale = 4) {
  const rows = c.shape.reduce((a, b) => a * b, 1) / c.shape[1];
  const terms = c.shape[1] + (c.reduction === 'none' ? 0 : rows);
  const magnitude = (2 * scale + Math.log(c.shape[1] + 1)) * (c.reduction === 'sum' ? rows : 1);
  return { tol: f32Tolerance(terms, magnitude), gradTol: f32Tolerance(c.shape[1], 2) };
}

const runCe = (c: CeCase, scale = 4) =>
  checkOp({
    ref: crossEntropyRef(c),
    inputs: ceInputs(c, scale),
    intInputs: [1],
    gpu: ([logits, target]) => crossEntropy(logits, target, c),
    ...ceTolerance(c, scale),
  });

describe('crossEntropy', () => {
  it('reference backward matches finite differences', () => {
    fc.assert(
      fc.property(ceCase(), (c) => {
        const report = gradcheck(crossEntropyRef(c), ceInputs(c, 3));
        expect(report.ok, report.message).toBe(true);
      }),
      { numRuns: 80 },
    );
  });

  it('GPU loss and logit gradient match the reference (ignored and out-of-range targets, smoothing, per-pixel)', async () => {
    await fc.assert(fc.asyncProperty(ceCase(), (c) => runCe(c)), { numRuns: 60 });
  });

  it.each([
    { what: 'many classes (> 1024)', shape: [3, 3000] },
    { what: 'many rows', shape: [5000, 10] },
    { what: 'per-pixel [N, C, H, W]', shape: [2, 5, 13, 11] },
    { what: 'one class', shape: [4, 1] },
  ])('handles $what $shape', async ({ shape }) => {
    for (const reduction of ['mean', 'none'] as const) {
      await runCe({ shape, reduction, ignoreIndex: -100, labelSmoothing: 0.1, ignored: 0.1, outOfRange: 0, seed: 3 });
    }
  });

  it.each(['workgroup', 'thread'] as const)('%s-per-row variant, including 65537 rows', async (variant) => {
    forceRowVariant(variant);
    try {
      for (const shape of [[65537, 3], [3, 70, 2], [2, 200]]) {
        await runCe({ shape, reduction: 'mean', ignoreIndex: 1, labelSmoothing: 0.2, ignored: 0.2, outOfRange: 0.1, seed: 9 });
      }
    } finally {
      forceRowVariant(null);
    }
  });

  it('stays finite and accurate for large logits', async () => {
    await runCe({ shape: [6, 20], reduction: 'sum', ignoreIndex: -100, labelSmoothing: 0.3, ignored: 0, outOfRange: 0, seed: 4 }, 5e3);
  });

  it('mean over all-ignored targets is 0 with a zero gradient (PyTorch gives NaN)', async () => {
    const logits = fromArray([1, 2, 3, 4, 5, 6], [2, 3], { requiresGrad: true });
    const target = fromArray(new Int32Array([-100, -100]), [2], { dtype: 'int32' });
    const loss = crossEntropy(logits, target);
    expect(await loss.item()).toBe(0);
    backward(loss);
    expect(Array.from(await logits.grad!.toArray())).toEqual([0, 0, 0, 0, 0, 0]);
    for (const t of [logits, target, loss]) t.dispose();
    await sync();
    expect(memory().live).toBe(0);
  });

  it('matches a hand-computed value', async () => {
    const logits = fromArray([0, Math.log(3), 0, 0], [2, 2]);
    const target = fromArray(new Int32Array([1, 0]), [2], { dtype: 'int32' });
    const loss = crossEntropy(logits, target);
    // row 0: -log(3/4); row 1: -log(1/2)
    expect(await loss.item()).toBeCloseTo((-Math.log(0.75) - Math.log(0.5)) / 2, 6);
    for (const t of [logits, target, loss]) t.dispose();
  });

  it('errors name the op, the shapes and what was expected', () => {
    const logits = fromArray(new Float32Array(12), [2, 3, 2]);
    const target = fromArray(new Int32Array(2), [2], { dtype: 'int32' });
    const floatTarget = fromArray(new Float32Array(4), [2, 2]);
    expect(() => crossEntropy(logits, target)).toThrow(/crossEntropy: target \[2\] \(int32\) must be int32 \[2, 2\] for logits \[2, 3, 2\]/);
    expect(() => crossEntropy(logits, floatTarget)).toThrow(/target \[2, 2\] \(float32\) must be int32/);
    expect(() => crossEntropy(target, target)).toThrow(/crossEntropy: logits \[2\] \(int32\) must be float32 \[N, C\]/);
    const pixelTarget = fromArray(new Int32Array(4), [2, 2], { dtype: 'int32' });
    expect(() => crossEntropy(logits, pixelTarget, { labelSmoothing: 2 })).toThrow(/labelSmoothing 2 must lie in \[0, 1\]/);
    for (const t of [logits, target, floatTarget, pixelTarget]) t.dispose();
  });
});

describe('mseLoss', () => {
  const pair = (shape: number[], seed: number): RefTensor[] => [
    ref(shape, seededValues(shape.reduce((a, b) => a * b, 1), seed).map((v) => 3 * v)),
    ref(shape, seededValues(shape.reduce((a, b) => a * b, 1), seed + 1).map((v) => 3 * v)),
  ];
  const shapeArb = fc.array(fc.integer({ min: 1, max: 7 }), { maxLength: 3 });
  const reductionArb = fc.constantFrom<Reduction>('mean', 'sum', 'none');

  it('reference backward matches finite differences', () => {
    fc.assert(
      fc.property(shapeArb, reductionArb, fc.integer({ min: 1, max: 1000 }), (shape, reduction, seed) => {
        const report = gradcheck(mseLossRef(reduction), pair(shape, seed));
        expect(report.ok, report.message).toBe(true);
      }),
      { numRuns: 50 },
    );
  });

  it('GPU loss and both gradients match the reference', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(shapeArb, fc.constant<number[]>([300, 301])), reductionArb, fc.integer({ min: 1, max: 1000 }), async (shape, reduction, seed) => {
        const n = shape.reduce((a, b) => a * b, 1);
        const magnitude = 36 * (reduction === 'sum' ? n : 1);
        await checkOp({
          ref: mseLossRef(reduction),
          inputs: pair(shape, seed),
          gpu: ([a, b]) => mseLoss(a, b, reduction),
          tol: f32Tolerance(reduction === 'none' ? 1 : n, magnitude),
          gradTol: f32Tolerance(1, 12),
        });
      }),
      { numRuns: 40 },
    );
  });

  it('rejects mismatched shapes with both shapes in the message', () => {
    const a = fromArray([1, 2, 3], [3]);
    const b = fromArray([1, 2], [2]);
    expect(() => mseLoss(a, b)).toThrow(/mseLoss: inputs \[3\] \(float32\) and \[2\] \(float32\) must be float32 of the same shape/);
    a.dispose();
    b.dispose();
  });
});
