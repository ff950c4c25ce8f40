// batchNorm2d: float64 reference (gradcheck), GPU vs reference for forward and every gradient, running buffers.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { batchNorm2d } from '../engine/ops/norm.ts';
import { setTuning } from '../engine/tuning.ts';
import { fromArray } from '../engine/ops/creation.ts';
import { memory, sync } from '../engine/runtime.ts';
import type { Tensor } from '../engine/tensor.ts';
import { arb, checkOp, f32Tolerance, gradcheck, ref, seededValues, type RefTensor } from '../engine/testing/index.ts';
import { batchNormRef, batchNormRunningUpdateRef, batchStatistics } from '../engine/testing/refs/norm.ts';
import { assertClose } from '../engine/testing/allclose.ts';
import { BN_FUSE_PARTIALS, rowSplit } from '../kernels/batchnorm.ts';
import { BN_CHANNEL_MAX, BN_CONST_ROW_MAX, bnChannelBackward, bnChannelForward } from '../kernels/batchnorm-channel.ts';

interface BnCase {
  shape: number[];
  affine: boolean;
  running: boolean;
  training: boolean;
  relu6: boolean;
  eps: number;
  momentum: number;
  seed: number;
}

const bnCase = (maxSize = 1500): fc.Arbitrary<BnCase> =>
  fc
    .record({
      shape: fc.tuple(fc.integer({ min: 1, max: 8 }), arb.dim(7), arb.dim(9), arb.dim(9)),
      affine: fc.boolean(),
      running: fc.boolean(),
      training: fc.boolean(),
      relu6: fc.boolean(),
      eps: fc.constantFrom(1e-5, 1e-3),
      momentum: fc.constantFrom(0.1, 0.03, 1),
      seed: fc.integer({ min: 1, max: 1e9 }),
    })
    .filter((c) => {
      const [n, ch, h, w] = c.shape;
      const batchStats = c.training || !c.running;
      return n * ch * h * w <= maxSize && (!batchStats || n * h * w > 1);
    });

/** Inputs in the order the reference takes them: x, (weight, bias), (runningMean, runningVar). */
function inputsFor(c: BnCase): RefTensor[] {
  const channels = c.shape[1];
  const size = c.shape.reduce((a, b) => a * b, 1);
  const u = (n: number, salt: number) => seededValues(n, c.seed + salt);
  const inputs = [ref(c.shape, u(size, 0).map((v) => 2 * v))];
  if (c.affine) {
    inputs.push(ref([channels], u(channels, 1).map((v) => 3 * v)), ref([channels], u(channels, 2).map((v) => 2 + 3 * v)));
  }
  if (c.running) {
    inputs.push(ref([channels], u(channels, 3)), ref([channels], u(channels, 4).map((v) => 1.2 + v)));
  }
  return inputs;
}

function gpuCall(c: BnCase, keepRunning?: Tensor[]) {
  return ([x, ...rest]: Tensor[]) => {
    const affine = c.affine ? { weight: rest[0], bias: rest[1] } : {};
    const runningAt = c.affine ? 2 : 0;
    const running = c.running ? { runningMean: rest[runningAt], runningVar: rest[runningAt + 1] } : {};
    if (keepRunning && c.running) keepRunning.push(rest[runningAt], rest[runningAt + 1]);
    return batchNorm2d(x, { ...affine, ...running, training: c.training, eps: c.eps, momentum: c.momentum, activation: c.relu6 ? 'relu6' : 'none' });
  };
}

/** How the row passes split a shape (S counts vec4s when H·W is a multiple of 4, as in the op). */
const splitOf = ([n, c, h, w]: number[]) => rowSplit(n, c, (h * w) % 4 === 0 ? (h * w) / 4 : h * w);

const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/**
 * Float32 error budget. Normalising subtracts a mean computed in f32 (error ~ eps·max|x|) and multiplies
 * by invstd, so y is conditioned by max|x|·invstd; dx also carries xhat's error times invstd; dweight sums
 * `count` terms that share the mean's error (hence the extra sqrt(count)).
 */
