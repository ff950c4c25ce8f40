// FNA++ mixed op (spec §3.1, §3.3): a softmax-weighted sum of candidate outputs over a sampled subset, and
// the expected cost. Kernels: kernels/mixedop.ts.
import { apply, type FunctionDef } from '../autograd.ts';
import type { UniformValues } from '../kernel.ts';
import { contiguousStrides, sameShape, shapeString } from '../host.ts';
import type { Storage } from '../device/buffers.ts';
import { allocate, type Tensor } from '../tensor.ts';
import {
  MIXED_CHUNK,
  MIXED_MAX_SUBSET,
  MIXED_MAX_THREADS,
  MIXED_PER_THREAD,
  MIXED_PROBS_TAIL,
  MIXED_SUM_CHUNK,
  MIXED_WG,
  mixedAlphaGrad,
  mixedCost,
  mixedCostGrad,
  mixedDots,
  mixedGrad,
  mixedProbs,
  mixedSum,
} from '../../kernels/mixedop.ts';
import { zeros } from './creation.ts';
import { map } from './map.ts';
import { contiguous, dense } from './movement.ts';
import { sum } from './reduce.ts';
import { tuning } from '../tuning.ts';

export interface MixedOpOptions {
  /** Softmax temperature tau: p = softmax(alpha[subset] / tau). Default 1 (SSDLite search uses 0.9). */
  temperature?: number;
  /** Indices of the sampled candidates; the softmax runs over these only. Default: all. */
  sampled?: readonly number[];
  /** Per-candidate cost (e.g. multiply-adds), indexed like alpha; gives `expectedCost`. */
  costs?: readonly number[];
}

export interface MixedOpResult {
  out: Tensor;
  /** Σ_j p_j · cost_j over the subset (a scalar), or null without `costs`. */
  expectedCost: Tensor | null;
}

interface MixedAttrs {
  subset: number[];
  invTemp: number;
  kTotal: number;
  costs: number[];
}

/** What varies between a mixed op's dispatches; the kernels ignore what they do not read. */
interface Launch {
  /** Items (vec4s on the vec4 path) of the element-wise kernels. */
  n?: number;
  /** Offset of alpha's first entry in its buffer, for the kernels that read alpha. */
  alphaOffset?: number;
  /** Subset positions of the candidates a chunk binds. */
  slots?: number[];
  /** Invocations of the element-wise kernels (the dots' partials per candidate). */
  threads?: number;
  /** Items per invocation of the element-wise kernels. */
  per?: number;
  accumulate?: boolean;
}

function uniforms(a: MixedAttrs, { n = 0, alphaOffset = 0, slots = [], threads = 0, per = 0, accumulate = false }: Launch): UniformValues {
  return {
    n,
    count: slots.length,
    accumulate: accumulate ? 1 : 0,
    alpha_offset: alphaOffset,
    subset_size: a.subset.length,
    k_total: a.kTotal,
    inv_temp: a.invTemp,
    threads,
    per,
    subset: a.subset,
    slots,
    costs: a.subset.map((k) => a.costs[k] ?? 0),
  };
}

/**
 * Work split for n elements: vec4 access when n allows it, `groups` workgroups of `wg` invocations that
 * each visit `per` items (see BLOCK_LOOP in kernels/mixedop.ts), `threads` = groups · wg in all. Software
 * tuning: at least MIXED_PER_THREAD items an invocation and at most MIXED_MAX_THREADS invocations (lavapipe
 * pays per invocation; 4 items an invocation ran the op 1.4-2x slower). GPU tuning: MIXED_PER_GPU_THREAD.
 */
function layout(n: number): { vec4: boolean; items: number; groups: number; threads: number; per: number; wg: number; perConst: number } {
  const vec4 = n > 0 && n % 4 === 0;
  const items = vec4 ? n / 4 : n;
  const t = tuning();
  const wg = MIXED_WG[t];
  const least = t === 'gpu' ? MIXED_PER_GPU_THREAD : MIXED_PER_THREAD;
  const per = Math.max(least, Math.ceil(items / (t === 'gpu' ? wg * MAX_WORKGROUPS_PER_DIM : MIXED_MAX_THREADS)));
  const groups = Math.max(1, Math.ceil(items / (wg * per)));
  // The common case, the least items an invocation, is a constant of the kernels (MixedChunkVariant.per).
  return { vec4, items, groups, threads: groups * wg, per, wg, perConst: per === least ? per : 0 };
}

/** Items per invocation of the element-wise kernels under gpu tuning (see engine/tuning.ts). */
const MIXED_PER_GPU_THREAD = 4;
const MAX_WORKGROUPS_PER_DIM = 65535;

