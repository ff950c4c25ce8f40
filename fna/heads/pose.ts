// SimpleBaseline pose head: transposed convolutions (4x4, stride 2) with BN + ReLU that take the
// backbone's stride-32 features up to stride 4, then a 1x1 conv to one heatmap per keypoint.
// Targets are Gaussians (sigma in heatmap pixels) at the keypoints; decoding takes each heatmap's argmax
// and shifts it a quarter pixel toward the higher neighbour, as SimpleBaseline does.
import { relu } from '../../engine/ops/arithmetic.ts';
import { convTranspose2d } from '../../engine/ops/conv.ts';
import { BatchNorm2d, Conv2d } from '../../engine/nn/conv.ts';
import { defaultWeight, initRng } from '../../engine/nn/init.ts';
import { Module } from '../../engine/nn/module.ts';
import type { Tensor } from '../../engine/tensor.ts';

export interface PoseHeadOptions {
  inChannels: number;
  numKeypoints: number;
  /** Width of each deconvolution layer; 256 in SimpleBaseline. */
  channels?: number;
  /** Number of 2x deconvolution layers (3 takes stride 32 to stride 4). */
  layers?: number;
}

class Deconv extends Module {
  readonly weight: Tensor;
  readonly bn: BatchNorm2d;
  constructor(inC: number, outC: number) {
    super();
    // ConvTranspose2d weight layout [in, out, kh, kw], as PyTorch.
    this.weight = this.param('weight', defaultWeight([inC, outC, 4, 4], initRng()));
    this.bn = this.child('bn', new BatchNorm2d(outC));
  }
  forward(x: Tensor): Tensor {
    const up = convTranspose2d(x, this.weight, null, { stride: 2, padding: 1 });
    const b = this.bn.forward(up);
    up.dispose();
    const y = relu(b);
    b.dispose();
    return y;
  }
}

export class SimpleBaselineHead extends Module {
  readonly deconvs: Deconv[];
  readonly final: Conv2d;
  constructor(readonly o: PoseHeadOptions) {
    super();
    const c = o.channels ?? 256;
    let inC = o.inChannels;
    this.deconvs = Array.from({ length: o.layers ?? 3 }, (_, i) => {
      const d = this.child(`deconv.${i}`, new Deconv(inC, c));
      inC = c;
      return d;
    });
    this.final = this.child('final', new Conv2d(c, o.numKeypoints, { kernel: 1, padding: 0, bias: true }));
  }

  forward(x: Tensor): Tensor {
    let h = x;
    for (const d of this.deconvs) {
      const next = d.forward(h);
      if (h !== x) h.dispose();
      h = next;
    }
    const out = this.final.forward(h);
    if (h !== x) h.dispose();
    return out;
  }
}

/** Gaussian heatmaps [K, H, W] for keypoints given in input pixels; invisible joints get weight 0. */
export function heatmapTargets(
  keypoints: ArrayLike<number>,
  visible: ArrayLike<number>,
  numKeypoints: number,
  heatmapSize: [number, number],
  stride: number,
  sigma = 2,
): { heatmaps: Float32Array; weights: Float32Array } {
  const [H, W] = heatmapSize;
  const heatmaps = new Float32Array(numKeypoints * H * W);
  const weights = new Float32Array(numKeypoints);
  for (let k = 0; k < numKeypoints; k++) {
    // keypoints are continuous pixel coordinates; heatmap cell (i, j) is centred at ((j + 0.5) * stride, ...)
    const cx = keypoints[2 * k] / stride - 0.5;
    const cy = keypoints[2 * k + 1] / stride - 0.5;
    if (!visible[k] || cx < -0.5 || cy < -0.5 || cx > W - 0.5 || cy > H - 0.5) continue;
    weights[k] = 1;
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) {
        heatmaps[(k * H + i) * W + j] = Math.exp(-((j - cx) ** 2 + (i - cy) ** 2) / (2 * sigma * sigma));
      }
    }
  }
  return { heatmaps, weights };
}

/** Keypoints [K, 2] in input pixels from heatmaps [K, H, W] (argmax + quarter-pixel shift). */
export function decodeHeatmaps(heatmaps: ArrayLike<number>, numKeypoints: number, heatmapSize: [number, number], stride: number): Float32Array {
  const [H, W] = heatmapSize;
  const out = new Float32Array(numKeypoints * 2);
  for (let k = 0; k < numKeypoints; k++) {
    const base = k * H * W;
    let best = 0;
    for (let p = 1; p < H * W; p++) if (heatmaps[base + p] > heatmaps[base + best]) best = p;
    const y = Math.floor(best / W);
    const x = best % W;
    const at = (i: number, j: number) => heatmaps[base + i * W + j];
    let fx = x;
    let fy = y;
    if (x > 0 && x < W - 1) fx += 0.25 * Math.sign(at(y, x + 1) - at(y, x - 1));
    if (y > 0 && y < H - 1) fy += 0.25 * Math.sign(at(y + 1, x) - at(y - 1, x));
    out[2 * k] = (fx + 0.5) * stride;
    out[2 * k + 1] = (fy + 0.5) * stride;
  }
  return out;
}
