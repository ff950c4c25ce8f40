// Conv2d and BatchNorm2d modules over the conv and batch-norm ops. State-dict names follow PyTorch:
// weight, bias; BN: weight, bias, running_mean, running_var, num_batches_tracked.
import { conv2d, type Conv2dOptions } from '../ops/conv.ts';
import { batchNorm2d } from '../ops/norm.ts';
import { fromArray, ones, zeros } from '../ops/creation.ts';
import { shapeString, type StateDict } from '../host.ts';
import { runtime } from '../runtime.ts';
import type { Tensor } from '../tensor.ts';
import { defaultWeight, HostRng, initRng, kaimingNormalFanOut, uniformTensor } from './init.ts';
import { Module } from './module.ts';

export interface Conv2dConfig {
  kernel: number | [number, number];
  stride?: number | [number, number];
  /** number, [ph, pw], or [top, bottom, left, right]; default 'same'-style (k-1)*d/2 for odd k. */
  padding?: number | [number, number] | [number, number, number, number];
  dilation?: number | [number, number];
  groups?: number;
  bias?: boolean;
  init?: 'default' | 'kaiming_fan_out';
  rng?: HostRng;
}

const pair = (v: number | [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : v);

export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly options: Conv2dOptions;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    cfg: Conv2dConfig,
  ) {
    super();
    const [kh, kw] = pair(cfg.kernel);
    const groups = cfg.groups ?? 1;
    const dilation = pair(cfg.dilation ?? 1);
    if (inChannels % groups || outChannels % groups) {
      throw new Error(`Conv2d(${inChannels}, ${outChannels}): channels must be divisible by groups ${groups}`);
    }
    const rng = cfg.rng ?? initRng();
    const shape = [outChannels, inChannels / groups, kh, kw];
    this.weight = this.param('weight', cfg.init === 'kaiming_fan_out' ? kaimingNormalFanOut(shape, rng) : defaultWeight(shape, rng));
    const fan = (inChannels / groups) * kh * kw;
    this.bias = this.param('bias', cfg.bias ? (cfg.init === 'kaiming_fan_out' ? zeros([outChannels]) : uniformTensor([outChannels], 1 / Math.sqrt(fan), rng)) : null);
    const padding = cfg.padding ?? [((kh - 1) * dilation[0]) >> 1, ((kw - 1) * dilation[1]) >> 1];
    this.options = { stride: pair(cfg.stride ?? 1), padding, dilation, groups };
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, this.options);
  }
}

export interface BatchNormConfig {
  eps?: number;
  momentum?: number;
  affine?: boolean;
  trackRunningStats?: boolean;
}

export class BatchNorm2d extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor | null;
  readonly runningVar: Tensor | null;
  readonly numBatchesTracked: Tensor | null;
  readonly eps: number;
  readonly momentum: number;
  private batches = 0;
  constructor(
    readonly channels: number,
    cfg: BatchNormConfig = {},
  ) {
    super();
    this.eps = cfg.eps ?? 1e-5;
    this.momentum = cfg.momentum ?? 0.1;
    const affine = cfg.affine ?? true;
    const track = cfg.trackRunningStats ?? true;
    this.weight = this.param('weight', affine ? ones([channels]) : null);
    this.bias = this.param('bias', affine ? zeros([channels]) : null);
    this.runningMean = this.buffer('running_mean', track ? zeros([channels]) : null);
    this.runningVar = this.buffer('running_var', track ? ones([channels]) : null);
    this.numBatchesTracked = this.buffer('num_batches_tracked', track ? fromArray([0], [], { dtype: 'int32' }) : null);
  }

  /** `activation: 'relu6'` fuses ReLU6 into the normalisation (one pass instead of two, both ways). */
  forward(x: Tensor, activation: 'none' | 'relu6' = 'none'): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.channels) {
      throw new Error(`BatchNorm2d(${this.channels}): input ${shapeString(x.shape)} is not [N, ${this.channels}, H, W]`);
    }
    // Untracked BN (the FNA super network's) normalises with batch statistics in eval mode too.
    const useBatchStats = this.training || !this.runningMean;
    if (this.training && this.numBatchesTracked) {
      this.batches++;
      runtime().queue.write(this.numBatchesTracked.storage, 0, Int32Array.of(this.batches));
    }
    return batchNorm2d(x, {
      weight: this.weight ?? undefined,
      bias: this.bias ?? undefined,
      runningMean: this.runningMean ?? undefined,
      runningVar: this.runningVar ?? undefined,
      training: useBatchStats,
      momentum: this.momentum,
      eps: this.eps,
      activation,
    });
  }

  get batchesTracked(): number {
    return this.batches;
  }

  protected override afterLoad(sd: StateDict, prefix: string): void {
    const n = sd.get(`${prefix}num_batches_tracked`);
    if (n) this.batches = n.data[0];
  }
}
