// Depthwise 2-D convolution (groups = C, output channel o reads input channel o / multiplier), NCHW float32,
// for kernels up to 7x7 (any shape); larger ones (any odd k) take the direct kernel of conv2d.ts. Two kernels:
// `depthwise` below serves every case; `depthwise-fwd` (further down) is the fast path for dilation 1,
// stride 1-2 and source widths that are a multiple of 4: the forward, and the gradient to x of a stride-1
// conv with multiplier 1 (a stride-1 correlation of dy with the kernel rotated 180 degrees, `w_flip`).
//
// `depthwise`: one invocation computes RB output rows x 4 output columns of one channel, with the KH x KW
// weights held in registers and every loaded source row reused by all the outputs and taps that touch it.
//
// Variants (the key): KH, KW (unrolled), JM / JMH (column / row blocking), RB, `up`. Spatial sizes, stride,
// dilation, padding and `has_bias` are uniforms (without a bias the op binds the weight in its place). The same kernel serves:
//   forward:       src = x, red = 1, src channel = o / multiplier, weight channel o.
//   gradient to x: the transposed-conv gather: src = dy read through zero insertion (`up` = stride), stride 1,
//                  padding (k-1)*d - pad, flipped weights (negative w_ky, w_kx); dx[c] gathers the
//                  `multiplier` output channels c*mult + j (red = multiplier), weight channel = src channel.
//                  With stride s > 1 (dilation 1) the op runs it once per phase instead, with the phase's taps
//                  as KH x KW, writing every s-th row and column through (out_plane, out_row, out_col,
//                  out_off) as conv2d.ts does.
//
// Blocking (see conv2d.ts): output columns ox0 + j*e read source columns base + (j*JM + kx)*d, so 4 columns
// read 3*JM + KW positions per source row; output rows oy0 + r*eh read source rows base_y + (r*JMH + ky)*dh,
// so RB rows read (RB-1)*JMH + KH source rows. Index math is u32 (tensors under 2^31 elements); positions
// in the padding are i32, masked and clamped to 0.
import { KernelFamily } from '../engine/kernel.ts';
import { LINEAR_ID } from './prelude.ts';
import { CONV_COLS, CONV_WG, maskedLoad, sourceAxis } from './conv2d.ts';

export interface DepthwiseVariant {
  kh: number;
  kw: number;
  jm: number;
  jmh: number;
  rb: number;
  /** Zero-insertion factors [h, w] of the source; [1, 1] for the forward pass. */
  up: [number, number];
}

const range = (n: number) => [...Array(n).keys()];

