// FNA++ mixed op (spec §3.1, §3.3): out = Σ_j p_j · cand_j with p = softmax(alpha[subset] / tau), and the
// expected cost Σ_j p_j · cost_j, with their gradients.
//
// No kernel uses workgroup memory or a barrier: lavapipe runs a workgroupBarrier by spilling every
// invocation's state, and the shared-memory reductions these kernels used to do cost ~10x the plain loops.
// p is computed once, by a single invocation, into a small buffer that the forward saves for the backward.
// (Recomputing it in every invocation of the element-wise kernels, ~20 exps and alpha loads each, made
// mixed_sum 3x slower at one item per invocation.) The subset's alpha indices, and the subset
// positions ("slots") of the candidates a dispatch binds, travel in the uniform.
//
// Candidates are separate tensors and WebGPU guarantees only 8 storage bindings. mixed_sum binds 7
// candidate slots and `out`, and reads p from a tail of out's storage past the output items, where
// mixed_probs also writes it. (With p in its own binding only 6 candidates fit, and K = 7, the search
// space's size, took a second pass that re-read and re-wrote out: 10 reads+writes per element where one
// pass needs 8; the single pass measured ~25% faster.) mixed_grad and mixed_dots bind 6 slots. Larger
// subsets run in chunks; `count` (uniform) says how many slots a dispatch uses (a slot past it costs next
// to nothing: its branch is uniform). Unused input slots repeat slot 0's buffer, unused output slots get a
// 16-byte dummy (writable bindings may not alias): the slot count is not part of the code, so 2 variants
// (f32, vec4) per kernel compile instead of 12 or 14 (pipeline compiles take seconds on lavapipe).
//   mixed_probs         alpha, probs, out          one invocation: probs[j] = out[n + j] = p_j (out's tail)
//   mixed_sum           c0..c6, out                out = (accumulate ? out : 0) + Σ p_slot · c, p from out's tail
//   mixed_grad          g, probs, d0..d5           d = p_slot · g
//   mixed_dots          g, c0..c5, partials        partials[slot·T + t] = invocation t's share of ⟨g, c_slot⟩
//   mixed_alpha_grad    partials, probs, grad_alpha  one invocation: d_j = Σ_t partials[j·T + t],
//                                                    dα_j = p_j (d_j - Σ p d) / tau, zero off the subset
//   mixed_cost / mixed_cost_grad (alpha)           one invocation: E = Σ p c;  dα_j = g p_j (c_j - E) / tau
// The element-wise kernels run T = `threads` invocations, T = 64·groups with about MIXED_PER_THREAD items
// per invocation and at most MIXED_MAX_THREADS (lavapipe pays per workgroup and per invocation, so fewer,
// longer invocations measured faster; the grid stays 1-D). Invocation t visits items t, t + T, ..., so
// neighbouring invocations read neighbouring addresses, and the alpha gradient sums at most
// MIXED_MAX_THREADS partials per candidate.
import { Kernel, KernelFamily } from '../engine/kernel.ts';

const range = (k: number) => [...Array(k).keys()];

/** Workgroup sizes of the element-wise kernels: one 8-lane SIMD group on a software adapter, 64 on a GPU. */
export const MIXED_WG = { software: 8, gpu: 64 } as const;
export const MIXED_MAX_SUBSET = 32;
/** Candidate slots of mixed_grad and mixed_dots (g, probs or partials, and 6 slots: 8 storage bindings). */
export const MIXED_CHUNK = 6;
/** Candidate slots of mixed_sum (7 slots and out, whose storage holds p past the output: 8 bindings). */
export const MIXED_SUM_CHUNK = 7;
/** Floats past the output items in mixed_sum's `out` storage, holding p (a whole number of vec4s). */
export const MIXED_PROBS_TAIL = MIXED_MAX_SUBSET;
/** Most invocations (so most dots' partials per candidate) of the element-wise kernels under software tuning. */
export const MIXED_MAX_THREADS = 1024;
/** Least items (vec4s on the vec4 path) per invocation of the element-wise kernels under software tuning. */
export const MIXED_PER_THREAD = 64;

const PARAMS = /* wgsl */ `
struct Params {
  n: u32, alpha_offset: u32, subset_size: u32, k_total: u32, inv_temp: f32, threads: u32,
  count: u32, accumulate: u32, per: u32,
  subset: array<vec4<u32>, ${MIXED_MAX_SUBSET / 4}>,
  slots: array<vec4<u32>, 2>,
  costs: array<vec4<f32>, ${MIXED_MAX_SUBSET / 4}>,
}`;

