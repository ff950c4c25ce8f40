// Task losses: sigmoid focal loss and smooth L1 (RetinaNet heads), weighted heatmap MSE (SimpleBaseline pose).
// Kernels: kernels/task-losses.ts. Per-pixel cross-entropy lives in ./loss.ts.
import { apply, type FunctionDef } from '../autograd.ts';
import { grid1d } from '../kernel.ts';
import { sameShape, shapeString } from '../host.ts';
import type { Storage } from '../device/buffers.ts';
import { allocate, type Tensor } from '../tensor.ts';
import { LOSS_GROUPS, LOSS_WG, lossFinish, taskLossKernels, type TaskLossKind } from '../../kernels/task-losses.ts';
import { ones } from './creation.ts';
import { map } from './map.ts';
import { dense } from './movement.ts';

export type TaskLossReduction = 'none' | 'mean' | 'sum';

export interface FocalLossOptions {
  /** Weight of the positive class; a negative value disables the weighting. Default 0.25. */
  alpha?: number;
  /** Focusing exponent, >= 0. Default 2. */
  gamma?: number;
  /** Default 'none', as torchvision.ops.sigmoid_focal_loss. */
  reduction?: TaskLossReduction;
}

export interface SmoothL1Options {
  /** Quadratic below beta, linear above; beta = 0 is L1. Default 0.11 (RetinaNet). */
  beta?: number;
  /** Default 'mean', as torch.nn.functional.smooth_l1_loss. */
  reduction?: TaskLossReduction;
}

interface LossAttrs {
  kind: TaskLossKind;
  reduction: TaskLossReduction;
  s0: number;
  s1: number;
  /** Elements per heatmap (heatmap loss only). */
  hw: number;
  /** Multiplies the summed loss: 1, or 1 / the mean's denominator. */
  scale: number;
  /** Which inputs have a gradient: [a, b]. */
  differentiable: [boolean, boolean];
}

function storages(named: Record<string, Tensor>): Record<string, Storage> {
  return Object.fromEntries(Object.entries(named).map(([k, t]) => [k, t.storage]));
}

const TaskLoss: FunctionDef<LossAttrs> = {
  name: 'taskLoss',
  forward(ctx, inputs, a) {
    const [x, y, w] = inputs.map(dense);
    const named: Record<string, Tensor> = { a: x, b: y, ...(w ? { weight: w } : {}) };
    const n = x.size;
    const uniforms = { n, hw: a.hw, s0: a.s0, s1: a.s1, scale: a.scale, scalar_grad: 0, want_a: 0, want_b: 0 };
    let out: Tensor;
    if (a.reduction === 'none') {
      out = allocate(x.shape);
      taskLossKernels.get({ loss: a.kind, mode: 'elementwise' }).run(storages({ ...named, out }), uniforms, grid1d(n, LOSS_WG));
    } else {
      const groups = Math.max(1, Math.min(LOSS_GROUPS, Math.ceil(n / LOSS_WG)));
      const partials = allocate([groups]);
      taskLossKernels.get({ loss: a.kind, mode: 'partial' }).run(storages({ ...named, partials }), uniforms, [groups, 1, 1]);
      out = allocate([]);
      lossFinish.run({ partials: partials.storage, out: out.storage }, { count: groups, scale: a.scale }, [1, 1, 1]);
      partials.dispose();
    }
    ctx.save(x, y, ...(w ? [w] : []));
    [x, y, w].forEach((t, k) => t && t !== inputs[k] && t.dispose());
    return out;
  },
  backward(ctx, g, a) {
    const [x, y, w] = ctx.saved;
    const wantA = a.differentiable[0] && ctx.needsInputGrad[0];
    const wantB = a.differentiable[1] && ctx.needsInputGrad[1];
    if (!wantA && !wantB) return ctx.saved.map(() => null);
    // An unwanted gradient is bound to a 4-byte dummy that the kernel never writes.
    const ga = allocate(wantA ? x.shape : [1]);
    const gb = allocate(wantB ? x.shape : [1]);
    const scalarGrad = a.reduction !== 'none';
    const named: Record<string, Tensor> = { a: x, b: y, g: dense(g), ga, gb, ...(w ? { weight: w } : {}) };
    const uniforms = {
      n: x.size,
      hw: a.hw,
      s0: a.s0,
      s1: a.s1,
      scale: scalarGrad ? a.scale : 1,
      scalar_grad: scalarGrad ? 1 : 0,
      want_a: wantA ? 1 : 0,
      want_b: wantB ? 1 : 0,
    };
    taskLossKernels.get({ loss: a.kind, mode: 'grad' }).run(storages(named), uniforms, grid1d(x.size, LOSS_WG));
    return [wantA ? ga : null, wantB ? gb : null, ...(w ? [null] : [])];
  },
};

