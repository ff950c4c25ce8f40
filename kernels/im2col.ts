// im2col and its adjoint col2im, for convolutions with few input channels (the 3-channel stems), which
// then run as GEMMs on the pointwise kernel (see engine/ops/conv-im2col.ts).
//   im2col  x [N, C, H, W] -> cols [N, R, P], R = C·KH·KW (r = (c·KH + ky)·KW + kx), P = OH·OW, with zeros
//           where a tap falls in the padding: cols[n, r, oy·OW + ox] = x[n, c, oy·SH - padT + ky·DH,
//           ox·SW - padL + kx·DW].
//   col2im  dcols [N, R_PAD, P] -> dx [N, C, H, W], the sum over the taps that land on each x position
//           (rows of dcols past R are padding and never read).
// Both are memory passes with little arithmetic, so index math decides their speed on lavapipe, which
// runs an integer division of per-invocation values lane by lane. The grid is 3-D and only workgroup-
// uniform values are divided: x runs over blocks of 4 columns, y over rows, z over (n, r) for im2col and
// (n, c) for col2im (n from `n_first` on: the op splits batches whose z would pass 65535). KH, KW and the
// strides are constants of the variant, so the tap and phase arithmetic is multiplies and shifts. A flat
// grid dividing the invocation index ran im2col at 0.5 GB/s.
// vec4: the output rows (OW for im2col, W for col2im) are a multiple of 4, so 4 columns are one aligned
// vec4; otherwise 4 scalar stores, masked at the row's end. Index math is u32 except source coordinates,
// which are negative in the padding.
import { KernelFamily } from '../engine/kernel.ts';

/** Workgroup shape: column blocks (x) by rows (y). */
export const IM2COL_WG: [number, number] = [8, 8];
/** Largest z extent of a dispatch (WebGPU's default limit per grid dimension). */
export const IM2COL_MAX_Z = 65535;

export interface Im2colVariant {
  vec4: boolean;
  kh: number;
  kw: number;
}

export interface Col2imVariant extends Im2colVariant {
  sh: number;
  sw: number;
}

const COLS = [0, 1, 2, 3];

const HEAD = /* wgsl */ `
@compute @workgroup_size(${IM2COL_WG[0]}, ${IM2COL_WG[1]})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let cb = wid.x * ${IM2COL_WG[0]}u + lid.x;
  let row_y = wid.y * ${IM2COL_WG[1]}u + lid.y;`;

function im2colSource(v: Im2colVariant): string {
  const kk = v.kh * v.kw;
  const tap = (j: number) => `tap(ix0 + ${j} * p.stride.y, base, row_ok)`;
  const store = v.vec4
    ? `cols[(row + ox0) >> 2u] = vec4<f32>(${COLS.map(tap).join(', ')});`
    : COLS.map((j) => `if (ox0 + ${j}u < p.out_w) { cols[row + ox0 + ${j}u] = ${tap(j)}; }`).join('\n  ');
  return /* wgsl */ `
struct Params {
  red: u32, n_first: u32, in_c: u32, in_h: u32, in_w: u32, out_h: u32, out_w: u32, col_blocks: u32,
  stride: vec2<i32>, dilation: vec2<i32>, pad: vec2<i32>,
}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> cols: array<${v.vec4 ? 'vec4<f32>' : 'f32'}>;
@group(0) @binding(2) var<uniform> p: Params;
// Source column ix of the source row starting at base; zero in the padding.
fn tap(ix: i32, base: u32, row_ok: bool) -> f32 {
  let ok = row_ok && ix >= 0 && ix < i32(p.in_w);
  return select(0.0, x[base + u32(clamp(ix, 0, i32(p.in_w) - 1))], ok);
}
${HEAD}
  // Workgroup-uniform: the image and the tap (c, ky, kx).
  let r = wid.z % p.red;
  let n = p.n_first + wid.z / p.red;
  let c = r / ${kk}u;
  let ky = (r % ${kk}u) / ${v.kw}u;
  let kx = r % ${v.kw}u;
  if (cb >= p.col_blocks || row_y >= p.out_h) { return; }
  let oy = row_y;
  let iy = i32(oy) * p.stride.x - p.pad.x + i32(ky) * p.dilation.x;
  let row_ok = iy >= 0 && iy < i32(p.in_h);
  let base = ((n * p.in_c + c) * p.in_h + u32(clamp(iy, 0, i32(p.in_h) - 1))) * p.in_w;
  let ox0 = cb * 4u;
  let ix0 = i32(ox0) * p.stride.y - p.pad.y + i32(kx) * p.dilation.y;
  let row = ((n * p.red + r) * p.out_h + oy) * p.out_w;
  ${store}
}`;
}

function col2imSource(v: Col2imVariant): string {
  // Column j of the block takes tap kx when x0 + j + padL - kx·DW is a non-negative multiple of SW.
  const accumulate = COLS.map(
    (j) => `{
        let tx = i32(x0 + ${j}u) + p.pad.y - ${`i32(kx) * p.dilation.y`};
        if (tx >= 0 && x0 + ${j}u < p.in_w) {
          let ux = u32(tx);
          if (ux % ${v.sw}u == 0u && ux / ${v.sw}u < p.out_w) { acc[${j}] += cols[tap_row + ux / ${v.sw}u]; }
        }
      }`,
  ).join('\n      ');
  const store = v.vec4
    ? 'dx[(row + x0) >> 2u] = acc;'
    : COLS.map((j) => `if (x0 + ${j}u < p.in_w) { dx[row + x0 + ${j}u] = acc[${j}]; }`).join('\n  ');
  return /* wgsl */ `
struct Params {
  red_pad: u32, n_first: u32, in_c: u32, in_h: u32, in_w: u32, out_h: u32, out_w: u32, col_blocks: u32,
  dilation: vec2<i32>, pad: vec2<i32>,
}
@group(0) @binding(0) var<storage, read> cols: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<${v.vec4 ? 'vec4<f32>' : 'f32'}>;
@group(0) @binding(2) var<uniform> p: Params;
${HEAD}
  let c = wid.z % p.in_c;
  let n = p.n_first + wid.z / p.in_c;
  if (cb >= p.col_blocks || row_y >= p.in_h) { return; }
  let y = row_y;
  let x0 = cb * 4u;
  let plane = p.out_h * p.out_w;
  var acc = vec4<f32>(0.0);
  for (var ky = 0u; ky < ${v.kh}u; ky++) {
    let ty = i32(y) + p.pad.x - i32(ky) * p.dilation.x;
    if (ty < 0) { continue; }
    let uy = u32(ty);
    if (uy % ${v.sh}u != 0u || uy / ${v.sh}u >= p.out_h) { continue; }
    let first_tap = (n * p.red_pad + (c * ${v.kh}u + ky) * ${v.kw}u) * plane + (uy / ${v.sh}u) * p.out_w;
    for (var kx = 0u; kx < ${v.kw}u; kx++) {
      let tap_row = first_tap + kx * plane;
      ${accumulate}
    }
  }
  let row = ((n * p.in_c + c) * p.in_h + y) * p.in_w;
  ${store}
}`;
}

const im2colKey = (v: Im2colVariant) => `${v.vec4 ? 'vec4' : 'f32'},k${v.kh}x${v.kw}`;

export const im2colKernels = new KernelFamily<Im2colVariant>('im2col', im2colSource, im2colKey);
export const col2imKernels = new KernelFamily<Col2imVariant>('col2im', col2imSource, (v) => `${im2colKey(v)},s${v.sh}x${v.sw}`);
