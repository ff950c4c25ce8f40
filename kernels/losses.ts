// Fused cross-entropy over class rows. Logits are dense from `offset`, viewed as [N, C, inner] (inner = H*W
// for per-pixel losses, 1 for [N, C]); row r = n * inner + i is the C logits of sample n at pixel i, and
// labels[r] (int32, dense, shape [N, ...spatial]) is its class.
//
// Forward (row kernel, variants 'workgroup' | 'thread' as in softmax.ts): per row
//   m = max_j x_j,  s = sum_j exp(x_j - m),  lse = m + log(s)
//   loss = log(s) - (1 - eps) * (x_t - m) - eps / C * sum_j (x_j - m)
// which is (1 - eps) * (lse - x_t) + eps * mean_j (lse - x_j) written relative to the row max, so large
// logits lose no precision. Writes loss, lse (for backward) and valid (1.0 / 0.0) per row.
// A row is valid when target is not ignore_index and lies in [0, C); invalid rows get loss 0 and valid 0
// (out-of-range targets cannot raise an error from a shader, so they count as ignored).
//
// Backward (element-wise, one invocation per logit e = (n, j, i)):
//   gx = gs_r * (exp(x_e - lse_r) - (1 - eps) * [j == t] - eps / C), or 0 on invalid rows,
// where gs_r is grad_scale[r] ('none' reduction) or grad_scale[0] (sum, mean: already divided by the count).
import { KernelFamily } from '../engine/kernel.ts';
import { LINEAR_ID, WG } from './prelude.ts';
import { LOWEST_F32, ROW_BASE, rowPrelude, type PerRow } from './softmax.ts';

const VALID = 't != params.ignore_index && t >= 0 && u32(t) < params.len';

function forwardSource(perRow: PerRow): string {
  const { helpers, setup, workgroupSize } = rowPrelude(perRow);
  return /* wgsl */ `
struct Params {
  rows: u32, len: u32, inner: u32, offset: u32, target_offset: u32, ignore_index: i32, smoothing: f32,
}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;
@group(0) @binding(4) var<storage, read_write> valid: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;
${helpers}
@compute @workgroup_size(${workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  ${setup}
  ${ROW_BASE}
  var m = ${LOWEST_F32};
  if (live) {
    for (var j = first; j < params.len; j += step) { m = max(m, x[base + j * params.inner]); }
  }
  m = row_max(m, lidx);
  var s = 0.0;
  var shifted_sum = 0.0;
  if (live) {
    for (var j = first; j < params.len; j += step) {
      let d = x[base + j * params.inner] - m;
      s += exp(d);
      shifted_sum += d;
    }
  }
  s = row_sum(s, lidx);
  shifted_sum = row_sum(shifted_sum, lidx);
  if (live && first == 0u) {
    let log_s = log(s);
    lse[r] = m + log_s;
    let t = labels[params.target_offset + r];
    if (${VALID}) {
      let xt = x[base + u32(t) * params.inner] - m;
      let eps = params.smoothing;
      loss[r] = log_s - (1.0 - eps) * xt - eps / f32(params.len) * shifted_sum;
      valid[r] = 1.0;
    } else {
      loss[r] = 0.0;
      valid[r] = 0.0;
    }
  }
}`;
}

const backwardSource = /* wgsl */ `
struct Params {
  n: u32, len: u32, inner: u32, offset: u32, target_offset: u32, grad_offset: u32,
  ignore_index: i32, smoothing: f32, per_row_grad: u32,
}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read> lse: array<f32>;
@group(0) @binding(3) var<storage, read> grad_scale: array<f32>;
@group(0) @binding(4) var<storage, read_write> gx: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;
${LINEAR_ID}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let e = linear_id(wid, nwg, lidx, ${WG}u);
  if (e >= params.n) { return; }
  // e = (n * len + j) * inner + i  ->  row r = n * inner + i
  let i = e % params.inner;
  let j = (e / params.inner) % params.len;
  let r = (e / (params.inner * params.len)) * params.inner + i;
  let t = labels[params.target_offset + r];
  if (!(${VALID})) {
    gx[e] = 0.0;
    return;
  }
  let gs = grad_scale[params.grad_offset + select(0u, r, params.per_row_grad == 1u)];
  let p = exp(x[params.offset + e] - lse[r]);
  let onehot = select(0.0, 1.0, u32(t) == j);
  let eps = params.smoothing;
  gx[e] = gs * (p - (1.0 - eps) * onehot - eps / f32(params.len));
}`;

export const crossEntropyKernels = new KernelFamily<{ direction: 'forward' | 'backward'; perRow: PerRow }>(
  'cross_entropy',
  (v) => (v.direction === 'forward' ? forwardSource(v.perRow) : backwardSource),
  (v) => (v.direction === 'forward' ? `forward,${v.perRow}` : 'backward'),
);
