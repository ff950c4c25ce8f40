// Batch norm over NCHW float32, split into barrier-free passes (lavapipe runs a workgroup barrier by
// spilling every invocation's state, so one workgroup per channel with a shared-memory tree was 2-50x
// slower than these plain loops).
//
// x is viewed as N·C rows of S = H·W values, read as vec4s when H·W is a multiple of 4 (S then counts
// vec4s); row n·C + c is image n's channel c. Every pass but the finalizes gives thread (g, c, t) the
// elements s = t, t+P, ... of the rows of channel c in images g·B .. g·B + B - 1 (a flat loop per row):
// neighbouring threads read neighbouring addresses, and the channel's coefficients are loaded once per
// thread (a thread per element would divide to find its channel, and lavapipe emulates integer division
// lane by lane). rowSplit picks P and B: few, fat
// threads, at most 8 a row, so that each of lavapipe's 8-lane SIMD groups sweeps a row front to back.
// A channel's partials are the G·P at (g·C + c)·P + t, G = ceil(N / B).
//
// Forward (batch statistics), three dispatches (two with the finalize fused, see below):
//   bn_stats_partial   thread (g, c, t): (count, mean - shift, M2, shift) over its elements from sums of
//                      x - shift and its square, shift = the thread's first value (plain sums of x and x²
//                      would cancel catastrophically in E[x²] - E[x]² when |mean| >> std).
//   bn_stats_finalize  thread c: Chan-merges its G·P partials into mean and biased variance, updates the
//                      running buffers (unbiased variance), writes coeff[c] = (scale, shift, mean, invstd)
//                      with scale = weight·invstd, shift = bias - mean·scale. In eval mode (running
//                      statistics) only this pass and the next run, reading the running buffers.
//   bn_apply           thread (g, c, t): y = clamp(x·scale + shift) (ReLU6 fused, or no clamp).
// Backward, three dispatches (two fused; g' = g masked by the fused ReLU6, recomputed from x and coeff):
//   bn_grad_partial    thread (g, c, t): sums of g' and g'·(x - mean).
//   bn_grad_finalize   thread c: dbias = Σg', dweight = invstd·Σg'(x - mean); with batch statistics
//                      dx = scale·(g' - mean(g') - xhat·mean(g'·xhat)) is linear in g' and x per channel:
//                      dx = scale·g' + b·x + d, b = -scale·invstd²·Σg'(x-mean)/count,
//                      d = -scale·Σg'/count - b·mean. Writes dcoeff[c] = (scale, shift, b, d).
//   bn_input_grad      thread (g, c, t): dx = scale·g' + b·x + d.
// With at most BN_FUSE_PARTIALS partials a channel (small maps, where a dispatch costs as much as the
// work), and always in eval, each finalize is fused into the element pass after it: every thread merges
// its channel's few partials itself and one thread a channel (g = t = 0) writes what the finalize would
// (running buffers and coeff, or dweight and dbias).
// Channels of at most BN_CHANNEL_MAX elements (N·H·W) skip all of this: bn_channel_forward (batch
// statistics) and bn_channel_backward give each channel one invocation that does the whole direction in
// one dispatch, reading its rows a second time from cache (kernels/batchnorm-channel.ts). Eval forward
// stays on the fused bn_apply (already one dispatch).
// Index math is u32: (n·C + c)·S + s < 2^32 for any tensor a storage binding can hold.
import { KernelFamily } from '../engine/kernel.ts';
import { LINEAR_ID } from './prelude.ts';

/** Threads per workgroup of the per-channel passes. */
export const BN_PARTIAL_WG = 64;

export interface BatchNormElementVariant {
  vec4: boolean;
}

/** A pass that sees y's fused ReLU6 (clamps it, or masks the gradient by it): a constant of the kernel. */
export interface BatchNormReluVariant extends BatchNormElementVariant {
  relu6: boolean;
}

export const elementType = (vec4: boolean) => (vec4 ? 'vec4<f32>' : 'f32');
export const hsum = (vec4: boolean, v: string) => (vec4 ? `dot(${v}, vec4<f32>(1.0))` : v);

