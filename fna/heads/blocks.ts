// Conv + BN + activation, the unit every head is built from.
import { relu, relu6 } from '../../engine/ops/arithmetic.ts';
import { BatchNorm2d, Conv2d, type Conv2dConfig } from '../../engine/nn/conv.ts';
import { Module } from '../../engine/nn/module.ts';
import type { Tensor } from '../../engine/tensor.ts';

export type Activation = 'relu' | 'relu6' | 'none';

export class ConvBnAct extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;
  constructor(
    inChannels: number,
    outChannels: number,
    cfg: Conv2dConfig,
    readonly activation: Activation = 'relu',
    bnEps = 1e-5,
  ) {
    super();
    this.conv = this.child('conv', new Conv2d(inChannels, outChannels, { init: 'kaiming_fan_out', ...cfg, bias: false }));
    this.bn = this.child('bn', new BatchNorm2d(outChannels, { eps: bnEps }));
  }

  forward(x: Tensor): Tensor {
    const c = this.conv.forward(x);
    const b = this.bn.forward(c);
    c.dispose();
    if (this.activation === 'none') return b;
    const a = this.activation === 'relu' ? relu(b) : relu6(b);
    b.dispose();
    return a;
  }
}

/** Depthwise k x k (BN, act) then pointwise 1x1 (BN, act): MobileNet's separable conv. */
export class SeparableConvBnAct extends Module {
  readonly depthwise: ConvBnAct;
  readonly pointwise: ConvBnAct;
  constructor(inChannels: number, outChannels: number, kernel: number, opts: { stride?: number; dilation?: number; activation?: Activation; bnEps?: number } = {}) {
    super();
    const d = opts.dilation ?? 1;
    const act = opts.activation ?? 'relu';
    this.depthwise = this.child(
      'depthwise',
      new ConvBnAct(inChannels, inChannels, { kernel, stride: opts.stride ?? 1, dilation: d, padding: ((kernel - 1) * d) >> 1, groups: inChannels }, act, opts.bnEps),
    );
    this.pointwise = this.child('pointwise', new ConvBnAct(inChannels, outChannels, { kernel: 1, padding: 0 }, act, opts.bnEps));
  }

  forward(x: Tensor): Tensor {
    const h = this.depthwise.forward(x);
    const y = this.pointwise.forward(h);
    h.dispose();
    return y;
  }
}
