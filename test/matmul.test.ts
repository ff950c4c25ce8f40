// matmul: the float64 reference against central differences, then GPU forward and both gradients (and the
// fused bias) against the reference over edge sizes, batch broadcasting, rank-1 operands, transposed
// views and grids past 65535 workgroups.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromArray, matmul, memory, runtime, sync, transpose, type Tensor } from '../engine/index.ts';
import { assertClose, checkOp, f32Tolerance, gradcheck, ref, seededValues, type RefOp, type RefTensor, type Tolerance } from '../engine/testing/index.ts';
import { matmulRef } from '../engine/testing/refs/matmul.ts';
import { MATMUL_TILES, matmulKernel } from '../engine/ops/matmul.ts';

type BiasAxis = 'none' | 'cols' | 'rows';

interface Case {
  aShape: number[];
  bShape: number[];
  bias: BiasAxis;
  seed: number;
}

/** Sizes biased to the kernel's edges: 1, odd, multiples of 4 and their neighbours. */
const dim = (max = 70): fc.Arbitrary<number> =>
  fc.oneof(
    { weight: 1, arbitrary: fc.constant(1) },
    { weight: 3, arbitrary: fc.integer({ min: 1, max }) },
    { weight: 3, arbitrary: fc.constantFrom(...[3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65].filter((d) => d <= max)) },
  );

/** Batch axes of a and b: equal, broadcast from 1 on either side, or missing on one side. */
const batchPair: fc.Arbitrary<[number[], number[]]> = fc
  .array(fc.tuple(fc.integer({ min: 2, max: 3 }), fc.constantFrom('both', 'a1', 'b1')), { maxLength: 2 })
  .chain((axes) =>
    fc.tuple(fc.constant(axes), fc.integer({ min: 0, max: axes.length }), fc.boolean()),
  )
  .map(([axes, drop, dropFromA]) => {
    const a = axes.map(([d, how]) => (how === 'a1' ? 1 : d));
    const b = axes.map(([d, how]) => (how === 'b1' ? 1 : d));
    return dropFromA ? [a.slice(drop), b] : [a, b.slice(drop)];
  });

const matrixCase = (maxDim = 70, maxWork = 60_000): fc.Arbitrary<Case> =>
  fc
    .record({ m: dim(maxDim), k: dim(maxDim), n: dim(maxDim), batch: batchPair, bias: fc.constantFrom<BiasAxis>('none', 'none', 'cols', 'rows'), seed: fc.integer({ min: 1, max: 1e9 }) })
    .map(({ m, k, n, batch: [ba, bb], bias, seed }) => ({ aShape: [...ba, m, k], bShape: [...bb, k, n], bias, seed }))
    .filter((c) => work(c) <= maxWork);

/** Rank-1 on either side (PyTorch promotes, then drops the axis again). */
const vectorCase: fc.Arbitrary<Case> = fc
  .record({ m: dim(), k: dim(), n: dim(), batch: batchPair, side: fc.constantFrom('a', 'b', 'both'), seed: fc.integer({ min: 1, max: 1e9 }) })
  .map(({ m, k, n, batch: [ba, bb], side, seed }) => ({
    aShape: side === 'b' ? [...ba, m, k] : [k],
    bShape: side === 'a' ? [...bb, k, n] : [k],
    bias: 'none' as const,
    seed,
  }));

function work(c: Case): number {
  const batch = Math.max(1, ...c.aShape.slice(0, -2), ...c.bShape.slice(0, -2)) ** Math.max(c.aShape.length - 2, c.bShape.length - 2, 0);
  return batch * c.aShape[c.aShape.length - 2] * c.aShape[c.aShape.length - 1] * c.bShape[c.bShape.length - 1];
}

function inputsFor(c: Case): RefTensor[] {
  const size = (s: number[]) => s.reduce((p, d) => p * d, 1);
  const inputs = [ref(c.aShape, seededValues(size(c.aShape), c.seed).map((v) => 2 * v)), ref(c.bShape, seededValues(size(c.bShape), c.seed + 1).map((v) => 2 * v))];
  if (c.bias !== 'none') {
    const n = c.bias === 'cols' ? c.bShape[c.bShape.length - 1] : c.aShape[c.aShape.length - 2];
    inputs.push(ref([n], seededValues(n, c.seed + 2)));
  }
  return inputs;
}

const abs = (t: RefTensor): RefTensor => ref(t.shape, t.data.map(Math.abs));
const maxOf = (t: RefTensor | null): number => (t ? t.data.reduce((m, v) => Math.max(m, v), 0) : 0);

/**
 * Tolerances from the magnitudes actually summed: the reference run on |inputs| (and on |g| <= 1, the
 * seeded output gradient's bound) gives, for every output element, the sum of |terms| it adds up.
 */
