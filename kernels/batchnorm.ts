// Batch norm over NCHW float32, one workgroup per channel (grid1d(C, 1); 2-D past 65535 channels).
//
// Forward, one dispatch: the workgroup walks its channel's N×H×W elements with a strided loop
// (for n: for s = lidx; s < HW; s += BN_WG) and reduces with a shared-memory tree.
//   batch stats: pass 1 runs Welford's update per invocation (mean += d/k, M2 += d·(x - mean)) and merges the
//     invocations' (count, mean, M2) with Chan's formula in the tree; pass 2 writes y. Welford, not a sum
//     of squares: E[x^2] - E[x]^2 cancels catastrophically when |mean| >> std (the test with mean 1000
//     catches it), and it needs one pass over x for the statistics where a two-pass mean-then-deviation
//     scheme needs two; the per-element reciprocal is cheap next to a load on lavapipe. So x is read
//     twice (the second time mostly from cache: a channel of 16×32×32 floats is 64 KiB) and y written once.
//   running stats: mean and var come from the running buffers; only the write pass runs.
//   The same dispatch writes stats = [mean[C], invstd[C]] for backward and, in training with running
//   buffers, updates them in place: r = (1 - momentum) r + momentum * stat, with the unbiased variance.
// Backward, one dispatch: pass 1 sums g' and g'·xhat (g' = g masked by the fused ReLU6, if any), giving
//   dbias and dweight; pass 2 writes dx = w·invstd·(g' - mean(g') - xhat·mean(g'·xhat)) for batch stats,
//   or w·invstd·g' for running stats.
//
// Variants (the code key) are only what changes the bindings: affine, running buffers, and vec4 (H·W a
// multiple of 4: x, y, g, dx are read as vec4s and params.hw counts vec4s). Batch vs running statistics,
// the running update and ReLU6 are uniform flags: every variant costs a pipeline compile (seconds on
// lavapipe), and a branch on a uniform costs next to nothing.
// Index math is u32: (n*C + c)*HW + s < 2^32 for any tensor a storage binding can hold.
import { KernelFamily } from '../engine/kernel.ts';

export const BN_WG = 64;

export interface BatchNormVariant {
  affine: boolean;
  /** Forward only: the running buffers are bound (read in eval, updated in training). */
  running?: boolean;
  vec4: boolean;
}

const PER_ELEMENT = new Set(['x', 'y', 'g', 'dx']);

function bindings(list: [name: string, access: 'read' | 'read_write'][], vec4: boolean): string {
  return list
    .map(([name, access], i) => {
      const type = vec4 && PER_ELEMENT.has(name) ? 'vec4<f32>' : 'f32';
      return `@group(0) @binding(${i}) var<storage, ${access}> ${name}: array<${type}>;`;
    })
    .join('\n');
}

const head = (v: BatchNormVariant, list: [string, 'read' | 'read_write'][], helpers = '') => /* wgsl */ `
// use_batch: normalise with batch statistics; update: write the running buffers; relu6: fused clamp.
struct Params {
  n: u32, c: u32, hw: u32, count: f32, eps: f32, momentum: f32, unbias: f32,
  use_batch: u32, update: u32, relu6: u32,
}
alias T = ${v.vec4 ? 'vec4<f32>' : 'f32'};
fn hsum(v: T) -> f32 { return ${v.vec4 ? 'dot(v, vec4<f32>(1.0))' : 'v'}; }
${bindings(list, v.vec4)}
@group(0) @binding(${list.length}) var<uniform> params: Params;
var<workgroup> red: array<vec2<f32>, ${BN_WG}>;

// Sums v over the workgroup (both components at once). Call from uniform control flow only.
fn workgroup_sum(v: vec2<f32>, lidx: u32) -> vec2<f32> {
  red[lidx] = v;
  workgroupBarrier();
  for (var stride = ${BN_WG / 2}u; stride > 0u; stride >>= 1u) {
    if (lidx < stride) { red[lidx] += red[lidx + stride]; }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();
  return total;
}

${helpers}
@compute @workgroup_size(${BN_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let c_raw = wid.x + wid.y * nwg.x;
  // No early return before the barriers in workgroup_sum; idle workgroups of a 2-D grid loop over nothing.
  let live = c_raw < params.c;
  let c = select(0u, c_raw, live);
  let images = select(0u, params.n, live);`;

const CHANNEL_LOOP = (body: string) => /* wgsl */ `
  for (var n = 0u; n < images; n++) {
    let base = (n * params.c + c) * params.hw;
    for (var s = lidx; s < params.hw; s += ${BN_WG}u) {
      let i = base + s;
      ${body}
    }
  }`;

const WELFORD = /* wgsl */ `
var<workgroup> red3: array<vec3<f32>, ${BN_WG}>;

// Chan et al.'s combination of two (count, mean, M2) summaries.
fn merge(a: vec3<f32>, b: vec3<f32>) -> vec3<f32> {
  let n = a.x + b.x;
  let f = select(0.0, b.x / n, n > 0.0);
  let d = b.y - a.y;
  return vec3<f32>(n, a.y + d * f, a.z + b.z + d * d * a.x * f);
}
// The four lanes of a vec4 Welford stream, each of count k, as one summary.
fn lanes(k: f32, m: vec4<f32>, m2: vec4<f32>) -> vec3<f32> {
  let lo = merge(vec3<f32>(k, m.x, m2.x), vec3<f32>(k, m.y, m2.y));
  let hi = merge(vec3<f32>(k, m.z, m2.z), vec3<f32>(k, m.w, m2.w));
  return merge(lo, hi);
}
// Merges the workgroup's summaries. Call from uniform control flow only.
fn workgroup_merge(v: vec3<f32>, lidx: u32) -> vec3<f32> {
  red3[lidx] = v;
  workgroupBarrier();
  for (var stride = ${BN_WG / 2}u; stride > 0u; stride >>= 1u) {
    if (lidx < stride) { red3[lidx] = merge(red3[lidx], red3[lidx + stride]); }
    workgroupBarrier();
  }
  let total = red3[0];
  workgroupBarrier();
  return total;
}`;

