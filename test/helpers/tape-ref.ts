// A tiny float64 autodiff tape over RefOps: `apply` runs an op's forward and records it; `backward` walks the
// records in reverse, feeding each op's output gradient to its VJP and summing what comes back per input.
// Tensors are identified by object, so a parameter leaf used twice (or a residual input) accumulates.
import { ref, type RefOp, type RefTensor } from '../../engine/testing/reference.ts';
import type { StateDict } from '../../engine/host.ts';
import { conv2dRef } from '../../engine/testing/refs/conv.ts';
import { addRef } from '../../engine/testing/refs/elementwise.ts';
import { crossEntropyRef } from '../../engine/testing/refs/loss.ts';
import { matmulRef } from '../../engine/testing/refs/matmul.ts';
import { reshapeRef, transposeRef } from '../../engine/testing/refs/movement.ts';
import { batchNormRef } from '../../engine/testing/refs/norm.ts';
import { globalAvgPoolRef } from '../../engine/testing/refs/pool.ts';
import { type MobileNetArch, headBlockIndex, mbconvIndexOf, mbconvLayers, sortSkips } from '../../fna/arch/index.ts';
import { convPadding } from '../../fna/models/mobilenet.ts';

interface TapeRecord {
  op: RefOp;
  inputs: RefTensor[];
  output: RefTensor;
}

export class Tape {
  readonly records: TapeRecord[] = [];

  apply(op: RefOp, inputs: RefTensor[]): RefTensor {
    const output = op.forward(inputs);
    this.records.push({ op, inputs, output });
    return output;
  }

  /** Gradients of sum(root * seed) (seed defaults to ones) for every tensor reached, keyed by tensor. */
  backward(root: RefTensor, seed?: RefTensor): Map<RefTensor, RefTensor> {
    const grads = new Map<RefTensor, RefTensor>([[root, seed ?? ref(root.shape, new Float64Array(root.data.length).fill(1))]]);
    for (let r = this.records.length - 1; r >= 0; r--) {
      const { op, inputs, output } = this.records[r];
      const g = grads.get(output);
      if (!g) continue;
      if (!op.backward) throw new Error(`tape: ${op.name} has no backward`);
      op.backward(inputs, g).forEach((gi, k) => {
        if (!gi) return;
        const acc = grads.get(inputs[k]);
        if (!acc) grads.set(inputs[k], ref(gi.shape, gi.data));
        else for (let i = 0; i < gi.data.length; i++) acc.data[i] += gi.data[i];
      });
    }
    return grads;
  }
}

export interface MobileNetTape {
  tape: Tape;
  /** One leaf per state-dict parameter used, by key. */
  leaves: Map<string, RefTensor>;
  logits: RefTensor;
  loss: RefTensor;
  /** Weight layers (convs and the classifier) on the path from input to logits. */
  depth: number;
  /** Largest number of terms any one reduction sums: conv fan-in, BN / weight-gradient / pool counts, classifier fan-in. */
  maxTerms: number;
  residuals: number;
  /** Smallest distance of any ReLU6 input (BN output) to a kink, 0 or 6, and where. */
  kink: { distance: number; at: string };
}

/**
 * MobileNetV2 in training mode ('torch' padding, batch-statistics BN, ReLU6 after the stem, expand, depthwise
 * and head BNs, residual adds, global average pool, linear classifier, mean cross-entropy) on a float64 tape,
 * from a DenseNAS-layout state dict.
 */
export function mobilenetTape(arch: MobileNetArch, sd: StateDict, input: RefTensor, labels: ArrayLike<number>): MobileNetTape {
  const tape = new Tape();
  const leaves = new Map<string, RefTensor>();
  const param = (key: string): RefTensor => {
    let leaf = leaves.get(key);
    if (!leaf) {
      const t = sd.get(key);
      if (!t) throw new Error(`mobilenetTape: no state-dict entry '${key}'`);
      leaf = ref(t.shape, t.data);
      leaves.set(key, leaf);
    }
    return leaf;
  };
  let maxTerms = 1;
  let depth = 0;
  const kink = { distance: Infinity, at: '' };
  const conv = (h: RefTensor, key: string, k: number, stride: number, dilation: number, groups: number): RefTensor => {
    const w = param(`${key}.weight`);
    const [n, c, hh, ww] = h.shape;
    const op = conv2dRef({
      batch: n, inChannels: c, outChannels: w.shape[0], groups, height: hh, width: ww, kernelH: k, kernelW: k,
      stride: [stride, stride], dilation: [dilation, dilation], padding: convPadding(k, stride, dilation, 'torch'), bias: false,
    });
    const out = tape.apply(op, [h, w]);
    maxTerms = Math.max(maxTerms, (c / groups) * k * k, n * out.shape[2] * out.shape[3]);
    depth++;
    return out;
  };
  const bn = (h: RefTensor, key: string, relu6: boolean): RefTensor => {
    maxTerms = Math.max(maxTerms, h.shape[0] * h.shape[2] * h.shape[3]);
    const inputs = [h, param(`${key}.weight`), param(`${key}.bias`)];
    if (relu6) {
      const pre = batchNormRef({ affine: true, running: false, training: true, eps: arch.bnEps }).forward(inputs);
      for (const v of pre.data) {
        const d = Math.min(Math.abs(v), Math.abs(v - 6));
        if (d < kink.distance) [kink.distance, kink.at] = [d, key];
      }
    }
    return tape.apply(batchNormRef({ affine: true, running: false, training: true, eps: arch.bnEps, relu6 }), inputs);
  };

  let h = bn(conv(input, 'blocks.0.0', 3, arch.stem.stride, 1, 1), 'blocks.0.1', true);
  let residuals = 0;
  for (const layer of mbconvLayers(sortSkips(arch))) {
    const at = (role: Parameters<typeof mbconvIndexOf>[1]) => `blocks.${layer.block}.layers.${layer.layer}.op.${mbconvIndexOf(layer.op, role)}`;
    let t = h;
    if (layer.op.expansion !== 1) t = bn(conv(t, at('expand'), 1, 1, 1, 1), at('expand_bn'), true);
    t = bn(conv(t, at('depthwise'), layer.op.kernel, layer.stride, layer.dilation, layer.hidden), at('depthwise_bn'), true);
    t = bn(conv(t, at('project'), 1, 1, 1, 1), at('project_bn'), false);
    if (layer.residual) {
      t = tape.apply(addRef, [t, h]);
      residuals++;
    }
    h = t;
  }
  if (arch.head) {
    const b = headBlockIndex(arch);
    h = bn(conv(h, `blocks.${b}.conv.0`, 1, 1, 1, 1), `blocks.${b}.conv.1`, true);
  }
  const [n, c, hh, ww] = h.shape;
  maxTerms = Math.max(maxTerms, hh * ww, c);
  const pooled = tape.apply(reshapeRef([n, c]), [tape.apply(globalAvgPoolRef, [h])]);
  const weightT = tape.apply(transposeRef(), [param('classifier.weight')]);
  const logits = tape.apply(matmulRef('cols'), [pooled, weightT, param('classifier.bias')]);
  depth++;
  const loss = tape.apply(crossEntropyRef(), [logits, ref([n], labels)]);
  return { tape, leaves, logits, loss, depth, maxTerms, residuals, kink };
}
