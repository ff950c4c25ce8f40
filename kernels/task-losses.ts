// Task losses for detection and pose: sigmoid focal loss (RetinaNet), smooth L1 (box regression) and the
// weighted heatmap MSE of SimpleBaseline. One family, three modes per loss:
//   elementwise  out[i] = loss_i                                     (reduction 'none'; 1-D grid, 2-D past 65535)
//   partial      partials[w] = Σ loss_i over a grid-stride slice     (fixed grid of at most LOSS_GROUPS)
//   grad         ga[i] = g_i · dloss_i/da, gb[i] = g_i · dloss_i/db  (g_i = g[i], or g[0]·scale when reduced)
// Which gradients to write and the shape of g are uniform flags, not variants: each variant costs a
// pipeline compile (seconds on lavapipe).
// and loss_finish, which sums the partials times `scale` (1, or 1/count for a mean) into one value.
//
// Focal loss (torchvision's sigmoid_focal_loss), logits x and targets t in [0, 1]:
//   p = sigmoid(x), q = sigmoid(-x), both from e = exp(-|x|) so nothing overflows;
//   ce = max(x, 0) - x·t + log1p(e);  m = 1 - p_t = p(1 - t) + q·t;  alpha_t = alpha·t + (1 - alpha)(1 - t)
//   loss = alpha_t · ce · m^gamma;    dloss/dx = alpha_t · ((p - t)·m^gamma + ce·gamma·m^(gamma-1)·p·q·(1 - 2t))
// WGSL has no log1p: below 1e-4 a cubic series is used, so ce stays accurate when e is tiny. m^e is written
// exp2(e·log2(m)) only for m > 0 (pow is undefined at 0), with 0^0 = 1.
import { Kernel, KernelFamily } from '../engine/kernel.ts';
import { LINEAR_ID } from './prelude.ts';

export type TaskLossKind = 'focal' | 'smoothL1' | 'heatmap';
export interface TaskLossVariant {
  loss: TaskLossKind;
  mode: 'elementwise' | 'partial' | 'grad';
}

export const LOSS_WG = 64;
export const LOSS_GROUPS = 256;

const PARAMS = /* wgsl */ `
// s0: alpha (focal) or beta (smooth L1); s1: gamma; hw: elements per heatmap (weights index i / hw).
// grad mode: scalar_grad: g is one value (of a reduced loss), times scale; want_a, want_b: which outputs
// to write (an unwanted one is bound to a 4-byte dummy).
struct Params { n: u32, hw: u32, s0: f32, s1: f32, scale: f32, scalar_grad: u32, want_a: u32, want_b: u32 }`;

// Each loss defines loss(i) and grad(i) -> vec2(dloss/da, dloss/db) in terms of a, b and, for heatmaps, w.
const LOSSES: Record<TaskLossKind, string> = {
  focal: /* wgsl */ `
fn log1p_small(z: f32) -> f32 { return select(log(1.0 + z), z * (1.0 - z * (0.5 - z / 3.0)), z < 1e-4); }
fn pow_safe(m: f32, e: f32) -> f32 { return select(select(0.0, 1.0, e == 0.0), exp2(e * log2(m)), m > 0.0); }
struct Focal { ce: f32, p: f32, q: f32, m: f32, alpha_t: f32 }
fn focal(i: u32) -> Focal {
  let x = a[i];
  let t = b[i];
  let e = exp(-abs(x));
  let r = 1.0 / (1.0 + e);
  let p = select(e * r, r, x >= 0.0);
  let q = select(r, e * r, x >= 0.0);
  let ce = max(x, 0.0) - x * t + log1p_small(e);
  let alpha_t = select(1.0, params.s0 * t + (1.0 - params.s0) * (1.0 - t), params.s0 >= 0.0);
  return Focal(ce, p, q, p * (1.0 - t) + q * t, alpha_t);
}
fn loss(i: u32) -> f32 {
  let f = focal(i);
  return f.alpha_t * f.ce * pow_safe(f.m, params.s1);
}
fn grad(i: u32) -> vec2<f32> {
  let f = focal(i);
  let t = b[i];
  let gamma = params.s1;
  let d = (f.p - t) * pow_safe(f.m, gamma) + f.ce * gamma * pow_safe(f.m, gamma - 1.0) * f.p * f.q * (1.0 - 2.0 * t);
  return vec2<f32>(f.alpha_t * d, 0.0);
}`,
  smoothL1: /* wgsl */ `
fn loss(i: u32) -> f32 {
  let d = a[i] - b[i];
  let beta = params.s0;
  return select(abs(d) - 0.5 * beta, 0.5 * d * d / max(beta, 1e-30), abs(d) < beta);
}
fn grad(i: u32) -> vec2<f32> {
  let d = a[i] - b[i];
  let da = select(sign(d), d / max(params.s0, 1e-30), abs(d) < params.s0);
  return vec2<f32>(da, -da);
}`,
  heatmap: /* wgsl */ `
fn loss(i: u32) -> f32 {
  let w = weight[i / params.hw];
  let d = w * (a[i] - b[i]);
  return 0.5 * d * d;
}
fn grad(i: u32) -> vec2<f32> {
  let w = weight[i / params.hw];
  let da = w * w * (a[i] - b[i]);
  return vec2<f32>(da, -da);
}`,
};

