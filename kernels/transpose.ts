// Batched matrix transpose into a dense buffer: out[b, r, c] = src[offset + (b·C + c)·R + r], i.e. the
// dense copy of a view whose last two axes are swapped. The generic strided copy does this element by
// element with rank-8 index math and a gather per element; here:
//   'block4' (R, C and the offset multiples of 4): one invocation moves a 4x4 block, four vec4 loads
//            along r and four vec4 stores along c, the block transposed in registers;
//   'rows64'  (the same blocks, when a matrix has 64+ blocks along r): a 3-D grid of workgroups that each
//            take 64 consecutive blocks along r of one column quad c4 (x: r blocks / 64, y: c4, z: batch),
//            so neighbouring lanes read neighbouring vec4s of the same 4 source rows and no lane divides.
//            Lanes along c (block4's order) read 4 rows a lane, 16 bytes of each, scattered over every
//            row of the matrix. On lavapipe rows64 moved MobileNetV2's [96, 12544] and [8, 96, 1024]
//            transposes 1.2-1.4x faster, [144, 3136] 1.5x; with under 64 blocks along r it idles lanes
//            (2-3x slower on [8, 576, 16]), so block4 keeps those.
//   'element': one invocation per element, index math on three axes only.
// Grids past 65535 workgroups are 2-D (linear_id), except rows64's, whose y and z must fit (the host
// checks). Indices are u32.
import { KernelFamily } from '../engine/kernel.ts';
import { LINEAR_ID, WG } from './prelude.ts';

export type TransposeLayout = 'element' | 'block4' | 'rows64';

/** Blocks along r that one rows64 workgroup takes (its size). */
export const TRANSPOSE_ROW_TILE = 64;

export interface TransposeVariant {
  layout: TransposeLayout;
}

/** The 4x4 block at (b, r4, c4): four vec4 loads along r, four vec4 stores along c. */
const BLOCK_MOVE = /* wgsl */ `
  let srcBase = (params.offset >> 2u) + (b * params.cols + c4 * 4u) * rb + r4;
  let s0 = src[srcBase];
  let s1 = src[srcBase + rb];
  let s2 = src[srcBase + 2u * rb];
  let s3 = src[srcBase + 3u * rb];
  let outBase = (b * params.rows + r4 * 4u) * cb + c4;
  out[outBase] = vec4<f32>(s0.x, s1.x, s2.x, s3.x);
  out[outBase + cb] = vec4<f32>(s0.y, s1.y, s2.y, s3.y);
  out[outBase + 2u * cb] = vec4<f32>(s0.z, s1.z, s2.z, s3.z);
  out[outBase + 3u * cb] = vec4<f32>(s0.w, s1.w, s2.w, s3.w);`;

function source({ layout }: TransposeVariant): string {
  const block4 = layout !== 'element';
  if (layout === 'rows64') {
    return /* wgsl */ `
struct Params { batches: u32, rows: u32, cols: u32, offset: u32 }
@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(${TRANSPOSE_ROW_TILE})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lidx: u32) {
  let rb = params.rows / 4u;
  let cb = params.cols / 4u;
  let r4 = wid.x * ${TRANSPOSE_ROW_TILE}u + lidx;
  if (r4 >= rb) { return; }
  let c4 = wid.y;
  let b = wid.z;${BLOCK_MOVE}
}`;
  }
  const head = /* wgsl */ `
struct Params { batches: u32, rows: u32, cols: u32, offset: u32 }
@group(0) @binding(0) var<storage, read> src: array<${block4 ? 'vec4<f32>' : 'f32'}>;
@group(0) @binding(1) var<storage, read_write> out: array<${block4 ? 'vec4<f32>' : 'f32'}>;
@group(0) @binding(2) var<uniform> params: Params;
${LINEAR_ID}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let id = linear_id(wid, nwg, lidx, ${WG}u);`;
  if (!block4) {
    return /* wgsl */ `${head}
  let count = params.rows * params.cols;
  if (id >= params.batches * count) { return; }
  let b = id / count;
  let rc = id - b * count;
  let r = rc / params.cols;
  let c = rc - r * params.cols;
  out[id] = src[params.offset + (b * params.cols + c) * params.rows + r];
}`;
  }
  // Block (b, r4, c4): src rows c4·4 + k hold vec4s over r; out rows r4·4 + k get vec4s over c.
  return /* wgsl */ `${head}
  let rb = params.rows / 4u;
  let cb = params.cols / 4u;
  if (id >= params.batches * rb * cb) { return; }
  let c4 = id % cb;
  let rest = id / cb;
  let r4 = rest % rb;
  let b = rest / rb;${BLOCK_MOVE}
}`;
}

export const transposeKernels = new KernelFamily<TransposeVariant>('transpose', source, (v) => v.layout);
