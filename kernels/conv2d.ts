// Direct 2-D convolution, NCHW float32, register-blocked: one invocation computes OB output channels of one
// group at COLS (4 or 8) output columns of one row, reusing every loaded input row across the columns and
// OB channels.
//
// Variants (the key): kernel width KW (unrolled), JM (see column blocking below), OB, `up`, COLS. The bias is a
// uniform flag (`has_bias`; without one the op binds the weight, which holds at least O values, in its place).
// The same kernel serves two ops:
//   forward:        src = x, out = y; weight read as w[g][o][c][ky][kx] through the w_* strides.
//   gradient to x:  the transposed-conv gather. src = dy read through zero insertion (`up` = stride: source
//                   position p holds dy[p / stride] when p % stride == 0, else 0), stride 1, the same dilation,
//                   padding (k-1)*d - pad, and the weight read transposed and flipped (negative w_ky, w_kx).
//                   Each input pixel thus gathers exactly the outputs that touched it; no atomics.
//                   With stride s > 1 (dilation 1) the op runs it once per phase instead (see conv-launch).
// The output is written through (out_plane, out_row, out_col, out_off): a plane of the output tensor, the
// element step between the pass's rows and between its columns, and the first element; a phase of the
// gradient to x writes every s-th row and column.
//
// Column blocking: output columns ox0 + j*e (j < COLS) with e = d / gcd(s, d). Their source columns are
// ox_j*s - pad + kx*d = base + (j*JM + kx)*d with JM = s / gcd(s, d), because e*s = JM*d; so the columns
// read M = (COLS-1)*JM + KW distinct positions per source row instead of COLS*KW. Invocations enumerate (phase t < e,
// chunk) pairs: ox0 = t + COLS*e*chunk.
//
// Index math is u32 over element offsets (tensors under 2^31 elements; a binding is at most 128 MiB on
// lavapipe); positions that may fall in the padding are i32 and clamped to 0 when masked out.
import { KernelFamily } from '../engine/kernel.ts';
import { LINEAR_ID } from './prelude.ts';

export const CONV_WG = 64;
export const CONV_COLS = 4;

export function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Column blocking for stride s and dilation d: output step e and source step multiplier jm (e*s = jm*d). */
export function columnBlocking(stride: number, dilation: number): { step: number; jm: number } {
  const g = gcd(stride, dilation);
  return { step: dilation / g, jm: stride / g };
}

/** Number of (phase, chunk) column items covering `size` outputs in blocks of `per` at step `step`. */
export function blockedItems(size: number, step: number, per: number): number {
  return step * Math.ceil(Math.ceil(size / step) / per);
}

/**
 * WGSL `inside_<axis>(p, size)` (does source position p hold a real element?) and `index_<axis>(p)`. With
 * `up` > 1 positions are zero-inserted coordinates: p holds element p / up when p % up == 0, else zero. `up` is
 * a compile-time constant so the division is a shift or a multiply.
 */
export function sourceAxis(axis: 'y' | 'x', up: number): string {
  return up === 1
    ? `fn inside_${axis}(p: i32, size: u32) -> bool { return p >= 0 && u32(p) < size; }
fn index_${axis}(p: i32) -> u32 { return u32(p); }`
    : `fn inside_${axis}(p: i32, size: u32) -> bool { return p >= 0 && u32(p) % ${up}u == 0u && u32(p) / ${up}u < size; }
fn index_${axis}(p: i32) -> u32 { return u32(p) / ${up}u; }`;
}

/**
 * WGSL loading `name = buffer[index]` or 0 where `ok` is false. Zero-inserted sources skip the load (half the
 * positions at stride 2, and lanes of one SIMD group agree, so whole loads are skipped); elsewhere masking is
 * rare (padding) and a select of a clamped index is cheaper than a branch.
 */
export function maskedLoad(name: string, buffer: string, index: string, ok: string, upsampled: boolean): string {
  return upsampled
    ? `var ${name} = 0.0; if (${ok}) { ${name} = ${buffer}[${index}]; }`
    : `let ${name} = select(0.0, ${buffer}[${index}], ${ok});`;
}

export interface DirectConvVariant {
  kw: number;
  jm: number;
  ob: number;
  /** Zero-insertion factors [h, w] of the source; [1, 1] for the forward pass. */
  up: [number, number];
  /** Output columns per invocation (default CONV_COLS). */
  cols?: number;
}

const range = (n: number) => [...Array(n).keys()];