/** Calls `each` on `slots` (subset positions) in chunks of at most `size`. */
function inChunks(slots: number[], each: (chunk: number[], first: boolean) => void, size = MIXED_CHUNK): void {
  for (let s = 0; s < slots.length; s += size) each(slots.slice(s, s + size), s === 0);
}

/**
 * Bindings prefix0..prefix{slots-1} for a chunk's tensors. Unused input slots repeat slot 0 (never read); unused
 * output slots get 16-byte dummies (never written; writable bindings may not alias), disposed by `done`.
 */
function slotBindings(prefix: string, tensors: Tensor[], output: boolean, slots = MIXED_CHUNK): { named: Record<string, Storage>; done: () => void } {
  const dummies: Tensor[] = [];
  const named: Record<string, Storage> = {};
  for (let k = 0; k < slots; k++) {
    let t = tensors[k];
    if (!t && output) dummies.push((t = allocate([4])));
    named[`${prefix}${k}`] = (t ?? tensors[0]).storage;
  }
  return { named, done: () => dummies.forEach((d) => d.dispose()) };
}

const MixedSum: FunctionDef<MixedAttrs> = {
  name: 'mixedOp',
  forward(ctx, inputs, a) {
    const alpha = inputs[inputs.length - 1];
    const cands = inputs.slice(0, -1).map(dense);
    // out's storage holds p after its items (MIXED_PROBS_TAIL floats), where mixed_sum reads it; the
    // tensor is a dense view of the first out.size floats.
    const shape = cands[0].shape;
    const n = cands[0].size;
    const withTail = allocate([n + MIXED_PROBS_TAIL]);
    const out = withTail.view(shape, contiguousStrides(shape), 0);
    withTail.dispose();
    // p is computed once here and saved: backward uses the forward's probabilities and needs no alpha.
    const probs = allocate([a.subset.length]);
    mixedProbs.run({ alpha: alpha.storage, probs: probs.storage, out: out.storage }, uniforms(a, { n, alphaOffset: alpha.offset }), [1, 1, 1]);
    const { vec4, items, groups, threads, per, wg, perConst } = layout(n);
    inChunks(
      range(cands.length),
      (chunk, first) => {
        const { named } = slotBindings('c', chunk.map((j) => cands[j]), false, MIXED_SUM_CHUNK);
        const full = first && chunk.length === MIXED_SUM_CHUNK;
        mixedSum.get({ vec4, wg, full, per: perConst }).run({ ...named, out: out.storage }, uniforms(a, { n: items, slots: chunk, threads, per, accumulate: !first }), [groups, 1, 1]);
      },
      MIXED_SUM_CHUNK,
    );
    ctx.save(probs, ...(ctx.needsInputGrad[inputs.length - 1] ? cands : []));
    probs.dispose();
    cands.forEach((c, k) => c !== inputs[k] && c.dispose());
    return out;
  },
  backward(ctx, g, a) {
    const [probs, ...cands] = ctx.saved;
    const s = a.subset.length;
    const gd = dense(g);
    const { vec4, items, groups, threads, per, wg } = layout(gd.size);
    const grads: (Tensor | null)[] = new Array(s + 1).fill(null);
    const wanted = range(s).filter((j) => ctx.needsInputGrad[j]);
    if (s === 1) {
      // softmax over one entry is exactly 1: the candidate's gradient is g, alpha's is 0.
      if (wanted.length) grads[0] = gd;
    } else {
      inChunks(wanted, (chunk) => {
        const { named, done } = slotBindings('d', chunk.map((j) => (grads[j] = allocate(g.shape))), true);
        mixedGrad.get({ vec4, wg }).run({ ...named, g: gd.storage, probs: probs.storage }, uniforms(a, { n: items, slots: chunk, threads, per }), [groups, 1, 1]);
        done();
      });
    }
    if (ctx.needsInputGrad[s]) grads[s] = s === 1 ? zeros([a.kTotal]) : alphaGrad(gd, probs, cands, a);
    return grads;
  },
};

function alphaGrad(g: Tensor, probs: Tensor, cands: Tensor[], a: MixedAttrs): Tensor {
  const { vec4, items, groups, threads, per, wg } = layout(g.size);
  const partials = allocate([cands.length * threads]);
  inChunks(range(cands.length), (chunk) => {
    const { named } = slotBindings('c', chunk.map((j) => cands[j]), false);
    mixedDots.get({ vec4, wg }).run({ ...named, g: g.storage, partials: partials.storage }, uniforms(a, { n: items, slots: chunk, threads, per }), [groups, 1, 1]);
  });
  const grad = allocate([a.kTotal]);
  if (threads <= MIXED_MAX_THREADS) {
    mixedAlphaGrad.run({ partials: partials.storage, probs: probs.storage, grad_alpha: grad.storage }, uniforms(a, { threads }), [1, 1, 1]);
  } else {
    // More partials than one invocation should add up (gpu tuning): the reduction kernel sums them first.
    const rows = partials.view([cands.length, threads], [threads, 1], 0);
    const dots = sum(rows, 1);
    mixedAlphaGrad.run({ partials: dots.storage, probs: probs.storage, grad_alpha: grad.storage }, uniforms(a, { threads: 1 }), [1, 1, 1]);
    rows.dispose();
    dots.dispose();
  }
  partials.dispose();
  return grad;
}

