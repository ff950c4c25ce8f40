// Global gradient-norm clipping with torch.nn.utils.clip_grad_norm_'s semantics, entirely on the GPU:
//   norm = || (||g_1||_p, ..., ||g_k||_p) ||_p ,   g_i *= min(1, maxNorm / (norm + 1e-6))
// Nothing is read back; the norm comes back as a 0-d tensor for the caller to log or `await item()`.
// Non-finite gradients are not detected (WGSL may assume there are none).
import { grid1d } from '../kernel.ts';
import { fromArray } from '../ops/creation.ts';
import { map } from '../ops/map.ts';
import { keep } from '../scope.ts';
import { allocate, type Tensor } from '../tensor.ts';
import {
  CLIP_CHUNK,
  clipFinalizeKernels,
  clipPartialKernels,
  clipScaleKernel,
  type NormKind,
} from '../../kernels/optim.ts';
import { WG } from '../../kernels/prelude.ts';

function normKind(normType: number): NormKind {
  if (normType === Infinity) return 'inf';
  if (!(normType > 0 && Number.isFinite(normType))) {
    throw new Error(`clipGradNorm: normType must be a positive number or Infinity, got ${normType}`);
  }
  return normType === 2 ? 'l2' : normType === 1 ? 'l1' : 'p';
}

/**
 * Scales the gradients of `params` in place so their global `normType`-norm is at most `maxNorm`, and
 * returns the norm before clipping. Parameters without a gradient are ignored.
 */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number, normType = 2): Tensor {
  const kind = normKind(normType);
  if (!Number.isFinite(maxNorm)) throw new Error(`clipGradNorm: maxNorm must be finite, got ${maxNorm}`);
  const withGrad = params.filter((p) => p.grad);
  if (withGrad.length === 0) return fromArray([0], []);

  // Gradients are scaled in place, so each needs its own dense storage: autograd may hand two leaves
  // views of one gradient (e.g. both inputs of an add), which would otherwise be scaled twice.
  const grads = withGrad.map((p) => {
    const g = p.grad!;
    if (g.isContiguous() && g.storage.refs === 1) return g;
    const own = keep(map('copy', 'a', [g]));
    g.dispose();
    p.grad = own;
    return own;
  });

  const bases: number[] = [];
  let slots = 0;
  for (const g of grads) {
    bases.push(slots);
    slots += Math.ceil(g.size / CLIP_CHUNK);
  }
  const partial = allocate([Math.max(1, slots)], 'float32', 'clip-partial');
  const partialKernel = clipPartialKernels.get(kind);
  grads.forEach((g, k) => {
    partialKernel.run(
      { g: g.storage, partial: partial.storage },
      { n: g.size, g_offset: g.offset, base: bases[k], norm_p: normType === Infinity ? 1 : normType },
      grid1d(g.size, CLIP_CHUNK),
    );
  });
  const norm = allocate([], 'float32', 'clip-norm');
  const coef = allocate([1], 'float32', 'clip-coef');
  clipFinalizeKernels.get(kind).run(
    { partial: partial.storage, norm: norm.storage, coef: coef.storage },
    { slots, max_norm: maxNorm, inv_p: normType === Infinity ? 1 : 1 / normType },
    [1, 1, 1],
  );
  for (const g of grads) clipScaleKernel.run({ g: g.storage, coef: coef.storage }, { n: g.size, g_offset: g.offset }, grid1d(g.size, WG));
  partial.dispose();
  coef.dispose();
  return norm;
}