function checkPair(op: string, a: Tensor, b: Tensor, names: [string, string]): void {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || !sameShape(a.shape, b.shape)) {
    throw new Error(
      `${op}: ${names[0]} ${shapeString(a.shape)} (${a.dtype}) and ${names[1]} ${shapeString(b.shape)} (${b.dtype}) must be float32 tensors of one shape`,
    );
  }
}

function checkReduction(op: string, r: string): void {
  if (r !== 'none' && r !== 'mean' && r !== 'sum') throw new Error(`${op}: reduction must be 'none', 'mean' or 'sum', got '${r}'`);
}

/**
 * torchvision.ops.sigmoid_focal_loss: alpha_t · BCE-with-logits · (1 - p_t)^gamma, per element, with a
 * numerically stable log-sigmoid. Targets are probabilities (usually 0/1) and get no gradient.
 */
export function sigmoidFocalLoss(logits: Tensor, targets: Tensor, opts: FocalLossOptions = {}): Tensor {
  const { alpha = 0.25, gamma = 2, reduction = 'none' } = opts;
  checkPair('sigmoidFocalLoss', logits, targets, ['logits', 'targets']);
  checkReduction('sigmoidFocalLoss', reduction);
  if (!(gamma >= 0) || !Number.isFinite(alpha)) throw new Error(`sigmoidFocalLoss: need gamma >= 0 and a finite alpha, got gamma ${gamma}, alpha ${alpha}`);
  const scale = reduction === 'mean' ? 1 / logits.size : 1;
  return apply(TaskLoss, [logits, targets], { kind: 'focal', reduction, s0: alpha, s1: gamma, hw: 1, scale, differentiable: [true, false] });
}

/** torch.nn.functional.smooth_l1_loss: 0.5·d²/beta where |d| < beta, else |d| - 0.5·beta (beta = 0: L1). */
export function smoothL1Loss(a: Tensor, b: Tensor, opts: SmoothL1Options = {}): Tensor {
  const { beta = 0.11, reduction = 'mean' } = opts;
  checkPair('smoothL1Loss', a, b, ['input', 'target']);
  checkReduction('smoothL1Loss', reduction);
  if (!(beta >= 0)) throw new Error(`smoothL1Loss: beta must be >= 0, got ${beta}`);
  const scale = reduction === 'mean' ? 1 / a.size : 1;
  return apply(TaskLoss, [a, b], { kind: 'smoothL1', reduction, s0: beta, s1: 0, hw: 1, scale, differentiable: [true, true] });
}

/**
 * SimpleBaseline's JointsMSELoss: (1/K) Σ_k 0.5 · mean_{n,h,w} (w_nk · (pred - target))², i.e.
 * 0.5 · Σ w_nk² (pred - target)² / (N·K·H·W). Both heatmaps are multiplied by the weight before the squared
 * difference, as in the original, so the weight enters squared. Without weights (use_target_weight=False)
 * every weight is 1. Gradients go to pred and target; weights (keypoint visibility) get none.
 */
export function heatmapMseLoss(pred: Tensor, target: Tensor, weights?: Tensor): Tensor {
  checkPair('heatmapMseLoss', pred, target, ['pred', 'target']);
  if (pred.rank !== 4) throw new Error(`heatmapMseLoss: pred ${shapeString(pred.shape)} must be [N, K, H, W]`);
  const [n, k, h, w] = pred.shape;
  const expectedWeights = weights && weights.size === n * k && weights.shape[0] === n && weights.shape[1] === k && weights.rank <= 3;
  if (weights && (!expectedWeights || weights.dtype !== 'float32')) {
    throw new Error(`heatmapMseLoss: weights ${shapeString(weights.shape)} (${weights.dtype}) must be float32 [${n}, ${k}] (or [${n}, ${k}, 1]) for pred ${shapeString(pred.shape)}`);
  }
  const unit = weights ? null : ones([n, k]);
  const attrs: LossAttrs = { kind: 'heatmap', reduction: 'mean', s0: 0, s1: 0, hw: h * w, scale: 1 / pred.size, differentiable: [true, true] };
  const out = apply(TaskLoss, [pred, target, weights ?? unit!], attrs);
  unit?.dispose();
  return out;
}
