// im2col and its adjoint col2im, for the convolutions that run as GEMMs on the pointwise kernel (the
// 3-channel stems and dense convs with 16+ channels; see engine/ops/conv-im2col.ts).
//   im2col  x [N, C, H, W] -> cols [N, R, P], R = C·KH·KW (r = (c·KH + ky)·KW + kx), P = OH·OW, with zeros
//           where a tap falls in the padding: cols[n, r, oy·OW + ox] = x[n, c, oy·SH - padT + ky·DH,
//           ox·SW - padL + kx·DW].
//   col2im  dcols [N, R_PAD, P] -> dx [N, C, H, W], the sum over the taps that land on each x position
//           (rows of dcols past R are padding and never read).
// Both are memory passes with little arithmetic. The grid is 3-D and only workgroup-uniform values are
// divided (a flat grid, its index divided per invocation, ran the stem's unfold about 1.6x slower on
// lavapipe): x runs over blocks of 4 columns (im2colWorkgroup), y over rows, z over (n, c, ky) for im2col
// (an invocation writes the row's KW taps: from one window of x where the dilation along x is 1, which ran
// the unfold of 3x3 convs 1.7-2.2x faster than a tap an invocation) and (n, c, phase) for col2im, n from
// `n_first` on (the op splits batches whose z would pass 65535). KH, KW, the window's stride, col2im's
// strides and the workgroup shape are constants of the variant.
// im2col vec4: OW % 4 == 0, so a block's 4 columns are one aligned vec4 of cols; otherwise 4 scalar
// stores, masked at the row's end. Index math is u32 except source coordinates, negative in the padding.
import { KernelFamily } from '../engine/kernel.ts';

/**
 * Workgroup shape for rows of `colBlocks` blocks of 4 columns: column blocks (x) by rows (y), 64 in all,
 * x no wider than the row. With x fixed at 8, maps 16 wide or less left half or more of every 8-lane group
 * idle; fitted, dense 3x3 convs at 8x8 and 16x16 ran 1.04-1.15x faster (alternating runs, forward and
 * gradient to x), wider maps the same.
 */
export function im2colWorkgroup(colBlocks: number): [number, number] {
  const x = Math.min(8, 2 ** Math.ceil(Math.log2(Math.max(1, colBlocks))));
  return [x, 64 / x];
}
/** Largest z extent of a dispatch (WebGPU's default limit per grid dimension). */
export const IM2COL_MAX_Z = 65535;

export interface Im2colVariant {
  vec4: boolean;
  kh: number;
  kw: number;
  /**
   * The stride along x where the dilation along x is 1 (0 otherwise): a row's KW taps then share one window
   * of 3·stride + KW loads.
   */
  window: number;
  /** Workgroup shape (see im2colWorkgroup). */
  wg: [number, number];
}

export interface Col2imVariant {
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  /** Workgroup shape (see im2colWorkgroup). */
  wg: [number, number];
}

const COLS = [0, 1, 2, 3];

const HEAD = ([wx, wy]: [number, number]) => /* wgsl */ `
@compute @workgroup_size(${wx}, ${wy})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let cb = wid.x * ${wx}u + lid.x;
  let row_y = wid.y * ${wy}u + lid.y;`;