function source(v: DepthwiseVariant): string {
  const M = (CONV_COLS - 1) * v.jm + v.kw;
  const MY = (v.rb - 1) * v.jmh + v.kh;
  const cols = range(CONV_COLS);
  const rows = range(v.rb);
  const upsampled = v.up[0] > 1 || v.up[1] > 1;
  const positions = range(M)
    .map((m) => `let p${m} = base_x + ${m} * p.dilation.y; let ok${m} = inside_x(p${m}, p.src_w); let ix${m} = select(0u, index_x(p${m}), ok${m});`)
    .join('\n  ');
  const weights = range(v.kh)
    .map((ky) => range(v.kw).map((kx) => `let w${ky}_${kx} = w[u32(wbase + ${ky} * p.w_ky + ${kx} * p.w_kx)];`).join(' '))
    .join('\n    ');
  // Source row `my` feeds output row r through kernel row ky = my - r*JMH.
  const sourceRows = range(MY)
    .map((my) => {
      const uses = rows
        .map((r) => ({ r, ky: my - r * v.jmh }))
        .filter(({ ky }) => ky >= 0 && ky < v.kh)
        .flatMap(({ r, ky }) =>
          cols.map((j) => `acc${r}_${j} += ${range(v.kw).map((kx) => `w${ky}_${kx} * v${j * v.jm + kx}`).join(' + ')};`),
        );
      return `{
      let py = base_y + ${my} * p.dilation.x;
      if (inside_y(py, p.src_h)) {
        let row = src_c + index_y(py) * p.src_w;
        ${range(M).map((m) => maskedLoad(`v${m}`, 'src', `row + ix${m}`, `ok${m}`, upsampled)).join(' ')}
        ${uses.join('\n        ')}
      }
    }`;
    })
    .join('\n    ');
  const writes = rows
    .map((r) => {
      const b = ' + b';
      return `if (oy0 + ${r}u * eh < p.out_h) {
    let orow = obase + (oy0 + ${r}u * eh) * p.out_row;
    ${cols.map((j) => `if (ox0 + ${j}u * e < p.out_w) { out[orow + (ox0 + ${j}u * e) * p.out_col] = acc${r}_${j}${b}; }`).join('\n    ')}
  }`;
    })
    .join('\n  ');
  return /* wgsl */ `
struct Params {
  total: u32, channels: u32, red: u32, out_div: u32, src_channels: u32,
  src_h: u32, src_w: u32, out_h: u32, out_w: u32,
  stride: vec2<i32>, dilation: vec2<i32>, pad: vec2<i32>,
  col_step: u32, col_items: u32, row_step: u32, row_items: u32,
  w_off: i32, w_out: i32, w_src: i32, w_ky: i32, w_kx: i32, has_bias: u32,
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
  let rowq = rest % p.row_items;
  rest = rest / p.row_items;
  let o = rest % p.channels;
  let n = rest / p.channels;
  let e = p.col_step;
  let eh = p.row_step;
  let ox0 = col % e + ${CONV_COLS}u * e * (col / e);
  let oy0 = rowq % eh + ${v.rb}u * eh * (rowq / eh);
  let base_x = i32(ox0) * p.stride.y - p.pad.y;
  let base_y = i32(oy0) * p.stride.x - p.pad.x;
  ${positions}
  ${rows.map((r) => cols.map((j) => `var acc${r}_${j} = 0.0;`).join(' ')).join('\n  ')}
  let src_hw = p.src_h * p.src_w;
  for (var k = 0u; k < p.red; k++) {
    let s = (o / p.out_div) * p.red + k;
    let src_c = (n * p.src_channels + s) * src_hw;
    let wbase = p.w_off + i32(o) * p.w_out + i32(s) * p.w_src;
    ${v.kh * v.kw === 0 ? '_ = w[0]; // no taps (a phase that only writes zeros or the bias); keeps w in the layout' : weights}
    ${sourceRows}
  }
  let obase = (n * p.channels + o) * p.out_plane + p.out_off;
  let b = select(0.0, bias[o], p.has_bias != 0u);
  ${writes}
}`;
}

export const depthwiseKernels = new KernelFamily<DepthwiseVariant>(
  'depthwise',
  source,
  (v) => `k${v.kh}x${v.kw},jm${v.jm},jmh${v.jmh},rb${v.rb},up${v.up[0]}x${v.up[1]}`,
);

/**
 * Forward-only depthwise kernel for the common case: dilation 1, stride 1 or 2 per axis, source rows 4-aligned
 * (width a multiple of 4). One workgroup serves one output channel, so its weights and bias are workgroup-
 * uniform loads (lavapipe does those once per SIMD group, not per lane). An invocation computes a strip of COLS
 * output columns over `row_block` output rows, walking down the source rows in a loop: each step reads SY new
 * source rows as NV aligned vec4s, adds them into the A = ceil(KH / SY) output rows they touch (accumulator
 * slot a holds the row finished A-1-a steps later), then writes the finished row and shifts the slots. Every
 * source row is thus read once per strip, and the unrolled body stays small (KH x COLS x KW multiply-adds).
 *
 * Columns: output ox0 = COLS * strip reads source columns ox0*SX - pad_left + t, t < (COLS-1)*SX + KW. The
 * aligned window starts at vec4 q0 = ox0*SX/4 - ceil(pad_left/4), so t sits at lane LEAD + t with
 * LEAD = 4*ceil(pad_left/4) - pad_left (in the key). A 4-aligned row puts each vec4 wholly inside or outside the
 * row: one mask per vec4. Rows: at step t, source row (oy0 + t)*SY - pad_top + e (e < SY)
 * feeds slot a through kernel row ky = e + SY*(A-1-a).
 */
