// Bilinear resampling of NCHW planes as PyTorch's upsample_bilinear2d (F.interpolate(mode='bilinear')).
//
// Source coordinate of output index d along an axis, with `scale` computed on the host as PyTorch does:
//   align_corners: src = scale·d, scale = (in - 1) / (out - 1) (0 when out = 1)
//   otherwise:     src = max(scale·(d + 0.5) - 0.5, 0), scale = 1 / scale_factor if one was given, else in / out
// Taps i0 = floor(src), i1 = i0 + 1 unless i0 is the last index, with weights 1 - (src - i0) and src - i0.
// Forward: one invocation per output element. Backward: one invocation per input element, gathering from
// the outputs whose taps hit it. Those have src ∈ [i - 1, i + 1), and src = a·d + b grows with d (the clamp
// at 0 only merges the first outputs into i = 0), so d ∈ [(i - 1 - b)/a, (i + 1 - b)/a], widened by one on
// each side against f32 rounding; the taps are then recomputed with the forward's own function and
// filtered. No atomics; fixed sum order.
import { Kernel } from '../engine/kernel.ts';
import { LINEAR_ID } from './prelude.ts';

export const UPSAMPLE_WG = 64;

const HEAD = /* wgsl */ `
struct Params {
  total: u32, in_h: u32, in_w: u32, out_h: u32, out_w: u32,
  scale_h: f32, scale_w: f32, align_corners: u32,
}
${LINEAR_ID}
struct Taps { i0: u32, i1: u32, w0: f32, w1: f32 }
fn taps(d: u32, scale: f32, in_len: u32) -> Taps {
  var src = scale * f32(d);
  if (params.align_corners == 0u) { src = max(scale * (f32(d) + 0.5) - 0.5, 0.0); }
  let i0 = min(u32(src), in_len - 1u);
  let i1 = select(i0, i0 + 1u, i0 + 1u < in_len);
  let w1 = src - f32(i0);
  return Taps(i0, i1, 1.0 - w1, w1);
}`;

const MAIN = (body: string) => /* wgsl */ `
@compute @workgroup_size(${UPSAMPLE_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let i = linear_id(wid, nwg, lidx, ${UPSAMPLE_WG}u);
  if (i >= params.total) { return; }
  ${body}
}`;

export const upsampleForward = new Kernel(
  'upsample_bilinear_forward',
  /* wgsl */ `${HEAD}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
${MAIN(/* wgsl */ `
  let ox = i % params.out_w;
  let oy = (i / params.out_w) % params.out_h;
  let plane = i / (params.out_w * params.out_h);
  let ty = taps(oy, params.scale_h, params.in_h);
  let tx = taps(ox, params.scale_w, params.in_w);
  let r0 = plane * params.in_h * params.in_w + ty.i0 * params.in_w;
  let r1 = plane * params.in_h * params.in_w + ty.i1 * params.in_w;
  out[i] = ty.w0 * (tx.w0 * x[r0 + tx.i0] + tx.w1 * x[r0 + tx.i1]) + ty.w1 * (tx.w0 * x[r1 + tx.i0] + tx.w1 * x[r1 + tx.i1]);`)}`,
);

export const upsampleBackward = new Kernel(
  'upsample_bilinear_backward',
  /* wgsl */ `${HEAD}
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read_write> gx: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

// Weight with which output index d reads input index i along one axis (0 if neither tap is i).
fn weight_of(d: u32, i: u32, scale: f32, in_len: u32) -> f32 {
  let t = taps(d, scale, in_len);
  return select(0.0, t.w0, t.i0 == i) + select(0.0, t.w1, t.i1 == i);
}
// Candidate outputs [lo, hi] along one axis for input index i (see the header).
fn candidates(i: u32, scale: f32, in_len: u32, out_len: u32) -> vec2<u32> {
  if (scale <= 0.0) { return vec2<u32>(0u, out_len - 1u); }
  let b = select(0.5 * scale - 0.5, 0.0, params.align_corners != 0u);
  let lo = floor((f32(i) - 1.0 - b) / scale) - 1.0;
  let hi = ceil((f32(i) + 1.0 - b) / scale) + 1.0;
  let last = f32(out_len - 1u);
  return vec2<u32>(u32(clamp(lo, 0.0, last)), u32(clamp(hi, 0.0, last)));
}
${MAIN(/* wgsl */ `
  let ix = i % params.in_w;
  let iy = (i / params.in_w) % params.in_h;
  let plane = i / (params.in_w * params.in_h);
  let rows = candidates(iy, params.scale_h, params.in_h, params.out_h);
  let cols = candidates(ix, params.scale_w, params.in_w, params.out_w);
  let gbase = plane * params.out_h * params.out_w;
  var acc = 0.0;
  for (var oy = rows.x; oy <= rows.y; oy++) {
    let wy = weight_of(oy, iy, params.scale_h, params.in_h);
    if (wy == 0.0) { continue; }
    var row = 0.0;
    for (var ox = cols.x; ox <= cols.y; ox++) {
      row += weight_of(ox, ix, params.scale_w, params.in_w) * g[gbase + oy * params.out_w + ox];
    }
    acc += wy * row;
  }
  gx[i] = acc;`)}`,
);
