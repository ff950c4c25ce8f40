// Counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
// SC 2011), checked against the Random123 known-answer vectors through the CPU twin in
// engine/testing/refs/random.ts.
//
// Element e of a draw takes word (e & 3) of philox(counter = (block_lo, block_hi, 0, 0), key = seed), with
// block = offset + (e >> 2) as a 64-bit sum. A value depends only on (seed, offset, e): not on the
// workgroup size, the grid or how a draw is split. One invocation makes the 4 elements of one block.
// Variants (the key) are the output modes:
//   uniform:  a + (b - a) * u, u = (w >> 8) * 2^-24 in [0, 1)         (24 bits: every value exact in f32)
//   normal:   Box-Muller on word pairs (w0, w1), (w2, w3): u1 = ((w0 >> 8) + 1) * 2^-24 in (0, 1], so
//             log(u1) is finite; z = a + b * sqrt(-2 log u1) * (cos | sin)(2 pi u2)
//   int:      lo + mulhi(w, range): lo + floor(w * range / 2^32), bias < range / 2^32
//   dropout:  (u >= p) ? scale : 0 with p = a, scale = b = 1 / (1 - p)
import { KernelFamily } from '../engine/kernel.ts';
import { LINEAR_ID, WG } from './prelude.ts';

export type RandomMode = 'uniform' | 'normal' | 'int' | 'dropout';

export const PHILOX = /* wgsl */ `
// Full 32x32 -> 64-bit product as (hi, lo), from 16-bit halves (WGSL has no u64 or mul-hi).
fn mul_hi_lo(a: u32, b: u32) -> vec2<u32> {
  let a0 = a & 0xffffu;
  let a1 = a >> 16u;
  let b0 = b & 0xffffu;
  let b1 = b >> 16u;
  let p00 = a0 * b0;
  let p01 = a0 * b1;
  let p10 = a1 * b0;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu); // < 3 * 2^16, no overflow
  let hi = a1 * b1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
  return vec2<u32>(hi, a * b);
}

fn philox4x32_10(counter: vec4<u32>, seed: vec2<u32>) -> vec4<u32> {
  var c = counter;
  var k = seed;
  for (var round = 0u; round < 10u; round++) {
    let p0 = mul_hi_lo(0xD2511F53u, c.x);
    let p1 = mul_hi_lo(0xCD9E8D57u, c.z);
    c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
    k += vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
  }
  return c;
}`;

function outputs(mode: RandomMode): string {
  switch (mode) {
    case 'uniform':
      return 'let v = params.a + (params.b - params.a) * unit(w);';
    case 'dropout':
      return 'let v = select(vec4<f32>(0.0), vec4<f32>(params.b), unit(w) >= vec4<f32>(params.a));';
    case 'int':
      return 'let v = bitcast<i32>(bitcast<u32>(params.lo) + mul_hi_lo(w[q], params.range).x);';
    case 'normal':
      return /* wgsl */ `
    let u1 = (vec2<f32>(vec2<u32>(w.x, w.z) >> vec2<u32>(8u)) + 1.0) * 0x1p-24f;
    let u2 = vec2<f32>(vec2<u32>(w.y, w.w) >> vec2<u32>(8u)) * 0x1p-24f;
    let radius = sqrt(-2.0 * log(u1));
    let angle = 6.283185307179586 * u2;
    let z = vec4<f32>(radius.x * cos(angle.x), radius.x * sin(angle.x), radius.y * cos(angle.y), radius.y * sin(angle.y));
    let v = params.a + params.b * z;`;
  }
}

function source(mode: RandomMode): string {
  const outType = mode === 'int' ? 'i32' : 'f32';
  // Per word q for int; all four at once otherwise (normal needs pairs).
  const perWord = mode === 'int';
  const body = perWord
    ? /* wgsl */ `
  for (var q = 0u; q < 4u; q++) {
    if (first + q < params.n) {
      ${outputs(mode)}
      out[first + q] = v;
    }
  }`
    : /* wgsl */ `
  ${outputs(mode)}
  for (var q = 0u; q < 4u; q++) {
    if (first + q < params.n) { out[first + q] = v[q]; }
  }`;
  return /* wgsl */ `
struct Params { n: u32, seed: vec2<u32>, offset: vec2<u32>, a: f32, b: f32, lo: i32, range: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<${outType}>;
@group(0) @binding(1) var<uniform> params: Params;
${LINEAR_ID}
${PHILOX}
fn unit(w: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(w >> vec4<u32>(8u)) * 0x1p-24f;
}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let block_index = linear_id(wid, nwg, lidx, ${WG}u);
  let first = block_index * 4u;
  if (block_index >= (params.n + 3u) / 4u) { return; }
  // 64-bit counter offset + block_index, carrying into the high word.
  let lo = params.offset.x + block_index;
  let hi = params.offset.y + select(0u, 1u, lo < block_index);
  let w = philox4x32_10(vec4<u32>(lo, hi, 0u, 0u), params.seed);
  ${body}
}`;
}

export const randomKernels = new KernelFamily<{ mode: RandomMode }>('random', (v) => source(v.mode), (v) => v.mode);