/** The key shared by the row-walking kernels: kernel size, stride, strip width, window lead, workgroup size. */
export interface RowWalkVariant {
  kh: number;
  kw: number;
  sy: number;
  sx: number;
  cols: number;
  lead: number;
  wg: number;
}

export interface DepthwiseForwardVariant extends RowWalkVariant {
  /** Output rows a multiple of 4 wide: write vec4s. */
  vec4Out: boolean;
}

const LANES = ['x', 'y', 'z', 'w'];

/** Number of vec4s per source row a strip of `cols` outputs reads. */
const forwardVectors = (v: Pick<DepthwiseForwardVariant, 'cols' | 'sx' | 'kw' | 'lead'>): number =>
  Math.ceil((v.lead + (v.cols - 1) * v.sx + v.kw) / 4);

/**
 * WGSL of the row-walking kernels (depthwise-fwd, depthwise_wgrad_rows): one channel `o` per workgroup (so
 * what depends on the channel alone is a workgroup-uniform load), invocation `item` of the channel a strip
 * of COLS output columns (from ox0) over the output rows from oy0 of image n; q0 is the strip's first
 * source vec4. Dead invocations (past the channel's items) run on clamped indices; `live` guards stores.
 */
export function channelItems(v: { wg: number; cols: number; sx: number }): string {
  return /* wgsl */ `let group = wid.x + wid.y * nwg.x;
  let o = min(group / p.groups_per_channel, p.channels - 1u);
  let item = (group % p.groups_per_channel) * ${v.wg}u + lidx;
  let live = item < p.items && group < p.channels * p.groups_per_channel;
  let at = min(item, p.items - 1u);
  let col = at % p.col_items;
  let rest = at / p.col_items;
  let oy0 = (rest % p.row_items) * p.row_block;
  let n = min(rest / p.row_items, p.batch - 1u);
  let ox0 = col * ${v.cols}u;
  let q0 = i32(col * ${(v.cols * v.sx) / 4}u) - p.pad_left4;`;
}

/** WGSL: the strip's nv source vec4s from q0, each wholly inside or outside the 4-aligned row (okx, clamped ix). */
export function windowMasks(nv: number): string {
  return range(nv)
    .map((q) => `let qx${q} = q0 + ${q}; let okx${q} = qx${q} >= 0 && qx${q} < i32(p.src_w4); let ix${q} = select(0u, u32(qx${q}), okx${q});`)
    .join('\n  ');
}

