// Softmax and log-softmax along one axis. The tensor is dense from `offset` and viewed as [outer, len, inner]:
// row r = o * inner + i holds the `len` elements at offset + o*len*inner + i + j*inner, j = 0..len-1
// (inner = 1 when the axis is last). So any axis works without moving it.
//
// Variants (the key): mode (softmax | logSoftmax), direction (forward | backward), perRow:
//   'workgroup': 64 lanes per row, each lane strides over j, lane partials meet in a shared-memory tree.
//      One workgroup per row; past 65535 rows the grid is 2-D (row = wid.x + wid.y * nwg.x).
//   'thread': one invocation per row with plain loops, for many short rows (and most rows on lavapipe;
//      see perRowVariant).
// Stability: exponentials are of x - rowMax <= 0, so they cannot overflow, and the row sum is >= 1 (the
// max element adds exp(0)), so log(sum) and 1/sum are safe. The max starts from the lowest finite f32,
// not -inf (WGSL may assume no infinities); inputs must be finite (use -1e30, not -inf, to mask).
// Index math is u32: tensors hold fewer than 2^32 elements.
import { grid1d, KernelFamily } from '../engine/kernel.ts';
import { LINEAR_ID, WG } from './prelude.ts';

export type PerRow = 'workgroup' | 'thread';
export type SoftmaxMode = 'softmax' | 'logSoftmax';

export const ROW_WG = 64;

let forcedVariant: PerRow | null = null;

/** Tests only: pins the variant (null restores the heuristic), to reach paths such as the 2-D grid cheaply. */
export function forceRowVariant(v: PerRow | null): void {
  forcedVariant = v;
}

/**
 * On a GPU, a workgroup per row for long rows or few rows (the reductions' rule). On a software adapter
 * (lavapipe runs workgroups on CPU threads and barriers are costly) one thread per row is 2-25x faster
 * except for a handful of very long rows: [4096, 64] 5 ms vs 117 ms, [256, 1024] 10 vs 27, [1, 100000] 18 vs 3.
 */
export function perRowVariant(rows: number, len: number, software: boolean): PerRow {
  if (forcedVariant) return forcedVariant;
  if (software) return rows * 16384 <= len ? 'workgroup' : 'thread';
  return len >= ROW_WG || rows < 4096 ? 'workgroup' : 'thread';
}

/** One workgroup per row, or one invocation per row; 2-D past 65535 workgroups (see grid1d). */
export function rowGrid(perRow: PerRow, rows: number): [number, number, number] {
  return grid1d(rows, perRow === 'workgroup' ? 1 : WG);
}

export const LOWEST_F32 = 'bitcast<f32>(0xff7fffffu)';

/**
 * WGSL shared by row kernels: `row_max` / `row_sum` combine one partial per lane into the row's total
 * (the identity for 'thread'); `setup` defines r (the row) and first / step (this lane's range of j).
 */
export function rowPrelude(perRow: PerRow): { helpers: string; setup: string; workgroupSize: number } {
  if (perRow === 'thread') {
    return {
      helpers: /* wgsl */ `
${LINEAR_ID}
fn row_max(v: f32, lane: u32) -> f32 { return v; }
fn row_sum(v: f32, lane: u32) -> f32 { return v; }`,
      setup: /* wgsl */ `
  let r = linear_id(wid, nwg, lidx, ${WG}u);
  let first = 0u;
  let step = 1u;`,
      workgroupSize: WG,
    };
  }
  const tree = (name: string, combine: string) => /* wgsl */ `
fn ${name}(v: f32, lane: u32) -> f32 {
  scratch[lane] = v;
  workgroupBarrier();
  for (var s = ${ROW_WG / 2}u; s > 0u; s >>= 1u) {
    if (lane < s) { scratch[lane] = ${combine}; }
    workgroupBarrier();
  }
  let total = scratch[0];
  workgroupBarrier(); // every lane has read scratch[0] before the next call overwrites it
  return total;
}`;
  return {
    helpers: /* wgsl */ `
var<workgroup> scratch: array<f32, ${ROW_WG}>;
${tree('row_max', 'max(scratch[lane], scratch[lane + s])')}
${tree('row_sum', 'scratch[lane] + scratch[lane + s]')}`,
    // No early return: every lane must reach the barriers in row_max / row_sum.
    setup: /* wgsl */ `
  let r = wid.x + wid.y * nwg.x;
  let first = lidx;
  let step = ${ROW_WG}u;`,
    workgroupSize: ROW_WG,
  };
}

