// Optimizer kernels: fused in-place parameter updates, and the pieces of global gradient-norm clipping.
//
// Update variants (the key; shapes and hyper-parameters travel in the uniform):
//   sgd[momentum, nesterov, pair]  p, g, momentum_buffer (and p1, g1, momentum_buffer1 for a second parameter)
//   adam[amsgrad]              p, g, exp_avg, exp_avg_sq, max_exp_avg_sq   (Adam and AdamW share it)
//   rmsprop[centered, momentum] p, g, square_avg, grad_avg, momentum_buffer
// One invocation per element, or per 4 elements (`vec4`: every buffer bound as array<vec4<f32>>, n and the
// offsets counted in vec4s; the optimizer picks it when p's and g's offsets and the size are multiples of 4,
// which a scalar update of the same bytes runs at about a third of the copy kernel's bandwidth on
// lavapipe). The parameter and the state are rewritten in place; p and g may start at an element offset of
// their storage, the state buffers are dense and owned by the optimizer. Quantities
// such as 1 - beta2, lr / (1 - beta1^t) and 1 - lr * wd are computed on the host in float64 (as PyTorch
// does with Python floats) and arrive as f32: computing 1 - f32(0.999) on the GPU would lose 4 digits.
//
// Clipping: `clip_partial` reduces |g|^p over chunks of CLIP_CHUNK elements, one workgroup per chunk,
// into slots of a shared partial buffer; `clip_finalize` (one workgroup) combines all slots into the
// norm and the factor min(1, max_norm / (norm + 1e-6)); `clip_scale` multiplies a gradient by that factor,
// read from its 1-element buffer, so nothing is read back. Index math is u32.
import { grid1d, Kernel, KernelFamily } from '../engine/kernel.ts';
import { LINEAR_ID, WG } from './prelude.ts';

export type UpdateVariant = (
  /** `pair`: two parameters a dispatch (see sgdSource). */
  | { rule: 'sgd'; momentum: boolean; nesterov: boolean; pair?: boolean }
  | { rule: 'adam'; amsgrad: boolean }
  | { rule: 'rmsprop'; centered: boolean; momentum: boolean }
) & { vec4: boolean };

const rw = (binding: number, name: string) =>
  `@group(0) @binding(${binding}) var<storage, read_write> ${name}: array<T>;`;

/** The element type T (f32 or vec4<f32>) and the storage bindings p, g, state... */
function bindings(names: string[], vec4: boolean): string {
  const [p, g, ...state] = names;
  return [
    `alias T = ${vec4 ? 'vec4<f32>' : 'f32'};`,
    rw(0, p),
    `@group(0) @binding(1) var<storage, read> ${g}: array<T>;`,
    ...state.map((s, k) => rw(k + 2, s)),
  ].join('\n');
}

// torch.lerp's two-sided form, exact at both ends of the weight range (w is uniform: the branch is too).
const LERP = /* wgsl */ `
fn lerp(a: T, b: T, w: f32) -> T {
  if (w < 0.5) { return a + w * (b - a); }
  return b - (b - a) * (1.0 - w);
}`;

/**
 * SGD, for one parameter or (`pair`) two of the same group a dispatch: invocations [0, n) update the first
 * (bindings p, g, momentum_buffer), [n, n + n1) the second (p1, g1, momentum_buffer1), each with its own
 * offsets and first-step flag. A training step updates every parameter, so pairs halve those dispatches
 * (157 of a MobileNetV2 step's 602), and six storage bindings stay within WebGPU's default of 8.
 */
function sgdSource(momentum: boolean, nesterov: boolean, vec4: boolean, pair = false): string {
  const state = momentum ? ['momentum_buffer'] : [];
  const update = (k: '' | '1', i: string) => {
    const buf = momentum
      ? /* wgsl */ `
    var buf = d;
    if (params.first_step${k} == 0u) { buf = momentum_buffer${k}[${i}] * params.momentum + params.one_minus_dampening * d; }
    momentum_buffer${k}[${i}] = buf;
    ${nesterov ? 'd = d + params.momentum * buf;' : 'd = buf;'}`
      : '';
    return /* wgsl */ `
    let w = p${k}[params.p_offset${k} + ${i}];
    var d = g${k}[params.g_offset${k} + ${i}] + params.weight_decay * w;${buf}
    p${k}[params.p_offset${k} + ${i}] = w - params.lr * d;`;
  };
  const second = pair ? ['p1', 'g1', ...state.map((b) => `${b}1`)] : [];
  const names = ['p', 'g', ...state];
  const declared = [
    bindings(names, vec4),
    ...second.map((name, k) => (name.startsWith('g') ? `@group(0) @binding(${names.length + k}) var<storage, read> ${name}: array<T>;` : rw(names.length + k, name))),
  ].join('\n');
  return /* wgsl */ `
struct Params { n: u32, p_offset: u32, g_offset: u32, first_step: u32,
                lr: f32, weight_decay: f32, momentum: f32, one_minus_dampening: f32${pair ? ',\n                n1: u32, p_offset1: u32, g_offset1: u32, first_step1: u32' : ''} }
${declared}
@group(0) @binding(${names.length + second.length}) var<uniform> params: Params;
${LINEAR_ID}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let i = linear_id(wid, nwg, lidx, ${WG}u);
  if (i < params.n) {${update('', 'i')}
  }${pair ? ` else if (i < params.n + params.n1) {
    let j = i - params.n;${update('1', 'j')}
  }` : ''}
}`;
}