// The fused ReLU6, compiled in or out: read from a uniform, its clamp and its mask cost lavapipe 5-10% of
// a pass even when off (both sides of a select are evaluated).
/** WGSL: y from the affine map's value \`v\`, clamped to [0, 6] with the fused ReLU6. */
export const relu6Clamp = (relu6: boolean, v: string) => (relu6 ? `clamp(${v}, T(0.0), T(6.0))` : v);
/** WGSL: g' from g, zero where the forward's y = x·scale + shift was clamped by the fused ReLU6 (k = coeff[c]). */
export const masked = (relu6: boolean, x: string, g: string) =>
  relu6 ? `select(T(0.0), ${g}, (${x} * k.x + k.y > T(0.0)) & (${x} * k.x + k.y < T(6.0)))` : g;

// The head of the row passes: thread (g, c, t) covers images n0 .. n1 - 1.
const PARTIAL_HEAD = (vec4: boolean, extraBindings: string, wg: number, extraParams = '') => /* wgsl */ `
struct Params { n: u32, c: u32, s: u32, p: u32, b: u32, groups: u32${extraParams} }
alias T = ${elementType(vec4)};
@group(0) @binding(0) var<storage, read> x: array<T>;
${extraBindings}
${LINEAR_ID}
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let id = linear_id(wid, nwg, lidx, ${wg}u);
  if (id >= params.groups * params.c * params.p) { return; }
  let gc = id / params.p;
  let t = id - gc * params.p;
  let grp = gc / params.c;
  let c = gc - grp * params.c;
  let n0 = grp * params.b;
  let n1 = min(n0 + params.b, params.n);`;

/**
 * Thread t's loop over its row, s = t, t + P, ...: \`body(index)\`. One element an iteration: unrolled by two
 * with a second set of accumulators it ran 0-10% slower (same-process A/B, fwd+bwd on 16-144 channels at
 * 32x32-112x112).
 */
const ROW_LOOP = (body: (i: string) => string) => /* wgsl */ `
  for (var n = n0; n < n1; n++) {
    let base = (n * params.c + c) * params.s;
    for (var s = t; s < params.s; s += params.p) {
      ${body('base + s')}
    }
  }`;

// Chan et al.'s combination of two (count, mean, M2) summaries.
export const CHAN_MERGE = /* wgsl */ `
fn merge(a: vec3<f32>, b: vec3<f32>) -> vec3<f32> {
  let n = a.x + b.x;
  let f = select(0.0, b.x / n, n > 0.0);
  let d = b.y - a.y;
  return vec3<f32>(n, a.y + d * f, a.z + b.z + d * d * a.x * f);
}`;

/** WGSL: the (count, mean, M2) of a stream of k values, the four lanes of a vec4 merged. */
export const laneSummaries = (vec4: boolean) =>
  vec4
    ? `merge(merge(vec3<f32>(k, mean.x, m2.x), vec3<f32>(k, mean.y, m2.y)), merge(vec3<f32>(k, mean.z, m2.z), vec3<f32>(k, mean.w, m2.w)))`
    : 'vec3<f32>(k, mean, m2)';

function statsPartialSource({ vec4 }: BatchNormElementVariant): string {
  const bindings = /* wgsl */ `
@group(0) @binding(1) var<storage, read_write> partial: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> params: Params;
${CHAN_MERGE}`;
  // The lanes of a vec4 are four streams of equal count, each summarised as (count, mean, M2) with its
  // mean taken relative to lane x's shift, and merged.
  const lanes = laneSummaries(vec4);
  // Sums of d = x - shift and d², shifted by the stream's first value (no division per element, which
  // lavapipe emulates lane by lane). The shift is one of the stream's values, so M2 >= (shift - mean)²
  // and S2 - S1²/k keeps its error relative to M2, as Welford does, however large |mean| is.
  return /* wgsl */ `${PARTIAL_HEAD(vec4, bindings, BN_PARTIAL_WG)}
  let shift = x[(n0 * params.c + c) * params.s + t];
  var s1 = T(0.0);
  var s2 = T(0.0);${ROW_LOOP((i) => `let d = x[${i}] - shift;
      s1 += d;
      s2 += d * d;`)}
  let k = f32((n1 - n0) * ((params.s - t + params.p - 1u) / params.p));
  let mean = (shift - T(${vec4 ? 'shift.x' : 'shift'})) + s1 * (1.0 / k);
  let m2 = max(s2 - s1 * s1 * (1.0 / k), T(0.0));
  partial[id] = vec4<f32>(${lanes}, ${vec4 ? 'shift.x' : 'shift'});
}`;
}

export interface BatchNormFinalizeVariant {
  affine: boolean;
  /** Running buffers are bound: read in eval, updated in training. */
  running: boolean;
  /** Batch statistics (partials bound) rather than the running buffers. */
  batch: boolean;
}

