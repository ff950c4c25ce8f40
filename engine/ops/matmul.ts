// matmul with PyTorch semantics (batched, broadcast batch dims, rank-1 operands) and an optional fused
// bias. Operands are read in place when their last two axes are row-major or transposed (any leading
// dimension, any batch strides), so transposed views, and the backward's g·Bᵀ and Aᵀ·g, never copy.
import { apply, type FunctionDef } from '../autograd.ts';
import { grid1d } from '../kernel.ts';
import { shapeString, sizeOf } from '../host.ts';
import { allocate, Tensor } from '../tensor.ts';
import { matmulKernels, MAX_BATCH_RANK, type MatmulVariant } from '../../kernels/matmul.ts';
import { pad8 } from '../../kernels/prelude.ts';
import { contiguous, reshape } from './movement.ts';
import { sum, sumToShape } from './reduce.ts';

export type BiasAxis = 'cols' | 'rows';

export interface TileConfig {
  tileM: number;
  tileN: number;
  wgX: number;
  wgY: number;
}

/**
 * Tile shapes measured on lavapipe (bench/suites/matmul.ts compares candidates). 8x8 loads half as much
 * per FMA as 4x4 and measured 10-35% faster at 512-1024 in quiet moments, but within the noise of a
 * shared machine at other times, and it costs 5-10 s of LLVM compile per variant (4x4: 1-2 s). So it is
 * used only for products big enough (M, N, K >= 256) for a one-time compile to pay off.
 */
export const MATMUL_TILES = {
  small: { tileM: 4, tileN: 4, wgX: 8, wgY: 8 },
  large: { tileM: 8, tileN: 8, wgX: 16, wgY: 8 },
} satisfies Record<string, TileConfig>;

function chooseTile(m: number, n: number, k: number): TileConfig {
  return m >= 256 && n >= 256 && k >= 256 ? MATMUL_TILES.large : MATMUL_TILES.small;
}

/** How a logical [rows, cols] matrix sits in memory: (r, c) at r*ld + c, or at c*ld + r when transposed. */
interface Layout {
  trans: boolean;
  ld: number;
  vec: boolean;
}

function layoutOf(t: Tensor, batchStrides: readonly number[]): Layout | null {
  const [rows, cols] = t.shape.slice(-2);
  const [sr, sc] = t.strides.slice(-2);
  const candidates: Layout[] = [];
  // A size-1 axis has no meaningful stride; its leading dimension is then free and set to the extent.
  if (cols === 1 || sc === 1) candidates.push({ trans: false, ld: rows === 1 ? cols : sr, vec: false });
  if (rows === 1 || sr === 1) candidates.push({ trans: true, ld: cols === 1 ? rows : sc, vec: false });
  for (const c of candidates) {
    const extent = c.trans ? rows : cols;
    // An empty operand (K = 0) still binds a 4-byte buffer, too small for an array of vec4.
    c.vec = t.size > 0 && extent % 4 === 0 && c.ld % 4 === 0 && t.offset % 4 === 0 && batchStrides.every((s) => s % 4 === 0);
  }
  return candidates.find((c) => c.vec) ?? candidates[0] ?? null;
}

/** Strides that read t's batch axes (all but the last two) as `batch` (0 on broadcast axes). */
function batchStridesOf(t: Tensor, batch: readonly number[]): number[] {
  const lead = batch.length - (t.rank - 2);
  return batch.map((_, i) => {
    const j = i - lead;
    return j < 0 || t.shape[j] === 1 ? 0 : t.strides[j];
  });
}

