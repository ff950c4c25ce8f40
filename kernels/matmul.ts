// Batched matmul, register-blocked: out[b] = op(A[b]) · op(B[b]) (+ bias), where op transposes when the
// operand's flag is set. Each invocation computes a tileM × tileN block of the output in registers.
//
// Variants (one family; the key is flags + tile config, never a shape):
//   transA / transB  A stored [K, M] (B stored [N, K]) instead of [M, K] ([K, N]); backward passes
//                    dA = g·Bᵀ and dB = Aᵀ·g as flags, so no transpose is ever materialised.
//   'block' loop     both operands read as vec4 along their contiguous axis (k for A, n for B when not
//                    transposed; m for Aᵀ, k for Bᵀ), four k per iteration, transposed in registers
//                    where needed. Needs K % 4 == 0 and each operand's contiguous extent, leading
//                    dimension, offset and batch strides to be multiples of 4.
//   'step' loop      any shape: one k per iteration; vecA / vecB read Aᵀ along m / B along n as vec4
//                    (the only contiguous axes a single k can use), everything else as scalars.
//   vecOut           out written as vec4 along n (N % 4 == 0).
//   bias             'none' | 'col' (bias[n], Linear) | 'row' (bias[m], 1x1 conv over NCHW).
//   tileM, tileN     rows and columns per invocation (tileN a multiple of 4); wgX, wgY invocations
//                    along n and m.
// A uniform, not a variant: sumCount > 1 sums the products of that many batches into one output (a
// weight gradient over a batch of images, without writing a product per image).
// On lavapipe every storage load costs a per-invocation loop (about 1 ns per float, ten FMAs' worth),
// so what counts is loads per FMA: (tileM + tileN) / (tileM · tileN) per k. Shared memory is not used:
// on a CPU adapter it costs 2.5-3x against register blocking. No early return before the loads either:
// a divergent return puts every later load under an execution mask.
//
// Index math: u32 element indices (buffers stay below 2^32 bytes, so below 2^30 elements). The grid is
// flat over (batch, row groups, column groups), 2-D past 65535 workgroups. Loads clamp rows and
// columns into range (edge tiles compute values there and do not store them); k never leaves [0, K).
import { KernelFamily } from '../engine/kernel.ts';
import { MAX_RANK } from './prelude.ts';

export type MatmulBias = 'none' | 'col' | 'row';

export interface MatmulVariant {
  transA: boolean;
  transB: boolean;
  loop: 'block' | 'step';
  vecA: boolean;
  vecB: boolean;
  vecOut: boolean;
  bias: MatmulBias;
  tileM: number;
  tileN: number;
  wgX: number;
  wgY: number;
}

/** Batch dims the uniform carries (the last two axes are the matrix). */
export const MAX_BATCH_RANK = MAX_RANK;

const range = (n: number): number[] => [...Array(n).keys()];
const XYZW = ['x', 'y', 'z', 'w'];
const splat = (x: string) => `vec4<f32>(${x})`;

/** Four k per iteration: a{i} is a vec4 over k for row i, b{kk}_{w} a vec4 over n. */
function blockBody(v: MatmulVariant): string {
  const { tileM: TM, tileN: TN } = v;
  const lines: string[] = [];
  if (!v.transA) {
    for (const i of range(TM)) lines.push(`let a${i} = A[(aBase + r${i} * params.lda + k) >> 2u];`);
  } else {
    // Columns of Aᵀ's storage (vec4 over m) for each of the four k, transposed in registers.
    for (const kk of range(4)) for (const q of range(TM / 4)) lines.push(`let at${kk}_${q} = A[(aBase + (k + ${kk}u) * params.lda + m4_${q}) >> 2u];`);
    for (const i of range(TM)) {
      lines.push(`let a${i} = vec4<f32>(${range(4).map((kk) => `at${kk}_${i >> 2}.${XYZW[i & 3]}`).join(', ')});`);
    }
  }
  if (!v.transB) {
    for (const kk of range(4)) for (const w of range(TN / 4)) lines.push(`let b${kk}_${w} = B[(bBase + (k + ${kk}u) * params.ldb + n4_${w}) >> 2u];`);
  } else {
    // Rows of Bᵀ's storage (vec4 over k) for each column, transposed in registers.
    for (const j of range(TN)) lines.push(`let bt${j} = B[(bBase + c${j} * params.ldb + k) >> 2u];`);
    for (const kk of range(4)) for (const w of range(TN / 4)) {
      lines.push(`let b${kk}_${w} = vec4<f32>(${range(4).map((c) => `bt${4 * w + c}.${XYZW[kk]}`).join(', ')});`);
    }
  }
  for (const i of range(TM)) for (const w of range(TN / 4)) {
    const sum = range(4).reduce((acc, kk) => `fma(${splat(`a${i}.${XYZW[kk]}`)}, b${kk}_${w}, ${acc})`, `acc${i}_${w}`);
    lines.push(`acc${i}_${w} = ${sum};`);
  }
  return lines.join('\n    ');
}

