// Indexing kernels. All walk a row-major coordinate over a shape of rank <= 8 (shapes and strides travel
// as array<vec4<u32>, 2>; entry d is [d >> 2][d & 3]). Index math is u32: fewer than 2^32 elements.
//
// copy_strided: dst[dst_offset + sum c_d * dst_stride_d] = src[src_offset + sum c_d * src_stride_d] over
//   `shape`. Moves raw 32-bit words, so float32 and int32 alike. Writes a strided region of a larger dense
//   tensor: concat (each input into its slab), pad (the interior), slice backward (every step-th element).
// gather (variants 'gather' | 'select'): out[c] = x[c with c_axis := idx], idx = index[c] (torch.gather:
//   index has the output's shape) or index[c_axis] (index_select: index is 1-D). x is read through its
//   strides; indices outside [0, x_len) give 0 (shaders cannot raise; documented in ops/indexing.ts).
// gather_backward: deterministic, no atomics. One invocation per element p of x sums the output
//   gradients whose index points at p: for k in 0..count, o = p's non-axis coordinates with c_axis := k;
//   gx[p] = sum of g[o] where idx(o) == p_axis. Cost: x.size * count index loads (count = index size along
//   `axis`), against out.size for an atomic scatter; fine for the class/channel-sized axes we gather over.
import { KernelFamily } from '../engine/kernel.ts';
import { LINEAR_ID, WG } from './prelude.ts';

const ENTRY = `@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32)`;

const AT = (arr: string, d: string) => `${arr}[${d} >> 2u][${d} & 3u]`;

const copySource = /* wgsl */ `
struct Params {
  n: u32, rank: u32, src_offset: u32, dst_offset: u32,
  shape: array<vec4<u32>, 2>, src_stride: array<vec4<u32>, 2>, dst_stride: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;
${LINEAR_ID}
${ENTRY} {
  let e = linear_id(wid, nwg, lidx, ${WG}u);
  if (e >= params.n) { return; }
  var rem = e;
  var s = params.src_offset;
  var t = params.dst_offset;
  for (var d = i32(params.rank) - 1; d >= 0; d--) {
    let du = u32(d);
    let size = ${AT('params.shape', 'du')};
    let c = rem % size;
    rem = rem / size;
    s += c * ${AT('params.src_stride', 'du')};
    t += c * ${AT('params.dst_stride', 'du')};
  }
  dst[t] = src[s];
}`;

export type IndexMode = 'gather' | 'select';

function gatherSource(mode: IndexMode): string {
  return /* wgsl */ `
struct Params {
  n: u32, rank: u32, axis: u32, x_offset: u32, x_len: u32, index_offset: u32,
  out_shape: array<vec4<u32>, 2>, x_stride: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read> index: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;
${LINEAR_ID}
${ENTRY} {
  let e = linear_id(wid, nwg, lidx, ${WG}u);
  if (e >= params.n) { return; }
  var rem = e;
  var at = params.x_offset;
  var c_axis = 0u;
  for (var d = i32(params.rank) - 1; d >= 0; d--) {
    let du = u32(d);
    let size = ${AT('params.out_shape', 'du')};
    let c = rem % size;
    rem = rem / size;
    if (du == params.axis) { c_axis = c; } else { at += c * ${AT('params.x_stride', 'du')}; }
  }
  let idx = index[params.index_offset + ${mode === 'gather' ? 'e' : 'c_axis'}];
  if (idx < 0 || u32(idx) >= params.x_len) {
    out[e] = 0u; // the bits of 0.0 and of 0
    return;
  }
  out[e] = x[at + u32(idx) * ${AT('params.x_stride', 'params.axis')}];
}`;
}

function gatherBackwardSource(mode: IndexMode): string {
  return /* wgsl */ `
struct Params {
  n: u32, rank: u32, axis: u32, count: u32, g_offset: u32, index_offset: u32,
  x_shape: array<vec4<u32>, 2>, out_shape: array<vec4<u32>, 2>, out_stride: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> index: array<i32>;
@group(0) @binding(2) var<storage, read_write> gx: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
${LINEAR_ID}
${ENTRY} {
  let e = linear_id(wid, nwg, lidx, ${WG}u);
  if (e >= params.n) { return; }
  // Offset (in the dense output / index layout) of p's coordinates with c_axis = 0; p_axis kept apart.
  var rem = e;
  var o_base = 0u;
  var p_axis = 0u;
  var reachable = true;
  for (var d = i32(params.rank) - 1; d >= 0; d--) {
    let du = u32(d);
    let size = ${AT('params.x_shape', 'du')};
    let c = rem % size;
    rem = rem / size;
    if (du == params.axis) {
      p_axis = c;
    } else {
      // torch.gather allows an index smaller than x on non-axis dims: outputs never reach c past it.
      reachable = reachable && c < ${AT('params.out_shape', 'du')};
      o_base += c * ${AT('params.out_stride', 'du')};
    }
  }
  var acc = 0.0;
  if (reachable) {
    let step = ${AT('params.out_stride', 'params.axis')};
    for (var k = 0u; k < params.count; k++) {
      let o = o_base + k * step;
      if (index[params.index_offset + ${mode === 'gather' ? 'o' : 'k'}] == i32(p_axis)) {
        acc += g[params.g_offset + o];
      }
    }
  }
  gx[e] = acc;
}`;
}

export const copyStridedKernels = new KernelFamily<Record<string, never>>('copy_strided', () => copySource, () => '');
export const gatherKernels = new KernelFamily<{ mode: IndexMode; direction: 'forward' | 'backward' }>(
  'gather',
  (v) => (v.direction === 'forward' ? gatherSource(v.mode) : gatherBackwardSource(v.mode)),
  (v) => `${v.mode},${v.direction}`,
);