const SUBSET_INDEX = /* wgsl */ `fn subset_index(j: u32) -> u32 { return params.subset[j >> 2u][j & 3u]; }`;
const SLOT = /* wgsl */ `fn slot(k: u32) -> u32 { return params.slots[k >> 2u][k & 3u]; }`;
const SOFTMAX = /* wgsl */ `${SUBSET_INDEX}
fn logit(j: u32) -> f32 { return alpha[params.alpha_offset + subset_index(j)] * params.inv_temp; }
// (max logit, Σ exp(logit - max)) over the subset; prob(j) is then one exp and a division.
fn softmax_stats() -> vec2<f32> {
  var m = logit(0u);
  for (var j = 1u; j < params.subset_size; j++) { m = max(m, logit(j)); }
  var total = 0.0;
  for (var j = 0u; j < params.subset_size; j++) { total += exp(logit(j) - m); }
  return vec2<f32>(m, total);
}
fn prob(j: u32, stats: vec2<f32>) -> f32 { return exp(logit(j) - stats.x) / stats.y; }`;

const ENTRY = (wg: number) => /* wgsl */ `
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lidx: u32) {`;

export interface MixedChunkVariant {
  /** Bind the tensors as array<vec4<f32>> (when the element count is a multiple of 4); n then counts vec4s. */
  vec4: boolean;
  /** Workgroup size (MIXED_WG of the tuning). */
  wg: number;
  /**
   * mixed_sum only: all 7 slots in use and the first chunk (nothing to accumulate), known when the kernel
   * compiles, so no per-item branches on `count` and `accumulate`. K = 7, the search space's size, is one
   * such chunk.
   */
  full?: boolean;
  /**
   * Items an invocation visits as a constant of the kernel (0 or absent: the uniform `per`). With `full`,
   * the mixed op's sum ran 1.12-1.19x faster on lavapipe (kernel alone, either order; the op's forward
   * 1.0-1.27x, same-process alternating runs): LLVM gets a loop of known trip count with a guarded body
   * instead of a data-dependent one with an exit. mixed_grad and mixed_dots measured the same either way
   * and keep the generic loop.
   */
  per?: number;
}

const key = (v: MixedChunkVariant) => `${v.vec4 ? 'vec4' : 'f32'},wg${v.wg}${v.full ? ',full' : ''}${v.per ? `,per${v.per}` : ''}`;
const elem = (v: MixedChunkVariant) => (v.vec4 ? 'vec4<f32>' : 'f32');
/**
 * Workgroup w owns the block of WG·per items from w·WG·per on; invocation t of it visits every WG-th item
 * of the block (neighbouring lanes read neighbouring addresses). On lavapipe this ran a 7-candidate sum at
 * copy speed with 8-lane workgroups, where a grid-strided loop (item t, t + T, ...) reached 60-80%.
 */
const BLOCK_LOOP = (v: MixedChunkVariant, body: string) =>
  v.per
    ? /* wgsl */ `
  let first = wid.x * ${v.wg * v.per}u + lidx;
  for (var j = 0u; j < ${v.per}u; j++) {
    let i = first + j * ${v.wg}u;
    if (i < params.n) {
    ${body}
    }
  }`
    : /* wgsl */ `
  let first = wid.x * ${v.wg}u * params.per + lidx;
  for (var j = 0u; j < params.per; j++) {
    let i = first + j * ${v.wg}u;
    if (i >= params.n) { break; }
    ${body}
  }`;
/** Per-slot statements for the `count` slots in use (slot 0 is always used; the branches are uniform). */
const perSlot = (stmt: (k: number) => string, sep = '\n    ', slots = MIXED_CHUNK, full = false) =>
  range(slots).map((k) => (k === 0 || full ? stmt(k) : `if (params.count > ${k}u) { ${stmt(k)} }`)).join(sep);
const SLOTS = range(MIXED_CHUNK);
const probsOfSlots = SLOTS.map((k) => `let p${k} = probs[slot(${k}u)];`).join('\n  ');

export const mixedProbs = new Kernel(
  'mixed_probs',
  /* wgsl */ `${PARAMS}
@group(0) @binding(0) var<storage, read> alpha: array<f32>;
@group(0) @binding(1) var<storage, read_write> probs: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
${SOFTMAX}
${ENTRY(1)}
  let stats = softmax_stats();
  for (var j = 0u; j < params.subset_size; j++) {
    let p = prob(j, stats);
    probs[j] = p;
    out[params.n + j] = p; // n counts floats here
  }
}`,
);

const SUM_SLOTS = range(MIXED_SUM_CHUNK);
/**
 * p of the candidate in each slot, from out's tail (items n.. of out). The address is the same in every
 * invocation, so lavapipe loads it once, and no invocation writes there.
 */
const sumProbs = (v: MixedChunkVariant) =>
  SUM_SLOTS.map((k) =>
    v.vec4 ? `let p${k} = out[params.n + (slot(${k}u) >> 2u)][slot(${k}u) & 3u];` : `let p${k} = out[params.n + slot(${k}u)];`,
  ).join('\n  ');

