// Element-wise map over up to three inputs with broadcasting and arbitrary strides.
//
// Variants (the cache key): the expression, the arity, the dtypes, the layout and, for the vector layouts,
// how each input is read (its kind).
//   contiguous: element i of every input is read directly (at its base offset + i).
//   vec4: n a multiple of 4; each invocation handles VEC4_PER_INVOCATION output vec4s, grid_stride apart (so
//     a workgroup's accesses stay contiguous); the expression still runs per lane. On lavapipe a vec4 load
//     costs about what an f32 load does, so this is what brings element-wise ops near the copy kernel's
//     bandwidth. Input kinds:
//       full (-): the output's size, offset a multiple of 4, read as vec4 at q;
//       splat (s): one element, read once per invocation (any offset);
//       rows (r): repeats along the leading axes (a bias row [C] against [N, C]), size and offset multiples
//         of 4. The host makes grid_stride a multiple of every such period (periods are sizes of trailing
//         output axes, so each divides the largest), so q % period is the same for all of an invocation's
//         vec4s: one modulo and one load per invocation, then R loads of the full inputs and R stores.
//   planes: n a multiple of 4; the output is cut into planes of `plane` vec4s (a bias [C, 1, 1] against
//     [N, C, H, W]: planes of H*W elements, H*W a multiple of 4), and grid_stride invocations share a
//     plane, each walking up to VEC4_PER_INVOCATION vec4s of it, grid_stride apart. Input kinds: full,
//     splat, and plane (p): constant over a plane, its value at (plane index) % period, read once per
//     invocation (one division and one modulo per invocation).
//   vec4 and planes run on scalars instead (width 1, key suffix '1'; same walk, element units) when n, a
//     full or rows input's offset, a rows period or the plane size is not a multiple of 4: still no
//     per-element coordinate math, unlike strided.
//   strided: i becomes a coordinate (row-major over the output shape, at most rank 8) and each input's
//     offset is sum(coord[d] * stride[d]) + base offset, with stride 0 on broadcast axes.
// All index math is u32: tensors hold fewer than 2^32 elements (a storage binding is at most 128 MiB on
// lavapipe, 4 GiB anywhere).
import { KernelFamily } from '../engine/kernel.ts';
import { LINEAR_ID, WG } from './prelude.ts';

export type WgslScalar = 'f32' | 'i32' | 'u32';
export type MapLayout = 'contiguous' | 'vec4' | 'planes' | 'strided';
/** How a vec4/planes layout reads an input (see the header). */
export type MapInputKind = 'full' | 'splat' | 'rows' | 'plane';
const KIND_CODE: Record<MapInputKind, string> = { full: '-', splat: 's', rows: 'r', plane: 'p' };

export const VEC4_PER_INVOCATION = 4;

