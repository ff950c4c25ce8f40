// Batch normalisation over NCHW, with an optional fused ReLU6. Kernels: kernels/batchnorm.ts.
import { apply, type FunctionDef } from '../autograd.ts';
import { grid1d } from '../kernel.ts';
import { shapeString } from '../host.ts';
import type { Storage } from '../device/buffers.ts';
import { allocate, type Tensor } from '../tensor.ts';
import { batchNormBackward, batchNormForward } from '../../kernels/batchnorm.ts';
import { map } from './map.ts';

/** x itself if a kernel can read it from element 0 on, else a dense copy. */
const dense = (x: Tensor): Tensor => (x.isDense() ? x : map('copy', 'a', [x]));

export interface BatchNormOptions {
  /** gamma [C]; give weight and bias together, or neither (non-affine). */
  weight?: Tensor;
  /** beta [C]. */
  bias?: Tensor;
  /** Running buffers [C], updated in place in training mode; give both or neither. */
  runningMean?: Tensor;
  runningVar?: Tensor;
  /** Training uses batch statistics. Without running buffers, batch statistics are used in eval too. */
  training: boolean;
  momentum?: number;
  eps?: number;
  /** Fused epilogue: clamp(y, 0, 6). */
  activation?: 'none' | 'relu6';
}

interface BatchNormAttrs {
  affine: boolean;
  batchStats: boolean;
  relu6: boolean;
  eps: number;
  momentum: number;
  runningMean?: Tensor;
  runningVar?: Tensor;
  updateRunning: boolean;
}

/** Shapes for the kernels; with H·W a multiple of 4 they read vec4s and `hw` counts vec4s. */
function dims(x: Tensor) {
  const [n, c, h, w] = x.shape;
  const vec4 = n * h * w > 0 && (h * w) % 4 === 0;
  return { n, c, hw: vec4 ? (h * w) / 4 : h * w, count: n * h * w, vec4 };
}

function uniforms(x: Tensor, a: BatchNormAttrs) {
  const { n, c, hw, count } = dims(x);
  return {
    n,
    c,
    hw,
    count,
    eps: a.eps,
    momentum: a.momentum,
    unbias: count > 1 ? count / (count - 1) : 1,
    use_batch: a.batchStats ? 1 : 0,
    update: a.updateRunning ? 1 : 0,
    relu6: a.relu6 ? 1 : 0,
  };
}

const BatchNorm: FunctionDef<BatchNormAttrs> = {
  name: 'batchNorm2d',
  forward(ctx, inputs, a) {
    const [x, weight, bias] = inputs;
    const xd = dense(x);
    const wd = a.affine ? dense(weight) : null;
    const bd = a.affine ? dense(bias) : null;
    const { c, vec4 } = dims(x);
    const y = allocate(x.shape);
    const stats = allocate([2 * c]);
    const running = !!a.runningMean;
    const bind: Record<string, Storage> = { x: xd.storage, y: y.storage, stats: stats.storage };
    if (wd && bd) Object.assign(bind, { weight: wd.storage, bias: bd.storage });
    if (running) Object.assign(bind, { running_mean: a.runningMean!.storage, running_var: a.runningVar!.storage });
    batchNormForward.get({ affine: a.affine, running, vec4 }).run(bind, uniforms(x, a), grid1d(c, 1));
    ctx.save(xd, stats, ...(wd && bd ? [wd, bd] : []));
    stats.dispose();
    for (const [t, original] of [[xd, x], [wd, weight], [bd, bias]] as const) if (t && t !== original) t.dispose();
    return y;
  },
  backward(ctx, g, a) {
    const [x, stats, weight, bias] = ctx.saved;
    const { c, vec4 } = dims(x);
    const dx = allocate(x.shape);
    const bind: Record<string, Storage> = { x: x.storage, g: dense(g).storage, stats: stats.storage, dx: dx.storage };
    const dweight = a.affine ? allocate([c]) : null;
    const dbias = a.affine ? allocate([c]) : null;
    if (dweight && dbias) {
      Object.assign(bind, { weight: weight.storage, bias: bias.storage, dweight: dweight.storage, dbias: dbias.storage });
    }
    batchNormBackward.get({ affine: a.affine, vec4 }).run(bind, uniforms(x, a), grid1d(c, 1));
    const [wantX, wantW, wantB] = ctx.needsInputGrad;
    return a.affine ? [wantX ? dx : null, wantW ? dweight : null, wantB ? dbias : null] : [wantX ? dx : null];
  },
};

function checkChannelVector(what: string, t: Tensor | undefined, x: Tensor, inPlace: boolean): void {
  if (!t) return;
  const c = x.shape[1];
  if (t.rank !== 1 || t.shape[0] !== c || t.dtype !== 'float32') {
    throw new Error(`batchNorm2d: ${what} ${shapeString(t.shape)} (${t.dtype}) must be float32 [${c}] for input ${shapeString(x.shape)}`);
  }
  if (inPlace && !t.isDense()) {
    throw new Error(`batchNorm2d: ${what} ${shapeString(t.shape)} must be a dense tensor (it is updated in place)`);
  }
}

/**
 * Batch norm over NCHW as PyTorch's `F.batch_norm`: training mode (or no running buffers) normalises
 * with the batch's mean and biased variance and updates running buffers, if given, with the unbiased one.
 */
export function batchNorm2d(x: Tensor, opts: BatchNormOptions): Tensor {
  const { weight, bias, runningMean, runningVar, training, momentum = 0.1, eps = 1e-5, activation = 'none' } = opts;
  if (x.rank !== 4 || x.dtype !== 'float32') {
    throw new Error(`batchNorm2d: input ${shapeString(x.shape)} (${x.dtype}) must be float32 NCHW (rank 4)`);
  }
  if (!weight !== !bias) throw new Error('batchNorm2d: give weight and bias together, or neither (non-affine)');
  if (!runningMean !== !runningVar) throw new Error('batchNorm2d: give runningMean and runningVar together, or neither');
  checkChannelVector('weight', weight, x, false);
  checkChannelVector('bias', bias, x, false);
  checkChannelVector('runningMean', runningMean, x, true);
  checkChannelVector('runningVar', runningVar, x, true);
  if (!(eps > 0)) throw new Error(`batchNorm2d: eps must be positive, got ${eps}`);
  if (activation !== 'none' && activation !== 'relu6') {
    throw new Error(`batchNorm2d: activation must be 'none' or 'relu6', got '${activation}'`);
  }
  const batchStats = training || !runningMean;
  const { count } = dims(x);
  if (batchStats && count <= 1) {
    throw new Error(
      `batchNorm2d: expected more than 1 value per channel when using batch statistics, got input ${shapeString(x.shape)}`,
    );
  }
  const affine = !!weight;
  const attrs: BatchNormAttrs = {
    affine,
    batchStats,
    relu6: activation === 'relu6',
    eps,
    momentum,
    runningMean,
    runningVar,
    updateRunning: training && !!runningMean,
  };
  return apply(BatchNorm, affine ? [x, weight!, bias!] : [x], attrs);
}