function source(v: TaskLossVariant): string {
  const inputs = ['a', 'b', ...(v.loss === 'heatmap' ? ['weight'] : [])];
  const list: [string, string][] = inputs.map((name) => [name, 'read']);
  if (v.mode === 'elementwise') list.push(['out', 'read_write']);
  if (v.mode === 'partial') list.push(['partials', 'read_write']);
  if (v.mode === 'grad') list.push(['g', 'read'], ['ga', 'read_write'], ['gb', 'read_write']);
  const decls = list.map(([name, access], k) => `@group(0) @binding(${k}) var<storage, ${access}> ${name}: array<f32>;`).join('\n');
  const head = /* wgsl */ `${PARAMS}
${decls}
@group(0) @binding(${list.length}) var<uniform> params: Params;
${LINEAR_ID}
${LOSSES[v.loss]}
@compute @workgroup_size(${LOSS_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {`;
  if (v.mode === 'partial') {
    return /* wgsl */ `
var<workgroup> red: array<f32, ${LOSS_WG}>;
${head}
  var acc = 0.0;
  for (var i = wid.x * ${LOSS_WG}u + lidx; i < params.n; i += nwg.x * ${LOSS_WG}u) { acc += loss(i); }
  red[lidx] = acc;
  workgroupBarrier();
  for (var s = ${LOSS_WG / 2}u; s > 0u; s >>= 1u) {
    if (lidx < s) { red[lidx] += red[lidx + s]; }
    workgroupBarrier();
  }
  if (lidx == 0u) { partials[wid.x] = red[0]; }
}`;
  }
  const body =
    v.mode === 'elementwise'
      ? 'out[i] = loss(i);'
      : `let gi = select(g[i], g[0] * params.scale, params.scalar_grad != 0u);
  let d = grad(i) * gi;
  if (params.want_a != 0u) { ga[i] = d.x; }
  if (params.want_b != 0u) { gb[i] = d.y; }`;
  return /* wgsl */ `${head}
  let i = linear_id(wid, nwg, lidx, ${LOSS_WG}u);
  if (i >= params.n) { return; }
  ${body}
}`;
}

export const taskLossKernels = new KernelFamily<TaskLossVariant>(
  'task_loss',
  source,
  (v) => `${v.loss},${v.mode}`,
);

export const lossFinish = new Kernel(
  'task_loss_finish',
  /* wgsl */ `
struct Params { count: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> partials: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
var<workgroup> red: array<f32, ${LOSS_WG}>;
@compute @workgroup_size(${LOSS_WG})
fn main(@builtin(local_invocation_index) lidx: u32) {
  var acc = 0.0;
  for (var j = lidx; j < params.count; j += ${LOSS_WG}u) { acc += partials[j]; }
  red[lidx] = acc;
  workgroupBarrier();
  for (var s = ${LOSS_WG / 2}u; s > 0u; s >>= 1u) {
    if (lidx < s) { red[lidx] += red[lidx + s]; }
    workgroupBarrier();
  }
  if (lidx == 0u) { out[0] = red[0] * params.scale; }
}`,
);