function im2colSource(v: Im2colVariant): string {
  const taps = [...Array(v.kw).keys()];
  // With a window, tap kx of column j reads window entry kx + stride·j; otherwise each tap loads its own 4.
  const s = v.window;
  const window = s ? [...Array(3 * s + v.kw).keys()].map((k) => `let x${k} = tap(ix0 + ${k}, base, row_ok);`).join('\n  ') : '';
  const value = (kx: number, j: number) => (s ? `x${kx + s * j}` : `tap(ix0 + ${kx} * p.dilation.y + ${j} * p.stride.y, base, row_ok)`);
  const store = (kx: number) => {
    const at = `((n * p.red + r0 + ${kx}u) * p.out_h + oy) * p.out_w + ox0`;
    return v.vec4
      ? `cols[(${at}) >> 2u] = vec4<f32>(${COLS.map((j) => value(kx, j)).join(', ')});`
      : `{ let at = ${at}; ${COLS.map((j) => `if (ox0 + ${j}u < p.out_w) { cols[at + ${j}u] = ${value(kx, j)}; }`).join(' ')} }`;
  };
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
${HEAD(v.wg)}
  // Workgroup-uniform: the image and the tap row (c, ky); the invocation writes its KW taps' rows of cols.
  let rows_per_image = p.in_c * ${v.kh}u;
  let cy = wid.z % rows_per_image;
  let n = p.n_first + wid.z / rows_per_image;
  let c = cy / ${v.kh}u;
  let ky = cy % ${v.kh}u;
  let r0 = cy * ${v.kw}u;
  if (cb >= p.col_blocks || row_y >= p.out_h) { return; }
  let oy = row_y;
  let iy = i32(oy) * p.stride.x - p.pad.x + i32(ky) * p.dilation.x;
  let row_ok = iy >= 0 && iy < i32(p.in_h);
  let base = ((n * p.in_c + c) * p.in_h + u32(clamp(iy, 0, i32(p.in_h) - 1))) * p.in_w;
  let ox0 = cb * 4u;
  let ix0 = i32(ox0) * p.stride.y - p.pad.y;
  ${window}
  ${taps.map(store).join('\n  ')}
}`;
}

// col2im's invocations each own 4 columns of one phase (x ≡ px mod SW, rows y ≡ py mod SH): z carries
// (n, c, py, px), so which taps land on the invocation's positions is workgroup-uniform, and its 4
// columns read 4 consecutive dcols columns per tap. (4 neighbouring columns instead made every tap a
// per-lane masked load, 36 for the ~9 that land: 1.84 against 1.25 ms at the 224x224 stem.)
function col2imSource(v: Col2imVariant): string {
  const taps = (k: number) => [...Array(k).keys()];
  const rows = taps(v.kh)
    .map(
      (ky) => `{
    let t0 = i32(py) + p.pad.x - ${ky} * p.dilation.x;
    let oy = t0 / ${v.sh} + i32(yb);
    if (((t0 % ${v.sh}) + ${v.sh}) % ${v.sh} == 0 && oy >= 0 && oy < i32(p.out_h)) {
      let tap_row = (n * p.red_pad + ${ky * v.kw}u + c * ${v.kh * v.kw}u) * plane + u32(oy) * p.out_w;
      ${taps(v.kw)
        .map(
          (kx) => `{
        let u0 = i32(px) + p.pad.y - ${kx} * p.dilation.y;
        if (((u0 % ${v.sw}) + ${v.sw}) % ${v.sw} == 0) {
          let ox0 = u0 / ${v.sw} + i32(j0);
          let at = tap_row + ${kx}u * plane;
          ${COLS.map((j) => `acc[${j}] += select(0.0, cols[at + u32(clamp(ox0 + ${j}, 0, last_ox))], ox0 + ${j} >= 0 && ox0 + ${j} <= last_ox);`).join('\n          ')}
        }
      }`,
        )
        .join('\n      ')}
    }
  }`,
    )
    .join('\n  ');
  return /* wgsl */ `
struct Params {
  red_pad: u32, n_first: u32, in_c: u32, in_h: u32, in_w: u32, out_h: u32, out_w: u32, col_blocks: u32,
  dilation: vec2<i32>, pad: vec2<i32>,
}
@group(0) @binding(0) var<storage, read> cols: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
${HEAD(v.wg)}
  // Workgroup-uniform: phase (py, px), channel and image.
  let px = wid.z % ${v.sw}u;
  let py = (wid.z / ${v.sw}u) % ${v.sh}u;
  let nc = wid.z / ${v.sw * v.sh}u;
  let c = nc % p.in_c;
  let n = p.n_first + nc / p.in_c;
  let yb = row_y;
  let j0 = cb * 4u;
  let rows_in_phase = (p.in_h + ${v.sh - 1}u - py) / ${v.sh}u;
  let cols_in_phase = (p.in_w + ${v.sw - 1}u - px) / ${v.sw}u;
  if (yb >= rows_in_phase || j0 >= cols_in_phase) { return; }
  let plane = p.out_h * p.out_w;
  let last_ox = i32(p.out_w) - 1;
  var acc = vec4<f32>(0.0);
  ${rows}
  let row = ((n * p.in_c + c) * p.in_h + py + ${v.sh}u * yb) * p.in_w + px;
  ${COLS.map((j) => `if (j0 + ${j}u < cols_in_phase) { dx[row + ${v.sw}u * (j0 + ${j}u)] = acc[${j}]; }`).join('\n  ')}
}`;
}

const im2colKey = (v: Im2colVariant) => `${v.vec4 ? 'vec4' : 'f32'},k${v.kh}x${v.kw}${v.window ? `,window${v.window}` : ''},wg${v.wg.join('x')}`;

export const im2colKernels = new KernelFamily<Im2colVariant>('im2col', im2colSource, im2colKey);
export const col2imKernels = new KernelFamily<Col2imVariant>('col2im', col2imSource, (v) => `k${v.kh}x${v.kw},s${v.sh}x${v.sw},wg${v.wg.join('x')}`);
