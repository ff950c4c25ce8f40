// The Dense layers an imported model has after its pooled features but the arch cannot hold (nsfwjs:
// 1280 -> 256 -> 128 -> 5), as an engine Sequential of Linear + activation that outputs the logits.
import type { StateDict } from '../../engine/host.ts';
import { Lambda, Linear, ReLU, ReLU6, Sequential } from '../../engine/nn/layers.ts';
import type { DenseLayer } from './types.ts';

const HIDDEN_ACTIVATIONS: Record<string, (() => Lambda) | null> = { linear: null, relu: ReLU, relu6: ReLU6 };

/**
 * Linear layers (children "0", "2", ... with activations between) loaded with the top's weights. The last
 * layer's activation (softmax for a classifier) is left out, so the output is the logits.
 */
export function buildTop(top: readonly DenseLayer[]): Sequential {
  const modules: (Linear | Lambda)[] = [];
  const weights: StateDict = new Map();
  top.forEach((dense, i) => {
    const [out, inFeatures] = dense.weight.shape;
    weights.set(`${modules.length}.weight`, dense.weight);
    if (dense.bias) weights.set(`${modules.length}.bias`, dense.bias);
    modules.push(new Linear(inFeatures, out, { bias: dense.bias !== null }));
    if (i === top.length - 1) return;
    const activation = HIDDEN_ACTIVATIONS[dense.activation];
    if (activation === undefined) throw new Error(`buildTop: Dense "${dense.name}" has activation '${dense.activation}'; supported between layers: ${Object.keys(HIDDEN_ACTIVATIONS).join(', ')}`);
    if (activation) modules.push(activation());
  });
  const net = new Sequential(...modules);
  net.loadStateDict(weights);
  return net;
}
