// Reading single Keras layers: conv geometry and padding, BatchNormalization, ReLU6, and their weights
// converted to our layouts.
import { type HostTensor, hostTensor, shapeString } from '../../engine/host.ts';
import type { BatchNormParams } from './densenas.ts';
import type { KerasGraph, KerasLayer } from './keras-graph.ts';
import { kerasConvToOIHW, kerasDenseToLinear, kerasDepthwiseToOIHW } from './layout.ts';

export type PaddingMode = 'torch' | 'keras';
type Pad = [number, number, number, number];

export interface ConvGeometry {
  kernel: number;
  stride: number;
  /** Output channels of a Conv2D; null for a DepthwiseConv2D (it keeps its input's channels). */
  filters: number | null;
  /** Total padding [top, bottom, left, right]: preceding ZeroPadding2D layers plus the conv's own 'same'. */
  pad: Pad;
  /** The layer whose output the conv reads (padding layers skipped). */
  producer: KerasLayer;
}

function square(layer: KerasLayer, field: string, fail: (p: string) => never): number {
  const v = layer.config[field];
  const pair = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(pair) || pair.length !== 2 || pair[0] !== pair[1] || !Number.isInteger(pair[0])) {
    return fail(`${layer.className} "${layer.name}": ${field} ${JSON.stringify(v)} is not square; only square kernels and strides are supported`);
  }
  return pair[0];
}

/** TensorFlow's 'same' padding for an input whose size the stride divides (what Keras MobileNetV2 assumes). */
function samePadding(kernel: number, stride: number): Pad {
  const total = Math.max(kernel - stride, 0);
  const before = total >> 1;
  return [before, total - before, before, total - before];
}

export function convGeometry(graph: KerasGraph, layer: KerasLayer): ConvGeometry {
  const { config } = layer;
  const where = `${layer.className} "${layer.name}"`;
  if ((config.data_format ?? 'channels_last') !== 'channels_last') graph.fail(`${where}: data_format ${config.data_format} is not supported`);
  if (square(layer, 'dilation_rate', graph.fail) !== 1) graph.fail(`${where}: dilated convs are not supported`);
  if (config.use_bias === true) graph.fail(`${where}: has a bias; MobileNetV2 convs have none (BN follows)`);
  if ((config.activation ?? 'linear') !== 'linear') graph.fail(`${where}: fused activation '${config.activation}' is not supported`);
  if (layer.className === 'DepthwiseConv2D' && (config.depth_multiplier ?? 1) !== 1) {
    graph.fail(`${where}: depth_multiplier ${config.depth_multiplier}; MBConv depthwise convs use 1`);
  }
  const kernel = square(layer, 'kernel_size', graph.fail);
  const stride = square(layer, 'strides', graph.fail);
  const { producer, pad } = graph.inputThroughPadding(layer);
  if (config.padding === 'same') samePadding(kernel, stride).forEach((p, i) => (pad[i] += p));
  else if (config.padding !== 'valid') graph.fail(`${where}: unknown padding ${JSON.stringify(config.padding)}`);
  const filters = layer.className === 'Conv2D' ? (config.filters as number) : null;
  return { kernel, stride, filters, pad, producer };
}

/**
 * What MobileNetV2's `padding` build option gives a k x k conv (fna/models/mobilenet.ts convPadding; kept
 * here so importing needs no GPU code, and checked equal to it in test/seed-import.test.ts).
 */
export function builtPadding(kernel: number, stride: number, mode: PaddingMode): Pad {
  const total = mode === 'keras' && stride > 1 ? Math.max(kernel - stride, 0) : kernel - 1;
  return [total >> 1, total - (total >> 1), total >> 1, total - (total >> 1)];
}

/** Which of our build options pads this conv the same way. */
export function matchingPaddingModes(g: Pick<ConvGeometry, 'kernel' | 'stride' | 'pad'>): PaddingMode[] {
  return (['keras', 'torch'] as const).filter((mode) => builtPadding(g.kernel, g.stride, mode).every((p, i) => p === g.pad[i]));
}

export function isRelu6(layer: KerasLayer): boolean {
  const c = layer.config;
  if (layer.className === 'Activation') return c.activation === 'relu6';
  return layer.className === 'ReLU' && c.max_value === 6 && (c.negative_slope ?? 0) === 0 && (c.threshold ?? 0) === 0;
}

export function batchNormEpsilon(graph: KerasGraph, layer: KerasLayer): number {
  const axis = layer.config.axis;
  const a = Array.isArray(axis) && axis.length === 1 ? axis[0] : axis;
  if (a !== -1 && a !== 3) graph.fail(`BatchNormalization "${layer.name}": axis ${JSON.stringify(axis)} is not the channel axis (-1 or 3)`);
  return typeof layer.config.epsilon === 'number' ? layer.config.epsilon : 1e-3;
}

/** The decoded weights of a model, looked up as "<layer>/<weight>" (also with a ":0" suffix or a scope prefix). */
export class KerasWeights {
  readonly used = new Set<string>();
  constructor(private readonly tensors: Map<string, HostTensor>, private readonly fail: (p: string) => never) {}

  find(layer: string, weight: string): HostTensor | null {
    const exact = [`${layer}/${weight}`, `${layer}/${weight}:0`];
    let name = exact.find((n) => this.tensors.has(n));
    name ??= [...this.tensors.keys()].find((n) => exact.some((e) => n.endsWith(`/${e}`)));
    if (!name) return null;
    this.used.add(name);
    return this.tensors.get(name)!;
  }

  get(layer: string, weight: string, shape: readonly number[]): HostTensor {
    const t = this.find(layer, weight) ?? this.fail(`the weights have no "${layer}/${weight}"`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      this.fail(`weight "${layer}/${weight}" has shape ${shapeString(t.shape)}, the topology implies ${shapeString(shape)}`);
    }
    return t;
  }

  conv(layer: KerasLayer, g: ConvGeometry, inChannels: number): HostTensor {
    if (layer.className === 'DepthwiseConv2D') return kerasDepthwiseToOIHW(this.get(layer.name, 'depthwise_kernel', [g.kernel, g.kernel, inChannels, 1]));
    return kerasConvToOIHW(this.get(layer.name, 'kernel', [g.kernel, g.kernel, inChannels, g.filters!]));
  }

  batchNorm(layer: KerasLayer, channels: number): BatchNormParams {
    const shape = [channels];
    const optional = (weight: string, flag: string, fill: number) =>
      layer.config[flag] === false ? hostTensor(shape, new Float32Array(channels).fill(fill)) : this.get(layer.name, weight, shape);
    return {
      weight: optional('gamma', 'scale', 1),
      bias: optional('beta', 'center', 0),
      runningMean: this.get(layer.name, 'moving_mean', shape),
      runningVar: this.get(layer.name, 'moving_variance', shape),
    };
  }

  dense(layer: KerasLayer, inFeatures: number): { weight: HostTensor; bias: HostTensor | null } {
    const units = layer.config.units as number;
    const weight = kerasDenseToLinear(this.get(layer.name, 'kernel', [inFeatures, units]));
    const bias = layer.config.use_bias === false ? null : this.get(layer.name, 'bias', [units]);
    return { weight, bias };
  }

  unused(): string[] {
    return [...this.tensors.keys()].filter((n) => !this.used.has(n));
  }
}