export const mixedSum = new KernelFamily<MixedChunkVariant>(
  'mixed_sum',
  (v) => /* wgsl */ `${PARAMS}
${SUM_SLOTS.map((k) => `@group(0) @binding(${k}) var<storage, read> c${k}: array<${elem(v)}>;`).join('\n')}
@group(0) @binding(${MIXED_SUM_CHUNK}) var<storage, read_write> out: array<${elem(v)}>;
@group(0) @binding(${MIXED_SUM_CHUNK + 1}) var<uniform> params: Params;
${SLOT}
${ENTRY(v.wg)}
  ${sumProbs(v)}
  ${BLOCK_LOOP(v, `var v = ${elem(v)}(0.0);
    ${v.full ? '' : 'if (params.accumulate != 0u) { v = out[i]; }'}
    ${perSlot((k) => `v += p${k} * c${k}[i];`, '\n    ', MIXED_SUM_CHUNK, v.full)}
    out[i] = v;`)}
}`,
  key,
);

export const mixedGrad = new KernelFamily<MixedChunkVariant>(
  'mixed_grad',
  (v) => /* wgsl */ `${PARAMS}
@group(0) @binding(0) var<storage, read> g: array<${elem(v)}>;
@group(0) @binding(1) var<storage, read> probs: array<f32>;
${SLOTS.map((k) => `@group(0) @binding(${k + 2}) var<storage, read_write> d${k}: array<${elem(v)}>;`).join('\n')}
@group(0) @binding(${MIXED_CHUNK + 2}) var<uniform> params: Params;
${SLOT}
${ENTRY(v.wg)}
  ${probsOfSlots}
  ${BLOCK_LOOP(v, `let gi = g[i];
    ${perSlot((k) => `d${k}[i] = p${k} * gi;`)}`)}
}`,
  key,
);

export const mixedDots = new KernelFamily<MixedChunkVariant>(
  'mixed_dots',
  (v) => /* wgsl */ `${PARAMS}
@group(0) @binding(0) var<storage, read> g: array<${elem(v)}>;
${SLOTS.map((k) => `@group(0) @binding(${k + 1}) var<storage, read> c${k}: array<${elem(v)}>;`).join('\n')}
@group(0) @binding(${MIXED_CHUNK + 1}) var<storage, read_write> partials: array<f32>;
@group(0) @binding(${MIXED_CHUNK + 2}) var<uniform> params: Params;
${SLOT}
${ENTRY(v.wg)}
  let t = wid.x * ${v.wg}u + lidx;
  ${SLOTS.map((k) => `var acc${k} = ${elem(v)}(0.0);`).join('\n  ')}
  ${BLOCK_LOOP(v, `let gi = g[i];
    ${perSlot((k) => `acc${k} += gi * c${k}[i];`)}`)}
  ${perSlot((k) => `partials[slot(${k}u) * params.threads + t] = ${v.vec4 ? `dot(acc${k}, vec4<f32>(1.0))` : `acc${k}`};`, '\n  ')}
}`,
  key,
);

export const mixedAlphaGrad = new Kernel(
  'mixed_alpha_grad',
  /* wgsl */ `${PARAMS}
@group(0) @binding(0) var<storage, read> partials: array<f32>;
@group(0) @binding(1) var<storage, read> probs: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad_alpha: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
${SUBSET_INDEX}
${ENTRY(1)}
  var dots: array<f32, ${MIXED_MAX_SUBSET}>;
  var mean = 0.0;
  for (var j = 0u; j < params.subset_size; j++) {
    var d = 0.0;
    for (var t = 0u; t < params.threads; t++) { d += partials[j * params.threads + t]; }
    dots[j] = d;
    mean += probs[j] * d;
  }
  for (var k = 0u; k < params.k_total; k++) { grad_alpha[k] = 0.0; }
  for (var j = 0u; j < params.subset_size; j++) {
    grad_alpha[subset_index(j)] = params.inv_temp * probs[j] * (dots[j] - mean);
  }
}`,
);

export const mixedCost = new Kernel(
  'mixed_cost',
  /* wgsl */ `${PARAMS}
@group(0) @binding(0) var<storage, read> alpha: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
${SOFTMAX}
fn cost(j: u32) -> f32 { return params.costs[j >> 2u][j & 3u]; }
${ENTRY(1)}
  let stats = softmax_stats();
  var e = 0.0;
  for (var j = 0u; j < params.subset_size; j++) { e += prob(j, stats) * cost(j); }
  out[0] = e;
}`,
);

export const mixedCostGrad = new Kernel(
  'mixed_cost_grad',
  /* wgsl */ `${PARAMS}
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> alpha: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad_alpha: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
${SOFTMAX}
fn cost(j: u32) -> f32 { return params.costs[j >> 2u][j & 3u]; }
${ENTRY(1)}
  let stats = softmax_stats();
  var e = 0.0;
  for (var j = 0u; j < params.subset_size; j++) { e += prob(j, stats) * cost(j); }
  for (var k = 0u; k < params.k_total; k++) { grad_alpha[k] = 0.0; }
  for (var j = 0u; j < params.subset_size; j++) {
    grad_alpha[subset_index(j)] = g[0] * params.inv_temp * prob(j, stats) * (cost(j) - e);
  }
}`,
);