/** Storage bindings [name, access, element type] that `coefficients` reads and writes. */
function coefficientBindings(v: BatchNormFinalizeVariant): [string, string, string][] {
  const list: [string, string, string][] = [];
  if (v.batch) list.push(['partial', 'read', 'vec4<f32>']);
  if (v.affine) list.push(['weight', 'read', 'f32'], ['bias', 'read', 'f32']);
  if (v.running) list.push(['running_mean', 'read_write', 'f32'], ['running_var', 'read_write', 'f32']);
  return list;
}

const STATS_PARAMS = ', eps: f32, momentum: f32, unbias: f32, update: u32';

/** WGSL `coefficients(c, leader)`: channel c's (scale, shift, mean, invstd); the leader updates the running buffers. */
function coefficientsFn(v: BatchNormFinalizeVariant): string {
  const stats = v.batch
    ? /* wgsl */ `
  var acc = vec3<f32>(0.0);
  // Means travel relative to a shift (.w, one of the channel's values) and are merged relative to the
  // first partial's, so that they keep their bits when |mean| >> std.
  let origin = partial[c * params.p].w;
  for (var i = 0u; i < params.groups; i++) {
    let first = (i * params.c + c) * params.p;
    for (var t = 0u; t < params.p; t++) {
      let q = partial[first + t];
      let b = vec3<f32>(q.x, (q.w - origin) + q.y, q.z);
      let n = acc.x + b.x;
      let f = select(0.0, b.x / n, n > 0.0);
      let d = b.y - acc.y;
      acc = vec3<f32>(n, acc.y + d * f, acc.z + b.z + d * d * acc.x * f);
    }
  }
  let mean = origin + acc.y;
  let variance = acc.z / acc.x;${
    v.running
      ? `
  if (leader && params.update != 0u) {
    running_mean[c] = (1.0 - params.momentum) * running_mean[c] + params.momentum * mean;
    running_var[c] = (1.0 - params.momentum) * running_var[c] + params.momentum * variance * params.unbias;
  }`
      : ''
  }`
    : /* wgsl */ `
  let mean = running_mean[c];
  let variance = running_var[c];`;
  return /* wgsl */ `
fn coefficients(c: u32, leader: bool) -> vec4<f32> {${stats}
  let invstd = 1.0 / sqrt(variance + params.eps);
  let scale = invstd * ${v.affine ? 'weight[c]' : '1.0'};
  return vec4<f32>(scale, ${v.affine ? 'bias[c]' : '0.0'} - mean * scale, mean, invstd);
}`;
}

export const declare = (list: [string, string, string][], from: number) =>
  list.map(([name, access, type], i) => `@group(0) @binding(${from + i}) var<storage, ${access}> ${name}: array<${type}>;`).join('\n');

function statsFinalizeSource(v: BatchNormFinalizeVariant): string {
  const list = coefficientBindings(v);
  return /* wgsl */ `
struct Params { groups: u32, c: u32, p: u32${STATS_PARAMS} }
${declare(list, 0)}
@group(0) @binding(${list.length}) var<storage, read_write> coeff: array<vec4<f32>>;
@group(0) @binding(${list.length + 1}) var<uniform> params: Params;
${coefficientsFn(v)}
${LINEAR_ID}
@compute @workgroup_size(${BN_PARTIAL_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let c = linear_id(wid, nwg, lidx, ${BN_PARTIAL_WG}u);
  if (c >= params.c) { return; }
  coeff[c] = coefficients(c, true);
}`;
}

export interface BatchNormApplyVariant extends BatchNormReluVariant {
  /** Compute the coefficients in every thread (bn_stats_finalize fused in), for few partials a channel. */
  fused?: BatchNormFinalizeVariant;
}