function tolerances(op: RefOp, inputs: RefTensor[], c: Case): { forward: Tolerance; grads: Tolerance[] } {
  const absInputs = inputs.map(abs);
  const out = op.forward(absInputs);
  const ones = ref(out.shape, new Float64Array(out.data.length).fill(1));
  const [ga, gb, gbias] = op.backward!(absInputs, ones);
  const K = c.aShape[c.aShape.length - 1];
  const M = c.aShape.length > 1 ? c.aShape[c.aShape.length - 2] : 1;
  const N = c.bShape.length > 1 ? c.bShape[c.bShape.length - 1] : 1;
  const batches = out.data.length / (M * N);
  const batchesOf = (s: number[]) => s.slice(0, -2).reduce((p, d) => p * d, 1);
  // Terms per gradient element: dA sums over n and the batches sharing one A, dB over m and the batches
  // sharing one B, the bias over every output element of its row or column.
  const biasTerms = batches * (c.bias === 'cols' ? M : N);
  return {
    forward: f32Tolerance(K + 1, maxOf(out)),
    grads: [
      f32Tolerance((N * batches) / batchesOf(c.aShape), maxOf(ga)),
      f32Tolerance((M * batches) / batchesOf(c.bShape), maxOf(gb)),
      f32Tolerance(biasTerms, maxOf(gbias)),
    ],
  };
}

const gpuMatmul = (bias: BiasAxis) => ([a, b, bias_]: Tensor[]) =>
  matmul(a, b, bias === 'none' ? {} : { bias: bias_, biasAxis: bias });

async function checkCase(c: Case): Promise<void> {
  const op = matmulRef(c.bias);
  const inputs = inputsFor(c);
  const tol = tolerances(op, inputs.map((t) => ref(t.shape, t.data.map(Math.fround))), c);
  const gradInputs = c.bias === 'none' ? [0, 1] : [0, 1, 2];
  for (const k of gradInputs) {
    await checkOp({ ref: op, inputs, gpu: gpuMatmul(c.bias), grad: [k], tol: tol.forward, gradTol: tol.grads[k], seed: c.seed });
  }
}

describe('matmul reference', () => {
  it('backward matches central differences (batch broadcast, rank-1, bias)', () => {
    fc.assert(
      fc.property(fc.oneof(matrixCase(6, 400), vectorCase.filter((c) => work(c) <= 400)), (c) => {
        const report = gradcheck(matmulRef(c.bias), inputsFor(c), { maxElements: 64 });
        expect(report.ok, report.message).toBe(true);
      }),
      { numRuns: 60 },
    );
  });
});

