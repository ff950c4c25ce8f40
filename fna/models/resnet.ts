// ResNet (basic and bottleneck blocks, any depth, width, groups and kernel size) from a ResNetArch, with
// torchvision's state-dict keys (conv1, bn1, layerN.i.{conv,bn}k, layerN.i.downsample.{0,1}, fc), so
// FNA-style remapping between ResNet seeds and targets has real modules to load into.
import { add, relu } from '../../engine/ops/arithmetic.ts';
import { globalAvgPool, maxPool2d } from '../../engine/ops/pool.ts';
import { reshape } from '../../engine/ops/movement.ts';
import { BatchNorm2d, Conv2d } from '../../engine/nn/conv.ts';
import { Linear } from '../../engine/nn/layers.ts';
import { HostRng, initRng } from '../../engine/nn/init.ts';
import { Module } from '../../engine/nn/module.ts';
import { shapeString } from '../../engine/host.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { resnetBlocks, type ResNetBlock } from '../arch/resnet.ts';
import type { ResNetArch } from '../arch/types.ts';

interface ConvBnPair {
  conv: Conv2d;
  bn: BatchNorm2d;
}

class Downsample extends Module {
  constructor(readonly conv: Conv2d, readonly bn: BatchNorm2d) {
    super();
    this.child('0', conv);
    this.child('1', bn);
  }
}

class Block extends Module {
  readonly layers: ConvBnPair[] = [];
  readonly downsample: Downsample | null;
  constructor(readonly spec: ResNetBlock, kind: 'basic' | 'bottleneck', eps: number, rng: HostRng) {
    super();
    const k = spec.kernel;
    const pad = (k - 1) >> 1;
    const convs: [number, number, number, number, number][] =
      kind === 'basic'
        ? [
            [spec.in, spec.width, k, spec.stride, spec.groups],
            [spec.width, spec.out, k, 1, spec.groups],
          ]
        : [
            [spec.in, spec.width, 1, 1, 1],
            [spec.width, spec.width, k, spec.stride, spec.groups],
            [spec.width, spec.out, 1, 1, 1],
          ];
    convs.forEach(([i, o, kk, s, g], n) => {
      const conv = this.child(`conv${n + 1}`, new Conv2d(i, o, { kernel: kk, stride: s, padding: kk === 1 ? 0 : pad, groups: g, init: 'kaiming_fan_out', rng }));
      const bn = this.child(`bn${n + 1}`, new BatchNorm2d(o, { eps }));
      this.layers.push({ conv, bn });
    });
    this.downsample = spec.downsample
      ? this.child('downsample', new Downsample(new Conv2d(spec.in, spec.out, { kernel: 1, stride: spec.stride, padding: 0, init: 'kaiming_fan_out', rng }), new BatchNorm2d(spec.out, { eps })))
      : null;
  }

  forward(x: Tensor): Tensor {
    let h = x;
    this.layers.forEach(({ conv, bn }, n) => {
      const c = conv.forward(h);
      if (h !== x) h.dispose();
      const b = bn.forward(c);
      c.dispose();
      if (n < this.layers.length - 1) {
        h = relu(b);
        b.dispose();
      } else h = b;
    });
    let shortcut = x;
    if (this.downsample) {
      const c = this.downsample.conv.forward(x);
      shortcut = this.downsample.bn.forward(c);
      c.dispose();
    }
    const sum = add(h, shortcut);
    h.dispose();
    if (shortcut !== x) shortcut.dispose();
    const out = relu(sum);
    sum.dispose();
    return out;
  }
}

class Stage extends Module {
  constructor(readonly blocks: Block[]) {
    super();
    blocks.forEach((b, i) => this.child(String(i), b));
  }
}

export class ResNet extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly stages: Stage[];
  readonly fc: Linear | null;

  constructor(readonly arch: ResNetArch, { rng = initRng() }: { rng?: HostRng } = {}) {
    super();
    const { stem } = arch;
    this.conv1 = this.child('conv1', new Conv2d(arch.inputChannels, stem.out, { kernel: stem.kernel, stride: stem.stride, padding: (stem.kernel - 1) >> 1, init: 'kaiming_fan_out', rng }));
    this.bn1 = this.child('bn1', new BatchNorm2d(stem.out, { eps: arch.bnEps }));
    const blocks = resnetBlocks(arch).map((b) => new Block(b, arch.block, arch.bnEps, rng));
    this.stages = arch.stages.map((_, s) => this.child(`layer${s + 1}`, new Stage(blocks.filter((b) => b.spec.stageIndex === s))));
    const last = arch.stages[arch.stages.length - 1].out;
    this.fc = arch.numClasses !== null ? this.child('fc', new Linear(last, arch.numClasses, { rng })) : null;
  }

  /** Stage outputs (layer1..layerN), for detection and segmentation necks. */
  features(x: Tensor): Tensor[] {
    if (x.rank !== 4 || x.shape[1] !== this.arch.inputChannels) {
      throw new Error(`ResNet: input ${shapeString(x.shape)} is not [N, ${this.arch.inputChannels}, H, W]`);
    }
    const c = this.conv1.forward(x);
    const b = this.bn1.forward(c);
    c.dispose();
    let h = relu(b);
    b.dispose();
    if (this.arch.stem.maxPool) {
      const p = maxPool2d(h, 3, { stride: 2, padding: 1 });
      h.dispose();
      h = p;
    }
    const outs: Tensor[] = [];
    for (const stage of this.stages) {
      for (const block of stage.blocks) {
        const next = block.forward(h);
        if (!outs.includes(h)) h.dispose();
        h = next;
      }
      outs.push(h);
    }
    return outs;
  }

  forward(x: Tensor): Tensor {
    const outs = this.features(x);
    const top = outs[outs.length - 1];
    for (const t of outs.slice(0, -1)) t.dispose();
    if (!this.fc) return top;
    const pooled = globalAvgPool(top);
    top.dispose();
    const flat = reshape(pooled, [pooled.shape[0], pooled.shape[1]]);
    pooled.dispose();
    const logits = this.fc.forward(flat);
    flat.dispose();
    return logits;
  }
}
