// Batch normalisation over NCHW, with an optional fused ReLU6. Kernels: kernels/batchnorm.ts (row passes)
// and kernels/batchnorm-channel.ts (one invocation a channel).
import { apply, type FunctionDef } from '../autograd.ts';
import { grid1d } from '../kernel.ts';
import { shapeString } from '../host.ts';
import type { Storage } from '../device/buffers.ts';
import { allocate, type Tensor } from '../tensor.ts';
import { tuning } from '../tuning.ts';
import { BN_FUSE_PARTIALS, BN_PARTIAL_WG, bnApply, bnGradFinalize, bnGradPartial, bnInputGrad, bnStatsFinalize, bnStatsPartial, rowSplit } from '../../kernels/batchnorm.ts';
import { BN_CHANNEL_MAX, BN_CHANNEL_WG, BN_CONST_ROW_MAX, bnChannelBackward, bnChannelForward } from '../../kernels/batchnorm-channel.ts';
import { dense } from './movement.ts';

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

/** Shapes for the kernels: x as N·C rows of S, S counting vec4s when H·W is a multiple of 4; see rowSplit. */
function dims(x: Tensor) {
  const [n, c, h, w] = x.shape;
  const vec4 = n * h * w > 0 && (h * w) % 4 === 0;
  const s = vec4 ? (h * w) / 4 : h * w;
  const count = n * h * w;
  const gpu = tuning() === 'gpu';
  // One invocation a channel suits a software adapter only; a GPU would run a handful of threads.
  const perChannel = !gpu && count <= BN_CHANNEL_MAX;
  return { n, c, s, count, vec4, perChannel, ...rowSplit(n, c, s, gpu) };
}

const BatchNorm: FunctionDef<BatchNormAttrs> = {
  name: 'batchNorm2d',
  forward(ctx, inputs, a) {
    const [x, weight, bias] = inputs;
    const xd = dense(x);
    const wd = a.affine ? dense(weight) : null;
    const bd = a.affine ? dense(bias) : null;
    const { n, c, s, count, vec4, perChannel, p, b, groups } = dims(x);
    // coeff[c] = (scale, shift, mean, invstd): the apply pass's affine map and what backward needs.
    const coeff = allocate([4 * c]);
    const running = !!a.runningMean;
    const variant = { affine: a.affine, running, batch: a.batchStats };
    const stats: Record<string, Storage> = {};
    if (wd && bd) Object.assign(stats, { weight: wd.storage, bias: bd.storage });
    if (running) Object.assign(stats, { running_mean: a.runningMean!.storage, running_var: a.runningVar!.storage });
    const y = allocate(x.shape);
    const relu6 = a.relu6;
    const unbias = count > 1 ? count / (count - 1) : 1;
    const update = a.updateRunning ? 1 : 0;
    if (a.batchStats && perChannel) {
      // Few elements a channel: one invocation a channel does the stats, the finalize and the apply.
      bnChannelForward
        .get({ vec4, relu6, affine: a.affine, running, rowLength: s <= BN_CONST_ROW_MAX.forward ? s : 0 })
        .run({ x: xd.storage, ...stats, coeff: coeff.storage, y: y.storage }, { n, c, s, eps: a.eps, momentum: a.momentum, unbias, update }, grid1d(c, BN_CHANNEL_WG));
    } else {
      const statsParams = { groups, c, p, eps: a.eps, momentum: a.momentum, unbias, update };
      let partial: Tensor | null = null;
      if (a.batchStats) {
        partial = allocate([4 * groups * c * p]);
        bnStatsPartial.get({ vec4 }).run({ x: xd.storage, partial: partial.storage }, { n, c, s, p, b, groups }, grid1d(groups * c * p, BN_PARTIAL_WG));
        stats.partial = partial.storage;
      }
      // Few partials a channel (or none, in eval): bn_apply computes the coefficients itself.
      const fused = !a.batchStats || groups * p <= BN_FUSE_PARTIALS;
      if (!fused) bnStatsFinalize.get(variant).run({ ...stats, coeff: coeff.storage }, statsParams, grid1d(c, BN_PARTIAL_WG));
      bnApply
        .get({ vec4, relu6, fused: fused ? variant : undefined })
        .run(
          { x: xd.storage, ...(fused ? stats : {}), coeff: coeff.storage, y: y.storage },
          { n, c, s, p, b, groups, ...(fused ? statsParams : {}) },
          grid1d(groups * c * p, BN_PARTIAL_WG),
        );
      partial?.dispose();
    }
    ctx.save(xd, coeff);
    coeff.dispose();
    for (const [t, original] of [[xd, x], [wd, weight], [bd, bias]] as const) if (t && t !== original) t.dispose();
    return y;
  },
  backward(ctx, g, a) {
    const [x, coeff] = ctx.saved;
    const { n, c, s, count, vec4, perChannel, p, b, groups } = dims(x);
    const gd = dense(g);
    const relu6 = a.relu6;
    const [wantX, wantW, wantB] = ctx.needsInputGrad;
    const dweight = a.affine ? allocate([c]) : null;
    const dbias = a.affine ? allocate([c]) : null;
    const wgrads: Record<string, Storage> = dweight && dbias ? { dweight: dweight.storage, dbias: dbias.storage } : {};
    const use_batch = a.batchStats ? 1 : 0;
    let dx: Tensor | null = null;
    if (wantX && perChannel) {
      // Few elements a channel: one invocation a channel does the sums, dweight, dbias and dx.
      dx = allocate(x.shape);
      bnChannelBackward
        .get({ vec4, relu6, affine: a.affine, rowLength: s <= BN_CONST_ROW_MAX.backward ? s : 0 })
        .run({ x: x.storage, g: gd.storage, coeff: coeff.storage, ...wgrads, dx: dx.storage }, { n, c, s, count, use_batch }, grid1d(c, BN_CHANNEL_WG));
    } else {
      const partial = allocate([2 * groups * c * p]);
      bnGradPartial
        .get({ vec4, relu6 })
        .run({ x: x.storage, g: gd.storage, coeff: coeff.storage, partial: partial.storage }, { n, c, s, p, b, groups }, grid1d(groups * c * p, BN_PARTIAL_WG));
      const grads: Record<string, Storage> = { partial: partial.storage, coeff: coeff.storage, ...wgrads };
      const elementParams = { n, c, s, p, b, groups };
      if (wantX && groups * p <= BN_FUSE_PARTIALS) {
        // Few partials a channel: bn_input_grad computes dcoeff itself (and writes dweight, dbias).
        dx = allocate(x.shape);
        bnInputGrad
          .get({ vec4, relu6, fused: { affine: a.affine } })
          .run({ x: x.storage, g: gd.storage, ...grads, dx: dx.storage }, { ...elementParams, count, use_batch }, grid1d(groups * c * p, BN_PARTIAL_WG));
      } else {
        const dcoeff = allocate([4 * c]);
        bnGradFinalize.get({ affine: a.affine }).run({ ...grads, dcoeff: dcoeff.storage }, { groups, c, p, count, use_batch }, grid1d(c, BN_PARTIAL_WG));
        if (wantX) {
          dx = allocate(x.shape);
          bnInputGrad.get({ vec4, relu6 }).run({ x: x.storage, g: gd.storage, coeff: dcoeff.storage, dx: dx.storage }, elementParams, grid1d(groups * c * p, BN_PARTIAL_WG));
        }
        dcoeff.dispose();
      }
      partial.dispose();
    }
    if (gd !== g) gd.dispose();
    return a.affine ? [dx, wantW ? dweight : null, wantB ? dbias : null] : [dx];
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