function broadcastBatch(a: readonly number[], b: readonly number[]): number[] {
  const ab = a.slice(0, -2);
  const bb = b.slice(0, -2);
  const rank = Math.max(ab.length, bb.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = ab[ab.length - rank + i] ?? 1;
    const db = bb[bb.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(
        `matmul: batch dims of a ${shapeString(a)} and b ${shapeString(b)} cannot be broadcast ` +
          `(${shapeString(ab)} vs ${shapeString(bb)})`,
      );
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

export interface MatmulKernelOptions {
  bias?: Tensor;
  biasAxis?: BiasAxis;
  /** Overrides the tile choice (benchmarks compare tiles with it). */
  tile?: TileConfig;
  /** Sum the products over the batch axes: the result is one [M, N] matrix (weight gradients over a batch). */
  sumBatch?: boolean;
}

/**
 * a [..., M, K] · b [..., K, N] -> dense [...batch, M, N] without autograd; any strides on the last two
 * axes that are row-major or transposed are read in place, anything else is copied first.
 */
export function matmulKernel(a: Tensor, b: Tensor, opts: MatmulKernelOptions = {}): Tensor {
  const [M, K] = a.shape.slice(-2);
  const N = b.shape[b.rank - 1];
  const batchFull = broadcastBatch(a.shape, b.shape);
  const out = allocate(opts.sumBatch ? [M, N] : [...batchFull, M, N]);
  if (out.size === 0) return out;
  // Size-1 batch axes carry nothing; dropping them keeps the uniform small.
  const kept = batchFull.map((_, i) => i).filter((i) => batchFull[i] !== 1);
  let batch = kept.map((i) => batchFull[i]);
  const pick = (s: number[]) => kept.map((i) => s[i]);
  const temporaries: Tensor[] = [];
  const place = (t: Tensor): [Tensor, Layout, number[]] => {
    let strides = pick(batchStridesOf(t, batchFull));
    let layout = layoutOf(t, strides);
    if (!layout) {
      t = contiguous(t);
      temporaries.push(t);
      strides = pick(batchStridesOf(t, batchFull));
      layout = layoutOf(t, strides)!;
    }
    return [t, layout, strides];
  };
  const [ta, la, stridesA] = place(a);
  const [tb, lb, stridesB] = place(b);
  let rows = M;
  // B shared by every batch and A's batches stacked row after row: one tall matmul instead of many.
  if (batch.length && !opts.sumBatch && stridesB.every((s) => s === 0) && !la.trans && la.ld > 0 && opts.biasAxis !== 'rows') {
    let expected = M * la.ld;
    const stacked = [...stridesA].reverse().every((s, r) => {
      const ok = s === expected;
      expected *= batch[batch.length - 1 - r];
      return ok;
    });
    if (stacked) {
      rows = M * sizeOf(batch);
      batch = [];
    }
  }
  if (batch.length > MAX_BATCH_RANK) throw new Error(`matmul: more than ${MAX_BATCH_RANK} batch dims`);
  const tile = opts.tile ?? chooseTile(rows, N, K);
  const bias = opts.bias && (opts.bias.isDense() ? opts.bias : contiguous(opts.bias));
  if (bias && bias !== opts.bias) temporaries.push(bias);
  const block = la.vec && lb.vec && K % 4 === 0;
  const variant: MatmulVariant = {
    transA: la.trans,
    transB: lb.trans,
    loop: block ? 'block' : 'step',
    // A single k can only use vec4 along m (Aᵀ) and n (B).
    vecA: block || (la.vec && la.trans),
    vecB: block || (lb.vec && !lb.trans),
    vecOut: N % 4 === 0,
    bias: bias ? (opts.biasAxis === 'rows' ? 'row' : 'col') : 'none',
    ...tile,
  };
  const groupsN = Math.ceil(N / (tile.wgX * tile.tileN));
  const groupsM = Math.ceil(rows / (tile.wgY * tile.tileM));
  // Summed batches all accumulate into the one output tile of a single grid batch.
  const [batches, sumCount] = opts.sumBatch ? [1, sizeOf(batch)] : [sizeOf(batch), 1];
  const bindings = { A: ta.storage, B: tb.storage, out: out.storage, ...(bias ? { bias: bias.storage } : {}) };
  matmulKernels.get(variant).run(
    bindings,
    {
      M: rows, N, K,
      batchRank: batch.length,
      groupsN, groupsM, batches, sumCount,
      biasOffset: bias?.offset ?? 0,
      lda: la.ld, ldb: lb.ld,
      offsetA: ta.offset, offsetB: tb.offset,
      batchShape: pad8(batch, 1),
      batchStrideA: pad8(stridesA),
      batchStrideB: pad8(stridesB),
    },
    grid1d(batches * groupsM * groupsN, 1),
  );
  for (const t of temporaries) t.dispose();
  return out;
}

interface MatmulAttrs {
  aShape: number[];
  bShape: number[];
  biasAxis: BiasAxis;
}

/** Shape of an operand as a matrix: rank-1 a is [1, K], rank-1 b is [K, 1]. */
function matrixShape(shape: readonly number[], side: 'a' | 'b'): number[] {
  if (shape.length >= 2) return [...shape];
  return side === 'a' ? [1, shape[0]] : [shape[0], 1];
}

/** t viewed with `shape` (t's shape with size-1 axes inserted, whose strides do not matter). */
function viewWithOnes(t: Tensor, shape: readonly number[]): Tensor {
  const strides: number[] = [];
  let j = t.rank - 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (j >= 0 && t.shape[j] === shape[i]) strides.unshift(t.strides[j--]);
    else strides.unshift(0);
  }
  return t.view(shape, strides, t.offset);
}

/** The last two axes swapped, as a view (the kernel reads it through its transpose flag). */
function swapLast(t: Tensor): Tensor {
  const r = t.rank;
  const shape = [...t.shape.slice(0, -2), t.shape[r - 1], t.shape[r - 2]];
  const strides = [...t.strides.slice(0, -2), t.strides[r - 1], t.strides[r - 2]];
  return t.view(shape, strides, t.offset);
}

function productShape(aShape: readonly number[], bShape: readonly number[]): number[] {
  const am = matrixShape(aShape, 'a');
  const bm = matrixShape(bShape, 'b');
  return [...broadcastBatch(am, bm), am[am.length - 2], bm[bm.length - 1]];
}

const MatMul: FunctionDef<MatmulAttrs> = {
  name: 'matmul',
  forward(ctx, [a, b, bias], { aShape, bShape, biasAxis }) {
    if (ctx.needsInputGrad[0] || ctx.needsInputGrad[1]) ctx.save(a, b);
    const am = viewWithOnes(a, matrixShape(aShape, 'a'));
    const bm = viewWithOnes(b, matrixShape(bShape, 'b'));
    const product = matmulKernel(am, bm, { bias, biasAxis });
    am.dispose();
    bm.dispose();
    if (a.rank > 1 && b.rank > 1) return product;
    const out = reshape(product, outputShape(aShape, bShape));
    product.dispose();
    return out;
  },
  backward(ctx, g, { aShape, bShape, biasAxis }) {
    const [a, b] = ctx.saved;
    // backward runs in a tidy scope: the views below are released with it.
    const gm = viewWithOnes(g, productShape(aShape, bShape));
    const grads: (Tensor | null)[] = ctx.needsInputGrad.map(() => null);
    if (ctx.needsInputGrad[0]) {
      // dA = g · Bᵀ, summed over the batch axes A was broadcast along.
      const bm = viewWithOnes(b, matrixShape(bShape, 'b'));
      grads[0] = reshape(sumToShape(matmulKernel(gm, swapLast(bm)), matrixShape(aShape, 'a')), aShape);
    }
    if (ctx.needsInputGrad[1]) grads[1] = gradB(viewWithOnes(a, matrixShape(aShape, 'a')), bShape, gm);
    if (ctx.needsInputGrad[2]) {
      const kept = biasAxis === 'cols' ? gm.rank - 1 : gm.rank - 2;
      grads[2] = sum(gm, gm.shape.map((_, i) => i).filter((i) => i !== kept));
    }
    return grads;
  },
};

/**
 * dB = Aᵀ · g. When B has no batch of its own, the batches fold into the inner dimension: one
 * [K, batch·M] · [batch·M, N] product instead of a batched product and a sum.
 */
function gradB(am: Tensor, bShape: number[], gm: Tensor): Tensor {
  const bm = matrixShape(bShape, 'b');
  const batch = gm.shape.slice(0, -2);
  if (sizeOf(batch) > 1 && sizeOf(bm.slice(0, -2)) === 1) {
    const [M, K] = am.shape.slice(-2);
    const aFull = am.view([...batch, M, K], [...batchStridesOf(am, batch), ...am.strides.slice(-2)], am.offset);
    const aFlat = reshape(aFull, [-1, K]);
    const gFlat = reshape(gm, [-1, gm.shape[gm.rank - 1]]);
    return reshape(matmulKernel(swapLast(aFlat), gFlat), bShape);
  }
  return reshape(sumToShape(matmulKernel(swapLast(am), gm), bm), bShape);
}

function outputShape(aShape: readonly number[], bShape: readonly number[]): number[] {
  const p = productShape(aShape, bShape);
  return p.filter((_, i) => !(aShape.length === 1 && i === p.length - 2) && !(bShape.length === 1 && i === p.length - 1));
}

export interface MatmulOptions {
  /** Added to every row ('cols': shape [N], as in Linear) or every column ('rows': shape [M], 1x1 conv). */
  bias?: Tensor;
  biasAxis?: BiasAxis;
}

/**
 * Matrix product with PyTorch's `matmul` semantics: rank-1 operands are promoted and their axis dropped
 * again, batch axes (all but the last two) broadcast. With `bias`, the bias add is fused into the kernel.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const shapes = `a ${shapeString(a.shape)} and b ${shapeString(b.shape)}`;
  if (a.rank === 0 || b.rank === 0) throw new Error(`matmul: ${shapes}: both operands need at least 1 dimension`);
  if (a.dtype !== 'float32' || b.dtype !== 'float32') throw new Error(`matmul: expects float32 tensors, got ${a.dtype} and ${b.dtype}`);
  const kA = a.shape[a.rank - 1];
  const kB = b.rank === 1 ? b.shape[0] : b.shape[b.rank - 2];
  if (kA !== kB) {
    const which = b.rank === 1 ? 'only dim' : 'second-to-last';
    throw new Error(`matmul: ${shapes} do not align (a's last dim ${kA} vs b's ${which} ${kB})`);
  }
  const [M, N] = productShape(a.shape, b.shape).slice(-2);
  const biasAxis = opts.biasAxis ?? 'cols';
  const inputs = [a, b];
  if (opts.bias) {
    const bias = opts.bias;
    const want = biasAxis === 'cols' ? N : M;
    if (a.rank < 2 || b.rank < 2) throw new Error(`matmul: a bias needs both operands of rank 2 or more (${shapes})`);
    if (bias.rank !== 1 || bias.shape[0] !== want) {
      throw new Error(
        `matmul: bias ${shapeString(bias.shape)} must have shape [${want}], one value per ${biasAxis === 'cols' ? 'column' : 'row'} of the ${M}x${N} product of ${shapes}`,
      );
    }
    if (bias.dtype !== 'float32') throw new Error(`matmul: bias must be float32, got ${bias.dtype}`);
    inputs.push(bias);
  }
  return apply(MatMul, inputs, { aShape: [...a.shape], bShape: [...b.shape], biasAxis });
}
