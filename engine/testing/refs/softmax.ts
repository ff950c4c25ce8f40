// Float64 references for softmax and logSoftmax along any axis, with their vector-Jacobian products.
import { sizeOf } from '../../host.ts';
import { ref, type RefOp, type RefTensor } from '../reference.ts';

/** Calls fn(base, stride, len) for every row along `axis` of a row-major shape. */
export function forEachRow(shape: readonly number[], axis: number, fn: (base: number, stride: number, len: number) => void): void {
  const a = axis < 0 ? axis + shape.length : axis;
  const len = shape[a] ?? 1;
  const outer = sizeOf(shape.slice(0, a));
  const inner = sizeOf(shape.slice(a + 1));
  for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) fn(o * len * inner + i, inner, len);
}

/** Row-wise log-sum-exp, stabilised by the row max. */
export function logSumExp(x: Float64Array, base: number, stride: number, len: number): number {
  let m = -Infinity;
  for (let j = 0; j < len; j++) m = Math.max(m, x[base + j * stride]);
  let s = 0;
  for (let j = 0; j < len; j++) s += Math.exp(x[base + j * stride] - m);
  return m + Math.log(s);
}

export function softmaxRef(axis = -1, log = false): RefOp {
  const forward = ([x]: RefTensor[]): RefTensor => {
    const y = ref(x.shape);
    forEachRow(x.shape, axis, (base, stride, len) => {
      const lse = logSumExp(x.data, base, stride, len);
      for (let j = 0; j < len; j++) {
        const k = base + j * stride;
        y.data[k] = log ? x.data[k] - lse : Math.exp(x.data[k] - lse);
      }
    });
    return y;
  };
  return {
    name: `${log ? 'logSoftmax' : 'softmax'}(axis ${axis})`,
    forward,
    backward(inputs, g) {
      const y = forward(inputs);
      const gx = ref(y.shape);
      forEachRow(y.shape, axis, (base, stride, len) => {
        let acc = 0;
        for (let j = 0; j < len; j++) {
          const k = base + j * stride;
          acc += log ? g.data[k] : g.data[k] * y.data[k];
        }
        for (let j = 0; j < len; j++) {
          const k = base + j * stride;
          gx.data[k] = log ? g.data[k] - Math.exp(y.data[k]) * acc : y.data[k] * (g.data[k] - acc);
        }
      });
      return [gx];
    },
  };
}
