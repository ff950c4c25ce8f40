// FNA++ mixed op (spec §3.1, §3.3): out = Σ_j p_j · cand_j with p = softmax(alpha[subset] / tau), and the
// expected cost Σ_j p_j · cost_j, with their gradients.
//
// Every kernel recomputes p from alpha itself (thread 0 into workgroup memory, then a barrier): the subset
// holds at most 32 entries, so that is ~100 flops per workgroup, and no probability buffer has to travel
// between kernels. The subset's alpha indices, and the subset positions ("slots") of the candidates a
// dispatch binds, travel in the uniform.
//
// Candidates are separate tensors and WebGPU guarantees only 8 storage bindings, so the element-wise
// kernels bind 6 candidate slots and larger subsets run in chunks of 6; `count` (uniform) says how many
// slots a dispatch uses. Unused input slots repeat slot 0's buffer, unused output slots get a 16-byte dummy
// (writable bindings may not alias): the slot count is not part of the code, so 2 variants (f32, vec4)
// per kernel compile instead of 12 (pipeline compiles take seconds on lavapipe).
//   mixed_sum    c0..c5, alpha, out        out = (accumulate ? out : 0) + Σ p_slot · c
//   mixed_grad   g, alpha, d0..d5          d = p_slot · g
//   mixed_dots   g, c0..c5, partials       per-workgroup partial sums of ⟨g, c⟩
//   mixed_alpha_grad    partials, alpha, grad_alpha  dα_j = p_j (d_j - Σ p d) / tau, zero off the subset
//   mixed_cost / mixed_cost_grad                     E = Σ p c;  dα_j = g p_j (c_j - E) / tau
// On lavapipe an invocation costs far more than a load, so the element-wise kernels run a fixed grid of at
// most MIXED_GROUPS workgroups, each computing p once and then striding over the tensors, reading vec4s
// when the element count allows. The grid never exceeds 65535 workgroups, so it is always 1-D; the dots'
// partial sums (one per workgroup and candidate) leave the alpha gradient a short, fixed-length list.
import { Kernel, KernelFamily } from '../engine/kernel.ts';

const range = (k: number) => [...Array(k).keys()];

export const MIXED_WG = 64;
export const MIXED_MAX_SUBSET = 32;
export const MIXED_CHUNK = 6;
export const MIXED_GROUPS = 256;

const PARAMS = /* wgsl */ `
struct Params {
  n: u32, alpha_offset: u32, subset_size: u32, k_total: u32, inv_temp: f32, num_groups: u32,
  count: u32, accumulate: u32,
  subset: array<vec4<u32>, ${MIXED_MAX_SUBSET / 4}>,
  slots: array<vec4<u32>, 2>,
  costs: array<vec4<f32>, ${MIXED_MAX_SUBSET / 4}>,
}`;

const SOFTMAX = /* wgsl */ `
var<workgroup> probs: array<f32, ${MIXED_MAX_SUBSET}>;
fn subset_index(j: u32) -> u32 { return params.subset[j >> 2u][j & 3u]; }
fn slot(k: u32) -> u32 { return params.slots[k >> 2u][k & 3u]; }
fn logit(j: u32) -> f32 { return alpha[params.alpha_offset + subset_index(j)] * params.inv_temp; }
// Fills probs[0..subset_size) with the subset softmax. Call from uniform control flow.
fn load_probs(lidx: u32) {
  if (lidx == 0u) {
    var m = logit(0u);
    for (var j = 1u; j < params.subset_size; j++) { m = max(m, logit(j)); }
    var total = 0.0;
    for (var j = 0u; j < params.subset_size; j++) {
      let e = exp(logit(j) - m);
      probs[j] = e;
      total += e;
    }
    for (var j = 0u; j < params.subset_size; j++) { probs[j] = probs[j] / total; }
  }
  workgroupBarrier();
}`;

const ENTRY = (wg: number) => /* wgsl */ `
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {`;

export interface MixedChunkVariant {
  /** Bind the tensors as array<vec4<f32>> (when the element count is a multiple of 4); n then counts vec4s. */
  vec4: boolean;
}

const key = (v: MixedChunkVariant) => (v.vec4 ? 'vec4' : 'f32');
const elem = (v: MixedChunkVariant) => (v.vec4 ? 'vec4<f32>' : 'f32');
const SLOTS = range(MIXED_CHUNK);
/** Grid-stride loop over this workgroup's share of the n elements (the grid is 1-D, num_groups wide). */
const STRIDED_LOOP = (body: string) => /* wgsl */ `
  for (var i = wid.x * ${MIXED_WG}u + lidx; i < params.n; i += params.num_groups * ${MIXED_WG}u) {
    ${body}
  }`;
/** Per-slot statements for the `count` slots in use (slot 0 is always used; the branches are uniform). */
const perSlot = (stmt: (k: number) => string) =>
  SLOTS.map((k) => (k === 0 ? stmt(k) : `if (params.count > ${k}u) { ${stmt(k)} }`)).join('\n    ');
