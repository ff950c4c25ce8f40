// Float64 references for crossEntropy (PyTorch semantics, our all-ignored mean = 0) and mseLoss.
import { ref, type RefOp, type RefTensor } from '../reference.ts';
import { forEachRow, logSumExp } from './softmax.ts';

export interface CrossEntropyRefOptions {
  ignoreIndex?: number;
  reduction?: 'mean' | 'sum' | 'none';
  labelSmoothing?: number;
}

/** Inputs: logits [N, C, ...spatial], target [N, ...spatial] (integers held as float64). */
export function crossEntropyRef(opts: CrossEntropyRefOptions = {}): RefOp {
  const { ignoreIndex = -100, reduction = 'mean', labelSmoothing: eps = 0 } = opts;
  // Row r of the [N, C, inner] view is target element r (rows run n-major, then pixel).
  const rows = (x: RefTensor, fn: (r: number, base: number, stride: number, len: number) => void) => {
    let r = 0;
    forEachRow(x.shape, 1, (base, stride, len) => fn(r++, base, stride, len));
  };
  const isValid = (t: number, len: number) => t !== ignoreIndex && t >= 0 && t < len;
  const perRow = ([x, target]: RefTensor[]) => {
    const loss = ref(target.shape);
    let count = 0;
    rows(x, (r, base, stride, len) => {
      const t = target.data[r];
      if (!isValid(t, len)) return;
      count++;
      const lse = logSumExp(x.data, base, stride, len);
      let smooth = 0;
      for (let j = 0; j < len; j++) smooth += lse - x.data[base + j * stride];
      loss.data[r] = (1 - eps) * (lse - x.data[base + t * stride]) + (eps / len) * smooth;
    });
    return { loss, count };
  };
  return {
    name: `crossEntropy(${reduction}, ignore ${ignoreIndex}, smoothing ${eps})`,
    forward(inputs) {
      const { loss, count } = perRow(inputs);
      if (reduction === 'none') return loss;
      const total = loss.data.reduce((a, b) => a + b, 0);
      return ref([], [reduction === 'sum' ? total : total / Math.max(count, 1)]);
    },
    backward(inputs, g) {
      const [x, target] = inputs;
      const { count } = perRow(inputs);
      const gx = ref(x.shape);
      rows(x, (r, base, stride, len) => {
        const t = target.data[r];
        if (!isValid(t, len)) return;
        const scale = reduction === 'none' ? g.data[r] : reduction === 'sum' ? g.data[0] : g.data[0] / Math.max(count, 1);
        const lse = logSumExp(x.data, base, stride, len);
        for (let j = 0; j < len; j++) {
          const k = base + j * stride;
          gx.data[k] = scale * (Math.exp(x.data[k] - lse) - (1 - eps) * (j === t ? 1 : 0) - eps / len);
        }
      });
      return [gx, null];
    },
  };
}

export function mseLossRef(reduction: 'mean' | 'sum' | 'none' = 'mean'): RefOp {
  return {
    name: `mseLoss(${reduction})`,
    forward([a, b]) {
      const sq = ref(a.shape, a.data.map((v, i) => (v - b.data[i]) ** 2));
      if (reduction === 'none') return sq;
      const total = sq.data.reduce((s, v) => s + v, 0);
      return ref([], [reduction === 'sum' ? total : total / a.data.length]);
    },
    backward([a, b], g) {
      const scale = reduction === 'mean' ? 2 / a.data.length : 2;
      const ga = ref(a.shape, a.data.map((v, i) => scale * (reduction === 'none' ? g.data[i] : g.data[0]) * (v - b.data[i])));
      return [ga, ref(a.shape, ga.data.map((v) => -v))];
    },
  };
}