function forwardSource(v: DepthwiseForwardVariant): string {
  const nv = forwardVectors(v);
  const slots = Math.ceil(v.kh / v.sy);
  // w_flip reads the kernel rotated by 180 degrees: the gradient to x at stride 1 is this correlation of dy.
  const kk = v.kh * v.kw;
  const weights = range(v.kh)
    .map((ky) => range(v.kw).map((kx) => `let w${ky}_${kx} = w[wbase + select(${ky * v.kw + kx}u, ${kk - 1 - ky * v.kw - kx}u, p.w_flip != 0u)];`).join(' '))
    .join('\n  ');
  const masks = windowMasks(nv);
  // Per step, SY source rows; each feeds the slots whose kernel row it is. The multiply-adds go accumulator by
  // accumulator (KW in a row), which keeps spills of the A x COLS accumulators down.
  const sourceRows = range(v.sy)
    .map((e) => {
      const taps = range(slots)
        .map((a) => ({ a, ky: e + v.sy * (slots - 1 - a) }))
        .filter(({ ky }) => ky < v.kh)
        .flatMap(({ a, ky }) =>
          range(v.cols).map((j) =>
            range(v.kw)
              .map((kx) => {
                const t = v.lead + j * v.sx + kx;
                return `acc${a}_${j} = fma(w${ky}_${kx}, s${t >> 2}.${LANES[t & 3]}, acc${a}_${j});`;
              })
              .join(' '),
          ),
        );
      return `{
      let py = y0 + i32(t * ${v.sy}u + ${e}u);
      let oky = py >= 0 && py < i32(p.src_h);
      let row = src_c + u32(select(0, py, oky)) * p.src_w4;
      ${range(nv).map((q) => `let s${q} = select(vec4<f32>(), src[row + ix${q}], oky && okx${q});`).join('\n      ')}
      ${taps.join('\n      ')}
    }`;
    })
    .join('\n    ');
  const accs = range(v.cols).map((j) => `acc0_${j} + b`);
  const stores = v.vec4Out
    ? range(v.cols / 4).map(
        (h) => `if (ox0 + ${4 * h}u < p.out_w) { out[(orow + ox0) / 4u + ${h}u] = vec4<f32>(${accs.slice(4 * h, 4 * h + 4).join(', ')}); }`,
      )
    : range(v.cols).map((j) => `if (ox0 + ${j}u < p.out_w) { out[orow + ox0 + ${j}u] = ${accs[j]}; }`);
  const shift = range(slots)
    .map((a) => range(v.cols).map((j) => `acc${a}_${j} = ${a + 1 < slots ? `acc${a + 1}_${j}` : '0.0'};`).join(' '))
    .join('\n    ');
  return /* wgsl */ `
struct Params {
  batch: u32, channels: u32, out_div: u32, src_channels: u32, groups_per_channel: u32, items: u32,
  src_h: u32, src_w4: u32, out_h: u32, out_w: u32, col_items: u32, row_items: u32,
  row_block: u32, steps: u32, pad_top: i32, pad_left4: i32, w_out: u32, has_bias: u32, w_flip: u32,
}
@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<${v.vec4Out ? 'vec4<f32>' : 'f32'}>;
@group(0) @binding(4) var<uniform> p: Params;
@compute @workgroup_size(${v.wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  // Workgroup-uniform: the channel, its weights and bias, the step count. No early return: dead invocations
  // (past the channel's items) run on clamped indices and skip their stores.
  ${channelItems(v)}
  let y0 = i32(oy0 * ${v.sy}u) - p.pad_top;
  let src_c = (n * p.src_channels + o / p.out_div) * p.src_h * p.src_w4;
  let wbase = o * p.w_out;
  ${weights}
  ${masks}
  let b = select(0.0, bias[o], p.has_bias != 0u);
  let obase = (n * p.channels + o) * p.out_h * p.out_w;
  ${range(slots).map((a) => range(v.cols).map((j) => `var acc${a}_${j} = 0.0;`).join(' ')).join('\n  ')}
  for (var t = 0u; t < p.steps; t++) {
    ${sourceRows}
    // Slot 0 now holds output row oy0 + t - (A-1), complete.
    let oy = oy0 + t - ${slots - 1}u;
    if (live && t >= ${slots - 1}u && oy < p.out_h) {
      let orow = obase + oy * p.out_w;
      ${stores.join('\n      ')}
    }
    ${shift}
  }
}`;
}

export const depthwiseForwardKernels = new KernelFamily<DepthwiseForwardVariant>(
  'depthwise-fwd',
  forwardSource,
  (v) => `k${v.kh}x${v.kw},s${v.sy}x${v.sx},c${v.cols},l${v.lead},wg${v.wg},${v.vec4Out ? 'v4' : 's'}`,
);
