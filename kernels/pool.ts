// 2-D average and max pooling over NCHW planes, forward and backward, as PyTorch's avg_pool2d/max_pool2d
// (symmetric padding, ceil_mode, count_include_pad; no dilation).
//
// Forward: one invocation per output element. Backward: one invocation per input element, which gathers
// from the output windows that contain it (oy in [ceil((iy + ph - kh + 1) / sh), floor((iy + ph) / sh)]),
// so there are no atomics and the sum order is fixed. Max pooling keeps the argmax of each window (the
// plane-local index iy*W + ix, the first maximum in row-major window order) and routes gradients to it.
// Grids are 1-D, 2-D past 65535 workgroups (grid1d). Index math is u32 per plane; window bounds are i32
// because padding makes them negative.
import { Kernel } from '../engine/kernel.ts';
import { LINEAR_ID } from './prelude.ts';

export const POOL_WG = 64;

const HEAD = /* wgsl */ `
struct Params {
  total: u32, h: u32, w: u32, oh: u32, ow: u32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  include_pad: u32,
}
${LINEAR_ID}
// Window of output (oy, ox): the padded extent (for count_include_pad) and the clipped one.
struct Window { h0: i32, h1: i32, w0: i32, w1: i32, padded: i32 }
fn window(oy: u32, ox: u32) -> Window {
  let hs = i32(oy) * params.sh - params.ph;
  let ws = i32(ox) * params.sw - params.pw;
  let he = min(hs + params.kh, i32(params.h) + params.ph);
  let we = min(ws + params.kw, i32(params.w) + params.pw);
  let padded = (he - hs) * (we - ws);
  return Window(max(hs, 0), min(he, i32(params.h)), max(ws, 0), min(we, i32(params.w)), padded);
}
fn divisor(win: Window) -> f32 {
  return f32(select((win.h1 - win.h0) * (win.w1 - win.w0), win.padded, params.include_pad != 0u));
}
fn ceil_div(a: i32, b: i32) -> i32 {
  return select((a + b - 1) / b, -((-a) / b), a < 0);
}
// Outputs along one axis whose window holds input index i: [lo, hi], possibly empty.
fn covering(i: u32, k: i32, s: i32, p: i32, out_len: u32) -> vec2<i32> {
  return vec2<i32>(max(0, ceil_div(i32(i) + p - k + 1, s)), min(i32(out_len) - 1, (i32(i) + p) / s));
}`;

const MAIN = (body: string) => /* wgsl */ `
@compute @workgroup_size(${POOL_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let i = linear_id(wid, nwg, lidx, ${POOL_WG}u);
  if (i >= params.total) { return; }
  ${body}
}`;

const OUTPUT_COORDS = /* wgsl */ `
  let ox = i % params.ow;
  let oy = (i / params.ow) % params.oh;
  let plane = i / (params.ow * params.oh);
  let win = window(oy, ox);
  let base = plane * params.h * params.w;`;

const INPUT_COORDS = /* wgsl */ `
  let ix = i % params.w;
  let iy = (i / params.w) % params.h;
  let plane = i / (params.w * params.h);
  let rows = covering(iy, params.kh, params.sh, params.ph, params.oh);
  let cols = covering(ix, params.kw, params.sw, params.pw, params.ow);
  let gbase = plane * params.oh * params.ow;
  var acc = 0.0;`;

export const avgPoolForward = new Kernel(
  'avg_pool2d_forward',
  /* wgsl */ `${HEAD}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
${MAIN(/* wgsl */ `${OUTPUT_COORDS}
  var acc = 0.0;
  for (var y = win.h0; y < win.h1; y++) {
    for (var xx = win.w0; xx < win.w1; xx++) { acc += x[base + u32(y) * params.w + u32(xx)]; }
  }
  // An empty clipped window (possible only with ceil_mode) averages to 0, as in PyTorch.
  out[i] = select(acc / divisor(win), 0.0, win.h0 >= win.h1 || win.w0 >= win.w1);`)}`,
);

export const avgPoolBackward = new Kernel(
  'avg_pool2d_backward',
  /* wgsl */ `${HEAD}
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read_write> gx: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
${MAIN(/* wgsl */ `${INPUT_COORDS}
  for (var oy = rows.x; oy <= rows.y; oy++) {
    for (var ox = cols.x; ox <= cols.y; ox++) {
      acc += g[gbase + u32(oy) * params.ow + u32(ox)] / divisor(window(u32(oy), u32(ox)));
    }
  }
  gx[i] = acc;`)}`,
);

export const maxPoolForward = new Kernel(
  'max_pool2d_forward',
  /* wgsl */ `${HEAD}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> argmax: array<i32>;
@group(0) @binding(3) var<uniform> params: Params;
${MAIN(/* wgsl */ `${OUTPUT_COORDS}
  // A finite sentinel, not -inf (WGSL may assume no infinities); the first maximum wins ties.
  var best = bitcast<f32>(0xff7fffffu);
  var best_at = win.h0 * i32(params.w) + win.w0;
  for (var y = win.h0; y < win.h1; y++) {
    for (var xx = win.w0; xx < win.w1; xx++) {
      let at = y * i32(params.w) + xx;
      let v = x[base + u32(at)];
      if (v > best) { best = v; best_at = at; }
    }
  }
  // Reading the value back at best_at also covers windows whose values are all at or below the sentinel.
  out[i] = x[base + u32(best_at)];
  argmax[i] = best_at;`)}`,
);

export const maxPoolBackward = new Kernel(
  'max_pool2d_backward',
  /* wgsl */ `${HEAD}
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> argmax: array<i32>;
@group(0) @binding(2) var<storage, read_write> gx: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
${MAIN(/* wgsl */ `${INPUT_COORDS}
  let me = i32(iy * params.w + ix);
  for (var oy = rows.x; oy <= rows.y; oy++) {
    for (var ox = cols.x; ox <= cols.y; ox++) {
      let o = gbase + u32(oy) * params.ow + u32(ox);
      if (argmax[o] == me) { acc += g[o]; }
    }
  }
  gx[i] = acc;`)}`,
);