/** One k per iteration: a{i} a scalar per row, b{w} a vec4 over n. */
function stepBody(v: MatmulVariant): string {
  const { tileM: TM, tileN: TN } = v;
  const lines: string[] = [];
  if (v.vecA) {
    for (const q of range(TM / 4)) lines.push(`let at${q} = A[(aBase + k * params.lda + m4_${q}) >> 2u];`);
    for (const i of range(TM)) lines.push(`let a${i} = at${i >> 2}.${XYZW[i & 3]};`);
  } else {
    const at = (i: number) => (v.transA ? `aBase + k * params.lda + r${i}` : `aBase + r${i} * params.lda + k`);
    for (const i of range(TM)) lines.push(`let a${i} = A[${at(i)}];`);
  }
  for (const w of range(TN / 4)) {
    if (v.vecB) {
      lines.push(`let b${w} = B[(bBase + k * params.ldb + n4_${w}) >> 2u];`);
    } else {
      const at = (j: number) => (v.transB ? `bBase + c${j} * params.ldb + k` : `bBase + k * params.ldb + c${j}`);
      lines.push(`let b${w} = vec4<f32>(${range(4).map((c) => `B[${at(4 * w + c)}]`).join(', ')});`);
    }
  }
  for (const i of range(TM)) for (const w of range(TN / 4)) lines.push(`acc${i}_${w} = fma(${splat(`a${i}`)}, b${w}, acc${i}_${w});`);
  return lines.join('\n    ');
}

function epilogue(v: MatmulVariant): string {
  const lines: string[] = [];
  for (const i of range(v.tileM)) {
    lines.push(`if (inGrid && m0 + ${i}u < params.M) {`);
    for (const w of range(v.tileN / 4)) {
      const col = `n0 + ${4 * w}u`;
      let value = `acc${i}_${w}`;
      if (v.bias === 'col') value += ` + vec4<f32>(${range(4).map((c) => `bias[params.biasOffset + c${4 * w + c}]`).join(', ')})`;
      if (v.bias === 'row') value += ` + ${splat(`bias[params.biasOffset + r${i}]`)}`;
      const at = `outBase + (m0 + ${i}u) * params.N + ${col}`;
      if (v.vecOut) {
        lines.push(`  if (${col} < params.N) { out[(${at}) >> 2u] = ${value}; }`);
      } else {
        lines.push(`  { let value = ${value};`);
        for (const c of range(4)) lines.push(`    if (${col} + ${c}u < params.N) { out[${at} + ${c}u] = value.${XYZW[c]}; }`);
        lines.push('  }');
      }
    }
    lines.push('}');
  }
  return lines.join('\n  ');
}

