// Runs the element-wise map kernel over broadcast inputs (no autograd here; ops wrap this).
import type { Storage } from '../device/buffers.ts';
import { grid1d } from '../kernel.ts';
import { shapeString, sizeOf, type DType } from '../host.ts';
import { allocate, Tensor } from '../tensor.ts';
import { mapKernels, type WgslScalar } from '../../kernels/elementwise.ts';
import { MAX_RANK, pad8, WG } from '../../kernels/prelude.ts';

export function broadcastShapes(op: string, ...shapes: (readonly number[])[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const v = s[s.length - rank + i] ?? 1;
      if (v === 1) continue;
      if (d !== 1 && d !== v) {
        throw new Error(`${op}: shapes ${shapes.map(shapeString).join(' and ')} cannot be broadcast together`);
      }
      d = v;
    }
    out.push(d);
  }
  return out;
}

/** Strides that read `t` as if it had shape `outShape` (0 on broadcast axes). */
export function broadcastStrides(t: Tensor, outShape: readonly number[]): number[] {
  const lead = outShape.length - t.rank;
  return outShape.map((_, i) => {
    const j = i - lead;
    if (j < 0 || t.shape[j] === 1) return 0;
    return t.strides[j];
  });
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
  const strided = inputs.some((t) => !t.isContiguous() || t.size !== n);
  const kernel = mapKernels.get({ name, expr, inputs: inputs.map((t) => wgslType(t.dtype)), out: wgslType(outDtype), strided });
  const out = opts.into ?? allocate(outShape, outDtype);
  bindings.out = out.storage;
  const strides = inputs.map((t) => (strided ? pad8(broadcastStrides(t, outShape)) : pad8([])));
  const s = opts.scalars ?? [0];
  kernel.run(
    bindings,
    {
      n,
      rank: outShape.length,
      offsets: [inputs[0]?.offset ?? 0, inputs[1]?.offset ?? 0, inputs[2]?.offset ?? 0, 0],
      s: [s[0], s[1] ?? 0, s[2] ?? 0, s[3] ?? 0],
      shape: pad8(outShape, 1),
      stride0: strides[0] ?? pad8([]),
      stride1: strides[1] ?? pad8([]),
      stride2: strides[2] ?? pad8([]),
    },
    grid1d(n, WG),
  );
  return out;
}