const probsOfSlots = SLOTS.map((k) => `let p${k} = probs[slot(${k}u)];`).join('\n  ');

export const mixedSum = new KernelFamily<MixedChunkVariant>(
  'mixed_sum',
  (v) => /* wgsl */ `${PARAMS}
${SLOTS.map((k) => `@group(0) @binding(${k}) var<storage, read> c${k}: array<${elem(v)}>;`).join('\n')}
@group(0) @binding(${MIXED_CHUNK}) var<storage, read> alpha: array<f32>;
@group(0) @binding(${MIXED_CHUNK + 1}) var<storage, read_write> out: array<${elem(v)}>;
@group(0) @binding(${MIXED_CHUNK + 2}) var<uniform> params: Params;
${SOFTMAX}
${ENTRY(MIXED_WG)}
  load_probs(lidx);
  ${probsOfSlots}
  ${STRIDED_LOOP(`var v = ${elem(v)}(0.0);
    if (params.accumulate != 0u) { v = out[i]; }
    ${perSlot((k) => `v += p${k} * c${k}[i];`)}
    out[i] = v;`)}
}`,
  key,
);

export const mixedGrad = new KernelFamily<MixedChunkVariant>(
  'mixed_grad',
  (v) => /* wgsl */ `${PARAMS}
@group(0) @binding(0) var<storage, read> g: array<${elem(v)}>;
@group(0) @binding(1) var<storage, read> alpha: array<f32>;
${SLOTS.map((k) => `@group(0) @binding(${k + 2}) var<storage, read_write> d${k}: array<${elem(v)}>;`).join('\n')}
@group(0) @binding(${MIXED_CHUNK + 2}) var<uniform> params: Params;
${SOFTMAX}
${ENTRY(MIXED_WG)}
  load_probs(lidx);
  ${probsOfSlots}
  ${STRIDED_LOOP(`let gi = g[i];
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
fn slot(k: u32) -> u32 { return params.slots[k >> 2u][k & 3u]; }
var<workgroup> red: array<f32, ${MIXED_WG}>;
${ENTRY(MIXED_WG)}
  var acc: array<${elem(v)}, ${MIXED_CHUNK}>;
  ${STRIDED_LOOP(`let gi = g[i];
    ${perSlot((k) => `acc[${k}] += gi * c${k}[i];`)}`)}
  for (var k = 0u; k < params.count; k++) {
    red[lidx] = ${v.vec4 ? 'dot(acc[k], vec4<f32>(1.0))' : 'acc[k]'};
    workgroupBarrier();
    for (var s = ${MIXED_WG / 2}u; s > 0u; s >>= 1u) {
      if (lidx < s) { red[lidx] += red[lidx + s]; }
      workgroupBarrier();
    }
    if (lidx == 0u) { partials[slot(k) * params.num_groups + wid.x] = red[0]; }
    workgroupBarrier();
  }
}`,
  key,
);

export const mixedAlphaGrad = new Kernel(
  'mixed_alpha_grad',
  /* wgsl */ `${PARAMS}
@group(0) @binding(0) var<storage, read> partials: array<f32>;
@group(0) @binding(1) var<storage, read> alpha: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad_alpha: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
${SOFTMAX}
var<workgroup> red: array<f32, ${MIXED_WG}>;
var<workgroup> dots: array<f32, ${MIXED_MAX_SUBSET}>;
${ENTRY(MIXED_WG)}
  load_probs(lidx);
  for (var j = 0u; j < params.subset_size; j++) {
    var acc = 0.0;
    for (var w = lidx; w < params.num_groups; w += ${MIXED_WG}u) { acc += partials[j * params.num_groups + w]; }
    red[lidx] = acc;
    workgroupBarrier();
    for (var s = ${MIXED_WG / 2}u; s > 0u; s >>= 1u) {
      if (lidx < s) { red[lidx] += red[lidx + s]; }
      workgroupBarrier();
    }
    if (lidx == 0u) { dots[j] = red[0]; }
    workgroupBarrier();
  }
  if (lidx != 0u) { return; }
  var mean = 0.0;
  for (var j = 0u; j < params.subset_size; j++) { mean += probs[j] * dots[j]; }
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
  load_probs(lidx);
  var e = 0.0;
  for (var j = 0u; j < params.subset_size; j++) { e += probs[j] * cost(j); }
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
  load_probs(lidx);
  var e = 0.0;
  for (var j = 0u; j < params.subset_size; j++) { e += probs[j] * cost(j); }
  for (var k = 0u; k < params.k_total; k++) { grad_alpha[k] = 0.0; }
  for (var j = 0u; j < params.subset_size; j++) {
    grad_alpha[subset_index(j)] = g[0] * params.inv_temp * probs[j] * (cost(j) - e);
  }
}`,
);
