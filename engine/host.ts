// Tensors on the CPU: what checkpoints, state dicts, remapping and CPU references exchange.
// Row-major (C order), no strides.

export type DType = 'float32' | 'int32';

export interface HostTensor {
  dtype: DType;
  shape: number[];
  data: Float32Array | Int32Array;
}

/** PyTorch-style flat map from dotted keys ("blocks.2.layers.0.op.3.weight") to tensors, in insertion order. */
export type StateDict = Map<string, HostTensor>;

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function hostTensor(shape: number[], data?: ArrayLike<number>, dtype: DType = 'float32'): HostTensor {
  const n = sizeOf(shape);
  const out = dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
  if (data) {
    if (data.length !== n) {
      throw new Error(`hostTensor: shape [${shape}] holds ${n} elements, data has ${data.length}`);
    }
    out.set(data);
  }
  return { dtype, shape: [...shape], data: out };
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

export function shapeString(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The shape that `shapes` broadcast to (NumPy rules); throws naming `op` and the shapes otherwise. */
export function broadcastShapes(op: string, ...shapes: (readonly number[])[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
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
