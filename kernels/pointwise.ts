// Pointwise (1x1, stride 1, unpadded, ungrouped) convolution as a batched matmul over pixels:
//   out[n, o, q] = sum_r w[o, r] * x[n, r, q] (+ bias[o]),  x [N, R, P], w [O, R] dense, out [N, O, P].
// The gradient to x is the same kernel with the weight read transposed.
//
// Register-blocked: one invocation computes OB output channels x 4*PV pixels. Variants (the key):
//   vec4: P % 4 == 0, x and out are read and written as vec4 (PV vec4 per channel row);
//   scalar: any P, 4 scalar pixels per invocation (PV = 1);
//   weight: how w is read, which sets the loads per r (lavapipe's cost follows loads):
//     'rows'  w [O, R], a scalar per output channel and r: OB + PV loads per r;
//     'cols4' w stored [R, O] with O % OB == 0 and OB 4, 8 or 16 (the gradient to x reads the forward's
//             [O, C] weight this way, so nothing is transposed): OB/4 vec4s hold the block's output
//             channels, OB/4 + PV loads per r.
// The bias is a uniform flag (`has_bias`; without one the op binds w, which holds at least O values).
// 'cols4' can also give each image its own weight, w_stride floats apart (0 shares one weight): the
// pointwise weight gradient runs as this kernel over slices of the batch (see conv-launch.ts).
// Index math is u32 (tensors under 2^31 elements).
import { KernelFamily } from '../engine/kernel.ts';
import { LINEAR_ID } from './prelude.ts';
import { CONV_WG } from './conv2d.ts';

export type PointwiseWeight = 'rows' | 'cols4';

export interface PointwiseVariant {
  ob: number;
  pv: number;
  vec4: boolean;
  weight: PointwiseWeight;
}

const range = (n: number) => [...Array(n).keys()];

function source(v: PointwiseVariant): string {
  const outs = range(v.ob);
  const pix = range(v.pv);
  const xType = v.vec4 ? 'vec4<f32>' : 'f32';
  // Scalar variant: the 4 pixels of a block are loaded one by one, masked at the row's end.
  const loadX = v.vec4
    ? pix.map((q) => `let x${q} = select(vec4<f32>(0.0), x[xrow + min(q4 + ${q}u, p.pix4 - 1u)], q4 + ${q}u < p.pix4);`).join(' ')
    : `let x0 = vec4<f32>(${range(4).map((j) => `select(0.0, x[xrow + min(q0 + ${j}u, p.pix - 1u)], q0 + ${j}u < p.pix)`).join(', ')});`;
  const PIX = v.vec4 ? 'p.pix4' : 'p.pix';
  const fmaInto = (i: number, wv: string) => pix.map((q) => `acc${i}_${q} += ${wv} * x${q};`).join(' ');
  let step: string;
  if (v.weight === 'cols4') {
    step = `for (var r = 0u; r < p.red; r++) {
    let xrow = (n * p.red + r) * ${PIX};
    ${loadX}
    ${range(v.ob / 4).map((b) => `let wv${b} = w[(wbase + r * p.out_ch + ob * ${v.ob}u + ${4 * b}u) >> 2u];`).join(' ')}
    ${outs.map((i) => fmaInto(i, `wv${i >> 2}.${'xyzw'[i & 3]}`)).join('\n    ')}
  }`;
  } else {
    step = `for (var r = 0u; r < p.red; r++) {
    let xrow = (n * p.red + r) * ${PIX};
    ${loadX}
    ${outs.map((i) => `{ let wv = w[ow${i} + r]; ${fmaInto(i, 'wv')} }`).join('\n    ')}
  }`;
  }
  const writes = outs
    .map((i) => {
      const b = ` + b${i}`;
      const body = v.vec4
        ? pix.map((q) => `if (q4 + ${q}u < p.pix4) { out[orow + q4 + ${q}u] = acc${i}_${q}${b}; }`).join('\n    ')
        : range(4).map((j) => `if (q0 + ${j}u < p.pix) { out[orow + q0 + ${j}u] = acc${i}_0[${j}]${b}; }`).join('\n    ');
      return `if (o${i} < p.out_ch) {
    let b${i} = select(0.0, bias[o${i}], p.has_bias != 0u);
    let orow = (n * p.out_ch + o${i}) * ${v.vec4 ? 'p.pix4' : 'p.pix'};
    ${body}
  }`;
    })
    .join('\n  ');
  return /* wgsl */ `
struct Params { total: u32, red: u32, out_ch: u32, pix: u32, pix4: u32, pix_blocks: u32, out_blocks: u32, has_bias: u32, w_stride: u32 }
@group(0) @binding(0) var<storage, read> x: array<${xType}>;
@group(0) @binding(1) var<storage, read> w: array<${v.weight === 'rows' ? 'f32' : 'vec4<f32>'}>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<${xType}>;
@group(0) @binding(4) var<uniform> p: Params;
${LINEAR_ID}
@compute @workgroup_size(${CONV_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let id = linear_id(wid, nwg, lidx, ${CONV_WG}u);
  if (id >= p.total) { return; }
  let qb = id % p.pix_blocks;
  let rest = id / p.pix_blocks;
  let ob = rest % p.out_blocks;
  let n = rest / p.out_blocks;
  let q4 = qb * ${v.pv}u;
  let wbase = n * p.w_stride;
  let q0 = qb * 4u;
  // Channels past the end (last block) read row O-1 and are not written ('cols4' blocks are exact).
  ${outs.map((i) => `let o${i} = ob * ${v.ob}u + ${i}u; let ow${i} = min(o${i}, p.out_ch - 1u) * p.red;`).join('\n  ')}
  ${outs.map((i) => pix.map((q) => `var acc${i}_${q} = vec4<f32>(0.0);`).join(' ')).join('\n  ')}
  ${step}
  ${writes}
}`;
}

export const pointwiseKernels = new KernelFamily<PointwiseVariant>(
  'conv2d_pointwise',
  source,
  (v) => `ob${v.ob},pv${v.pv}${v.vec4 ? ',vec4' : ''}${v.weight === 'rows' ? '' : `,${v.weight}`}`,
);
