// Batch norm over NCHW float32, split into barrier-free passes (lavapipe runs a workgroup barrier by
// spilling every invocation's state, so one workgroup per channel with a shared-memory tree was 2-50x
// slower than these plain loops).
//
// x is viewed as [N, C, S] with S = H·W, read as vec4s when H·W is a multiple of 4 (S then counts vec4s).
// Every pass but the finalizes splits a channel's elements across P threads: thread t of channel c visits
// s = t, t+P, ... for every image n, so neighbouring threads read neighbouring addresses, and the channel's
// coefficients are loaded once per thread (a thread per element would divide to find its channel, and
// lavapipe emulates vector integer division lane by lane).
//
// Forward (batch statistics), three dispatches:
//   bn_stats_partial   thread (c, t): Welford (count, mean, M2) over its elements. Welford rather than
//                      sums of x and x²: E[x²] - E[x]² cancels catastrophically when |mean| >> std.
//   bn_stats_finalize  thread c: Chan-merges its P partials into mean and biased variance, updates the
//                      running buffers (unbiased variance), writes coeff[c] = (scale, shift, mean, invstd)
//                      with scale = weight·invstd, shift = bias - mean·scale. In eval mode (running
//                      statistics) only this pass and the next run, reading the running buffers.
//   bn_apply           thread (c, t): y = clamp(x·scale + shift) (ReLU6 fused, or no clamp).
// Backward, three dispatches (g' = g masked by the fused ReLU6, recomputed from x and coeff):
//   bn_grad_partial    thread (c, t): sums of g' and g'·(x - mean).
//   bn_grad_finalize   thread c: dbias = Σg', dweight = invstd·Σg'(x - mean); with batch statistics
//                      dx = scale·(g' - mean(g') - xhat·mean(g'·xhat)) is linear in g' and x per channel:
//                      dx = scale·g' + b·x + d, b = -scale·invstd²·Σg'(x-mean)/count,
//                      d = -scale·Σg'/count - b·mean. Writes dcoeff[c] = (scale, shift, b, d).
//   bn_input_grad      thread (c, t): dx = scale·g' + b·x + d.
// Index math is u32: (n·C + c)·S + s < 2^32 for any tensor a storage binding can hold.
import { KernelFamily } from '../engine/kernel.ts';
import { LINEAR_ID } from './prelude.ts';

/** Threads per workgroup of the per-channel passes. */
export const BN_PARTIAL_WG = 64;

export interface BatchNormElementVariant {
  vec4: boolean;
}

const elementType = (vec4: boolean) => (vec4 ? 'vec4<f32>' : 'f32');
const hsum = (vec4: boolean, v: string) => (vec4 ? `dot(${v}, vec4<f32>(1.0))` : v);

// Shared by the passes that see x: clamp bounds of the fused ReLU6 (largest finite floats without it,
// a no-op on finite values) and the mask that passes the gradient only where 0 < y < 6.
const RELU6 = /* wgsl */ `
fn clamp_bounds(relu6: u32) -> vec2<f32> {
  return select(vec2<f32>(bitcast<f32>(0xff7fffffu), bitcast<f32>(0x7f7fffffu)), vec2<f32>(0.0, 6.0), relu6 != 0u);
}`;

// The channel loop of the partial passes: thread t of channel c visits s = t, t + P, ... of every image.
const PARTIAL_HEAD = (vec4: boolean, extraBindings: string, wg: number) => /* wgsl */ `
struct Params { n: u32, c: u32, s: u32, p: u32, relu6: u32 }
alias T = ${elementType(vec4)};
@group(0) @binding(0) var<storage, read> x: array<T>;
${extraBindings}
${LINEAR_ID}
${RELU6}
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let id = linear_id(wid, nwg, lidx, ${wg}u);
  if (id >= params.c * params.p) { return; }
  let c = id / params.p;
  let t = id - c * params.p;`;

function statsPartialSource({ vec4 }: BatchNormElementVariant): string {
  const bindings = /* wgsl */ `
@group(0) @binding(1) var<storage, read_write> partial: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> params: Params;
// Chan et al.'s combination of two (count, mean, M2) summaries.
fn merge(a: vec3<f32>, b: vec3<f32>) -> vec3<f32> {
  let n = a.x + b.x;
  let f = select(0.0, b.x / n, n > 0.0);
  let d = b.y - a.y;
  return vec3<f32>(n, a.y + d * f, a.z + b.z + d * d * a.x * f);
}`;
  // The lanes of a vec4 are four Welford streams of equal count, merged at the end.
  const lanes = vec4
    ? `merge(merge(vec3<f32>(k, m.x, m2.x), vec3<f32>(k, m.y, m2.y)), merge(vec3<f32>(k, m.z, m2.z), vec3<f32>(k, m.w, m2.w)))`
    : 'vec3<f32>(k, m, m2)';
  return /* wgsl */ `${PARTIAL_HEAD(vec4, bindings, BN_PARTIAL_WG)}
  var k = 0.0;
  var m = T(0.0);
  var m2 = T(0.0);
  for (var n = 0u; n < params.n; n++) {
    let base = (n * params.c + c) * params.s;
    for (var s = t; s < params.s; s += params.p) {
      k += 1.0;
      let v = x[base + s];
      let d = v - m;
      m += d * (1.0 / k);
      m2 += d * (v - m);
    }
  }
  partial[id] = vec4<f32>(${lanes}, 0.0);
}`;
}