function tolerances(c: BnCase, inputs: RefTensor[]) {
  const [n, , h, w] = c.shape;
  const count = n * h * w;
  const x = inputs[0];
  const at = c.affine ? 3 : 1;
  const invstd = c.training || !c.running
    ? maxAbs(batchStatistics(x, c.eps).invstd)
    : maxAbs(inputs[at + 1].data.map((v) => 1 / Math.sqrt(v + c.eps)));
  const xScale = maxAbs(x.data) * invstd;
  const weight = c.affine ? maxAbs(inputs[1].data) : 1;
  const bias = c.affine ? maxAbs(inputs[2].data) : 0;
  return {
    forward: f32Tolerance(count, weight * xScale + bias),
    input: f32Tolerance(count, weight * invstd * (1 + xScale)),
    params: f32Tolerance(count, Math.sqrt(count) * (1 + xScale)),
  };
}

/** True when some pre-activation value lies so close to a ReLU6 kink that f32 may pick the other side. */
function nearKink(c: BnCase, inputs: RefTensor[], margin: number): boolean {
  if (!c.relu6) return false;
  const pre = batchNormRef({ affine: c.affine, running: c.running, training: c.training, eps: c.eps }).forward(inputs);
  return pre.data.some((v) => Math.abs(v) < margin || Math.abs(v - 6) < margin);
}

/** Compares forward and gradients with the reference; false when skipped (a value too close to a ReLU6 kink). */
async function checkBatchNorm(c: BnCase): Promise<boolean> {
  const inputs = inputsFor(c);
  for (const t of inputs) t.data.forEach((v, i) => (t.data[i] = Math.fround(v)));
  const tol = tolerances(c, inputs);
  if (nearKink(c, inputs, 100 * tol.forward.atol + 1e-4)) return false;
  const refOp = batchNormRef({ affine: c.affine, running: c.running, training: c.training, eps: c.eps, relu6: c.relu6 });
  await checkOp({ ref: refOp, inputs, gpu: gpuCall(c), grad: [0], tol: tol.forward, gradTol: tol.input, seed: c.seed });
  if (c.affine) await checkOp({ ref: refOp, inputs, gpu: gpuCall(c), grad: [1, 2], tol: tol.forward, gradTol: tol.params, seed: c.seed });
  return true;
}

describe('batchNorm2d reference', () => {
  it('backward matches central differences (train/eval, affine, running, relu6, eps)', () => {
    fc.assert(
      fc.property(bnCase(300), (c) => {
        const inputs = inputsFor(c);
        fc.pre(!nearKink(c, inputs, 1e-3));
        const op = batchNormRef({ affine: c.affine, running: c.running, training: c.training, eps: c.eps, relu6: c.relu6 });
        const report = gradcheck(op, inputs, { inputs: c.affine ? [0, 1, 2] : [0] });
        expect(report.ok, report.message).toBe(true);
      }),
      { numRuns: 60 },
    );
  });
});

