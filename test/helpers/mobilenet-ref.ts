// Float64 eval-mode forward of a MobileNetArch from a state dict (DenseNAS layout): what "the network's
// function" means in the whole-network preservation test.
import type { StateDict } from '../../engine/host.ts';
import { type MobileNetArch, headBlockIndex, mbconvIndexOf, mbconvLayers } from '../../fna/arch/index.ts';
import { type Tensor64, conv2dRef, tensor64 } from './conv-ref.ts';

function param(sd: StateDict, key: string): Float32Array | Int32Array {
  const t = sd.get(key);
  if (!t) throw new Error(`mobilenet-ref: no tensor '${key}'`);
  return t.data;
}

function batchNorm(x: Tensor64, sd: StateDict, prefix: string, eps: number): Tensor64 {
  const [n, c, h, w] = x.shape;
  const gamma = param(sd, `${prefix}.weight`);
  const beta = param(sd, `${prefix}.bias`);
  const mean = param(sd, `${prefix}.running_mean`);
  const variance = param(sd, `${prefix}.running_var`);
  const out = tensor64(x.shape);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const scale = gamma[ch] / Math.sqrt(variance[ch] + eps);
      const base = (b * c + ch) * h * w;
      for (let i = 0; i < h * w; i++) out.data[base + i] = (x.data[base + i] - mean[ch]) * scale + beta[ch];
    }
  }
  return out;
}

function relu6(x: Tensor64): Tensor64 {
  return { shape: x.shape, data: x.data.map((v) => Math.min(6, Math.max(0, v))) };
}

function conv(x: Tensor64, sd: StateDict, key: string, params: Parameters<typeof conv2dRef>[2]): Tensor64 {
  const t = sd.get(key);
  if (!t) throw new Error(`mobilenet-ref: no tensor '${key}'`);
  return conv2dRef(x, t, params);
}

/** Logits [N, numClasses] (or the pooled features when the arch has no classifier). */
export function mobilenetForward(arch: MobileNetArch, sd: StateDict, input: Tensor64): Float64Array {
  const eps = arch.bnEps;
  let x = relu6(batchNorm(conv(input, sd, 'blocks.0.0.weight', { stride: arch.stem.stride, padding: 1 }), sd, 'blocks.0.1', eps));
  for (const layer of mbconvLayers(arch)) {
    const p = `blocks.${layer.block}.layers.${layer.layer}.op`;
    const at = (role: Parameters<typeof mbconvIndexOf>[1]) => `${p}.${mbconvIndexOf(layer.op, role)}`;
    let h = x;
    if (layer.op.expansion !== 1) h = relu6(batchNorm(conv(h, sd, `${at('expand')}.weight`, {}), sd, at('expand_bn'), eps));
    const d = layer.dilation;
    h = conv(h, sd, `${at('depthwise')}.weight`, {
      stride: layer.stride, dilation: d, padding: ((layer.op.kernel - 1) * d) / 2, groups: layer.hidden,
    });
    h = relu6(batchNorm(h, sd, at('depthwise_bn'), eps));
    h = batchNorm(conv(h, sd, `${at('project')}.weight`, {}), sd, at('project_bn'), eps);
    if (layer.residual) h = { shape: h.shape, data: h.data.map((v, i) => v + x.data[i]) };
    x = h;
  }
  if (arch.head) {
    const b = headBlockIndex(arch);
    x = relu6(batchNorm(conv(x, sd, `blocks.${b}.conv.0.weight`, {}), sd, `blocks.${b}.conv.1`, eps));
  }
  const [n, c, h, w] = x.shape;
  const pooled = new Float64Array(n * c);
  for (let i = 0; i < n * c; i++) {
    let s = 0;
    for (let j = 0; j < h * w; j++) s += x.data[i * h * w + j];
    pooled[i] = s / (h * w);
  }
  if (arch.numClasses === null) return pooled;
  const weight = param(sd, 'classifier.weight');
  const bias = param(sd, 'classifier.bias');
  const logits = new Float64Array(n * arch.numClasses);
  for (let b = 0; b < n; b++) {
    for (let k = 0; k < arch.numClasses; k++) {
      let s = bias[k];
      for (let i = 0; i < c; i++) s += weight[k * c + i] * pooled[b * c + i];
      logits[b * arch.numClasses + k] = s;
    }
  }
  return logits;
}
