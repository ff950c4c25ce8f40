// Float64 references for the FNA++ mixed op: the softmax-weighted sum and the expected cost.
import { ref, type RefOp, type RefTensor } from '../reference.ts';

export interface MixedOpRefOptions {
  /** Alpha indices of the sampled candidates. */
  subset: number[];
  temperature: number;
}

/** softmax(alpha[subset] / temperature), in subset order. */
export function subsetSoftmax(alpha: Float64Array, o: MixedOpRefOptions): number[] {
  const logits = o.subset.map((k) => alpha[k] / o.temperature);
  const m = Math.max(...logits);
  const e = logits.map((v) => Math.exp(v - m));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / total);
}

/** d alpha for an upstream gradient `d` on the subset probabilities: the softmax Jacobian, zero off the subset. */
function softmaxVjp(alpha: RefTensor, o: MixedOpRefOptions, d: number[]): RefTensor {
  const p = subsetSoftmax(alpha.data, o);
  const mean = p.reduce((s, pj, j) => s + pj * d[j], 0);
  const grad = ref(alpha.shape);
  o.subset.forEach((k, j) => (grad.data[k] = (p[j] * (d[j] - mean)) / o.temperature));
  return grad;
}

/** Inputs: [candidate for subset[0], ..., candidate for subset[S-1], alpha]. */
export function mixedOpRef(o: MixedOpRefOptions): RefOp {
  return {
    name: `mixedOp(subset [${o.subset}], tau ${o.temperature})`,
    forward(inputs) {
      const alpha = inputs[inputs.length - 1];
      const p = subsetSoftmax(alpha.data, o);
      const out = ref(inputs[0].shape);
      p.forEach((pj, j) => inputs[j].data.forEach((v, i) => (out.data[i] += pj * v)));
      return out;
    },
    backward(inputs, g) {
      const alpha = inputs[inputs.length - 1];
      const p = subsetSoftmax(alpha.data, o);
      const cands = inputs.slice(0, -1);
      const dots = cands.map((c) => c.data.reduce((s, v, i) => s + v * g.data[i], 0));
      return [...cands.map((c, j) => ref(c.shape, g.data.map((v) => p[j] * v))), softmaxVjp(alpha, o, dots)];
    },
  };
}

/** Inputs: [alpha]; the output is the scalar Σ_j p_j · costs[subset[j]]. */
export function expectedCostRef(o: MixedOpRefOptions & { costs: number[] }): RefOp {
  return {
    name: `mixedOp expected cost(subset [${o.subset}], tau ${o.temperature})`,
    forward([alpha]) {
      const p = subsetSoftmax(alpha.data, o);
      return ref([], [p.reduce((s, pj, j) => s + pj * o.costs[o.subset[j]], 0)]);
    },
    backward([alpha], g) {
      return [softmaxVjp(alpha, o, o.subset.map((k) => g.data[0] * o.costs[k]))];
    },
  };
}
