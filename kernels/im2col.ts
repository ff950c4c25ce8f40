// im2col for convolutions with few input channels (the 3-channel stem): unfolds x [N, C, H, W] into
// cols [N, R, P], R = C·KH·KW (r = (c·KH + ky)·KW + kx), P = OH·OW, with zeros where a tap falls in the
// padding. cols is the [N, R, P] input of the pointwise kernel, so a conv with few channels becomes one
// well-blocked GEMM (out [N, O, P] = w [O, R] · cols) instead of a direct conv whose reduction of R = 27
// leaves its register blocks short (see engine/ops/conv-im2col.ts).
//
// One invocation writes 4 neighbouring output columns of one (n, r, oy) row: the tap (c, ky, kx) and the
// source row are found once for the 4. vec4: OW % 4 == 0, so the 4 columns are one aligned vec4 of cols
// (P is then a multiple of 4 too); otherwise 4 scalar stores, masked at the row's end.
// Index math is u32 except the source coordinates, which are negative in the padding.
import { KernelFamily } from '../engine/kernel.ts';
import { LINEAR_ID } from './prelude.ts';

export const IM2COL_WG = 64;

export interface Im2colVariant {
  vec4: boolean;
}

function source(v: Im2colVariant): string {
  const taps = [0, 1, 2, 3];
  const store = v.vec4
    ? `cols[(row + ox0) >> 2u] = vec4<f32>(${taps.map((j) => `tap(ix0 + ${j} * p.stride.y, base, row_ok)`).join(', ')});`
    : taps.map((j) => `if (ox0 + ${j}u < p.out_w) { cols[row + ox0 + ${j}u] = tap(ix0 + ${j} * p.stride.y, base, row_ok); }`).join('\n  ');
  return /* wgsl */ `
struct Params {
  total: u32, red: u32, kh: u32, kw: u32, in_c: u32, in_h: u32, in_w: u32, out_h: u32, out_w: u32, col_blocks: u32,
  stride: vec2<i32>, dilation: vec2<i32>, pad: vec2<i32>,
}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> cols: array<${v.vec4 ? 'vec4<f32>' : 'f32'}>;
@group(0) @binding(2) var<uniform> p: Params;
${LINEAR_ID}
// Source column ix of the source row starting at base; zero in the padding.
fn tap(ix: i32, base: u32, row_ok: bool) -> f32 {
  let ok = row_ok && ix >= 0 && ix < i32(p.in_w);
  return select(0.0, x[base + u32(clamp(ix, 0, i32(p.in_w) - 1))], ok);
}
@compute @workgroup_size(${IM2COL_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let id = linear_id(wid, nwg, lidx, ${IM2COL_WG}u);
  if (id >= p.total) { return; }
  let cb = id % p.col_blocks;
  var t = id / p.col_blocks;
  let oy = t % p.out_h;
  t = t / p.out_h;
  let r = t % p.red;
  let n = t / p.red;
  let kk = p.kh * p.kw;
  let c = r / kk;
  let ky = (r - c * kk) / p.kw;
  let kx = r - c * kk - ky * p.kw;
  let iy = i32(oy) * p.stride.x - p.pad.x + i32(ky) * p.dilation.x;
  let row_ok = iy >= 0 && iy < i32(p.in_h);
  let base = ((n * p.in_c + c) * p.in_h + u32(clamp(iy, 0, i32(p.in_h) - 1))) * p.in_w;
  let ox0 = cb * 4u;
  let ix0 = i32(ox0) * p.stride.y - p.pad.y + i32(kx) * p.dilation.y;
  let row = ((n * p.red + r) * p.out_h + oy) * p.out_w;
  ${store}
}`;
}

export const im2colKernels = new KernelFamily<Im2colVariant>('im2col', source, (v) => (v.vec4 ? 'vec4' : 'f32'));

// col2im, the adjoint of im2col, for the gradient to x: dx[n, c, y, x] = Σ over the taps (ky, kx) whose
// output position (oy, ox) lands on (y, x), i.e. oy·SH - padT + ky·DH = y, of dcols[n, c·KH·KW + ky·KW + kx,
// oy·OW + ox]. dcols [N, R_PAD, P] may carry padding rows past R (never read). One invocation sums 4
// neighbouring columns of one (n, c, y) row. The strides are constants of the variant: a tap lands when
// y + padT - ky·DH is a non-negative multiple of SH, and a division by a uniform is emulated lane by lane
// on lavapipe, by a constant it is a multiply.
export interface Col2imVariant {
  vec4: boolean;
  sh: number;
  sw: number;
}

function col2imSource(v: Col2imVariant): string {
  const cols4 = [0, 1, 2, 3];
  const accumulate = cols4
    .map(
      (j) => `{
        let tx = i32(x0 + ${j}u) + p.pad.y - i32(kx) * p.dilation.y;
        if (tx >= 0 && x0 + ${j}u < p.in_w) {
          let ux = u32(tx);
          if (ux % ${v.sw}u == 0u && ux / ${v.sw}u < p.out_w) { acc[${j}] += cols[tap_row + ux / ${v.sw}u]; }
        }
      }`,
    )
    .join('\n      ');
  const store = v.vec4
    ? 'dx[(row + x0) >> 2u] = acc;'
    : cols4.map((j) => `if (x0 + ${j}u < p.in_w) { dx[row + x0 + ${j}u] = acc[${j}]; }`).join('\n  ');
  return /* wgsl */ `
struct Params {
  total: u32, red_pad: u32, kh: u32, kw: u32, in_c: u32, in_h: u32, in_w: u32, out_h: u32, out_w: u32, col_blocks: u32,
  dilation: vec2<i32>, pad: vec2<i32>,
}
@group(0) @binding(0) var<storage, read> cols: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<${v.vec4 ? 'vec4<f32>' : 'f32'}>;
@group(0) @binding(2) var<uniform> p: Params;
${LINEAR_ID}
@compute @workgroup_size(${IM2COL_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let id = linear_id(wid, nwg, lidx, ${IM2COL_WG}u);
  if (id >= p.total) { return; }
  let cb = id % p.col_blocks;
  var t = id / p.col_blocks;
  let y = t % p.in_h;
  t = t / p.in_h;
  let c = t % p.in_c;
  let n = t / p.in_c;
  let x0 = cb * 4u;
  let plane = p.out_h * p.out_w;
  var acc = vec4<f32>(0.0);
  for (var ky = 0u; ky < p.kh; ky++) {
    let ty = i32(y) + p.pad.x - i32(ky) * p.dilation.x;
    if (ty < 0) { continue; }
    let uy = u32(ty);
    if (uy % ${v.sh}u != 0u || uy / ${v.sh}u >= p.out_h) { continue; }
    let first_tap = (n * p.red_pad + (c * p.kh + ky) * p.kw) * plane + (uy / ${v.sh}u) * p.out_w;
    for (var kx = 0u; kx < p.kw; kx++) {
      let tap_row = first_tap + kx * plane;
      ${accumulate}
    }
  }
  let row = ((n * p.in_c + c) * p.in_h + y) * p.in_w;
  ${store}
}`;
}

export const col2imKernels = new KernelFamily<Col2imVariant>('col2im', col2imSource, (v) => `${v.vec4 ? 'vec4' : 'f32'},s${v.sh}x${v.sw}`);