describe('batchNorm2d on the GPU', () => {
  it('matches the reference: forward, dx, dweight, dbias over modes and shapes', async () => {
    await fc.assert(fc.asyncProperty(bnCase(), async (c) => void (await checkBatchNorm(c))), { numRuns: 40 });
  });

  it('matches on explicit edge shapes: 1×1 spatial, one channel, non-square, odd sizes', async () => {
    const base = { affine: true, running: true, training: true, relu6: false, eps: 1e-3, momentum: 0.1, seed: 11 };
    for (const shape of [[8, 3, 1, 1], [1, 1, 5, 3], [3, 5, 7, 2], [2, 1, 1, 9]]) {
      for (const training of [true, false]) await checkBatchNorm({ ...base, shape, training });
    }
    await checkBatchNorm({ ...base, shape: [4, 6, 9, 7], relu6: true, affine: false, running: false, training: false });
  });

  it('matches with the finalize passes separate (more than BN_FUSE_PARTIALS partials a channel)', async () => {
    // Smaller maps fuse each finalize into the element pass after it; these split into more partials.
    const shapes = [[6, 2, 32, 24], [3, 2, 48, 48], [7, 3, 27, 25]];
    for (const shape of shapes) expect(splitOf(shape).groups * splitOf(shape).p).toBeGreaterThan(BN_FUSE_PARTIALS);
    for (const [n, , h, w] of shapes) expect(n * h * w).toBeGreaterThan(BN_CHANNEL_MAX);
    const base = { affine: true, running: true, training: true, relu6: false, eps: 1e-3, momentum: 0.1, seed: 7 };
    for (const shape of shapes) {
      await checkBatchNorm({ ...base, shape });
      await checkBatchNorm({ ...base, shape, affine: false, running: false, relu6: true, seed: 8 });
    }
    await checkBatchNorm({ ...base, shape: shapes[0], training: false, relu6: true });
  });

  it('matches with the finalize fused into the row passes (past BN_CHANNEL_MAX, at most BN_FUSE_PARTIALS partials)', async () => {
    const shapes = [[1, 3, 64, 80], [2, 2, 47, 47]];
    for (const shape of shapes) expect(splitOf(shape).groups * splitOf(shape).p).toBeLessThanOrEqual(BN_FUSE_PARTIALS);
    for (const [n, , h, w] of shapes) expect(n * h * w).toBeGreaterThan(BN_CHANNEL_MAX);
    const base = { affine: true, running: true, training: true, relu6: false, eps: 1e-3, momentum: 0.1, seed: 23 };
    for (const shape of shapes) {
      await checkBatchNorm({ ...base, shape });
      await checkBatchNorm({ ...base, shape, affine: false, running: false, seed: 24 });
      await checkBatchNorm({ ...base, shape, training: false, seed: 25 });
    }
  });

  it('stays accurate when the mean is far from zero (shifted sums, not a raw sum of squares)', async () => {
    const c: BnCase = { shape: [4, 3, 16, 16], affine: false, running: true, training: true, relu6: false, eps: 1e-5, momentum: 1, seed: 5 };
    const x = ref(c.shape, seededValues(4 * 3 * 256, 5).map((v) => Math.fround(1000 + v)));
    const [rm, rv] = [ref([3]), ref([3], [1, 1, 1])];
    const tol = tolerances(c, [x, rm, rv]);
    await checkOp({ ref: batchNormRef({ affine: false, running: true, training: true, eps: c.eps }), inputs: [x, rm, rv], gpu: gpuCall(c), grad: [0], tol: tol.forward, gradTol: tol.input });
    // With momentum 1 the running variance is the batch's unbiased variance. Shifted sums keep its error
    // relative to the variance itself (not to mean^2, which a one-pass E[x^2] - E[x]^2 would carry: 1e6 here).
    const tensors = [x, rm, rv].map((t) => fromArray(t.data, t.shape));
    gpuCall(c)(tensors).dispose();
    const expected = batchNormRunningUpdateRef(x, rm, rv, 1);
    const count = 4 * 256;
    assertClose(await tensors[1].toArray(), expected.mean, f32Tolerance(count, 1000), 'running mean', [3]);
    assertClose(await tensors[2].toArray(), expected.variance, f32Tolerance(count, maxAbs(expected.variance)), 'running var', [3]);
    tensors.forEach((t) => t.dispose());
  });

  it('keeps the variance accurate at |mean| = 1e4 on every split of the rows (grouped images, 1-16 threads a row)', async () => {
    // Past BN_CHANNEL_MAX (row passes), rowSplit: [290, 64, 4, 4] groups 72 images in a thread (and a last
    // group of 2); [2, 2, 47, 47] is scalar; [2, 2, 48, 48] has 8 threads a row; [1, 1, 184, 184] (8464
    // vec4s) has 16. Within it (one invocation a channel): [5, 300, 2, 2], [7, 80, 3, 3], [3, 2, 9, 7]
    // (scalar), [8, 4, 4, 4].
    const shapes = fc.constantFrom<number[]>([5, 300, 2, 2], [7, 80, 3, 3], [3, 2, 9, 7], [2, 2, 48, 48], [1, 1, 184, 184], [8, 4, 4, 4], [290, 64, 4, 4], [2, 2, 47, 47]);
    expect([splitOf([290, 64, 4, 4]).b, splitOf([290, 64, 4, 4]).groups, splitOf([1, 1, 184, 184]).p]).toEqual([72, 5, 16]);
    await fc.assert(
      fc.asyncProperty(shapes, fc.integer({ min: 1, max: 1e9 }), fc.constantFrom(1e4, -3e4), async (shape, seed, offset) => {
        const [n, ch, h, w] = shape;
        const size = n * ch * h * w;
        const c: BnCase = { shape, affine: false, running: true, training: true, relu6: false, eps: 1e-5, momentum: 1, seed };
        const x = ref(shape, seededValues(size, seed).map((v) => Math.fround(offset + v)));
        const [rm, rv] = [ref([ch]), ref([ch], new Array(ch).fill(1))];
        const tol = tolerances(c, [x, rm, rv]);
        await checkOp({ ref: batchNormRef({ affine: false, running: true, training: true, eps: c.eps }), inputs: [x, rm, rv], gpu: gpuCall(c), grad: [0], tol: tol.forward, gradTol: tol.input });
        const tensors = [x, rm, rv].map((t) => fromArray(t.data, t.shape));
        gpuCall(c)(tensors).dispose();
        const expected = batchNormRunningUpdateRef(x, rm, rv, 1);
        const count = n * h * w;
        assertClose(await tensors[1].toArray(), expected.mean, f32Tolerance(count, Math.abs(offset)), 'running mean', [ch]);
        assertClose(await tensors[2].toArray(), expected.variance, f32Tolerance(count, maxAbs(expected.variance)), 'running var', [ch]);
        tensors.forEach((t) => t.dispose());
      }),
      { numRuns: 16 },
    );
  });

  it('takes the one-invocation-a-channel pass for channels of at most BN_CHANNEL_MAX elements, and matches', async () => {
    // Each case runs forward and backward (dx, then weight and bias when affine); bn_channel_forward runs
    // with batch statistics only (eval forward is already one pass), bn_channel_backward whenever dx is wanted.
    const forward = vi.spyOn(bnChannelForward, 'get');
    const backward = vi.spyOn(bnChannelBackward, 'get');
    const m = BN_CHANNEL_MAX;
    const checked = { relu6: 0, eval: 0 };
    // At the bound (vec4 and scalar rows, batch 1 and > 1) and just past it.
    const shapes = fc.constantFrom<number[]>(
      [1, 2, m / 32, 32], [4, 3, m / 16, 4], [2, 2, m / 2, 1], [m, 3, 1, 1], [1, 2, 1, m + 1], [2, 2, m / 8 + 1, 4], [3, 2, 5, 7], [8, 5, 2, 2],
    );
    const mode = fc.record({ affine: fc.boolean(), running: fc.boolean(), training: fc.boolean(), relu6: fc.boolean(), momentum: fc.constantFrom(0.1, 1), seed: fc.integer({ min: 1, max: 1e9 }) });
    await fc.assert(
      fc.asyncProperty(shapes, mode, async (shape, md) => {
        const c: BnCase = { shape, eps: 1e-3, ...md };
        const [n, , h, w] = shape;
        const within = n * h * w <= m;
        const batchStats = c.training || !c.running;
        forward.mockClear();
        backward.mockClear();
        if (!(await checkBatchNorm(c))) return;
        if (within) {
          checked.relu6 += c.relu6 ? 1 : 0;
          checked.eval += batchStats ? 0 : 1;
        }
        expect(forward.mock.calls.length > 0, `forward on ${shape}`).toBe(within && batchStats);
        expect(backward.mock.calls.length > 0, `backward on ${shape}`).toBe(within);
      }),
      { numRuns: 30, seed: 42 },
    );
    expect(checked.relu6 > 0 && checked.eval > 0, `channel-path cases checked: ${JSON.stringify(checked)}`).toBe(true);
    forward.mockRestore();
    backward.mockRestore();
  });

  it('writes rows of at most BN_CONST_ROW_MAX vec4s (floats) out in full, and matches, each direction at its own bound', async () => {
    const forward = vi.spyOn(bnChannelForward, 'get');
    const backward = vi.spyOn(bnChannelBackward, 'get');
    // [shape, row length]: vec4 rows of 1, 2, 4 and 8; float rows of 3 and 7. The forward writes rows of up
    // to 4 out in full, the backward up to 2; longer rows take the loop (row length 0 below).
    const cases: [number[], number][] = [[[3, 2, 2, 2], 1], [[2, 3, 2, 4], 2], [[2, 2, 4, 4], 4], [[2, 2, 4, 8], 8], [[2, 2, 1, 3], 3], [[3, 2, 1, 7], 7]];
    expect(BN_CONST_ROW_MAX).toEqual({ forward: 4, backward: 2 });
    const constant = (s: number, max: number) => (s <= max ? s : 0);
    const lengths = (spy: typeof forward) => [...new Set(spy.mock.calls.map(([v]) => v.rowLength ?? 0))];
    try {
      for (const [shape, rowLength] of cases) {
        for (const relu6 of [false, true]) {
          forward.mockClear();
          backward.mockClear();
          // With relu6 a case too near the clamp's kinks is skipped (checkBatchNorm says so); without, none is.
          const ran = await checkBatchNorm({ shape, eps: 1e-3, affine: true, running: true, training: true, relu6, momentum: 0.1, seed: 5 + shape[3] });
          expect(ran || relu6).toBe(true);
          if (!ran) continue;
          expect(lengths(forward), `forward on ${shape}`).toEqual([constant(rowLength, BN_CONST_ROW_MAX.forward)]);
          expect(lengths(backward), `backward on ${shape}`).toEqual([constant(rowLength, BN_CONST_ROW_MAX.backward)]);
        }
      }
    } finally {
      forward.mockRestore();
      backward.mockRestore();
    }
  });

  it('one-invocation-a-channel pass: running statistics and variance at |mean| 1e4, 70000 channels', async () => {
    const forward = vi.spyOn(bnChannelForward, 'get');
    for (const shape of [[2, 70_000, 1, 1], [1, 70_000, 2, 2], [2, 3, BN_CHANNEL_MAX / 64, 32]]) {
      const [n, ch, h, w] = shape;
      const count = n * h * w;
      const c: BnCase = { shape, affine: false, running: true, training: true, relu6: false, eps: 1e-5, momentum: 1, seed: 17 };
      const x = ref(shape, seededValues(n * ch * h * w, 17).map((v) => Math.fround(1e4 + v)));
      const [rm, rv] = [ref([ch]), ref([ch], new Array(ch).fill(1))];
      const tol = tolerances(c, [x, rm, rv]);
      await checkOp({ ref: batchNormRef({ affine: false, running: true, training: true, eps: c.eps }), inputs: [x, rm, rv], gpu: gpuCall(c), grad: [0], tol: tol.forward, gradTol: tol.input });
      const tensors = [x, rm, rv].map((t) => fromArray(t.data, t.shape));
      gpuCall(c)(tensors).dispose();
      const expected = batchNormRunningUpdateRef(x, rm, rv, 1);
      assertClose(await tensors[1].toArray(), expected.mean, f32Tolerance(count, 1e4), 'running mean', [ch]);
      assertClose(await tensors[2].toArray(), expected.variance, f32Tolerance(count, maxAbs(expected.variance)), 'running var', [ch]);
      tensors.forEach((t) => t.dispose());
    }
    expect(forward).toHaveBeenCalled();
    forward.mockRestore();
    // Affine, eval and train on 70000 channels of 2x2 (forward, dx, dweight, dbias). ReLU6 is checked
    // above: on this many values some would lie too close to a kink to compare.
    const base = { shape: [2, 70_000, 2, 2], affine: true, running: true, relu6: false, eps: 1e-3, momentum: 0.1, seed: 19 };
    expect(await checkBatchNorm({ ...base, training: true })).toBe(true);
    expect(await checkBatchNorm({ ...base, training: false })).toBe(true);
  });

  it('runs past 65535 workgroups in every pass', async () => {
    // 4.2M channels of 4 values, one thread each: 65.6k workgroups of 64 (the one-invocation-a-channel pass).
    await checkBatchNorm({ shape: [4, 4_200_000, 1, 1], affine: true, running: true, training: true, relu6: false, eps: 1e-3, momentum: 0.1, seed: 3 });
  });

  it('updates running buffers in place with the unbiased variance in training, and not in eval', async () => {
    await fc.assert(
      fc.asyncProperty(bnCase(800).map((c) => ({ ...c, running: true })), async (c) => {
        const inputs = inputsFor(c);
        for (const t of inputs) t.data.forEach((v, i) => (t.data[i] = Math.fround(v)));
        const at = c.affine ? 3 : 1;
        const tensors = inputs.map((t) => fromArray(t.data, t.shape));
        const out = gpuCall(c)(tensors);
        const [mean, variance] = [await tensors[at].toArray(), await tensors[at + 1].toArray()];
        const [n, , h, w] = c.shape;
        const count = n * h * w;
        const expected = c.training
          ? batchNormRunningUpdateRef(inputs[0], inputs[at], inputs[at + 1], c.momentum)
          : { mean: inputs[at].data, variance: inputs[at + 1].data };
        const x = maxAbs(inputs[0].data);
        assertClose(mean, expected.mean, f32Tolerance(count, x + 1), 'running mean', [c.shape[1]]);
        assertClose(variance, expected.variance, f32Tolerance(count, x * x + 2), 'running var', [c.shape[1]]);
        out.dispose();
        tensors.forEach((t) => t.dispose());
      }),
      { numRuns: 25 },
    );
    await sync();
    expect(memory().live).toBe(0);
  });

  it('rejects bad arguments with the op, the shapes and what was expected', () => {
    const x = fromArray(new Float32Array(24), [2, 3, 2, 2]);
    const w = fromArray(new Float32Array(4), [4]);
    const one = fromArray(new Float32Array(3), [1, 3, 1, 1]);
    expect(() => batchNorm2d(x, { weight: w, bias: w, training: true })).toThrow(/batchNorm2d: weight \[4\].*\[3\].*\[2, 3, 2, 2\]/);
    expect(() => batchNorm2d(x, { weight: w, training: true })).toThrow(/weight and bias together/);
    expect(() => batchNorm2d(one, { training: true })).toThrow(/more than 1 value per channel.*\[1, 3, 1, 1\]/);
    for (const t of [x, w, one]) t.dispose();
  });
});

