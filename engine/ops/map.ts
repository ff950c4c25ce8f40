// Runs the element-wise map kernel over broadcast inputs (no autograd here; ops wrap this).
import type { Storage } from '../device/buffers.ts';
import { grid1d } from '../kernel.ts';
import { broadcastShapes, shapeString, sizeOf, type DType } from '../host.ts';

export { broadcastShapes };
import { allocate, Tensor } from '../tensor.ts';
import { mapKernels, VEC4_PER_INVOCATION, type MapInputKind, type MapLayout, type WgslScalar } from '../../kernels/elementwise.ts';
import { MAX_RANK, pad8, WG } from '../../kernels/prelude.ts';

/** Strides that read `t` as if it had shape `outShape` (0 on broadcast axes). */
export function broadcastStrides(t: Tensor, outShape: readonly number[]): number[] {
  const lead = outShape.length - t.rank;
  return outShape.map((_, i) => {
    const j = i - lead;
    if (j < 0 || t.shape[j] === 1) return 0;
    return t.strides[j];
  });
}

/**
 * How the vec4/planes layouts can read `t` against `outShape` (n elements), the plane size in elements for
 * a plane input, and whether it can be read as vec4s; null if it cannot be read so. t's non-1 axes must be
 * consecutive, contiguous and equal to the output's: it repeats along the axes before them and is constant
 * along those after.
 */
function inputKind(t: Tensor, outShape: readonly number[], n: number) {
  const kind = (kind: MapInputKind, inner: number, vec4: boolean) => ({ kind, inner, vec4 });
  if (!t.isContiguous()) return null;
  if (t.size === n) return kind('full', 1, t.offset % 4 === 0);
  if (t.size === 1) return kind('splat', 1, true);
  const lead = outShape.length - t.rank;
  const first = t.shape.findIndex((d) => d !== 1);
  let last = t.rank - 1;
  while (t.shape[last] === 1) last--;
  for (let j = first; j <= last; j++) if (t.shape[j] !== outShape[lead + j]) return null;
  const inner = sizeOf(outShape.slice(lead + last + 1));
  if (inner === 1) return kind('rows', 1, t.size % 4 === 0 && t.offset % 4 === 0);
  return kind('plane', inner, inner % 4 === 0);
}

/**
 * The vec4 or planes layout for these inputs (on vec4s when every input allows it, else on scalars), or
 * null: contiguous (no input broadcast) or strided instead.
 */
function vectorLayout(inputs: readonly Tensor[], outShape: readonly number[], n: number) {
  const read = inputs.map((t) => inputKind(t, outShape, n));
  if (read.some((r) => r === null)) return null;
  const kinds = read.map((r) => r!.kind);
  const width: 1 | 4 = n % 4 === 0 && read.every((r) => r!.vec4) ? 4 : 1;
  if (width === 1 && kinds.every((k) => k === 'full')) return null;
  const inners = new Set(read.filter((r) => r!.kind === 'plane').map((r) => r!.inner));
  if (inners.size === 0) return { layout: 'vec4' as const, kinds, width, inner: 1 };
  // One plane size, and no input repeating along the leading axes (its index would change along a plane).
  if (inners.size > 1 || kinds.includes('rows')) return null;
  return { layout: 'planes' as const, kinds, width, inner: [...inners][0] };
}

const wgslType = (d: DType): WgslScalar => (d === 'int32' ? 'i32' : 'f32');

export interface MapOptions {
  out?: DType;
  scalars?: [number, number?, number?, number?];
  /** Write into this tensor instead of allocating (must be dense with the broadcast shape). */
  into?: Tensor;
}

// The kernel cache key holds the name, not the expression: one name must always mean one expression.
const expressions = new Map<string, string>();
function checkExpression(name: string, expr: string): void {
  const known = expressions.get(name);
  if (known === undefined) expressions.set(name, expr);
  else if (known !== expr) throw new Error(`map: kernel name '${name}' is already used for '${known}', not '${expr}'`);
}