function applySource({ vec4, relu6, fused }: BatchNormApplyVariant): string {
  const list = fused ? coefficientBindings(fused) : [];
  const bindings = /* wgsl */ `
${declare(list, 1)}
@group(0) @binding(${list.length + 1}) var<storage, ${fused ? 'read_write' : 'read'}> coeff: array<vec4<f32>>;
@group(0) @binding(${list.length + 2}) var<storage, read_write> y: array<T>;
@group(0) @binding(${list.length + 3}) var<uniform> params: Params;${fused ? coefficientsFn(fused) : ''}`;
  // Fused: one thread a channel (the leader) updates the running buffers and saves coeff for backward.
  const coefficients = fused
    ? `
  let leader = grp == 0u && t == 0u;
  let k = coefficients(c, leader);
  if (leader) { coeff[c] = k; }`
    : `
  let k = coeff[c];`;
  return /* wgsl */ `${PARTIAL_HEAD(vec4, bindings, BN_PARTIAL_WG, fused ? STATS_PARAMS : '')}${coefficients}${ROW_LOOP((i) => `y[${i}] = ${relu6Clamp(relu6, `x[${i}] * k.x + k.y`)};`)}
}`;
}

function gradPartialSource({ vec4, relu6 }: BatchNormReluVariant): string {
  const bindings = /* wgsl */ `
@group(0) @binding(1) var<storage, read> g: array<T>;
@group(0) @binding(2) var<storage, read> coeff: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> partial: array<vec2<f32>>;
@group(0) @binding(4) var<uniform> params: Params;`;
  return /* wgsl */ `${PARTIAL_HEAD(vec4, bindings, BN_PARTIAL_WG)}
  let k = coeff[c];
  var acc_g = T(0.0);
  var acc_gx = T(0.0);${ROW_LOOP((i) => `let xv = x[${i}];
      let gv = ${masked(relu6, 'xv', `g[${i}]`)};
      acc_g += gv;
      acc_gx += gv * (xv - k.z);`)}
  partial[id] = vec2<f32>(${hsum(vec4, 'acc_g')}, ${hsum(vec4, 'acc_gx')});
}`;
}

export interface BatchNormGradFinalizeVariant {
  affine: boolean;
}

export const GRAD_PARAMS = ', count: f32, use_batch: u32';

/** WGSL `grad_coefficients(c, leader)`: dcoeff of channel c; the leader writes dweight and dbias. */
function gradCoefficientsFn({ affine }: BatchNormGradFinalizeVariant): string {
  return /* wgsl */ `
fn grad_coefficients(c: u32, leader: bool) -> vec4<f32> {
  var total = vec2<f32>(0.0);
  for (var i = 0u; i < params.groups; i++) {
    let first = (i * params.c + c) * params.p;
    for (var t = 0u; t < params.p; t++) { total += partial[first + t]; }
  }
  let k = coeff[c];${affine ? '\n  if (leader) {\n    dbias[c] = total.x;\n    dweight[c] = total.y * k.w;\n  }' : ''}
  // Batch statistics depend on x: their gradient subtracts the means of g' and g'·xhat.
  let batch = select(0.0, 1.0, params.use_batch != 0u);
  let b = -batch * k.x * k.w * k.w * total.y / params.count;
  let d = -batch * k.x * total.x / params.count - b * k.z;
  return vec4<f32>(k.x, k.y, b, d);
}`;
}

const gradBindings = (affine: boolean, from: number) =>
  declare(
    [['coeff', 'read', 'vec4<f32>'], ['partial', 'read', 'vec2<f32>'], ...(affine ? [['dweight', 'read_write', 'f32'], ['dbias', 'read_write', 'f32']] as [string, string, string][] : [])],
    from,
  );

function gradFinalizeSource({ affine }: BatchNormGradFinalizeVariant): string {
  const n = affine ? 4 : 2;
  return /* wgsl */ `
struct Params { groups: u32, c: u32, p: u32${GRAD_PARAMS} }
${gradBindings(affine, 0)}
@group(0) @binding(${n}) var<storage, read_write> dcoeff: array<vec4<f32>>;
@group(0) @binding(${n + 1}) var<uniform> params: Params;
${gradCoefficientsFn({ affine })}
${LINEAR_ID}
@compute @workgroup_size(${BN_PARTIAL_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let c = linear_id(wid, nwg, lidx, ${BN_PARTIAL_WG}u);
  if (c >= params.c) { return; }
  dcoeff[c] = grad_coefficients(c, true);
}`;
}

export interface BatchNormInputGradVariant extends BatchNormReluVariant {
  /** Compute dcoeff in every thread from the grad partials and coeff (bn_grad_finalize fused in). */
  fused?: BatchNormGradFinalizeVariant;
}