describe('batchNorm2d under gpu tuning (many short threads, no one-invocation-a-channel pass)', () => {
  beforeAll(() => setTuning('gpu'));
  afterAll(() => setTuning('auto'));
  const gpuSplit = ([n, c, h, w]: number[]) => rowSplit(n, c, (h * w) % 4 === 0 ? (h * w) / 4 : h * w, true);

  it('matches the reference over modes and shapes, never taking the per-channel pass', async () => {
    const forward = vi.spyOn(bnChannelForward, 'get');
    const backward = vi.spyOn(bnChannelBackward, 'get');
    await fc.assert(fc.asyncProperty(bnCase(), async (c) => void (await checkBatchNorm(c))), { numRuns: 30 });
    expect(forward.mock.calls.length + backward.mock.calls.length).toBe(0);
    forward.mockRestore();
    backward.mockRestore();
  });

  it('matches with fused and separate finalizes, and keeps the variance at |mean| 1e4 on every split', async () => {
    // [1, 2, 64, 64]: 128 threads a row; [300, 3, 2, 2]: one thread a row, 300 partials a channel;
    // [2, 3, 3, 3]: scalar, 2 threads a row, 4 partials (fused); [1100, 1, 4, 4]: images in pairs.
    const shapes = [[1, 2, 64, 64], [300, 3, 2, 2], [2, 3, 3, 3], [3, 2, 47, 47], [5, 4, 24, 24]];
    expect(shapes.map((s) => gpuSplit(s).groups * gpuSplit(s).p > BN_FUSE_PARTIALS)).toEqual([true, true, false, true, true]);
    expect(gpuSplit([1100, 1, 4, 4]).b).toBe(2);
    const base = { affine: true, running: true, training: true, relu6: false, eps: 1e-3, momentum: 0.1 };
    for (const [i, shape] of shapes.entries()) {
      await checkBatchNorm({ ...base, shape, seed: 40 + i });
      await checkBatchNorm({ ...base, shape, affine: false, relu6: true, training: false, seed: 50 + i });
    }
    for (const shape of [[1100, 1, 4, 4], [2, 2, 48, 48], [3, 2, 9, 7]]) {
      const [n, ch, h, w] = shape;
      const c: BnCase = { shape, affine: false, running: false, training: true, relu6: false, eps: 1e-5, momentum: 1, seed: 61 };
      const x = ref(shape, seededValues(n * ch * h * w, 61).map((v) => Math.fround(1e4 + v)));
      const tol = tolerances(c, [x]);
      await checkOp({ ref: batchNormRef({ affine: false, running: false, training: true, eps: c.eps }), inputs: [x], gpu: gpuCall(c), grad: [0], tol: tol.forward, gradTol: tol.input });
    }
  });
});