function adamSource(amsgrad: boolean, vec4: boolean): string {
  const state = ['exp_avg', 'exp_avg_sq', ...(amsgrad ? ['max_exp_avg_sq'] : [])];
  return /* wgsl */ `
struct Params { n: u32, p_offset: u32, g_offset: u32,
                step_size: f32, one_minus_beta1: f32, beta2: f32, one_minus_beta2: f32, eps: f32,
                l2_decay: f32, param_scale: f32, bias_correction2_sqrt: f32 }
${bindings(['p', 'g', ...state], vec4)}
@group(0) @binding(${2 + state.length}) var<uniform> params: Params;
${LINEAR_ID}
${LERP}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let i = linear_id(wid, nwg, lidx, ${WG}u);
  if (i >= params.n) { return; }
  let w0 = p[params.p_offset + i];
  // Adam adds L2 decay to the gradient (from the old weight); AdamW shrinks the weight instead (param_scale).
  let grad = g[params.g_offset + i] + params.l2_decay * w0;
  let w = w0 * params.param_scale;
  let m = lerp(exp_avg[i], grad, params.one_minus_beta1);
  let v = exp_avg_sq[i] * params.beta2 + params.one_minus_beta2 * grad * grad;
  exp_avg[i] = m;
  exp_avg_sq[i] = v;
  ${amsgrad ? 'let v_used = max(max_exp_avg_sq[i], v);\n  max_exp_avg_sq[i] = v_used;' : 'let v_used = v;'}
  let denom = sqrt(v_used) / params.bias_correction2_sqrt + params.eps;
  p[params.p_offset + i] = w - params.step_size * (m / denom);
}`;
}

function rmspropSource(centered: boolean, momentum: boolean, vec4: boolean): string {
  const state = ['square_avg', ...(centered ? ['grad_avg'] : []), ...(momentum ? ['momentum_buffer'] : [])];
  // sq - ga^2 >= 0 in exact arithmetic; clamp the rounding below 0 (PyTorch would produce NaN there).
  const avg = centered
    ? /* wgsl */ `let ga = lerp(grad_avg[i], grad, params.one_minus_alpha);
  grad_avg[i] = ga;
  let avg = sqrt(max(sq - ga * ga, T(0.0))) + params.eps;`
    : 'let avg = sqrt(sq) + params.eps;';
  const apply = momentum
    ? /* wgsl */ `let buf = momentum_buffer[i] * params.momentum + grad / avg;
  momentum_buffer[i] = buf;
  p[params.p_offset + i] = w - params.lr * buf;`
    : 'p[params.p_offset + i] = w - params.lr * (grad / avg);';
  return /* wgsl */ `
struct Params { n: u32, p_offset: u32, g_offset: u32,
                lr: f32, alpha: f32, one_minus_alpha: f32, eps: f32, weight_decay: f32, momentum: f32 }
${bindings(['p', 'g', ...state], vec4)}
@group(0) @binding(${2 + state.length}) var<uniform> params: Params;
${LINEAR_ID}
${LERP}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let i = linear_id(wid, nwg, lidx, ${WG}u);
  if (i >= params.n) { return; }
  let w = p[params.p_offset + i];
  let grad = g[params.g_offset + i] + params.weight_decay * w;
  let sq = square_avg[i] * params.alpha + params.one_minus_alpha * grad * grad;
  square_avg[i] = sq;
  ${avg}
  ${apply}
}`;
}

export const updateKernels = new KernelFamily<UpdateVariant>(
  'optim',
  (v) =>
    v.rule === 'sgd'
      ? sgdSource(v.momentum, v.nesterov, v.vec4, v.pair)
      : v.rule === 'adam'
        ? adamSource(v.amsgrad, v.vec4)
        : rmspropSource(v.centered, v.momentum, v.vec4),
  (v) => Object.entries(v).map(([k, x]) => (typeof x === 'boolean' ? (x ? k : '') : x)).filter(Boolean).join(','),
);

/** How |g| values combine: sum of squares, sum of |g|, max |g|, or sum of |g|^p. */
export type NormKind = 'l2' | 'l1' | 'inf' | 'p';

