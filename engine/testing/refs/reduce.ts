// Float64 references for engine/ops/reduce.ts: sum, mean, max and min over any axes, with keepdim.
// max/min share the gradient equally among tied extremes (PyTorch's amax/amin).
import { shapeString, sizeOf } from '../../host.ts';
import { ref, type RefOp, type RefTensor } from '../reference.ts';

/** Reduced axes as the engine reads them: all when undefined, negatives counted from the end, sorted. */
export function normaliseAxesRef(op: string, shape: readonly number[], axes?: number | readonly number[]): number[] {
  const rank = shape.length;
  if (axes === undefined) return shape.map((_, i) => i);
  const list = typeof axes === 'number' ? [axes] : [...axes];
  if (rank === 0) {
    // A rank-0 tensor's one element is named by axis 0 or -1; reducing it keeps it.
    if (list.some((a) => a !== 0 && a !== -1)) throw new Error(`${op}: axes [${list}] are out of range for rank 0`);
    return [];
  }
  const norm = list.map((a) => (a < 0 ? a + rank : a));
  if (norm.some((a) => !Number.isInteger(a) || a < 0 || a >= rank) || new Set(norm).size !== norm.length) {
    throw new Error(`${op}: axes [${list}] are invalid for shape ${shapeString(shape)}`);
  }
  return norm.sort((a, b) => a - b);
}

/** The output shape, and for each input element (row-major) the output element it reduces into. */
function reduction(op: string, shape: readonly number[], axes: number[], keepdim: boolean) {
  const outShape = keepdim ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
  const n = sizeOf(shape);
  const target = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let idx = 0;
    let scale = 1;
    for (let d = shape.length - 1; d >= 0; d--) {
      const c = rem % shape[d];
      rem = Math.floor(rem / shape[d]);
      if (axes.includes(d)) continue;
      idx += c * scale;
      scale *= shape[d];
    }
    target[i] = idx;
  }
  const count = sizeOf(axes.map((a) => shape[a]));
  if (count === 0 && sizeOf(outShape) > 0 && op !== 'sum') {
    throw new Error(`${op}: cannot reduce over an empty axis of ${shapeString(shape)}`);
  }
  return { outShape, target, count };
}

type Kind = 'sum' | 'mean' | 'max' | 'min';

function reduceRef(kind: Kind, axes?: number | readonly number[], keepdim = false): RefOp {
  const name = `${kind}(${axes === undefined ? 'all' : `[${axes}]`}${keepdim ? ', keepdim' : ''})`;
  const plan = (x: RefTensor) => reduction(kind, x.shape, normaliseAxesRef(kind, x.shape, axes), keepdim);
  const forward = ([x]: RefTensor[]): RefTensor => {
    const { outShape, target, count } = plan(x);
    const out = ref(outShape);
    if (kind === 'max' || kind === 'min') out.data.fill(kind === 'max' ? -Infinity : Infinity);
    for (let i = 0; i < target.length; i++) {
      const o = target[i];
      const v = x.data[i];
      if (kind === 'max') out.data[o] = Math.max(out.data[o], v);
      else if (kind === 'min') out.data[o] = Math.min(out.data[o], v);
      else out.data[o] += v;
    }
    if (kind === 'mean') for (let o = 0; o < out.data.length; o++) out.data[o] /= count;
    return out;
  };
  return {
    name,
    forward,
    backward([x], gOut) {
      const { target, count } = plan(x);
      const gx = ref(x.shape);
      if (kind === 'sum' || kind === 'mean') {
        const scale = kind === 'mean' ? 1 / count : 1;
        for (let i = 0; i < target.length; i++) gx.data[i] = gOut.data[target[i]] * scale;
        return [gx];
      }
      const out = forward([x]);
      const ties = new Float64Array(out.data.length);
      for (let i = 0; i < target.length; i++) if (x.data[i] === out.data[target[i]]) ties[target[i]]++;
      for (let i = 0; i < target.length; i++) {
        const o = target[i];
        if (x.data[i] === out.data[o]) gx.data[i] = gOut.data[o] / ties[o];
      }
      return [gx];
    },
  };
}

/** Sum over `axes` (all when omitted). */
export const sumRef = (axes?: number | readonly number[], keepdim = false): RefOp => reduceRef('sum', axes, keepdim);
/** Mean over `axes` (all when omitted). */
export const meanRef = (axes?: number | readonly number[], keepdim = false): RefOp => reduceRef('mean', axes, keepdim);
/** Max over `axes`; tied maxima share the gradient equally. */
export const maxRef = (axes?: number | readonly number[], keepdim = false): RefOp => reduceRef('max', axes, keepdim);
/** Min over `axes`; tied minima share the gradient equally. */
export const minRef = (axes?: number | readonly number[], keepdim = false): RefOp => reduceRef('min', axes, keepdim);
