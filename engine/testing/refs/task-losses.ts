// Float64 references for the task losses: sigmoid focal loss, smooth L1, weighted heatmap MSE.
import { ref, type RefOp, type RefTensor } from '../reference.ts';

export type RefReduction = 'none' | 'mean' | 'sum';

/** Wraps a per-element loss l(a_i, b_i, i) with derivatives (da, db) into a RefOp with a reduction. */
function elementwiseLoss(
  name: string,
  reduction: RefReduction,
  scaleOf: (inputs: RefTensor[]) => number,
  loss: (inputs: RefTensor[], i: number) => number,
  grad: (inputs: RefTensor[], i: number) => [number, number],
  gradInputs: [boolean, boolean],
): RefOp {
  return {
    name: `${name}(${reduction})`,
    forward(inputs) {
      const values = inputs[0].data.map((_, i) => loss(inputs, i));
      if (reduction === 'none') return ref(inputs[0].shape, values);
      const scale = reduction === 'mean' ? scaleOf(inputs) : 1;
      return ref([], [values.reduce((s, v) => s + v, 0) * scale]);
    },
    backward(inputs, g) {
      const scale = reduction === 'mean' ? scaleOf(inputs) : 1;
      const gi = (i: number) => (reduction === 'none' ? g.data[i] : g.data[0] * scale);
      const ga = ref(inputs[0].shape);
      const gb = ref(inputs[0].shape);
      inputs[0].data.forEach((_, i) => {
        const [da, db] = grad(inputs, i);
        ga.data[i] = da * gi(i);
        gb.data[i] = db * gi(i);
      });
      return [gradInputs[0] ? ga : null, gradInputs[1] ? gb : null, ...inputs.slice(2).map(() => null)];
    },
  };
}

const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
const sigmoid = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/** torchvision.ops.sigmoid_focal_loss; inputs [logits, targets]. */
export function sigmoidFocalLossRef(o: { alpha: number; gamma: number; reduction: RefReduction }): RefOp {
  const parts = (x: number, t: number) => {
    const p = sigmoid(x);
    const q = sigmoid(-x);
    const ce = softplus(x) - x * t;
    const m = p * (1 - t) + q * t;
    const alphaT = o.alpha >= 0 ? o.alpha * t + (1 - o.alpha) * (1 - t) : 1;
    return { p, q, ce, m, alphaT };
  };
  return elementwiseLoss(
    `sigmoidFocalLoss(alpha ${o.alpha}, gamma ${o.gamma})`,
    o.reduction,
    ([x]) => 1 / x.data.length,
    ([x, t], i) => {
      const f = parts(x.data[i], t.data[i]);
      return f.alphaT * f.ce * f.m ** o.gamma;
    },
    ([x, t], i) => {
      const tt = t.data[i];
      const f = parts(x.data[i], tt);
      const dm = f.p * f.q * (1 - 2 * tt);
      const mPow = o.gamma === 1 ? 1 : f.m ** (o.gamma - 1);
      return [f.alphaT * ((f.p - tt) * f.m ** o.gamma + f.ce * o.gamma * mPow * dm), 0];
    },
    [true, false],
  );
}

/** torch.nn.functional.smooth_l1_loss; inputs [input, target]. */
export function smoothL1LossRef(o: { beta: number; reduction: RefReduction }): RefOp {
  return elementwiseLoss(
    `smoothL1Loss(beta ${o.beta})`,
    o.reduction,
    ([a]) => 1 / a.data.length,
    ([a, b], i) => {
      const d = a.data[i] - b.data[i];
      return Math.abs(d) < o.beta ? (0.5 * d * d) / o.beta : Math.abs(d) - 0.5 * o.beta;
    },
    ([a, b], i) => {
      const d = a.data[i] - b.data[i];
      const da = Math.abs(d) < o.beta ? d / o.beta : Math.sign(d);
      return [da, -da];
    },
    [true, true],
  );
}

/** SimpleBaseline JointsMSELoss with target weights; inputs [pred [N,K,H,W], target, weights [N,K]]. */
export const heatmapMseLossRef: RefOp = elementwiseLoss(
  'heatmapMseLoss',
  'mean',
  ([p]) => 1 / p.data.length,
  ([p, t, w], i) => {
    const hw = p.shape[2] * p.shape[3];
    const d = w.data[Math.floor(i / hw)] * (p.data[i] - t.data[i]);
    return 0.5 * d * d;
  },
  ([p, t, w], i) => {
    const hw = p.shape[2] * p.shape[3];
    const wi = w.data[Math.floor(i / hw)];
    const da = wi * wi * (p.data[i] - t.data[i]);
    return [da, -da];
  },
  [true, true],
);

/** JointsMSELoss written as the original does it, joint by joint, to pin down the normalisation. */
export function jointsMseLossLiteral(pred: RefTensor, target: RefTensor, weights: RefTensor): number {
  const [n, k, h, w] = pred.shape;
  const hw = h * w;
  let loss = 0;
  for (let j = 0; j < k; j++) {
    let sq = 0;
    for (let b = 0; b < n; b++) {
      const wt = weights.data[b * k + j];
      for (let s = 0; s < hw; s++) {
        const i = (b * k + j) * hw + s;
        sq += (pred.data[i] * wt - target.data[i] * wt) ** 2;
      }
    }
    loss += 0.5 * (sq / (n * hw));
  }
  return loss / k;
}
