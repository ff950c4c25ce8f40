// Gradient to the weight of a depthwise convolution (output channel o reads input channel o / multiplier):
//   dw[o, ky, kx] = sum over (n, oy, ox) of dy[n, o, oy, ox] * x[n, o / mult, oy*s - pad + ky*d, ox*s - pad + kx*d].
// One invocation owns all KH x KW taps of one channel over one slice of the N*OH output rows: each loaded dy
// value serves every tap, each loaded x value every tap and column that touches it. It writes
// partial[o, ky, kx, slice]; a second pass sums the slices (so a big batch does not serialise).
//
// Variants (the key): KH, KW (unrolled), JM (column blocking as in conv2d.ts: output columns ox0 + j*e read
// source columns base + (j*JM + kx)*d). Index math is u32; padding positions are i32, masked and clamped.
import { KernelFamily } from '../engine/kernel.ts';
import { LINEAR_ID } from './prelude.ts';
import { CONV_COLS, CONV_WG, sourceAxis } from './conv2d.ts';
import { channelItems, windowMasks, type RowWalkVariant } from './depthwise.ts';

export interface DepthwiseWeightGradVariant {
  kh: number;
  kw: number;
  jm: number;
}

const range = (n: number) => [...Array(n).keys()];

function source(v: DepthwiseWeightGradVariant): string {
  const M = (CONV_COLS - 1) * v.jm + v.kw;
  const cols = range(CONV_COLS);
  const kys = range(v.kh);
  const kxs = range(v.kw);
  const positions = range(M)
    .map((m) => `let p${m} = base_x + ${m} * p.dilation.y; let ok${m} = inside_x(p${m}, p.in_w); let ix${m} = select(0u, u32(p${m}), ok${m});`)
    .join('\n    ');
  const kernelRows = kys
    .map(
      (ky) => `{
        let py = base_y + ${ky} * p.dilation.x;
        if (inside_y(py, p.in_h)) {
          let row = x_chan + u32(py) * p.in_w;
          ${range(M).map((m) => `let x${m} = select(0.0, x[row + ix${m}], ok${m});`).join(' ')}
          ${kxs.map((kx) => `acc${ky}_${kx} += ${cols.map((j) => `g${j} * x${j * v.jm + kx}`).join(' + ')};`).join('\n          ')}
        }
      }`,
    )
    .join('\n      ');
  return /* wgsl */ `
struct Params {
  total: u32, channels: u32, mult: u32,
  in_h: u32, in_w: u32, out_h: u32, out_w: u32,
  stride: vec2<i32>, dilation: vec2<i32>, pad: vec2<i32>,
  col_step: u32, col_items: u32, slices: u32, rows_per_slice: u32, rows: u32,
}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
${LINEAR_ID}
${sourceAxis('y', 1)}
${sourceAxis('x', 1)}
@compute @workgroup_size(${CONV_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let id = linear_id(wid, nwg, lidx, ${CONV_WG}u);
  if (id >= p.total) { return; }
  let slice = id % p.slices;
  let o = id / p.slices;
  let in_channels = p.channels / p.mult;
  let in_hw = p.in_h * p.in_w;
  let out_hw = p.out_h * p.out_w;
  ${kys.map((ky) => kxs.map((kx) => `var acc${ky}_${kx} = 0.0;`).join(' ')).join('\n  ')}
  let r0 = slice * p.rows_per_slice;
  let r1 = min(p.rows, r0 + p.rows_per_slice);
  let e = p.col_step;
  for (var col = 0u; col < p.col_items; col++) {
    let ox0 = col % e + ${CONV_COLS}u * e * (col / e);
    let base_x = i32(ox0) * p.stride.y - p.pad.y;
    ${positions}
    ${cols.map((j) => `let cok${j} = ox0 + ${j}u * e < p.out_w; let oc${j} = min(ox0 + ${j}u * e, p.out_w - 1u);`).join('\n    ')}
    for (var r = r0; r < r1; r++) {
      let n = r / p.out_h;
      let oy = r % p.out_h;
      let gyrow = (n * p.channels + o) * out_hw + oy * p.out_w;
      ${cols.map((j) => `let g${j} = select(0.0, gy[gyrow + oc${j}], cok${j});`).join(' ')}
      let x_chan = (n * in_channels + o / p.mult) * in_hw;
      let base_y = i32(oy) * p.stride.x - p.pad.x;
      ${kernelRows}
    }
  }
  let at = o * ${v.kh * v.kw}u;
  ${kys.flatMap((ky) => kxs.map((kx) => `partial[(at + ${ky * v.kw + kx}u) * p.slices + slice] = acc${ky}_${kx};`)).join('\n  ')}
}`;
}

