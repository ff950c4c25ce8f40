// SSDLite detector head (fna-spec §4): extra layers (1x1 conv, then a stride-2 depthwise-separable conv),
// and per level a light head (depthwise 3x3 + BN + ReLU6, then a 1x1 conv) for class logits and box
// regression. Trained with sigmoid focal loss on classes and smooth-L1 on positives, both normalised by
// the number of positive anchors. Our small tasks feed it backbone stage outputs (the published model taps
// block 6's expanded 576-channel map; see docs/fna.md).
import { fromArray } from '../../engine/ops/creation.ts';
import { add, mul, mulScalar } from '../../engine/ops/arithmetic.ts';
import { concat } from '../../engine/ops/indexing.ts';
import { permute, reshape } from '../../engine/ops/movement.ts';
import { sum } from '../../engine/ops/reduce.ts';
import { sigmoidFocalLoss, smoothL1Loss } from '../../engine/ops/task-losses.ts';
import { Conv2d } from '../../engine/nn/conv.ts';
import { Module } from '../../engine/nn/module.ts';
import type { Tensor } from '../../engine/tensor.ts';
import type { MatchResult } from './anchors.ts';
import { ConvBnAct, SeparableConvBnAct } from './blocks.ts';

export interface SSDLiteOptions {
  /** Channels of the backbone feature maps fed to the head, finest first. */
  inChannels: number[];
  numClasses: number;
  anchorsPerPosition: number;
  /** Output channels of extra stride-2 layers appended after the last feature map. */
  extraChannels?: number[];
  bnEps?: number;
}

class LightHead extends Module {
  readonly dw: ConvBnAct;
  readonly pw: Conv2d;
  constructor(inC: number, outC: number, eps: number) {
    super();
    this.dw = this.child('0', new ConvBnAct(inC, inC, { kernel: 3, padding: 1, groups: inC }, 'relu6', eps));
    this.pw = this.child('1', new Conv2d(inC, outC, { kernel: 1, padding: 0, bias: true }));
  }
  forward(x: Tensor): Tensor {
    const h = this.dw.forward(x);
    const y = this.pw.forward(h);
    h.dispose();
    return y;
  }
}

class Extra extends Module {
  readonly reduce: ConvBnAct;
  readonly down: SeparableConvBnAct;
  constructor(inC: number, outC: number, eps: number) {
    super();
    this.reduce = this.child('0', new ConvBnAct(inC, outC >> 1, { kernel: 1, padding: 0 }, 'relu6', eps));
    this.down = this.child('1', new SeparableConvBnAct(outC >> 1, outC, 3, { stride: 2, activation: 'relu6', bnEps: eps }));
  }
  forward(x: Tensor): Tensor {
    const h = this.reduce.forward(x);
    const y = this.down.forward(h);
    h.dispose();
    return y;
  }
}

export class SSDLiteHead extends Module {
  readonly extras: Extra[];
  readonly clsHeads: LightHead[];
  readonly regHeads: LightHead[];

  constructor(readonly o: SSDLiteOptions) {
    super();
    const eps = o.bnEps ?? 1e-3;
    const extra = o.extraChannels ?? [];
    let last = o.inChannels[o.inChannels.length - 1];
    this.extras = extra.map((c, i) => {
      const e = this.child(`extra.${i}`, new Extra(last, c, eps));
      last = c;
      return e;
    });
    const levels = [...o.inChannels, ...extra];
    this.clsHeads = levels.map((c, i) => this.child(`cls.${i}`, new LightHead(c, o.anchorsPerPosition * o.numClasses, eps)));
    this.regHeads = levels.map((c, i) => this.child(`reg.${i}`, new LightHead(c, o.anchorsPerPosition * 4, eps)));
  }

  /** Feature map sizes (h, w) of every level, for anchor generation. */
  levelSizes(features: { shape: readonly number[] }[]): [number, number][] {
    const sizes = features.map((f) => [f.shape[2], f.shape[3]] as [number, number]);
    let [h, w] = sizes[sizes.length - 1];
    for (let i = 0; i < this.extras.length; i++) {
      h = Math.floor((h + 2 - 3) / 2) + 1;
      w = Math.floor((w + 2 - 3) / 2) + 1;
      sizes.push([h, w]);
    }
    return sizes;
  }

  /** Returns class logits [N, anchors, C] and box regression [N, anchors, 4], anchors ordered as generateAnchors. */
  forward(features: Tensor[]): { cls: Tensor; reg: Tensor } {
    const maps = [...features];
    const owned: Tensor[] = [];
    for (const e of this.extras) {
      const next = e.forward(maps[maps.length - 1]);
      maps.push(next);
      owned.push(next);
    }
    const flatten = (t: Tensor, per: number) => {
      const p = permute(t, [0, 2, 3, 1]); // NCHW -> NHWC: anchors of a position are contiguous
      const r = reshape(p, [t.shape[0], -1, per]);
      p.dispose();
      t.dispose();
      return r;
    };
    const cls = maps.map((m, i) => flatten(this.clsHeads[i].forward(m), this.o.numClasses));
    const reg = maps.map((m, i) => flatten(this.regHeads[i].forward(m), 4));
    for (const t of owned) t.dispose();
    const out = { cls: concat(cls, 1), reg: concat(reg, 1) };
    for (const t of [...cls, ...reg]) t.dispose();
    return out;
  }

  /** Focal + smooth-L1 loss against per-image matches (labels: -1 ignore, 0 background, c+1 class c). */
  loss(cls: Tensor, reg: Tensor, matches: MatchResult[]): Tensor {
    const [N, A, C] = cls.shape;
    const onehot = new Float32Array(N * A * C);
    const clsWeight = new Float32Array(N * A);
    const regTarget = new Float32Array(N * A * 4);
    const regWeight = new Float32Array(N * A);
    let positives = 0;
    matches.forEach((m, n) => {
      positives += m.positives;
      regTarget.set(m.regression, n * A * 4);
      for (let a = 0; a < A; a++) {
        const l = m.labels[a];
        clsWeight[n * A + a] = l >= 0 ? 1 : 0;
        if (l > 0) {
          onehot[(n * A + a) * C + l - 1] = 1;
          regWeight[n * A + a] = 1;
        }
      }
    });
    const norm = 1 / Math.max(1, positives);
    const focal = sigmoidFocalLoss(cls, fromArray(onehot, [N, A, C]), { reduction: 'none' });
    const focalW = mul(focal, fromArray(clsWeight, [N, A, 1]));
    const l1 = smoothL1Loss(reg, fromArray(regTarget, [N, A, 4]), { reduction: 'none' });
    const l1W = mul(l1, fromArray(regWeight, [N, A, 1]));
    // Temporaries are left to the caller's tidy() scope.
    return mulScalar(add(sum(focalW), sum(l1W)), norm);
  }
}
