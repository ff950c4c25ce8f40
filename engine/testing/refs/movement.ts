// Float64 references for engine/ops/movement.ts (reshape, permute, transpose, expand, contiguous), and
// `composeInputs` to run an op on transformed inputs (how tests feed an op non-contiguous views).
import { contiguousStrides, shapeString, sizeOf } from '../../host.ts';
import { ref, type RefOp, type RefTensor } from '../reference.ts';
import { broadcastSource, sumToShapeRef } from './elementwise.ts';

/** The shape `shape` names for `size` elements, with one -1 inferred; throws if the sizes differ. */
export function resolveShapeRef(size: number, shape: readonly number[]): number[] {
  const out = [...shape];
  const infer = out.indexOf(-1);
  if (infer >= 0) out[infer] = size / sizeOf(out.filter((_, i) => i !== infer));
  if (!out.every((d) => Number.isInteger(d) && d >= 0) || sizeOf(out) !== size) {
    throw new Error(`reshape: cannot view ${size} elements as ${shapeString(shape)}`);
  }
  return out;
}

/** The same elements, row-major, in `shape` (one -1 may be inferred). */
export function reshapeRef(shape: readonly number[]): RefOp {
  return {
    name: `reshape(${shapeString(shape)})`,
    forward: ([x]) => ref(resolveShapeRef(x.data.length, shape), x.data),
    backward: ([x], g) => [ref(x.shape, g.data)],
  };
}

function permuteData(x: RefTensor, dims: readonly number[]): RefTensor {
  const out = ref(dims.map((d) => x.shape[d]));
  const inStrides = contiguousStrides(x.shape);
  const n = out.data.length;
  for (let i = 0; i < n; i++) {
    let rem = i;
    let src = 0;
    for (let d = dims.length - 1; d >= 0; d--) {
      const c = rem % out.shape[d];
      rem = Math.floor(rem / out.shape[d]);
      src += c * inStrides[dims[d]];
    }
    out.data[i] = x.data[src];
  }
  return out;
}

/** Axis i of the result is axis dims[i] of the input (negative axes allowed). */
export function permuteRef(dims: readonly number[]): RefOp {
  const norm = (rank: number) => dims.map((d) => (d < 0 ? d + rank : d));
  return {
    name: `permute([${dims}])`,
    forward: ([x]) => permuteData(x, norm(x.shape.length)),
    backward([x], g) {
      const forwardDims = norm(x.shape.length);
      const inverse = new Array<number>(forwardDims.length);
      forwardDims.forEach((d, i) => (inverse[d] = i));
      return [permuteData(g, inverse)];
    },
  };
}

/** Swaps axes a and b. */
export function transposeRef(a = -2, b = -1): RefOp {
  const dimsFor = (rank: number) => {
    const dims = [...Array(rank).keys()];
    const i = a < 0 ? a + rank : a;
    const j = b < 0 ? b + rank : b;
    [dims[i], dims[j]] = [dims[j], dims[i]];
    return dims;
  };
  return {
    name: `transpose(${a}, ${b})`,
    forward: ([x]) => permuteRef(dimsFor(x.shape.length)).forward([x]),
    backward: ([x], g) => permuteRef(dimsFor(x.shape.length)).backward!([x], g),
  };
}

/** Repeats size-1 (and missing leading) axes up to `shape`; the gradient sums over them. */
export function expandRef(shape: readonly number[]): RefOp {
  return {
    name: `expand(${shapeString(shape)})`,
    forward([x]) {
      const src = broadcastSource(x.shape, shape);
      return ref(shape, Array.from(src, (s) => x.data[s]));
    },
    backward: ([x], g) => [sumToShapeRef(g, x.shape)],
  };
}

/** The identity (the GPU op changes only the memory layout). */
export const contiguousRef: RefOp = {
  name: 'contiguous',
  forward: ([x]) => ref(x.shape, x.data),
  backward: (_inputs, g) => [ref(g.shape, g.data)],
};

/**
 * `op` applied to transformed inputs: op(t0(x0), t1(x1), ...), where each transform is a one-input RefOp
 * (or null for none). The backward chains through the transforms.
 */
export function composeInputs(op: RefOp, transforms: readonly (RefOp | null)[]): RefOp {
  const apply = (inputs: RefTensor[]) => inputs.map((x, k) => (transforms[k] ? transforms[k]!.forward([x]) : x));
  const names = transforms.map((t, k) => (t ? `${t.name}(x${k})` : `x${k}`));
  return {
    name: `${op.name}(${names.join(', ')})`,
    forward: (inputs) => op.forward(apply(inputs)),
    backward: op.backward
      ? (inputs, gOut) => {
          const mid = apply(inputs);
          return op.backward!(mid, gOut).map((g, k) => {
            const t = transforms[k];
            if (!g || !t) return g;
            if (!t.backward) throw new Error(`composeInputs: transform ${t.name} has no backward`);
            return t.backward([inputs[k]], g)[0];
          });
        }
      : undefined,
  };
}