export interface BatchNormFinalizeVariant {
  affine: boolean;
  /** Running buffers are bound: read in eval, updated in training. */
  running: boolean;
  /** Batch statistics (partials bound) rather than the running buffers. */
  batch: boolean;
}

function statsFinalizeSource(v: BatchNormFinalizeVariant): string {
  const list: [string, string][] = [];
  if (v.batch) list.push(['partial', 'read']);
  if (v.affine) list.push(['weight', 'read'], ['bias', 'read']);
  if (v.running) list.push(['running_mean', 'read_write'], ['running_var', 'read_write']);
  const decl = list.map(([name, access], i) => {
    const type = name === 'partial' ? 'vec4<f32>' : 'f32';
    return `@group(0) @binding(${i}) var<storage, ${access}> ${name}: array<${type}>;`;
  });
  decl.push(`@group(0) @binding(${list.length}) var<storage, read_write> coeff: array<vec4<f32>>;`);
  decl.push(`@group(0) @binding(${list.length + 1}) var<uniform> params: Params;`);
  const stats = v.batch
    ? /* wgsl */ `
  var acc = vec3<f32>(0.0);
  for (var t = 0u; t < params.p; t++) {
    let b = partial[c * params.p + t].xyz;
    let n = acc.x + b.x;
    let f = select(0.0, b.x / n, n > 0.0);
    let d = b.y - acc.y;
    acc = vec3<f32>(n, acc.y + d * f, acc.z + b.z + d * d * acc.x * f);
  }
  let mean = acc.y;
  let variance = acc.z / acc.x;${
    v.running
      ? `
  if (params.update != 0u) {
    running_mean[c] = (1.0 - params.momentum) * running_mean[c] + params.momentum * mean;
    running_var[c] = (1.0 - params.momentum) * running_var[c] + params.momentum * variance * params.unbias;
  }`
      : ''
  }`
    : /* wgsl */ `
  let mean = running_mean[c];
  let variance = running_var[c];`;
  return /* wgsl */ `
struct Params { c: u32, p: u32, eps: f32, momentum: f32, unbias: f32, update: u32 }
${decl.join('\n')}
${LINEAR_ID}
@compute @workgroup_size(${BN_PARTIAL_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let c = linear_id(wid, nwg, lidx, ${BN_PARTIAL_WG}u);
  if (c >= params.c) { return; }${stats}
  let invstd = 1.0 / sqrt(variance + params.eps);
  let scale = invstd * ${v.affine ? 'weight[c]' : '1.0'};
  coeff[c] = vec4<f32>(scale, ${v.affine ? 'bias[c]' : '0.0'} - mean * scale, mean, invstd);
}`;
}

function applySource({ vec4 }: BatchNormElementVariant): string {
  const bindings = /* wgsl */ `
@group(0) @binding(1) var<storage, read> coeff: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;
@group(0) @binding(3) var<uniform> params: Params;`;
  return /* wgsl */ `${PARTIAL_HEAD(vec4, bindings, BN_PARTIAL_WG)}
  let k = coeff[c];
  let bounds = clamp_bounds(params.relu6);
  for (var n = 0u; n < params.n; n++) {
    let base = (n * params.c + c) * params.s;
    for (var s = t; s < params.s; s += params.p) {
      y[base + s] = clamp(x[base + s] * k.x + k.y, T(bounds.x), T(bounds.y));
    }
  }
}`;
}

// g' from g: with the fused ReLU6, zero where the forward's y = x·scale + shift was clamped.
const MASKED = (x: string, g: string) =>
  `select(${g}, select(T(0.0), ${g}, (${x} * k.x + k.y > T(0.0)) & (${x} * k.x + k.y < T(6.0))), params.relu6 != 0u)`;