describe('matmul on the GPU', () => {
  it('forward and both gradients match the reference for M, N, K in 1..70 and broadcast batches', async () => {
    await fc.assert(fc.asyncProperty(matrixCase(), checkCase), { numRuns: 30 });
  });

  it('rank-1 operands follow PyTorch (vector-matrix, matrix-vector, dot)', async () => {
    await fc.assert(fc.asyncProperty(vectorCase.filter((c) => work(c) <= 60_000), checkCase), { numRuns: 12 });
  });

  it('handles empty dimensions (K = 0 gives the bias, M = 0 an empty result)', async () => {
    await checkCase({ aShape: [3, 0], bShape: [0, 4], bias: 'cols', seed: 5 });
    await checkCase({ aShape: [0, 5], bShape: [2, 5, 2], bias: 'none', seed: 6 });
  });

  it('reads transposed views in place, with the same results', async () => {
    const op = matmulRef();
    await fc.assert(
      fc.asyncProperty(dim(40), dim(40), dim(40), fc.integer({ min: 1, max: 1e9 }), async (m, k, n, seed) => {
        // b is given as bᵀ [N, K] and transposed back as a view; a likewise.
        const c: Case = { aShape: [m, k], bShape: [k, n], bias: 'none', seed };
        const [a, b] = inputsFor(c);
        const aT = ref([k, m], transposeData(a.data, m, k));
        const bT = ref([n, k], transposeData(b.data, k, n));
        const viaViews: RefOp = {
          name: 'matmul(aᵀᵀ, bᵀᵀ)',
          forward: ([x, y]) => op.forward([ref([m, k], transposeData(x.data, k, m)), ref([k, n], transposeData(y.data, n, k))]),
          backward: ([x, y], g) => {
            const [ga, gb] = op.backward!([ref([m, k], transposeData(x.data, k, m)), ref([k, n], transposeData(y.data, n, k))], g);
            return [ref([k, m], transposeData(ga!.data, m, k)), ref([n, k], transposeData(gb!.data, k, n))];
          },
        };
        const tol = tolerances(op, [a, b], c);
        for (const g of [0, 1]) {
          await checkOp({ ref: viaViews, inputs: [aT, bT], gpu: ([x, y]) => matmul(transpose(x), transpose(y)), grad: [g], tol: tol.forward, gradTol: tol.grads[g], seed });
        }
      }),
      { numRuns: 10 },
    );
    // One dispatch: no copy of the transposed operand.
    const liveBefore = memory().live;
    const x = fromArray(new Float32Array(12), [3, 4]);
    const y = fromArray(new Float32Array(20), [5, 4]);
    const before = runtime().queue.stats.dispatches;
    const yT = transpose(y);
    const z = matmul(x, yT);
    expect(runtime().queue.stats.dispatches - before).toBe(1);
    for (const t of [x, y, yT, z]) t.dispose();
    await sync();
    expect(memory().live).toBe(liveBefore);
  });

  it('sums the products over the batch into one matrix (sumBatch), with either operand read transposed', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 6 }), dim(24), dim(24), dim(24), fc.boolean(), fc.boolean(), fc.nat(1e6), async (batch, m, k, n, transA, transB, seed) => {
        const a = seededValues(batch * m * k, seed).map(Math.fround);
        const b = seededValues(batch * k * n, seed + 1).map(Math.fround);
        const expected = new Float64Array(m * n);
        let scale: number;
        for (let z = 0; z < batch; z++) {
          for (let i = 0; i < m; i++) {
            for (let j = 0; j < n; j++) {
              let acc = 0;
              for (let q = 0; q < k; q++) acc += a[z * m * k + i * k + q] * b[z * k * n + q * n + j];
              expected[i * n + j] += acc;
            }
          }
        }
        const maxAbs = (v: Float64Array) => v.reduce((s, x) => Math.max(s, Math.abs(x)), 0);
        scale = maxAbs(a) * maxAbs(b) * Math.sqrt(batch * k);
        // Stored transposed ([K, M] / [N, K] per batch) and viewed back, so the kernel reads them in place.
        const stored = (data: Float64Array, rows: number, cols: number, trans: boolean) => {
          if (!trans) return fromArray(Float32Array.from(data), [batch, rows, cols]);
          const t = new Float32Array(data.length);
          for (let z = 0; z < batch; z++) for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[z * rows * cols + j * rows + i] = data[z * rows * cols + i * cols + j];
          return fromArray(t, [batch, cols, rows]);
        };
        const ta = stored(a, m, k, transA);
        const tb = stored(b, k, n, transB);
        const va = transA ? transpose(ta) : ta;
        const vb = transB ? transpose(tb) : tb;
        const out = matmulKernel(va, vb, { sumBatch: true });
        expect(out.shape).toEqual([m, n]);
        assertClose(await out.toArray(), expected, f32Tolerance(batch * k, scale), 'sumBatch matmul', [m, n]);
        for (const t of new Set([ta, tb, va, vb, out])) t.dispose();
      }),
      { numRuns: 25 },
    );
  });

  it('runs grids past 65535 workgroups (many batches; many rows)', async () => {
    await checkCase({ aShape: [70_001, 1, 3], bShape: [70_001, 3, 2], bias: 'none', seed: 11 });
    // 32 rows per workgroup (4x4 tile, 8x8 invocations): past 65535 row groups.
    await checkCase({ aShape: [2_100_001, 1], bShape: [1, 2], bias: 'none', seed: 12 });
  });

  it('the large 8x8 tile (products with M, N, K >= 256) matches the reference: block loop with a row bias, step loop', async () => {
    // The tile is forced on small shapes: its code does not depend on the shape, and its compile is the cost.
    for (const c of [
      { aShape: [40, 36], bShape: [36, 72], bias: 'rows', seed: 21 },
      { aShape: [37, 35], bShape: [35, 69], bias: 'none', seed: 22 },
    ] satisfies Case[]) {
      const inputs = inputsFor(c);
      const op = matmulRef(c.bias);
      const tol = tolerances(op, inputs, c);
      const gpu = ([a, b, bias]: Tensor[]) => matmulKernel(a, b, { tile: MATMUL_TILES.large, bias, biasAxis: 'rows' });
      await checkOp({ ref: op, inputs, gpu, grad: [], tol: tol.forward });
    }
  });

  it('rejects operands that do not align, with both shapes in the message', () => {
    const a = fromArray(new Float32Array(24), [2, 3, 4]);
    const b = fromArray(new Float32Array(30), [5, 6]);
    const c = fromArray(new Float32Array(40), [5, 4, 2]);
    const v = fromArray(new Float32Array(5), [5]);
    expect(() => matmul(a, b)).toThrow("matmul: a [2, 3, 4] and b [5, 6] do not align (a's last dim 4 vs b's second-to-last 5)");
    expect(() => matmul(a, v)).toThrow("matmul: a [2, 3, 4] and b [5] do not align (a's last dim 4 vs b's only dim 5)");
    expect(() => matmul(a, c)).toThrow('matmul: batch dims of a [2, 3, 4] and b [5, 4, 2] cannot be broadcast ([2] vs [5])');
    const w = fromArray(new Float32Array(8), [4, 2]);
    expect(() => matmul(a, w, { bias: v })).toThrow('matmul: bias [5] must have shape [2]');
    for (const t of [a, b, c, v, w]) t.dispose();
  });
});

function transposeData(data: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}