/** out[i] = expr(a[i], b[i], c[i]) with broadcasting. `expr` is WGSL over a, b, c and s (vec4<f32> scalars). */
export function map(name: string, expr: string, inputs: readonly Tensor[], opts: MapOptions = {}): Tensor {
  const outShape = inputs.length ? broadcastShapes(name, ...inputs.map((t) => t.shape)) : [...(opts.into?.shape ?? [])];
  if (outShape.length > MAX_RANK) throw new Error(`${name}: rank ${outShape.length} exceeds ${MAX_RANK}`);
  const outDtype = opts.out ?? inputs[0]?.dtype ?? 'float32';
  if (opts.into && (!opts.into.isDense() || opts.into.size !== sizeOf(outShape))) {
    throw new Error(`${name}: output tensor must be dense with shape ${shapeString(outShape)}`);
  }
  checkExpression(name, expr);
  // Everything that can throw (a disposed input, a bad expression) before the output is allocated.
  const names = ['in_a', 'in_b', 'in_c'];
  const bindings: Record<string, Storage> = {};
  inputs.forEach((t, k) => (bindings[names[k]] = t.storage));
  const n = sizeOf(outShape);
  const vector = vectorLayout(inputs, outShape, n);
  const strided = !vector && inputs.some((t) => !t.isContiguous() || t.size !== n);
  const layout: MapLayout = vector?.layout ?? (strided ? 'strided' : 'contiguous');
  const kinds = vector?.kinds.some((k) => k !== 'full') ? vector.kinds : undefined;
  const types = inputs.map((t) => wgslType(t.dtype));
  const width = vector?.width ?? 1;
  const kernel = mapKernels.get({ name, expr, inputs: types, out: wgslType(outDtype), layout, kinds, width: vector?.width });
  const out = opts.into ?? allocate(outShape, outDtype);
  bindings.out = out.storage;
  const strides = inputs.map((t) => (strided ? pad8(broadcastStrides(t, outShape)) : pad8([])));
  const s = opts.scalars ?? [0];
  // Units of each binding: vec4s for full and rows inputs of the vec4 layouts, elements otherwise.
  const unit = (k: number) => (vector?.kinds[k] === 'full' || vector?.kinds[k] === 'rows' ? width : 1);
  const items = n / (vector ? width : 1);
  let invocations = n;
  let gridStride = 0;
  let plane = 0;
  if (vector?.layout === 'planes') {
    // grid_stride invocations per plane, each walking up to VEC4_PER_INVOCATION of its items.
    plane = vector.inner / width;
    gridStride = Math.ceil(plane / VEC4_PER_INVOCATION);
    invocations = (n / vector.inner) * gridStride;
  } else if (vector && kinds?.includes('rows')) {
    // Invocations walk rows of the longest period, a whole number of rows apart (see kernels/elementwise.ts).
    const period = Math.max(...inputs.map((t, k) => (vector.kinds[k] === 'rows' ? t.size / width : 1)));
    gridStride = Math.ceil(items / period / VEC4_PER_INVOCATION) * period;
    invocations = gridStride;
  } else if (vector) {
    invocations = Math.ceil(items / VEC4_PER_INVOCATION);
  }
  const grid = grid1d(invocations, WG);
  if (vector?.layout === 'vec4' && !kinds?.includes('rows')) gridStride = grid[0] * grid[1] * WG;
  kernel.run(
    bindings,
    {
      n: items,
      rank: outShape.length,
      grid_stride: gridStride,
      plane,
      offsets: [0, 1, 2, 3].map((k) => (inputs[k]?.offset ?? 0) / unit(k)),
      periods: [0, 1, 2, 3].map((k) => (inputs[k]?.size ?? 0) / unit(k)),
      s: [s[0], s[1] ?? 0, s[2] ?? 0, s[3] ?? 0],
      shape: pad8(outShape, 1),
      stride0: strides[0] ?? pad8([]),
      stride1: strides[1] ?? pad8([]),
      stride2: strides[2] ?? pad8([]),
    },
    grid,
  );
  return out;
}
