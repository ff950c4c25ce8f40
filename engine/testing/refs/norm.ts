// Float64 reference for batchNorm2d (NCHW): forward, vector-Jacobian product, running-buffer update.
import { ref, type RefOp, type RefTensor } from '../reference.ts';

export interface BatchNormRefOptions {
  affine: boolean;
  /** Running buffers follow the affine parameters in the inputs: [x, (weight, bias), (runningMean, runningVar)]. */
  running: boolean;
  training: boolean;
  eps: number;
  relu6?: boolean;
}

interface ChannelStats {
  mean: Float64Array;
  invstd: Float64Array;
  /** Biased variance (batch statistics) or the running variance. */
  variance: Float64Array;
}

function forEachInChannel(x: RefTensor, c: number, fn: (i: number) => void): void {
  const [n, channels, h, w] = x.shape;
  const hw = h * w;
  for (let b = 0; b < n; b++) for (let s = 0; s < hw; s++) fn((b * channels + c) * hw + s);
}

export function batchStatistics(x: RefTensor, eps: number): ChannelStats {
  const [n, channels, h, w] = x.shape;
  const count = n * h * w;
  const mean = new Float64Array(channels);
  const variance = new Float64Array(channels);
  const invstd = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    let sum = 0;
    forEachInChannel(x, c, (i) => (sum += x.data[i]));
    mean[c] = sum / count;
    let dev = 0;
    forEachInChannel(x, c, (i) => (dev += (x.data[i] - mean[c]) ** 2));
    variance[c] = dev / count;
    invstd[c] = 1 / Math.sqrt(variance[c] + eps);
  }
  return { mean, invstd, variance };
}

function split(inputs: RefTensor[], o: BatchNormRefOptions) {
  const x = inputs[0];
  const channels = x.shape[1];
  const weight = o.affine ? inputs[1].data : new Float64Array(channels).fill(1);
  const bias = o.affine ? inputs[2].data : new Float64Array(channels);
  const at = o.affine ? 3 : 1;
  const running = o.running ? { mean: inputs[at].data, variance: inputs[at + 1].data } : null;
  const useBatch = o.training || !running;
  const stats: ChannelStats = useBatch
    ? batchStatistics(x, o.eps)
    : {
        mean: Float64Array.from(running!.mean),
        variance: Float64Array.from(running!.variance),
        invstd: running!.variance.map((v) => 1 / Math.sqrt(v + o.eps)),
      };
  return { x, weight, bias, stats, useBatch, channels };
}

export function batchNormRef(o: BatchNormRefOptions): RefOp {
  return {
    name: `batchNorm2d(${o.training ? 'train' : 'eval'}${o.affine ? ', affine' : ''}${o.running ? ', running' : ''}${o.relu6 ? ', relu6' : ''})`,
    forward(inputs) {
      const { x, weight, bias, stats, channels } = split(inputs, o);
      const y = ref(x.shape);
      for (let c = 0; c < channels; c++) {
        forEachInChannel(x, c, (i) => {
          const v = (x.data[i] - stats.mean[c]) * stats.invstd[c] * weight[c] + bias[c];
          y.data[i] = o.relu6 ? Math.min(Math.max(v, 0), 6) : v;
        });
      }
      return y;
    },
    backward(inputs, gOut) {
      const { x, weight, bias, stats, useBatch, channels } = split(inputs, o);
      const [n, , h, w] = x.shape;
      const count = n * h * w;
      const dx = ref(x.shape);
      const dweight = ref([channels]);
      const dbias = ref([channels]);
      for (let c = 0; c < channels; c++) {
        const xhat = (i: number) => (x.data[i] - stats.mean[c]) * stats.invstd[c];
        const masked = (i: number) => {
          if (!o.relu6) return gOut.data[i];
          const v = xhat(i) * weight[c] + bias[c];
          return v > 0 && v < 6 ? gOut.data[i] : 0;
        };
        let sumG = 0;
        let sumGx = 0;
        forEachInChannel(x, c, (i) => {
          sumG += masked(i);
          sumGx += masked(i) * xhat(i);
        });
        dbias.data[c] = sumG;
        dweight.data[c] = sumGx;
        const scale = weight[c] * stats.invstd[c];
        forEachInChannel(x, c, (i) => {
          dx.data[i] = useBatch ? scale * (masked(i) - sumG / count - (xhat(i) * sumGx) / count) : scale * masked(i);
        });
      }
      const grads: (RefTensor | null)[] = [dx];
      if (o.affine) grads.push(dweight, dbias);
      if (o.running) grads.push(null, null);
      return grads;
    },
  };
}

/** Running buffers after one training step: (1 - momentum) r + momentum * stat, with the unbiased variance. */
export function batchNormRunningUpdateRef(
  x: RefTensor,
  runningMean: RefTensor,
  runningVar: RefTensor,
  momentum: number,
): { mean: Float64Array; variance: Float64Array } {
  const [n, , h, w] = x.shape;
  const count = n * h * w;
  const s = batchStatistics(x, 0);
  return {
    mean: runningMean.data.map((r, c) => (1 - momentum) * r + momentum * s.mean[c]),
    variance: runningVar.data.map((r, c) => (1 - momentum) * r + (momentum * s.variance[c] * count) / (count - 1)),
  };
}