function inputGradSource({ vec4, relu6, fused }: BatchNormInputGradVariant): string {
  const n = fused ? (fused.affine ? 6 : 4) : 3;
  const bindings = /* wgsl */ `
@group(0) @binding(1) var<storage, read> g: array<T>;
${fused ? gradBindings(fused.affine, 2) : '@group(0) @binding(2) var<storage, read> coeff: array<vec4<f32>>;'}
@group(0) @binding(${n}) var<storage, read_write> dx: array<T>;
@group(0) @binding(${n + 1}) var<uniform> params: Params;${fused ? gradCoefficientsFn(fused) : ''}`;
  // Fused: coeff is the forward's (scale, shift, mean, invstd), k the dcoeff bn_grad_finalize would write.
  return /* wgsl */ `${PARTIAL_HEAD(vec4, bindings, BN_PARTIAL_WG, fused ? GRAD_PARAMS : '')}
  let k = ${fused ? 'grad_coefficients(c, grp == 0u && t == 0u)' : 'coeff[c]'};
${ROW_LOOP((i) => `let xv = x[${i}];
      dx[${i}] = k.x * ${masked(relu6, 'xv', `g[${i}]`)} + k.z * xv + k.w;`)}
}`;
}

export const vecKey = (v: BatchNormElementVariant) => (v.vec4 ? 'vec4' : 'scalar');
/** vecKey, and relu6 when the fused ReLU6 is compiled in. */
export const reluKey = (v: BatchNormReluVariant) => (v.relu6 ? `${vecKey(v)},relu6` : vecKey(v));
const finalizeKey = (v: BatchNormFinalizeVariant) =>
  [v.affine ? 'affine' : 'plain', v.running ? 'running' : '', v.batch ? 'batch' : 'eval'].filter(Boolean).join(',');

export const bnStatsPartial = new KernelFamily<BatchNormElementVariant>('bn_stats_partial', statsPartialSource, vecKey);
export const bnStatsFinalize = new KernelFamily<BatchNormFinalizeVariant>(
  'bn_stats_finalize',
  statsFinalizeSource,
  finalizeKey,
);
export const bnApply = new KernelFamily<BatchNormApplyVariant>('bn_apply', applySource, (v) =>
  v.fused ? `${reluKey(v)},fused,${finalizeKey(v.fused)}` : reluKey(v),
);
export const bnGradPartial = new KernelFamily<BatchNormReluVariant>('bn_grad_partial', gradPartialSource, reluKey);
export const bnGradFinalize = new KernelFamily<BatchNormGradFinalizeVariant>('bn_grad_finalize', gradFinalizeSource, (v) =>
  v.affine ? 'affine' : 'plain',
);
export const bnInputGrad = new KernelFamily<BatchNormInputGradVariant>('bn_input_grad', inputGradSource, (v) =>
  v.fused ? `${reluKey(v)},fused,${v.fused.affine ? 'affine' : 'plain'}` : reluKey(v),
);

/** Most partials a channel for which the element pass merges them itself (its finalize fused in). */
export const BN_FUSE_PARTIALS = 16;

/**
 * How the row passes split x (N rows of S elements per channel): P threads per row and B images per
 * thread; G = ceil(N / B) groups of images. Tuned on lavapipe, where fewer, fatter threads win:
 * - P: at most 8 threads a row (one SIMD group of lavapipe's 8 lanes then sweeps a row front to back:
 *   2-3x faster than 98 threads a row, each jumping 1.5 KB), fewer for rows under 256 elements (vec4s)
 *   so that a thread still visits ~32 of each row, more only past 8K elements;
 * - B: as many images as keep a thread under ~512 elements, while at least ~256 threads remain.
 * `forGpu` (tuning 'gpu', see engine/tuning.ts) splits for a GPU instead.
 */
export function rowSplit(n: number, c: number, s: number, forGpu = false): { p: number; b: number; groups: number } {
  if (forGpu) {
    // A GPU wants many short threads: up to 256 a row at ~8 elements each (neighbours read neighbouring
    // addresses, so a warp's loads coalesce), and images grouped only to keep a channel's partials, which
    // one finalize thread merges, at most ~1024.
    const p = Math.max(1, Math.min(256, Math.ceil(s / 8)));
    const b = Math.max(1, Math.ceil((n * p) / 1024));
    return { p, b, groups: Math.ceil(n / b) };
  }
  const p = Math.max(1, Math.min(Math.ceil(s / 32), 8 * Math.ceil(s / 8192)));
  const b = Math.max(1, Math.min(n, Math.floor(512 / Math.ceil(s / p)), Math.floor((n * c * p) / 256)));
  return { p, b, groups: Math.ceil(n / b) };
}