function source(v: MatmulVariant): string {
  const { tileM: TM, tileN: TN } = v;
  const block = v.loop === 'block';
  const vecA = block || v.vecA;
  const vecB = block || v.vecB;
  // vec4 starts along m / n, clamped so an edge tile still reads inside the matrix (M, N % 4 == 0 there).
  const m4 = vecA && v.transA ? range(TM / 4).map((q) => `let m4_${q} = min(m0 + ${4 * q}u, params.M - 4u);`) : [];
  const n4 = vecB && !v.transB ? range(TN / 4).map((w) => `let n4_${w} = min(n0 + ${4 * w}u, params.N - 4u);`) : [];
  const elem = (vec: boolean) => (vec ? 'vec4<f32>' : 'f32');
  const biasBinding = v.bias === 'none' ? '' : '@group(0) @binding(3) var<storage, read> bias: array<f32>;';
  return /* wgsl */ `
struct Params {
  M: u32, N: u32, K: u32, batchRank: u32,
  groupsN: u32, groupsM: u32, batches: u32, sumCount: u32,
  lda: u32, ldb: u32, offsetA: u32, offsetB: u32, biasOffset: u32,
  batchShape: array<vec4<u32>, 2>,
  batchStrideA: array<vec4<u32>, 2>,
  batchStrideB: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<storage, read> A: array<${elem(vecA)}>;
@group(0) @binding(1) var<storage, read> B: array<${elem(vecB)}>;
@group(0) @binding(2) var<storage, read_write> out: array<${elem(v.vecOut)}>;
${biasBinding}
@group(0) @binding(${v.bias === 'none' ? 3 : 4}) var<uniform> params: Params;

@compute @workgroup_size(${v.wgX}, ${v.wgY})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  // Flat workgroup index -> (batch, row group, column group); uniform across the workgroup.
  let group = wid.x + wid.y * nwg.x;
  let groupN = group % params.groupsN;
  let rest = group / params.groupsN;
  let groupM = rest % params.groupsM;
  // Workgroups past the last batch (a 2-D grid rounds up) redo the last one and store nothing.
  let inGrid = rest / params.groupsM < params.batches;
  let batch = min(rest / params.groupsM, params.batches - 1u);
  let m0 = (groupM * ${v.wgY}u + lid.y) * ${TM}u;
  let n0 = (groupN * ${v.wgX}u + lid.x) * ${TN}u;

  ${range(TM).map((i) => `let r${i} = min(m0 + ${i}u, params.M - 1u);`).join('\n  ')}
  ${range(TN).map((j) => `let c${j} = min(n0 + ${j}u, params.N - 1u);`).join('\n  ')}
  ${[...m4, ...n4].join('\n  ')}
  ${range(TM).flatMap((i) => range(TN / 4).map((w) => `var acc${i}_${w} = vec4<f32>(0.0);`)).join('\n  ')}
  // sumCount > 1 (grid batch 0) sums the products of that many batches into one output; otherwise 1.
  for (var summed = 0u; summed < params.sumCount; summed++) {
    // Batch coordinates -> element offsets (broadcast batch axes have stride 0).
    var aBase = params.offsetA;
    var bBase = params.offsetB;
    var remaining = batch + summed;
    for (var d = i32(params.batchRank) - 1; d >= 0; d--) {
      let du = u32(d);
      let size = params.batchShape[du >> 2u][du & 3u];
      let coord = remaining % size;
      remaining = remaining / size;
      aBase += coord * params.batchStrideA[du >> 2u][du & 3u];
      bBase += coord * params.batchStrideB[du >> 2u][du & 3u];
    }
    for (var k = 0u; k < params.K; k += ${block ? 4 : 1}u) {
      ${(block ? blockBody(v) : stepBody(v)).replace(/\n    /g, '\n      ')}
    }
  }
  let outBase = batch * params.M * params.N;
  ${epilogue(v)}
}`;
}

export const matmulKernels = new KernelFamily<MatmulVariant>(
  'matmul',
  source,
  (v) =>
    `${v.transA ? 'T' : 'N'}${v.transB ? 'T' : 'N'},${v.loop},${v.vecA ? 'v' : 's'}${v.vecB ? 'v' : 's'}${v.vecOut ? 'v' : 's'},` +
    `${v.tileM}x${v.tileN},wg${v.wgX}x${v.wgY}${v.bias === 'none' ? '' : `,bias-${v.bias}`}`,
);