function source(v: DirectConvVariant): string {
  const C = v.cols ?? CONV_COLS;
  const M = (C - 1) * v.jm + v.kw;
  const cols = range(C);
  const outs = range(v.ob);
  const positions = range(M)
    .map((m) => `let p${m} = base_x + ${m} * p.dilation.y;
  let ok${m} = inside_x(p${m}, p.src_w);
  let ix${m} = select(0u, index_x(p${m}), ok${m});`)
    .join('\n  ');
  const upsampled = v.up[0] > 1 || v.up[1] > 1;
  const loads = range(M).map((m) => maskedLoad(`v${m}`, 'src', `row + ix${m}`, `ok${m}`, upsampled)).join('\n      ');
  const macs = outs
    .map((i) => {
      const taps = range(v.kw)
        .map((kx) => {
          const sum = cols.map((j) => `acc${i}_${j} += wv * v${j * v.jm + kx};`).join(' ');
          return `{ let wv = w[u32(wrow${i} + ${kx} * p.w_kx)]; ${sum} }`;
        })
        .join('\n        ');
      return `{ let wrow${i} = wout${i} + i32(c) * p.w_red + i32(ky) * p.w_ky;\n        ${taps} }`;
    })
    .join('\n      ');
  const writes = outs
    .map((i) => {
      const b = ` + b${i}`;
      return `if (o${i} < p.out_per_group) {
    let b${i} = select(0.0, bias[g * p.out_per_group + o${i}], p.has_bias != 0u);
    let obase = ((n * p.groups + g) * p.out_per_group + o${i}) * p.out_plane + p.out_off + oy * p.out_row;
    ${cols.map((j) => `if (ox0 + ${j}u * e < p.out_w) { out[obase + (ox0 + ${j}u * e) * p.out_col] = acc${i}_${j}${b}; }`).join('\n    ')}
  }`;
    })
    .join('\n  ');
  return /* wgsl */ `
struct Params {
  total: u32, groups: u32, red_per_group: u32, out_per_group: u32,
  src_h: u32, src_w: u32, out_h: u32, out_w: u32,
  stride: vec2<i32>, dilation: vec2<i32>, pad: vec2<i32>,
  kh: u32, col_step: u32, col_items: u32, out_blocks: u32,
  w_off: i32, w_group: i32, w_out: i32, w_red: i32, w_ky: i32, w_kx: i32, has_bias: u32,
  out_plane: u32, out_row: u32, out_col: u32, out_off: u32,
}
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;
${LINEAR_ID}
${sourceAxis('y', v.up[0])}
${sourceAxis('x', v.up[1])}
@compute @workgroup_size(${CONV_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let id = linear_id(wid, nwg, lidx, ${CONV_WG}u);
  if (id >= p.total) { return; }
  let col = id % p.col_items;
  var rest = id / p.col_items;
  let oy = rest % p.out_h;
  rest = rest / p.out_h;
  let ob = rest % p.out_blocks;
  rest = rest / p.out_blocks;
  let g = rest % p.groups;
  let n = rest / p.groups;
  let e = p.col_step;
  let ox0 = col % e + ${C}u * e * (col / e);
  let base_x = i32(ox0) * p.stride.y - p.pad.y;
  ${positions}
  // Output channels past the group's end (the last block) read a valid channel and are not written.
  ${outs.map((i) => `let o${i} = ob * ${v.ob}u + ${i}u;
  let wout${i} = p.w_off + i32(g) * p.w_group + i32(min(o${i}, p.out_per_group - 1u)) * p.w_out;`).join('\n  ')}
  ${outs.map((i) => cols.map((j) => `var acc${i}_${j} = 0.0;`).join(' ')).join('\n  ')}
  let src_hw = p.src_h * p.src_w;
  for (var c = 0u; c < p.red_per_group; c++) {
    let src_c = ((n * p.groups + g) * p.red_per_group + c) * src_hw;
    for (var ky = 0u; ky < p.kh; ky++) {
      let py = i32(oy) * p.stride.x - p.pad.x + i32(ky) * p.dilation.x;
      if (!inside_y(py, p.src_h)) { continue; }
      let row = src_c + index_y(py) * p.src_w;
      ${loads}
      ${macs}
    }
  }
  ${writes}
}`;
}

export const directConvKernels = new KernelFamily<DirectConvVariant>(
  'conv2d_direct',
  source,
  (v) => `kw${v.kw},jm${v.jm},ob${v.ob},up${v.up[0]}x${v.up[1]}${v.cols && v.cols !== CONV_COLS ? `,c${v.cols}` : ''}`,
);
