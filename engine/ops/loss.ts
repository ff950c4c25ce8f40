// Losses: fused cross-entropy (log-sum-exp and target pick in one row kernel) and mean squared error.
import { apply, type FunctionDef } from '../autograd.ts';
import { grid1d } from '../kernel.ts';
import { sameShape, shapeString } from '../host.ts';
import { tuning } from '../tuning.ts';
import { allocate, type Tensor } from '../tensor.ts';
import { crossEntropyKernels } from '../../kernels/losses.ts';
import { perRowVariant, rowGrid } from '../../kernels/softmax.ts';
import { WG } from '../../kernels/prelude.ts';
import { map } from './map.ts';
import { contiguous, reshape } from './movement.ts';
import { mean, sum } from './reduce.ts';
import { rowLayout } from './softmax.ts';

export type Reduction = 'mean' | 'sum' | 'none';

export interface CrossEntropyOptions {
  /** Targets equal to this contribute no loss and no gradient and are left out of the mean. */
  ignoreIndex?: number;
  reduction?: Reduction;
  /** Mixes the one-hot target with the uniform distribution: (1 - eps) * onehot + eps / C. */
  labelSmoothing?: number;
}

interface CrossEntropyAttrs {
  ignoreIndex: number;
  reduction: Reduction;
  smoothing: number;
}

const CrossEntropy: FunctionDef<CrossEntropyAttrs> = {
  name: 'cross_entropy',
  forward(ctx, [logits, target], { ignoreIndex, reduction, smoothing }) {
    const x = contiguous(logits);
    const t = contiguous(target);
    const { rows, len, inner } = rowLayout(logits.shape, 1);
    const [loss, lse, valid] = [allocate([rows]), allocate([rows]), allocate([rows])];
    const perRow = perRowVariant(rows, len, tuning() === 'software');
    crossEntropyKernels.get({ direction: 'forward', perRow }).run(
      { x: x.storage, labels: t.storage, loss: loss.storage, lse: lse.storage, valid: valid.storage },
      { rows, len, inner: Math.max(1, inner), offset: x.offset, target_offset: t.offset, ignore_index: ignoreIndex, smoothing },
      rowGrid(perRow, rows),
    );
    let out: Tensor;
    let count: Tensor | null = null;
    if (reduction === 'none') {
      out = reshape(loss, target.shape);
    } else if (reduction === 'sum') {
      out = sum(loss);
    } else {
      const total = sum(loss);
      count = sum(valid);
      // All targets ignored: 0 / max(0, 1) = 0 (PyTorch gives NaN; a 0 keeps a training loop finite).
      out = map('ce_mean', 'a / max(b, 1.0)', [total, count]);
      total.dispose();
    }
    if (ctx.needsInputGrad[0]) ctx.save(x, t, lse, ...(count ? [count] : []));
    for (const tmp of [x, t, loss, lse, valid, count]) tmp?.dispose();
    return out;
  },
  backward(ctx, g, { ignoreIndex, reduction, smoothing }) {
    const [x, t, lse, count] = ctx.saved;
    const scale = reduction === 'mean' ? map('ce_mean', 'a / max(b, 1.0)', [g, count]) : contiguous(g);
    const { len, inner } = rowLayout(x.shape, 1);
    const gx = allocate(x.shape);
    crossEntropyKernels.get({ direction: 'backward', perRow: 'thread' }).run(
      { x: x.storage, labels: t.storage, lse: lse.storage, grad_scale: scale.storage, gx: gx.storage },
      {
        n: gx.size,
        len,
        inner: Math.max(1, inner),
        offset: x.offset,
        target_offset: t.offset,
        grad_offset: scale.offset,
        ignore_index: ignoreIndex,
        smoothing,
        per_row_grad: reduction === 'none' ? 1 : 0,
      },
      grid1d(gx.size, WG),
    );
    return [gx, null];
  },
};

/**
 * PyTorch's cross_entropy on logits [N, C] or [N, C, ...spatial] (class axis 1) and int32 targets [N] or
 * [N, ...spatial]. 'mean' divides by the number of non-ignored targets; when every target is ignored it
 * gives 0 (PyTorch: NaN). Targets outside [0, C) other than ignoreIndex cannot be checked without a
 * readback, so the kernel treats them as ignored: validate labels on the host if they may be wrong.
 */
export function crossEntropy(logits: Tensor, target: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const { ignoreIndex = -100, reduction = 'mean', labelSmoothing = 0 } = opts;
  const expected = [logits.shape[0], ...logits.shape.slice(2)];
  if (logits.rank < 2 || logits.dtype !== 'float32') {
    throw new Error(`crossEntropy: logits ${shapeString(logits.shape)} (${logits.dtype}) must be float32 [N, C] or [N, C, ...spatial]`);
  }
  if (target.dtype !== 'int32' || !sameShape(target.shape, expected)) {
    throw new Error(
      `crossEntropy: target ${shapeString(target.shape)} (${target.dtype}) must be int32 ${shapeString(expected)} for logits ${shapeString(logits.shape)}`,
    );
  }
  if (!['mean', 'sum', 'none'].includes(reduction)) {
    throw new Error(`crossEntropy: reduction '${reduction}' must be 'mean', 'sum' or 'none'`);
  }
  if (!(labelSmoothing >= 0 && labelSmoothing <= 1)) {
    throw new Error(`crossEntropy: labelSmoothing ${labelSmoothing} must lie in [0, 1]`);
  }
  if (!Number.isInteger(ignoreIndex) || Math.abs(ignoreIndex) > 2 ** 31 - 1) {
    throw new Error(`crossEntropy: ignoreIndex ${ignoreIndex} must be an int32`);
  }
  return apply(CrossEntropy, [logits, target], { ignoreIndex, reduction, smoothing: labelSmoothing });
}

const MseLoss: FunctionDef<{ reduction: Reduction }> = {
  name: 'mse_loss',
  forward(ctx, [a, b], { reduction }) {
    if (ctx.needsInputGrad.some(Boolean)) ctx.save(a, b);
    const squared = map('squared_diff', '(a - b) * (a - b)', [a, b]);
    if (reduction === 'none') return squared;
    const out = reduction === 'sum' ? sum(squared) : mean(squared);
    squared.dispose();
    return out;
  },
  backward(ctx, g, { reduction }) {
    const [a, b] = ctx.saved;
    const scale = reduction === 'mean' ? 2 / Math.max(1, a.size) : 2;
    // g is [] for 'mean' / 'sum' and broadcasts over a; for 'none' it has a's shape.
    const ga = map('mse_grad', 's.x * a * (b - c)', [g, a, b], { scalars: [scale] });
    const gb = ctx.needsInputGrad[1] ? map('neg', '-a', [ga]) : null;
    return [ctx.needsInputGrad[0] ? ga : null, gb];
  },
};

/** Mean squared error: mean / sum of (a - b)^2, or the element-wise squares ('none'). Shapes must match. */
export function mseLoss(a: Tensor, b: Tensor, reduction: Reduction = 'mean'): Tensor {
  if (!sameShape(a.shape, b.shape) || a.dtype !== 'float32' || b.dtype !== 'float32') {
    throw new Error(
      `mseLoss: inputs ${shapeString(a.shape)} (${a.dtype}) and ${shapeString(b.shape)} (${b.dtype}) must be float32 of the same shape`,
    );
  }
  if (!['mean', 'sum', 'none'].includes(reduction)) {
    throw new Error(`mseLoss: reduction '${reduction}' must be 'mean', 'sum' or 'none'`);
  }
  return apply(MseLoss, [a, b], { reduction });
}
