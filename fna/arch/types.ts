// Plain-JSON architecture descriptions. Model builders, remapping and search all read these; the state-dict
// keys they imply are enumerated in shapes.ts (MobileNetV2) and resnet.ts.
import type { DType } from '../../engine/host.ts';

/** One MobileNetV2 stage (a DenseNAS "Block"): the first layer carries the stride and channel change. */
export interface Stage {
  in: number;
  out: number;
  stride: number;
  /** Base dilation of the stage's depthwise convs (default 1); output-stride conversion multiplies it. */
  dilation?: number;
  /** `k{odd}_e{int}` MBConv ops or `skip`; the first op of a stage cannot be `skip`. */
  ops: string[];
}

export type OutputStride = 32 | 16 | 8;

export interface MobileNetArch {
  kind: 'mobilenetv2';
  inputChannels: number;
  stem: { out: number; stride: number };
  /** stages[0] is the fixed first block (`k3_e1` in MobileNetV2), state-dict block 1. */
  stages: Stage[];
  /** Final 1x1 conv + BN (block numStages+1), or none (detection / segmentation backbones). */
  head: { out: number } | null;
  numClasses: number | null;
  /** DeepLab-style: once the running stride reaches it, later strides become 1 and dilation grows instead. */
  outputStride?: OutputStride;
  bnEps: number;
}

export interface ResNetStage {
  in: number;
  out: number;
  stride: number;
  blocks: number;
  /** Groups of the k x k convs (ResNeXt-style); default 1. */
  groups?: number;
  /** Inner width of a block; default out/4 (bottleneck) or out (basic). */
  width?: number;
  /** Kernel size of the k x k convs; default 3. */
  kernel?: number;
}

export interface ResNetArch {
  kind: 'resnet';
  block: 'basic' | 'bottleneck';
  inputChannels: number;
  /** conv k x k / stride, BN, ReLU, then a 3x3 stride-2 max pool when maxPool is set. */
  stem: { out: number; kernel: number; stride: number; maxPool: boolean };
  stages: ResNetStage[];
  numClasses: number | null;
  bnEps: number;
}

export type Arch = MobileNetArch | ResNetArch;

/** One searchable MobileNetV2 stage of a super network: candidates per layer, skip only in normal layers. */
export interface SearchStage {
  layers: number;
  reduceOps: string[];
  normalOps: string[];
}

/** Search space over stages 1..n-1 of a base arch (stage 0, the fixed first block, is not searched). */
export interface SearchSpace {
  name: string;
  stages: SearchStage[];
}

/** A super network: channels, strides, stem, first block and head from `base`, layers from `space`. */
export interface SuperNetArch {
  kind: 'mobilenetv2-super';
  base: MobileNetArch;
  space: SearchSpace;
}

export type AnyArch = Arch | SuperNetArch;

export type StateDictMode = 'seed' | 'target' | 'super';

export type InitKind = 'conv' | 'bn_weight' | 'bn_bias' | 'bn_mean' | 'bn_var' | 'count' | 'linear';

export interface TensorSpec {
  shape: number[];
  dtype: DType;
  init: InitKind;
}

/** Ordered like the PyTorch module's state_dict(). */
export type StateDictShapes = Map<string, TensorSpec>;

/** An invalid architecture (or search space); `field` is the JSON path of the offending value. */
export class ArchError extends Error {
  constructor(readonly field: string, problem: string) {
    super(`${field}: ${problem}`);
    this.name = 'ArchError';
  }
}
