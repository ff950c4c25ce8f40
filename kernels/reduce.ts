// Reductions of a contiguous x viewed as [outer, len, inner]: out[o, i] = op over r of x[o, r, i]. The engine
// (engine/ops/reduce.ts) brings any set of axes to this form, one run of consecutive reduced axes at a time.
//
// Barrier-free on purpose (docs/writing-ops.md: lavapipe spills every invocation at a workgroupBarrier).
// Each invocation reduces a chunk of `chunk` rows and writes one partial; a pass with `chunks` > 1 writes
// partials that the engine reduces again with the same kernels (a blocked sum: serial within a chunk,
// then over chunks, which is also more accurate than one long serial sum).
//
// 'columns' (inner > 1): invocation (k, o, q) reduces rows [k*chunk, (k+1)*chunk) of four columns 4q..4q+3
//    of batch o, so neighbouring invocations read neighbouring columns and one index computation serves
//    four elements; the partial goes to out[k, o, 4q..4q+3] (out is [chunks, outer, inner]). A last group
//    of fewer than four columns repeats its last column (in bounds) and stores only the real ones. Scalar
//    loads, so any offset and any inner work (on lavapipe a vec4 load costs about four scalar loads).
// 'rows' (inner == 1): invocation (o, k) reduces elements [k*chunk, (k+1)*chunk) of row o, four at a
//    time into a vec4 accumulator; the partial goes to out[o, k] (out is [outer, chunks]).
// `scale` multiplies the result (a mean's 1/n; 1 for partials). Index math is u32 (fewer than 2^32
// elements); past 65535 workgroups the grid is 2-D (LINEAR_ID). max/min start from the largest finite f32
// (WGSL may assume no infinities).
import { KernelFamily } from '../engine/kernel.ts';
import { LINEAR_ID, WG } from './prelude.ts';

export type ReduceOp = 'sum' | 'max' | 'min';
export type ReduceLayout = 'columns' | 'rows';
export interface ReduceVariant {
  op: ReduceOp;
  layout: ReduceLayout;
}

const IDENTITY: Record<ReduceOp, string> = {
  sum: '0.0',
  max: 'bitcast<f32>(0xff7fffffu)',
  min: 'bitcast<f32>(0x7f7fffffu)',
};
// Works on f32 and vec4<f32> alike.
const COMBINE: Record<ReduceOp, (a: string, b: string) => string> = {
  sum: (a, b) => `${a} + ${b}`,
  max: (a, b) => `max(${a}, ${b})`,
  min: (a, b) => `min(${a}, ${b})`,
};

const HEAD = /* wgsl */ `
struct Params { outer: u32, len: u32, inner: u32, offset: u32, chunk: u32, chunks: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
${LINEAR_ID}`;

function columnsSource(op: ReduceOp): string {
  const c = COMBINE[op];
  return /* wgsl */ `${HEAD}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let t = linear_id(wid, nwg, lidx, ${WG}u);
  let quads = (params.inner + 3u) / 4u;
  let perChunk = params.outer * quads;
  if (t >= perChunk * params.chunks) { return; }
  // The only divisions: once per invocation, never per element.
  let k = t / perChunk;
  let rest = t - k * perChunk;
  let o = rest / quads;
  let col = (rest - o * quads) * 4u;
  let r0 = k * params.chunk;
  let r1 = min(params.len, r0 + params.chunk);
  let stride = params.inner;
  var at = params.offset + (o * params.len + r0) * stride + col;
  var acc = vec4<f32>(${IDENTITY[op]});
  if (col + 4u <= stride) {
    for (var r = r0; r < r1; r++) {
      acc = ${c('acc', 'vec4<f32>(x[at], x[at + 1u], x[at + 2u], x[at + 3u])')};
      at += stride;
    }
  } else {
    // 1-3 real columns: repeat the last one so every load stays inside the row.
    let last = stride - 1u - col;
    let d = vec3<u32>(min(1u, last), min(2u, last), min(3u, last));
    for (var r = r0; r < r1; r++) {
      acc = ${c('acc', 'vec4<f32>(x[at], x[at + d.x], x[at + d.y], x[at + d.z])')};
      at += stride;
    }
  }
  acc *= params.scale;
  let dst = (k * params.outer + o) * stride + col;
  out[dst] = acc.x;
  if (col + 1u < stride) { out[dst + 1u] = acc.y; }
  if (col + 2u < stride) { out[dst + 2u] = acc.z; }
  if (col + 3u < stride) { out[dst + 3u] = acc.w; }
}`;
}

function rowsSource(op: ReduceOp): string {
  const c = COMBINE[op];
  return /* wgsl */ `${HEAD}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let t = linear_id(wid, nwg, lidx, ${WG}u);
  if (t >= params.outer * params.chunks) { return; }
  let o = t / params.chunks;
  let k = t - o * params.chunks;
  let first = k * params.chunk;
  let n = min(params.chunk, params.len - min(params.len, first));
  let at = params.offset + o * params.len + first;
  var acc: f32 = ${IDENTITY[op]};
  for (var j = 0u; j < n; j++) { acc = ${c('acc', 'x[at + j]')}; }
  let total = acc;
  out[t] = total * params.scale;
}`;
}

export const reduceKernels = new KernelFamily<ReduceVariant>(
  'reduce',
  ({ op, layout }) => (layout === 'columns' ? columnsSource(op) : rowsSource(op)),
  (v) => `${v.op},${v.layout}`,
);