export const CLIP_WG = 256;
/** Elements reduced by one workgroup of `clip_partial` (16 per invocation). */
export const CLIP_CHUNK = CLIP_WG * 16;

const TERM: Record<NormKind, string> = {
  l2: 'x * x',
  l1: 'abs(x)',
  inf: 'abs(x)',
  // pow(0, p) is undefined in WGSL (exp2(p * log2(0))); zero contributes zero.
  p: 'select(0.0, pow(abs(x), params.norm_p), x != 0.0)',
};
const combine = (kind: NormKind, a: string, b: string) => (kind === 'inf' ? `max(${a}, ${b})` : `${a} + ${b}`);

/** Tree reduction of `partial` (CLIP_WG entries, all invocations must reach it) into partial[0]. */
function treeReduce(kind: NormKind): string {
  return /* wgsl */ `
  workgroupBarrier();
  for (var stride = ${CLIP_WG / 2}u; stride > 0u; stride >>= 1u) {
    if (lidx < stride) { acc_wg[lidx] = ${combine(kind, 'acc_wg[lidx]', 'acc_wg[lidx + stride]')}; }
    workgroupBarrier();
  }`;
}

function clipPartialSource(kind: NormKind): string {
  return /* wgsl */ `
struct Params { n: u32, g_offset: u32, base: u32, norm_p: f32 }
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read_write> partial: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
var<workgroup> acc_wg: array<f32, ${CLIP_WG}>;
@compute @workgroup_size(${CLIP_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let chunk = wid.x + wid.y * nwg.x;
  let start = chunk * ${CLIP_CHUNK}u;
  let end = min(start + ${CLIP_CHUNK}u, params.n);
  var acc = 0.0;
  for (var j = start + lidx; j < end; j += ${CLIP_WG}u) {
    let x = g[params.g_offset + j];
    acc = ${combine(kind, 'acc', TERM[kind])};
  }
  acc_wg[lidx] = acc;
  ${treeReduce(kind)}
  if (lidx == 0u && start < params.n) { partial[params.base + chunk] = acc_wg[0]; }
}`;
}

function clipFinalizeSource(kind: NormKind): string {
  const total = { l2: 'sqrt(s)', l1: 's', inf: 's', p: 'select(0.0, pow(s, params.inv_p), s > 0.0)' }[kind];
  return /* wgsl */ `
struct Params { slots: u32, max_norm: f32, inv_p: f32 }
@group(0) @binding(0) var<storage, read> partial: array<f32>;
@group(0) @binding(1) var<storage, read_write> norm: array<f32>;
@group(0) @binding(2) var<storage, read_write> coef: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
var<workgroup> acc_wg: array<f32, ${CLIP_WG}>;
@compute @workgroup_size(${CLIP_WG})
fn main(@builtin(local_invocation_index) lidx: u32) {
  var acc = 0.0;
  for (var j = lidx; j < params.slots; j += ${CLIP_WG}u) { acc = ${combine(kind, 'acc', 'partial[j]')}; }
  acc_wg[lidx] = acc;
  ${treeReduce(kind)}
  if (lidx == 0u) {
    let s = acc_wg[0];
    let total = ${total};
    norm[0] = total;
    coef[0] = min(1.0, params.max_norm / (total + 1e-6));
  }
}`;
}

export const clipPartialKernels = new KernelFamily<NormKind>('clip_partial', clipPartialSource, (k) => k);
export const clipFinalizeKernels = new KernelFamily<NormKind>('clip_finalize', clipFinalizeSource, (k) => k);

export const clipScaleKernel = new Kernel(
  'clip_scale',
  /* wgsl */ `
struct Params { n: u32, g_offset: u32 }
@group(0) @binding(0) var<storage, read_write> g: array<f32>;
@group(0) @binding(1) var<storage, read> coef: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
${LINEAR_ID}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let i = linear_id(wid, nwg, lidx, ${WG}u);
  if (i >= params.n) { return; }
  g[params.g_offset + i] = g[params.g_offset + i] * coef[0];
}`,
);

/**
 * How an update of p (gradient g) is laid out: vec4 when p's and g's offsets and the size are multiples of
 * 4; `n` and the offsets are then in vec4s. The state buffers are dense, so they always qualify.
 */
export function updateLayout(
  size: number,
  pOffset: number,
  gOffset: number,
): { vec4: boolean; n: number; p_offset: number; g_offset: number; workgroups: [number, number, number] } {
  const vec4 = size % 4 === 0 && pOffset % 4 === 0 && gOffset % 4 === 0;
  const d = vec4 ? 4 : 1;
  return { vec4, n: size / d, p_offset: pOffset / d, g_offset: gOffset / d, workgroups: grid1d(size / d, WG) };
}
