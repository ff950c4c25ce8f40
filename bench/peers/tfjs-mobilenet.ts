// MobileNetV2 in tfjs ops, built from the same arch spec as fna/models/mobilenet.ts (same layers, channels,
// strides and padding), in NHWC, with a training step: batch-statistics BN (tf.moments + tf.batchNorm),
// ReLU6, softmax cross-entropy, SGD with momentum through optimizer.minimize. Running BN statistics are
// not tracked (ours updates them in the same BN dispatch), which only makes the tfjs step cheaper.
import type { Tensor, Tensor1D, Tensor2D, Tensor4D, Variable } from '@tensorflow/tfjs';
import { mbconvLayers } from '../../fna/arch/mobilenet.ts';
import type { MobileNetArch } from '../../fna/arch/types.ts';
import { noise } from '../compare.ts';
import type { TfModule } from './tfjs.ts';

interface ConvBn {
  w: Variable;
  gamma: Variable;
  beta: Variable;
  stride: number;
  pad: number;
  depthwise: boolean;
}

interface Block {
  expand: ConvBn | null;
  depthwise: ConvBn;
  project: ConvBn;
  residual: boolean;
}

export interface TfjsTrainer {
  /** One SGD step on the fixed batch. */
  step(): void;
  parameterCount: number;
  dispose(): void;
}

export function tfjsMobileNetV2(tf: TfModule, arch: MobileNetArch, batch: number, size: number): TfjsTrainer {
  let seed = 10;
  const vars: Variable[] = [];
  const variable = (init: Tensor) => {
    const v = tf.variable(init);
    vars.push(v);
    return v;
  };
  const scaledNoise = (shape: number[], std: number) => variable(tf.tidy(() => tf.mul(tf.tensor(noise(shape.reduce((a, b) => a * b, 1), seed++), shape), std)));
  const convBn = (cin: number, cout: number, k: number, stride: number, depthwise = false): ConvBn => ({
    w: scaledNoise(depthwise ? [k, k, cin, 1] : [k, k, cin, cout], Math.sqrt(6 / (k * k * (depthwise ? 1 : cout)))),
    gamma: variable(tf.ones([cout])),
    beta: variable(tf.zeros([cout])),
    stride,
    pad: (k - 1) >> 1,
    depthwise,
  });
  const stem = convBn(arch.inputChannels, arch.stem.out, 3, arch.stem.stride);
  const blocks: Block[] = mbconvLayers(arch).map((l) => ({
    expand: l.op.expansion === 1 ? null : convBn(l.in, l.hidden, 1, 1),
    depthwise: convBn(l.hidden, l.hidden, l.op.kernel, l.stride, true),
    project: convBn(l.hidden, l.out, 1, 1),
    residual: l.residual,
  }));
  const last = arch.stages[arch.stages.length - 1].out;
  const headOut = arch.head?.out ?? last;
  const head = arch.head ? convBn(last, headOut, 1, 1) : null;
  const classes = arch.numClasses ?? 10;
  const fcW = scaledNoise([headOut, classes], Math.sqrt(3 / headOut));
  const fcB = variable(tf.zeros([classes]));

  const x = tf.tensor(noise(batch * size * size * arch.inputChannels, 1), [batch, size, size, arch.inputChannels]) as Tensor4D;
  const labels = tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => i % classes), 'int32'), classes);

  const apply = (h: Tensor4D, layer: ConvBn, relu6: boolean): Tensor4D => {
    const conv = layer.depthwise
      ? tf.depthwiseConv2d(h, layer.w as Tensor4D, layer.stride, layer.pad)
      : tf.conv2d(h, layer.w as Tensor4D, layer.stride, layer.pad);
    const { mean, variance } = tf.moments(conv, [0, 1, 2]);
    const y = tf.batchNorm4d(conv, mean as Tensor1D, variance as Tensor1D, layer.beta as Tensor1D, layer.gamma as Tensor1D, arch.bnEps);
    return relu6 ? tf.relu6(y) : y;
  };
  const loss = (): Tensor => {
    let h = apply(x, stem, true);
    for (const b of blocks) {
      const input = h;
      if (b.expand) h = apply(h, b.expand, true);
      h = apply(h, b.depthwise, true);
      h = apply(h, b.project, false);
      if (b.residual) h = tf.add(h, input);
    }
    if (head) h = apply(h, head, true);
    const pooled = tf.mean(h, [1, 2]) as Tensor2D;
    const logits = tf.add(tf.matMul(pooled, fcW as Tensor2D), fcB);
    return tf.losses.softmaxCrossEntropy(labels, logits);
  };
  const optimizer = tf.train.momentum(0.01, 0.9);
  return {
    step: () => {
      optimizer.minimize(loss as () => ReturnType<typeof tf.scalar>, false, vars);
    },
    parameterCount: vars.reduce((s, v) => s + v.size, 0),
    dispose: () => {
      optimizer.dispose();
      tf.dispose([...vars, x, labels]);
    },
  };
}