function forwardSource(v: BatchNormVariant): string {
  const list: [string, 'read' | 'read_write'][] = [['x', 'read']];
  if (v.affine) list.push(['weight', 'read'], ['bias', 'read']);
  if (v.running) list.push(['running_mean', 'read_write'], ['running_var', 'read_write']);
  list.push(['y', 'read_write'], ['stats', 'read_write']);
  return /* wgsl */ `${head(v, list, WELFORD)}
  var mean = 0.0;
  var variance = 1.0;
  if (params.use_batch != 0u) {
    // Welford per invocation (the lanes of a vec4 are parallel streams of equal length k), then a tree of
    // Chan merges of (count, mean, M2).
    var k = 0.0;
    var m = T(0.0);
    var m2 = T(0.0);
    ${CHANNEL_LOOP('k += 1.0; let r = 1.0 / k; let v = x[i]; let d = v - m; m += d * r; m2 += d * (v - m);')}
    let stat = workgroup_merge(${v.vec4 ? 'lanes(k, m, m2)' : 'vec3<f32>(k, m, m2)'}, lidx);
    mean = stat.y;
    variance = stat.z / params.count;
  }${v.running ? ' else {\n    mean = running_mean[c];\n    variance = running_var[c];\n  }' : ''}
  let invstd = 1.0 / sqrt(variance + params.eps);
  if (!live) { return; }
  if (lidx == 0u) {
    stats[c] = mean;
    stats[params.c + c] = invstd;${
      v.running
        ? `
    if (params.update != 0u) {
      running_mean[c] = (1.0 - params.momentum) * running_mean[c] + params.momentum * mean;
      running_var[c] = (1.0 - params.momentum) * running_var[c] + params.momentum * variance * params.unbias;
    }`
        : ''
    }
  }
  let scale = invstd * ${v.affine ? 'weight[c]' : '1.0'};
  let shift = ${v.affine ? 'bias[c]' : '0.0'} - mean * scale;
  // Without ReLU6 the clamp bounds are the largest finite floats: a no-op for finite values.
  let hi = select(bitcast<f32>(0x7f7fffffu), 6.0, params.relu6 != 0u);
  let lo = select(bitcast<f32>(0xff7fffffu), 0.0, params.relu6 != 0u);
  ${CHANNEL_LOOP('y[i] = clamp(x[i] * scale + shift, T(lo), T(hi));')}
}`;
}

function backwardSource(v: BatchNormVariant): string {
  const list: [string, 'read' | 'read_write'][] = [['x', 'read'], ['g', 'read']];
  if (v.affine) list.push(['weight', 'read'], ['bias', 'read']);
  list.push(['stats', 'read'], ['dx', 'read_write']);
  if (v.affine) list.push(['dweight', 'read_write'], ['dbias', 'read_write']);
  // The forward's y, recomputed with the same expression, decides where ReLU6 passes the gradient.
  const masked = 'let yv = x[i] * scale + shift; let gm = select(g[i], select(T(0.0), g[i], (yv > T(0.0)) & (yv < T(6.0))), relu6);';
  return /* wgsl */ `${head(v, list)}
  let mean = stats[c];
  let invstd = stats[params.c + c];
  let scale = invstd * ${v.affine ? 'weight[c]' : '1.0'};
  let shift = ${v.affine ? 'bias[c]' : '0.0'} - mean * scale;
  let relu6 = params.relu6 != 0u;
  var acc_g = T(0.0);
  var acc_gx = T(0.0);
  ${CHANNEL_LOOP(`${masked} acc_g += gm; acc_gx += gm * (x[i] - mean) * invstd;`)}
  let total = workgroup_sum(vec2<f32>(hsum(acc_g), hsum(acc_gx)), lidx);
  // Batch statistics depend on x: their gradient subtracts the means of g' and g'·xhat.
  let batch = select(0.0, 1.0, params.use_batch != 0u);
  let mean_g = batch * total.x / params.count;
  let mean_gx = batch * total.y / params.count;
  if (!live) { return; }
  ${v.affine ? 'if (lidx == 0u) { dbias[c] = total.x; dweight[c] = total.y; }' : ''}
  ${CHANNEL_LOOP(`${masked} dx[i] = scale * (gm - mean_g - (x[i] - mean) * invstd * mean_gx);`)}
}`;
}

const key = (v: BatchNormVariant) => `${v.affine ? 'affine' : 'plain'}${v.running ? ',running' : ''}${v.vec4 ? ',vec4' : ''}`;

export const batchNormForward = new KernelFamily<BatchNormVariant>('batchnorm_forward', forwardSource, key);
export const batchNormBackward = new KernelFamily<BatchNormVariant>('batchnorm_backward', backwardSource, key);
