// Gradient to the weight of a 2-D convolution (NCHW float32, dense or grouped):
//   dw[o, c, ky, kx] = sum over (n, oy, ox) of dy[n, o, oy, ox] * x[n, g*Cg + c, oy*s - pad + ky*d, ox*s - pad + kx*d]
// a reduction of length N*OH*OW per weight element. One invocation owns OB output channels x CB input channels
// x one kernel row ky x all KW taps, over one slice of the N*OH output rows; it writes one partial sum per
// weight element and slice to partial[o, c, ky, kx, slice], which a second pass sums over the slices, so a
// large batch spreads over many invocations instead of serialising.
//
// Variants (the key): KW (unrolled), JM, OB, CB. Columns are blocked as in conv2d.ts: output columns
// ox0 + j*e (j < 4) read source columns base + (j*JM + kx)*d, so each loaded x value serves several taps.
// Index math is u32 (tensors under 2^31 elements); padding positions are i32, masked and clamped.
import { KernelFamily } from '../engine/kernel.ts';
import { LINEAR_ID } from './prelude.ts';
import { CONV_COLS, CONV_WG, sourceAxis } from './conv2d.ts';

export interface WeightGradVariant {
  kw: number;
  jm: number;
  ob: number;
  cb: number;
  /**
   * dy read as vec4s: the 4 output columns of a step are consecutive and aligned (dilation 1, so col_step
   * 1, and OW % 4 == 0), one load per output channel instead of 4.
   */
  vecDy: boolean;
}

const range = (n: number) => [...Array(n).keys()];

function source(v: WeightGradVariant): string {
  const M = (CONV_COLS - 1) * v.jm + v.kw;
  const cols = range(CONV_COLS);
  const outs = range(v.ob);
  const ins = range(v.cb);
  const taps = range(v.kw);
  const positions = range(M)
    .map((m) => `let p${m} = base_x + ${m} * p.dilation.y; let ok${m} = inside_x(p${m}, p.in_w); let ix${m} = select(0u, u32(p${m}), ok${m});`)
    .join('\n    ');
  const colOk = cols.map((j) => `let cok${j} = ox0 + ${j}u * e < p.out_w; let oc${j} = min(ox0 + ${j}u * e, p.out_w - 1u);`).join('\n    ');
  const gyLoads = outs
    .map((i) => {
      const base = `let gyrow${i} = gy_chan${i} + (n * p.groups * p.out_per_group) * out_hw + oy * p.out_w;`;
      if (v.vecDy) {
        return `${base} let gv${i} = gy[(gyrow${i} + ox0) >> 2u]; ${cols.map((j) => `let gy${i}_${j} = gv${i}.${'xyzw'[j]};`).join(' ')}`;
      }
      return `${base} ${cols.map((j) => `let gy${i}_${j} = select(0.0, gy[gyrow${i} + oc${j}], cok${j});`).join(' ')}`;
    })
    .join('\n      ');
  const xLoads = ins
    .map((k) => {
      const base = `let xrow${k} = x_chan${k} + (n * p.groups * p.in_per_group) * in_hw + u32(py) * p.in_w;`;
      return `${base}\n      ${range(M).map((m) => `let x${k}_${m} = select(0.0, x[xrow${k} + ix${m}], ok${m});`).join(' ')}`;
    })
    .join('\n      ');
  const macs = outs
    .flatMap((i) =>
      ins.flatMap((k) =>
        taps.map((kx) => `acc${i}_${k}_${kx} += ${cols.map((j) => `gy${i}_${j} * x${k}_${j * v.jm + kx}`).join(' + ')};`),
      ),
    )
    .join('\n      ');
  const writes = outs
    .flatMap((i) =>
      ins.map((k) => {
        const at = `(((g * p.out_per_group + o${i}) * p.in_per_group + c${k}) * p.kh + ky) * ${v.kw}u`;
        return `if (o${i} < p.out_per_group && c${k} < p.in_per_group) {
    let at = ${at};
    ${taps.map((kx) => `partial[(at + ${kx}u) * p.slices + slice] = acc${i}_${k}_${kx};`).join(' ')}
  }`;
      }),
    )
    .join('\n  ');
  return /* wgsl */ `
struct Params {
  total: u32, groups: u32, in_per_group: u32, out_per_group: u32,
  in_h: u32, in_w: u32, out_h: u32, out_w: u32,
  stride: vec2<i32>, dilation: vec2<i32>, pad: vec2<i32>,
  kh: u32, col_step: u32, col_items: u32, out_blocks: u32, in_blocks: u32,
  slices: u32, rows_per_slice: u32, rows: u32,
}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gy: array<${v.vecDy ? 'vec4<f32>' : 'f32'}>;
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
  var rest = id / p.slices;
  let ky = rest % p.kh;
  rest = rest / p.kh;
  let cb = rest % p.in_blocks;
  rest = rest / p.in_blocks;
  let ob = rest % p.out_blocks;
  let g = rest / p.out_blocks;
  let in_hw = p.in_h * p.in_w;
  let out_hw = p.out_h * p.out_w;
  // Channels past the group's end (last blocks) read a valid channel and are not written.
  ${outs.map((i) => `let o${i} = ob * ${v.ob}u + ${i}u; let gy_chan${i} = (g * p.out_per_group + min(o${i}, p.out_per_group - 1u)) * out_hw;`).join('\n  ')}
  ${ins.map((k) => `let c${k} = cb * ${v.cb}u + ${k}u; let x_chan${k} = (g * p.in_per_group + min(c${k}, p.in_per_group - 1u)) * in_hw;`).join('\n  ')}
  ${outs.flatMap((i) => ins.map((k) => taps.map((kx) => `var acc${i}_${k}_${kx} = 0.0;`).join(' '))).join('\n  ')}
  let r0 = slice * p.rows_per_slice;
  let r1 = min(p.rows, r0 + p.rows_per_slice);
  let e = p.col_step;
  for (var col = 0u; col < p.col_items; col++) {
    let ox0 = col % e + ${CONV_COLS}u * e * (col / e);
    let base_x = i32(ox0) * p.stride.y - p.pad.y;
    ${positions}
    ${colOk}
    for (var r = r0; r < r1; r++) {
      let n = r / p.out_h;
      let oy = r % p.out_h;
      let py = i32(oy) * p.stride.x - p.pad.x + i32(ky) * p.dilation.x;
      if (!inside_y(py, p.in_h)) { continue; }
      ${gyLoads}
      ${xLoads}
      ${macs}
    }
  }
  ${writes}
}`;
}

export const weightGradKernels = new KernelFamily<WeightGradVariant>(
  'conv2d_wgrad',
  source,
  (v) => `kw${v.kw},jm${v.jm},ob${v.ob},cb${v.cb}${v.vecDy ? ',vdy' : ''}`,
);
