// Row reduction: x viewed as [rows, cols] (contiguous, starting at `offset`), out[r] = op over x[r, :].
//
// v1 'workgroup': one 64-thread workgroup per row, strided partial results, then a tree in shared memory.
//    For long rows (cols >= 64).
// v2 'thread': one thread per row, a plain loop. For many short rows, where v1 would idle most lanes.
// v3 'middle': x viewed as [outer, len, inner], out[o, i] = op over r of x[o, r, i]; one thread per output,
//    so neighbouring threads read neighbouring elements (columns of a batch of matrices: bias gradients,
//    sums over the batch axis) and nothing is transposed first.
// Rows past 65535 workgroups use a 2-D grid. Sums accumulate in f32 (pairwise within the tree).
import { KernelFamily } from '../engine/kernel.ts';
import { LINEAR_ID, WG } from './prelude.ts';

export type ReduceOp = 'sum' | 'max' | 'min';
export interface ReduceVariant {
  op: ReduceOp;
  perRow: 'workgroup' | 'thread';
}

export const REDUCE_WG = 64;

const IDENTITY: Record<ReduceOp, string> = {
  sum: '0.0',
  // Largest finite f32 by bit pattern rather than an infinity: WGSL implementations may assume no infinities.
  max: 'bitcast<f32>(0xff7fffffu)',
  min: 'bitcast<f32>(0x7f7fffffu)',
};
const COMBINE: Record<ReduceOp, (a: string, b: string) => string> = {
  sum: (a, b) => `${a} + ${b}`,
  max: (a, b) => `max(${a}, ${b})`,
  min: (a, b) => `min(${a}, ${b})`,
};

function source({ op, perRow }: ReduceVariant): string {
  const head = /* wgsl */ `
struct Params { rows: u32, cols: u32, offset: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
${LINEAR_ID}`;
  if (perRow === 'thread') {
    return /* wgsl */ `${head}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let r = linear_id(wid, nwg, lidx, ${WG}u);
  if (r >= params.rows) { return; }
  let base = params.offset + r * params.cols;
  var acc: f32 = ${IDENTITY[op]};
  for (var j = 0u; j < params.cols; j++) { acc = ${COMBINE[op]('acc', 'x[base + j]')}; }
  out[r] = acc * params.scale;
}`;
  }
  return /* wgsl */ `${head}
var<workgroup> partial: array<f32, ${REDUCE_WG}>;
@compute @workgroup_size(${REDUCE_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let r = wid.x + wid.y * nwg.x;
  // No early return before the barriers: every invocation of the workgroup must reach them.
  let live = r < params.rows;
  let base = params.offset + r * params.cols;
  var acc: f32 = ${IDENTITY[op]};
  if (live) {
    for (var j = lidx; j < params.cols; j += ${REDUCE_WG}u) { acc = ${COMBINE[op]('acc', 'x[base + j]')}; }
  }
  partial[lidx] = acc;
  workgroupBarrier();
  for (var stride = ${REDUCE_WG / 2}u; stride > 0u; stride >>= 1u) {
    if (lidx < stride) { partial[lidx] = ${COMBINE[op]('partial[lidx]', 'partial[lidx + stride]')}; }
    workgroupBarrier();
  }
  if (lidx == 0u && live) { out[r] = partial[0] * params.scale; }
}`;
}

export const reduceKernels = new KernelFamily<ReduceVariant>('reduce', source, (v) => `${v.op},${v.perRow}`);

function middleSource({ op }: { op: ReduceOp }): string {
  return /* wgsl */ `
struct Params { outer: u32, len: u32, inner: u32, offset: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
${LINEAR_ID}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let t = linear_id(wid, nwg, lidx, ${WG}u);
  if (t >= params.outer * params.inner) { return; }
  let o = t / params.inner;
  let i = t - o * params.inner;
  var at = params.offset + o * params.len * params.inner + i;
  var acc: f32 = ${IDENTITY[op]};
  for (var r = 0u; r < params.len; r++) {
    acc = ${COMBINE[op]('acc', 'x[at]')};
    at += params.inner;
  }
  out[t] = acc * params.scale;
}`;
}

export const reduceMiddleKernels = new KernelFamily<{ op: ReduceOp }>('reduce_middle', middleSource, (v) => v.op);
