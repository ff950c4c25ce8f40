// Runs the element-wise map kernel over broadcast inputs (no autograd here; ops wrap this).
import type { Storage } from '../device/buffers.ts';
import { grid1d } from '../kernel.ts';
import { broadcastShapes, shapeString, sizeOf, type DType } from '../host.ts';

export { broadcastShapes };
import { allocate, Tensor } from '../tensor.ts';
import { mapKernels, VEC4_PER_INVOCATION, type MapLayout, type WgslScalar } from '../../kernels/elementwise.ts';
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

/** t's values repeat with period t.size over `outShape`: its shape, leading 1s aside, is outShape's trailing axes. */
function repeatsAlongLeadingAxes(t: Tensor, outShape: readonly number[]): boolean {
  if (t.size === 0 || t.size % 4 !== 0) return false;
  const first = t.shape.findIndex((d) => d !== 1);
  const core = first < 0 ? [] : t.shape.slice(first);
  const tail = outShape.slice(outShape.length - core.length);
  return core.length > 0 && core.every((d, i) => d === tail[i]);
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
  const repeats = inputs.map((t) => t.size !== n);
  const vec4 = n % 4 === 0 && inputs.every((t, k) => t.isContiguous() && t.offset % 4 === 0 && (!repeats[k] || repeatsAlongLeadingAxes(t, outShape)));
  const strided = !vec4 && inputs.some((t) => !t.isContiguous() || t.size !== n);
  const layout: MapLayout = strided ? 'strided' : vec4 ? 'vec4' : 'contiguous';
  const variant = { name, expr, inputs: inputs.map((t) => wgslType(t.dtype)), out: wgslType(outDtype), layout };
  const kernel = mapKernels.get(vec4 && repeats.some(Boolean) ? { ...variant, repeats } : variant);
  const out = opts.into ?? allocate(outShape, outDtype);
  bindings.out = out.storage;
  const strides = inputs.map((t) => (strided ? pad8(broadcastStrides(t, outShape)) : pad8([])));
  const s = opts.scalars ?? [0];
  const unit = vec4 ? 4 : 1;
  const invocations = vec4 ? Math.ceil(n / 4 / VEC4_PER_INVOCATION) : n;
  const grid = grid1d(invocations, WG);
  kernel.run(
    bindings,
    {
      n: n / unit,
      rank: outShape.length,
      grid_stride: grid[0] * grid[1] * WG,
      offsets: [0, 1, 2, 3].map((k) => (inputs[k]?.offset ?? 0) / unit),
      periods: [0, 1, 2, 3].map((k) => (inputs[k]?.size ?? 0) / unit),
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