/** Defines live and base (offset of the row's element j = 0) from params.rows, len, inner and offset. */
export const ROW_BASE = /* wgsl */ `
  let live = r < params.rows;
  let base = params.offset + (r / params.inner) * params.len * params.inner + r % params.inner;`;

export interface SoftmaxVariant {
  mode: SoftmaxMode;
  direction: 'forward' | 'backward';
  perRow: PerRow;
}

const ENTRY = `(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32)`;

function forwardSource(mode: SoftmaxMode, perRow: PerRow): string {
  const { helpers, setup, workgroupSize } = rowPrelude(perRow);
  const write = mode === 'softmax' ? 'exp(x[k] - m) * inv_s' : 'x[k] - m - log_s';
  return /* wgsl */ `
struct Params { rows: u32, len: u32, inner: u32, offset: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
${helpers}
@compute @workgroup_size(${workgroupSize})
fn main${ENTRY} {
  ${setup}
  ${ROW_BASE}
  var m = ${LOWEST_F32};
  if (live) {
    for (var j = first; j < params.len; j += step) { m = max(m, x[base + j * params.inner]); }
  }
  m = row_max(m, lidx);
  var s = 0.0;
  if (live) {
    for (var j = first; j < params.len; j += step) { s += exp(x[base + j * params.inner] - m); }
  }
  s = row_sum(s, lidx);
  let inv_s = 1.0 / s;
  let log_s = log(s);
  if (live) {
    let out_base = base - params.offset;
    for (var j = first; j < params.len; j += step) {
      let k = base + j * params.inner;
      y[out_base + j * params.inner] = ${write};
    }
  }
}`;
}

// Backward (vector-Jacobian product) with y = forward output and g = output gradient, per row:
//   softmax:    gx = y * (g - sum(g * y))
//   logSoftmax: gx = g - exp(y) * sum(g)
function backwardSource(mode: SoftmaxMode, perRow: PerRow): string {
  const { helpers, setup, workgroupSize } = rowPrelude(perRow);
  const term = mode === 'softmax' ? 'g[kg] * y[ky]' : 'g[kg]';
  const write = mode === 'softmax' ? 'y[ky] * (g[kg] - acc)' : 'g[kg] - exp(y[ky]) * acc';
  return /* wgsl */ `
struct Params { rows: u32, len: u32, inner: u32, offset: u32, g_offset: u32 }
@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> gx: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
${helpers}
@compute @workgroup_size(${workgroupSize})
fn main${ENTRY} {
  ${setup}
  ${ROW_BASE}
  let g_base = base - params.offset + params.g_offset;
  let out_base = base - params.offset;
  var acc = 0.0;
  if (live) {
    for (var j = first; j < params.len; j += step) {
      let ky = base + j * params.inner;
      let kg = g_base + j * params.inner;
      acc += ${term};
    }
  }
  acc = row_sum(acc, lidx);
  if (live) {
    for (var j = first; j < params.len; j += step) {
      let ky = base + j * params.inner;
      let kg = g_base + j * params.inner;
      gx[out_base + j * params.inner] = ${write};
    }
  }
}`;
}

export const softmaxKernels = new KernelFamily<SoftmaxVariant>(
  'softmax',
  (v) => (v.direction === 'forward' ? forwardSource(v.mode, v.perRow) : backwardSource(v.mode, v.perRow)),
  (v) => `${v.mode},${v.direction},${v.perRow}`,
);