const ExpectedCost: FunctionDef<MixedAttrs> = {
  name: 'mixedOpExpectedCost',
  forward(ctx, [alpha], a) {
    const out = allocate([]);
    mixedCost.run({ alpha: alpha.storage, out: out.storage }, uniforms(a, { alphaOffset: alpha.offset }), [1, 1, 1]);
    ctx.save(alpha);
    return out;
  },
  backward(ctx, g, a) {
    const [alpha] = ctx.saved;
    const grad = allocate([a.kTotal]);
    mixedCostGrad.run({ g: dense(g).storage, alpha: alpha.storage, grad_alpha: grad.storage }, uniforms(a, { alphaOffset: alpha.offset }), [1, 1, 1]);
    return [grad];
  },
};

const range = (k: number) => [...Array(k).keys()];

/**
 * FNA++'s MixedOp: out = Σ_{j ∈ sampled} p_j · candidates[j], p = softmax(alpha[sampled] / temperature),
 * plus the expected cost Σ p_j · costs[j]. `candidates` has one entry per alpha entry; unsampled ones may
 * be null (they are not read and get no gradient; their alphas get a zero gradient).
 */
export function mixedOp(
  candidates: readonly (Tensor | null)[],
  alpha: Tensor,
  opts: MixedOpOptions & { costs: readonly number[] },
): MixedOpResult & { expectedCost: Tensor };
export function mixedOp(candidates: readonly (Tensor | null)[], alpha: Tensor, opts?: MixedOpOptions): MixedOpResult;
export function mixedOp(candidates: readonly (Tensor | null)[], alpha: Tensor, opts: MixedOpOptions = {}): MixedOpResult {
  const { temperature = 1, costs } = opts;
  const kTotal = alpha.shape[0];
  if (alpha.rank !== 1 || alpha.dtype !== 'float32') throw new Error(`mixedOp: alpha ${shapeString(alpha.shape)} (${alpha.dtype}) must be a float32 vector [K]`);
  if (candidates.length !== kTotal) throw new Error(`mixedOp: ${candidates.length} candidates for alpha ${shapeString(alpha.shape)}; expected one per alpha entry`);
  const subset = [...(opts.sampled ?? range(kTotal))];
  const valid = subset.every((k) => Number.isInteger(k) && k >= 0 && k < kTotal) && new Set(subset).size === subset.length;
  if (!valid || subset.length === 0 || subset.length > MIXED_MAX_SUBSET) {
    throw new Error(`mixedOp: sampled [${subset}] must be 1 to ${MIXED_MAX_SUBSET} distinct indices into alpha ${shapeString(alpha.shape)}`);
  }
  if (!(temperature > 0)) throw new Error(`mixedOp: temperature must be positive, got ${temperature}`);
  if (costs && (costs.length !== kTotal || !costs.every(Number.isFinite))) {
    throw new Error(`mixedOp: costs must hold ${kTotal} finite numbers (one per alpha entry), got [${costs}]`);
  }
  const chosen = subset.map((k) => candidates[k]);
  const first = chosen[0];
  chosen.forEach((c, j) => {
    if (!c || c.dtype !== 'float32' || (first && !sameShape(c.shape, first.shape))) {
      throw new Error(
        `mixedOp: sampled candidate ${subset[j]} is ${c ? `${shapeString(c.shape)} (${c.dtype})` : 'null'}; expected float32 ${first ? shapeString(first.shape) : ''}`,
      );
    }
  });
  // Kernels read alpha from its offset on, so a contiguous view (a row of an [L, K] matrix) needs no copy.
  const alphaRow = alpha.isContiguous() ? alpha : contiguous(alpha);
  const attrs: MixedAttrs = { subset, invTemp: 1 / temperature, kTotal, costs: [...(costs ?? [])] };
  const out = apply(MixedSum, [...(chosen as Tensor[]), alphaRow], attrs);
  const expectedCost = costs ? apply(ExpectedCost, [alphaRow], attrs) : null;
  if (alphaRow !== alpha) alphaRow.dispose();
  return { out, expectedCost };
}