export interface MapVariant {
  /** Names the expression; one name, one expression. */
  name: string;
  /** WGSL expression over a, b, c (inputs) and s (vec4<f32> scalars); its type must be `out`. */
  expr: string;
  inputs: WgslScalar[];
  out: WgslScalar;
  layout: MapLayout;
  /** vec4 and planes: how each input is read (all full when absent). */
  kinds?: MapInputKind[];
  /** vec4 and planes: 1 runs them on scalars, for broadcasts whose sizes or offsets are not multiples of 4. */
  width?: 1 | 4;
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

const COMPONENT = ['x', 'y', 'z'];

/** The vec4 and planes bodies: loads of splat, rows and plane inputs hoisted out of the walk. */
function vectorBody(v: MapVariant): string {
  const planes = v.layout === 'planes';
  const vec = v.width !== 1;
  const kinds = v.inputs.map((_, k) => v.kinds?.[k] ?? 'full');
  const at = (k: number, index: string) => `in_${NAMES[k]}[${index} + params.offsets.${COMPONENT[k]}]`;
  const splat = (k: number, x: string) => (vec ? `vec4<${v.inputs[k]}>(${x})` : x);
  const hoisted = kinds.map((kind, k) => {
    if (kind === 'splat') return `let v${k} = ${splat(k, at(k, '0u'))};`;
    if (kind === 'rows') return `let v${k} = ${at(k, `i % params.periods.${COMPONENT[k]}`)};`;
    if (kind === 'plane') return `let v${k} = ${splat(k, at(k, `p % params.periods.${COMPONENT[k]}`))};`;
    return '';
  });
  const loads = kinds.map((kind, k) => (kind === 'full' ? `let v${k} = ${at(k, 'q')};` : ''));
  const lane = (c: string) => `op(${v.inputs.map((_, k) => `v${k}${c}`).join(', ')}${v.inputs.length ? ', ' : ''}params.s)`;
  const value = vec ? `vec4<${v.out}>(${['.x', '.y', '.z', '.w'].map(lane).join(', ')})` : lane('');
  // planes: grid_stride invocations per plane; invocation x of plane p walks x, x + grid_stride, ... < plane.
  const start = planes
    ? `let p = i / params.grid_stride;
  let x = i - p * params.grid_stride;
  let first = p * params.plane + x;
  if (first >= params.n) { return; }`
    : `${kinds.includes('rows') ? 'if (i >= params.grid_stride) { return; }' : ''}
  let first = i;`;
  return /* wgsl */ `
  ${start}
  ${hoisted.filter(Boolean).join('\n  ')}
  for (var j = 0u; j < ${VEC4_PER_INVOCATION}u; j++) {
    let q = first + j * params.grid_stride;
    ${planes ? 'if (x + j * params.grid_stride >= params.plane) { return; }' : 'if (q >= params.n) { return; }'}
    ${loads.filter(Boolean).join('\n    ')}
    out[q] = ${value};
  }`;
}

function source(v: MapVariant): string {
  const arity = v.inputs.length;
  const vector = v.layout === 'vec4' || v.layout === 'planes';
  const element = (t: WgslScalar, k?: number) => {
    const kind = k === undefined ? 'full' : (v.kinds?.[k] ?? 'full');
    return vector && v.width !== 1 && (kind === 'full' || kind === 'rows') ? `vec4<${t}>` : t;
  };
  const bindings = v.inputs
    .map((t, k) => `@group(0) @binding(${k}) var<storage, read> in_${NAMES[k]}: array<${element(t, k)}>;`)
    .join('\n');
  const args = v.inputs.map((t, k) => `${NAMES[k]}: ${t}`).join(', ');
  const strided = /* wgsl */ `
  var rem = i;
  ${v.inputs.map((_, k) => `var o${k} = params.offsets.${COMPONENT[k]};`).join('\n  ')}
  for (var d = i32(params.rank) - 1; d >= 0; d--) {
    let du = u32(d);
    let size = params.shape[du >> 2u][du & 3u];
    let coord = rem % size;
    rem = rem / size;
    ${v.inputs.map((_, k) => `o${k} += coord * params.stride${k}[du >> 2u][du & 3u];`).join('\n    ')}
  }`;
  const contiguous = v.inputs.map((_, k) => `let o${k} = i + params.offsets.${COMPONENT[k]};`).join('\n  ');
  const call = v.inputs.map((_, k) => `in_${NAMES[k]}[o${k}]`).join(', ');
  return /* wgsl */ `
struct Params {
  n: u32,
  rank: u32,
  grid_stride: u32,
  plane: u32,
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
  ${vector ? vectorBody(v) : `${v.layout === 'strided' ? strided : contiguous}
  out[i] = op(${call}${arity ? ', ' : ''}params.s);`}
}`;
}

export const mapKernels = new KernelFamily<MapVariant>(
  'map',
  source,
  (v) => {
    const kinds = v.kinds?.some((k) => k !== 'full') ? `:${v.kinds.map((k) => KIND_CODE[k]).join('')}` : '';
    return `${v.name}:${v.inputs.join(',')}->${v.out}${v.layout === 'contiguous' ? '' : `,${v.layout}${v.width === 1 ? '1' : ''}${kinds}`}`;
  },
);
