// Element-wise map over up to three inputs with broadcasting and arbitrary strides.
//
// Variants (the cache key): the expression, the arity, the dtypes, and the layout.
//   contiguous: element i of every input is read directly (at its base offset + i).
//   vec4: contiguous, n and every offset a multiple of 4: inputs and output are bound as vec4 arrays and
//     each invocation handles VEC4_PER_INVOCATION vec4s, a grid apart (so a workgroup's accesses stay
//     contiguous); the expression still runs per lane. On lavapipe a vec4 load costs about what an f32
//     load does, so this is what brings element-wise ops near the copy kernel's bandwidth. An input that
//     repeats along the leading axes (a bias row [C] against [N, C]) is read at q % its size in vec4s.
//   strided: i becomes a coordinate (row-major over the output shape, at most rank 8) and each input's
//     offset is sum(coord[d] * stride[d]) + base offset, with stride 0 on broadcast axes. All index math is u32: tensors hold fewer than 2^32 elements (a storage
// binding is at most 128 MiB on lavapipe, 4 GiB anywhere).
import { KernelFamily } from '../engine/kernel.ts';
import { LINEAR_ID, WG } from './prelude.ts';

export type WgslScalar = 'f32' | 'i32' | 'u32';
export type MapLayout = 'contiguous' | 'vec4' | 'strided';

export const VEC4_PER_INVOCATION = 4;

export interface MapVariant {
  /** Names the expression; one name, one expression. */
  name: string;
  /** WGSL expression over a, b, c (inputs) and s (vec4<f32> scalars); its type must be `out`. */
  expr: string;
  inputs: WgslScalar[];
  out: WgslScalar;
  layout: MapLayout;
  /** vec4 only: which inputs repeat (read at index % their size). */
  repeats?: boolean[];
}

const NAMES = ['a', 'b', 'c'];

// WGSL's pow(x, y) is exp2(y * log2(x)): undefined for x <= 0. pow_real gives a^b on the reals: the sign of
// an odd integer power of a negative base, NaN for a negative base and a non-integer exponent, 0^0 = 1,
// 0^b = 0 (b > 0) or +inf (b < 0). NaN and inf are bit patterns chosen at run time, never computed (a
// constant inf or NaN does not compile).
const POW_REAL = /* wgsl */ `
fn pow_real(a: f32, b: f32) -> f32 {
  if (a == 0.0) {
    if (b == 0.0) { return 1.0; }
    return bitcast<f32>(select(0u, 0x7f800000u, b < 0.0));
  }
  if (a < 0.0 && fract(b) != 0.0) { return bitcast<f32>(select(0u, 0x7fc00000u, a < 0.0)); }
  let m = pow(abs(a), b);
  return select(m, -m, a < 0.0 && fract(b * 0.5) == 0.5);
}`;

function vec4Body(v: MapVariant): string {
  const lane = (c: string) => `op(${v.inputs.map((_, k) => `v${k}.${c}`).join(', ')}${v.inputs.length ? ', ' : ''}params.s)`;
  return /* wgsl */ `
  for (var j = 0u; j < ${VEC4_PER_INVOCATION}u; j++) {
    let q = i + j * params.grid_stride;
    if (q >= params.n) { return; }
    ${v.inputs.map((_, k) => `let v${k} = in_${NAMES[k]}[${v.repeats?.[k] ? `q % params.periods.${'xyz'[k]}` : 'q'} + params.offsets.${'xyz'[k]}];`).join('\n    ')}
    out[q] = vec4<${v.out}>(${['x', 'y', 'z', 'w'].map(lane).join(', ')});
  }`;
}

function source(v: MapVariant): string {
  const arity = v.inputs.length;
  const vec4 = v.layout === 'vec4';
  const element = (t: WgslScalar) => (vec4 ? `vec4<${t}>` : t);
  const bindings = v.inputs
    .map((t, k) => `@group(0) @binding(${k}) var<storage, read> in_${NAMES[k]}: array<${element(t)}>;`)
    .join('\n');
  const args = v.inputs.map((t, k) => `${NAMES[k]}: ${t}`).join(', ');
  const offsets = ['x', 'y', 'z'];
  const strided = /* wgsl */ `
  var rem = i;
  ${v.inputs.map((_, k) => `var o${k} = params.offsets.${offsets[k]};`).join('\n  ')}
  for (var d = i32(params.rank) - 1; d >= 0; d--) {
    let du = u32(d);
    let size = params.shape[du >> 2u][du & 3u];
    let coord = rem % size;
    rem = rem / size;
    ${v.inputs.map((_, k) => `o${k} += coord * params.stride${k}[du >> 2u][du & 3u];`).join('\n    ')}
  }`;
  const contiguous = v.inputs.map((_, k) => `let o${k} = i + params.offsets.${offsets[k]};`).join('\n  ');
  const call = v.inputs.map((_, k) => `in_${NAMES[k]}[o${k}]`).join(', ');
  return /* wgsl */ `
struct Params {
  n: u32,
  rank: u32,
  grid_stride: u32,
  offsets: vec4<u32>,
  periods: vec4<u32>,
  s: vec4<f32>,
  shape: array<vec4<u32>, 2>,
  stride0: array<vec4<u32>, 2>,
  stride1: array<vec4<u32>, 2>,
  stride2: array<vec4<u32>, 2>,
}
${bindings}
@group(0) @binding(${arity}) var<storage, read_write> out: array<${element(v.out)}>;
@group(0) @binding(${arity + 1}) var<uniform> params: Params;
${LINEAR_ID}
${v.expr.includes('pow_real(') ? POW_REAL : ''}
fn op(${args}${arity ? ', ' : ''}s: vec4<f32>) -> ${v.out} {
  return ${v.expr};
}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let i = linear_id(wid, nwg, lidx, ${WG}u);
  if (i >= params.n) { return; }
  ${vec4 ? vec4Body(v) : `${v.layout === 'strided' ? strided : contiguous}
  out[i] = op(${call}${arity ? ', ' : ''}params.s);`}
}`;
}

export const mapKernels = new KernelFamily<MapVariant>(
  'map',
  source,
  (v) => {
    const repeats = v.repeats?.some(Boolean) ? `:${v.repeats.map((r) => (r ? 'r' : '-')).join('')}` : '';
    return `${v.name}:${v.inputs.join(',')}->${v.out}${v.layout === 'contiguous' ? '' : `,${v.layout}${repeats}`}`;
  },
);