export const depthwiseWeightGradKernels = new KernelFamily<DepthwiseWeightGradVariant>(
  'depthwise_wgrad',
  source,
  (v) => `k${v.kh}x${v.kw},jm${v.jm}`,
);

/**
 * `depthwise_wgrad_rows`: the common case (dilation 1, stride 1 or 2, source rows a multiple of 4 wide,
 * non-negative padding, output planes of at least 64 pixels) as in depthwise-fwd: one channel per workgroup,
 * each invocation a strip of COLS output columns (8 at stride 1, 4 at stride 2) over a block of output rows
 * of one image (smaller planes leave too few items per channel to fill a workgroup: the kernel above wins).
 * Per output row it loads the strip's dy values (vec4s when the output width is a multiple of 4) and, for each kernel row, the
 * source row's window as aligned vec4s (one mask per vec4), and adds dy · x into the KH x KW taps. It writes
 * partial[o, tap, item]; the caller sums the items. Window: source column ox0*SX - pad_left + t sits at lane
 * LEAD + t of the window starting at vec4 q0 = ox0*SX/4 - ceil(pad_left/4), LEAD = 4*ceil(pad_left/4) - pad_left.
 */
export interface DepthwiseWeightGradRowsVariant extends RowWalkVariant {
  /** Output rows a multiple of 4 wide: dy read as vec4s. */
  vec4Gy: boolean;
}

const LANES = ['x', 'y', 'z', 'w'];

function rowsSource(v: DepthwiseWeightGradRowsVariant): string {
  const nv = Math.ceil((v.lead + (v.cols - 1) * v.sx + v.kw) / 4);
  const kys = range(v.kh);
  const kxs = range(v.kw);
  const cols = range(v.cols);
  const masks = windowMasks(nv);
  const dy = v.vec4Gy
    ? range(v.cols / 4)
        .map((h) => `let gv${h} = select(vec4<f32>(), gy[(grow + ox0) / 4u + ${h}u], ox0 + ${4 * h}u < p.out_w); ${range(4).map((c) => `let g${4 * h + c} = gv${h}.${LANES[c]};`).join(' ')}`)
        .join('\n    ')
    : cols.map((j) => `let g${j} = select(0.0, gy[grow + min(ox0 + ${j}u, p.out_w - 1u)], ox0 + ${j}u < p.out_w);`).join('\n    ');
  const kernelRows = kys
    .map(
      (ky) => `{
      let py = i32(oy * ${v.sy}u + ${ky}u) - p.pad_top;
      let oky = py >= 0 && py < i32(p.src_h);
      let row = x_c + u32(select(0, py, oky)) * p.src_w4;
      ${range(nv).map((q) => `let s${q} = select(vec4<f32>(), x[row + ix${q}], oky && okx${q});`).join(' ')}
      ${kxs
        .map((kx) => {
          const terms = cols.map((j) => {
            const t = v.lead + j * v.sx + kx;
            return `g${j} * s${t >> 2}.${LANES[t & 3]}`;
          });
          return `acc${ky}_${kx} += ${terms.join(' + ')};`;
        })
        .join('\n      ')}
    }`,
    )
    .join('\n    ');
  return /* wgsl */ `
struct Params {
  batch: u32, channels: u32, out_div: u32, src_channels: u32, groups_per_channel: u32, items: u32,
  src_h: u32, src_w4: u32, out_h: u32, out_w: u32, col_items: u32, row_items: u32, row_block: u32,
  pad_top: i32, pad_left4: i32,
}
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> gy: array<${v.vec4Gy ? 'vec4<f32>' : 'f32'}>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
@compute @workgroup_size(${v.wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  ${channelItems(v)}
  let x_c = (n * p.src_channels + o / p.out_div) * p.src_h * p.src_w4;
  let g_c = (n * p.channels + o) * p.out_h * p.out_w;
  ${masks}
  ${kys.map((ky) => kxs.map((kx) => `var acc${ky}_${kx} = 0.0;`).join(' ')).join('\n  ')}
  let oy1 = min(p.out_h, oy0 + p.row_block);
  for (var oy = oy0; oy < oy1; oy++) {
    let grow = g_c + oy * p.out_w;
    ${dy}
    ${kernelRows}
  }
  if (live) {
    let base = o * ${v.kh * v.kw}u;
    ${kys.flatMap((ky) => kxs.map((kx) => `partial[(base + ${ky * v.kw + kx}u) * p.items + item] = acc${ky}_${kx};`)).join('\n    ')}
  }
}`;
}

export const depthwiseWeightGradRowsKernels = new KernelFamily<DepthwiseWeightGradRowsVariant>(
  'depthwise_wgrad_rows',
  rowsSource,
  (v) => `k${v.kh}x${v.kw},s${v.sy}x${v.sx},c${v.cols},l${v.lead},wg${v.wg},${v.vec4Gy ? 'v4' : 's'}`,
);