function gradPartialSource({ vec4 }: BatchNormElementVariant): string {
  const bindings = /* wgsl */ `
@group(0) @binding(1) var<storage, read> g: array<T>;
@group(0) @binding(2) var<storage, read> coeff: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> partial: array<vec2<f32>>;
@group(0) @binding(4) var<uniform> params: Params;`;
  return /* wgsl */ `${PARTIAL_HEAD(vec4, bindings, BN_PARTIAL_WG)}
  let k = coeff[c];
  var acc_g = T(0.0);
  var acc_gx = T(0.0);
  for (var n = 0u; n < params.n; n++) {
    let base = (n * params.c + c) * params.s;
    for (var s = t; s < params.s; s += params.p) {
      let xv = x[base + s];
      let gm = ${MASKED('xv', 'g[base + s]')};
      acc_g += gm;
      acc_gx += gm * (xv - k.z);
    }
  }
  partial[id] = vec2<f32>(${hsum(vec4, 'acc_g')}, ${hsum(vec4, 'acc_gx')});
}`;
}

export interface BatchNormGradFinalizeVariant {
  affine: boolean;
}

function gradFinalizeSource({ affine }: BatchNormGradFinalizeVariant): string {
  return /* wgsl */ `
struct Params { c: u32, p: u32, count: f32, use_batch: u32 }
@group(0) @binding(0) var<storage, read> partial: array<vec2<f32>>;
@group(0) @binding(1) var<storage, read> coeff: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dcoeff: array<vec4<f32>>;
${affine ? `@group(0) @binding(3) var<storage, read_write> dweight: array<f32>;\n@group(0) @binding(4) var<storage, read_write> dbias: array<f32>;` : ''}
@group(0) @binding(${affine ? 5 : 3}) var<uniform> params: Params;
${LINEAR_ID}
@compute @workgroup_size(${BN_PARTIAL_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let c = linear_id(wid, nwg, lidx, ${BN_PARTIAL_WG}u);
  if (c >= params.c) { return; }
  var total = vec2<f32>(0.0);
  for (var t = 0u; t < params.p; t++) { total += partial[c * params.p + t]; }
  let k = coeff[c];
  ${affine ? 'dbias[c] = total.x;\n  dweight[c] = total.y * k.w;' : ''}
  // Batch statistics depend on x: their gradient subtracts the means of g' and g'·xhat.
  let batch = select(0.0, 1.0, params.use_batch != 0u);
  let b = -batch * k.x * k.w * k.w * total.y / params.count;
  let d = -batch * k.x * total.x / params.count - b * k.z;
  dcoeff[c] = vec4<f32>(k.x, k.y, b, d);
}`;
}

function inputGradSource({ vec4 }: BatchNormElementVariant): string {
  const bindings = /* wgsl */ `
@group(0) @binding(1) var<storage, read> g: array<T>;
@group(0) @binding(2) var<storage, read> coeff: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> dx: array<T>;
@group(0) @binding(4) var<uniform> params: Params;`;
  return /* wgsl */ `${PARTIAL_HEAD(vec4, bindings, BN_PARTIAL_WG)}
  let k = coeff[c];
  for (var n = 0u; n < params.n; n++) {
    let base = (n * params.c + c) * params.s;
    for (var s = t; s < params.s; s += params.p) {
      let xv = x[base + s];
      dx[base + s] = k.x * ${MASKED('xv', 'g[base + s]')} + k.z * xv + k.w;
    }
  }
}`;
}

const vecKey = (v: BatchNormElementVariant) => (v.vec4 ? 'vec4' : 'scalar');

export const bnStatsPartial = new KernelFamily<BatchNormElementVariant>('bn_stats_partial', statsPartialSource, vecKey);
export const bnStatsFinalize = new KernelFamily<BatchNormFinalizeVariant>(
  'bn_stats_finalize',
  statsFinalizeSource,
  (v) => [v.affine ? 'affine' : 'plain', v.running ? 'running' : '', v.batch ? 'batch' : 'eval'].filter(Boolean).join(','),
);
export const bnApply = new KernelFamily<BatchNormElementVariant>('bn_apply', applySource, vecKey);
export const bnGradPartial = new KernelFamily<BatchNormElementVariant>('bn_grad_partial', gradPartialSource, vecKey);
export const bnGradFinalize = new KernelFamily<BatchNormGradFinalizeVariant>('bn_grad_finalize', gradFinalizeSource, (v) =>
  v.affine ? 'affine' : 'plain',
);
export const bnInputGrad = new KernelFamily<BatchNormElementVariant>('bn_input_grad', inputGradSource, vecKey);

/**
 * Partial threads per channel: every thread should visit at least ~32 elements (vec4s), so with many
 * images a thread covers one spatial position across the batch and with few it covers several.
 */
export function partialsPerChannel(n: number, s: number): number {
  const perThread = 32;
  return Math.max(1, Math.min(s, Math.ceil((n * s) / perThread)));
}
