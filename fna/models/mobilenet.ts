// MobileNetV2 (and any searched MBConv network) built from an architecture spec, with the DenseNAS
// state-dict keys of fna-spec §1.0: blocks.0.{0,1} stem, blocks.b.layers.l.op.j MBConv layers,
// blocks.{n+1}.conv.{0,1} final 1x1 conv, classifier.
import { add } from '../../engine/ops/arithmetic.ts';
import { globalAvgPool } from '../../engine/ops/pool.ts';
import { contiguous, reshape } from '../../engine/ops/movement.ts';
import { BatchNorm2d, Conv2d, type BatchNormConfig } from '../../engine/nn/conv.ts';
import { Linear } from '../../engine/nn/layers.ts';
import { HostRng, initRng } from '../../engine/nn/init.ts';
import { Module } from '../../engine/nn/module.ts';
import { shapeString } from '../../engine/host.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { headBlockIndex, mbconvLayers, sortSkips, stageGeometry, type MBConvLayer } from '../arch/mobilenet.ts';
import { validateArch } from '../arch/validate.ts';
import type { MobileNetArch } from '../arch/types.ts';

export interface BuildOptions {
  /**
   * 'torch' pads (k-1)*d/2 on every side; 'keras' pads stride-2 convs as TensorFlow's 'same' does
   * (the extra row/column at the bottom/right), which imported Keras weights need.
   */
  padding?: 'torch' | 'keras';
  bnMomentum?: number;
  /** BN without affine parameters or running statistics (FNA super network candidates). */
  bnAffine?: boolean;
  rng?: HostRng;
}

/** Padding [top, bottom, left, right] for a k x k conv with this stride and dilation. */
export function convPadding(k: number, stride: number, dilation: number, mode: 'torch' | 'keras'): [number, number, number, number] {
  const total = (k - 1) * dilation;
  if (mode === 'keras' && stride > 1) {
    // TF 'same' for even inputs: total padding k - stride, the larger half after.
    const t = Math.max(total - (stride - 1), 0);
    return [t >> 1, t - (t >> 1), t >> 1, t - (t >> 1)];
  }
  return [total >> 1, total - (total >> 1), total >> 1, total - (total >> 1)];
}

/** Children keyed by index ("0", "1", "3", ...) with ReLU6 slots left empty, as in the PyTorch Sequential. */
class IndexedOps extends Module {
  constructor(readonly items: [number, Conv2d | BatchNorm2d][]) {
    super();
    for (const [j, m] of items) this.child(String(j), m);
  }
}

export class MBConv extends Module {
  readonly expand: Conv2d | null;
  readonly expandBn: BatchNorm2d | null;
  readonly depthwise: Conv2d;
  readonly depthwiseBn: BatchNorm2d;
  readonly project: Conv2d;
  readonly projectBn: BatchNorm2d;
  constructor(
    readonly spec: Pick<MBConvLayer, 'in' | 'out' | 'hidden' | 'stride' | 'dilation' | 'residual' | 'op'>,
    bn: BatchNormConfig,
    opts: BuildOptions,
  ) {
    super();
    const rng = opts.rng ?? initRng();
    const { kernel, expansion } = spec.op;
    const pad = convPadding(kernel, spec.stride, spec.dilation, opts.padding ?? 'torch');
    this.expand = expansion === 1 ? null : new Conv2d(spec.in, spec.hidden, { kernel: 1, padding: 0, init: 'kaiming_fan_out', rng });
    this.expandBn = expansion === 1 ? null : new BatchNorm2d(spec.hidden, bn);
    this.depthwise = new Conv2d(spec.hidden, spec.hidden, {
      kernel,
      stride: spec.stride,
      dilation: spec.dilation,
      padding: pad,
      groups: spec.hidden,
      init: 'kaiming_fan_out',
      rng,
    });
    this.depthwiseBn = new BatchNorm2d(spec.hidden, bn);
    this.project = new Conv2d(spec.hidden, spec.out, { kernel: 1, padding: 0, init: 'kaiming_fan_out', rng });
    this.projectBn = new BatchNorm2d(spec.out, bn);
    const items: [number, Conv2d | BatchNorm2d][] = this.expand
      ? [[0, this.expand], [1, this.expandBn!], [3, this.depthwise], [4, this.depthwiseBn], [6, this.project], [7, this.projectBn]]
      : [[0, this.depthwise], [1, this.depthwiseBn], [3, this.project], [4, this.projectBn]];
    this.child('op', new IndexedOps(items));
  }

  forward(x: Tensor): Tensor {
    let h = x;
    const step = (f: () => Tensor) => {
      const next = f();
      if (h !== x) h.dispose();
      h = next;
    };
    if (this.expand) {
      step(() => this.expand!.forward(h));
      step(() => this.expandBn!.forward(h, 'relu6'));
    }
    step(() => this.depthwise.forward(h));
    step(() => this.depthwiseBn.forward(h, 'relu6'));
    step(() => this.project.forward(h));
    step(() => this.projectBn.forward(h));
    if (this.spec.residual) step(() => add(h, x));
    return h;
  }
}

class Layers extends Module {
  constructor(readonly list: MBConv[]) {
    super();
    list.forEach((m, i) => this.child(String(i), m));
  }
}
class Stage extends Module {
  readonly layers: Layers;
  constructor(list: MBConv[]) {
    super();
    this.layers = this.child('layers', new Layers(list));
  }
}
class ConvBn extends Module {
  constructor(conv: Conv2d, bn: BatchNorm2d) {
    super();
    this.child('0', conv);
    this.child('1', bn);
  }
}
class HeadConv extends Module {
  constructor(readonly conv: Conv2d, readonly bn: BatchNorm2d) {
    super();
    this.child('conv', new ConvBn(conv, bn));
  }
}
class Blocks extends Module {
  constructor(list: Module[]) {
    super();
    list.forEach((m, i) => this.child(String(i), m));
  }
}

export interface Features {
  /** Output of each stage (block 1..n), at the stage's resolution. */
  stages: Tensor[];
  /** Output of the final 1x1 conv, if the arch has one. */
  head: Tensor | null;
}

export class MobileNetV2 extends Module {
  readonly arch: MobileNetArch;
  readonly stemConv: Conv2d;
  readonly stemBn: BatchNorm2d;
  readonly stages: MBConv[][];
  readonly headConv: Conv2d | null;
  readonly headBn: BatchNorm2d | null;
  readonly classifier: Linear | null;

  constructor(arch: MobileNetArch, opts: BuildOptions = {}) {
    super();
    validateArch(arch);
    this.arch = sortSkips(arch);
    const rng = opts.rng ?? initRng();
    const bn: BatchNormConfig = { eps: arch.bnEps, momentum: opts.bnMomentum ?? 0.1 };
    const mode = opts.padding ?? 'torch';
    this.stemConv = new Conv2d(arch.inputChannels, arch.stem.out, {
      kernel: 3,
      stride: arch.stem.stride,
      padding: convPadding(3, arch.stem.stride, 1, mode),
      init: 'kaiming_fan_out',
      rng,
    });
    this.stemBn = new BatchNorm2d(arch.stem.out, bn);
    const layers = mbconvLayers(this.arch);
    this.stages = this.arch.stages.map((_, s) => layers.filter((l) => l.stageIndex === s).map((l) => new MBConv(l, bn, { ...opts, rng })));
    const blocks: Module[] = [new ConvBn(this.stemConv, this.stemBn), ...this.stages.map((list) => new Stage(list))];
    const last = arch.stages[arch.stages.length - 1].out;
    if (arch.head) {
      this.headConv = new Conv2d(last, arch.head.out, { kernel: 1, padding: 0, init: 'kaiming_fan_out', rng });
      this.headBn = new BatchNorm2d(arch.head.out, bn);
      blocks[headBlockIndex(arch)] = new HeadConv(this.headConv, this.headBn);
    } else {
      this.headConv = null;
      this.headBn = null;
    }
    this.child('blocks', new Blocks(blocks));
    this.classifier = arch.numClasses !== null ? this.child('classifier', new Linear(arch.head?.out ?? last, arch.numClasses, { rng })) : null;
    void stageGeometry;
  }

  /** Runs the backbone, keeping every stage's output (for detection / segmentation necks). */
  features(x: Tensor, keepStages: readonly number[] = []): Features {
    if (x.rank !== 4 || x.shape[1] !== this.arch.inputChannels) {
      throw new Error(`MobileNetV2: input ${shapeString(x.shape)} is not [N, ${this.arch.inputChannels}, H, W]`);
    }
    const kept: Tensor[] = [];
    let h = this.stemConv.forward(x);
    const swap = (next: Tensor) => {
      h.dispose();
      h = next;
    };
    swap(this.stemBn.forward(h, 'relu6'));
    this.stages.forEach((stage, s) => {
      for (const layer of stage) swap(layer.forward(h));
      if (keepStages.includes(s)) kept.push(contiguous(h));
    });
    let head: Tensor | null = null;
    if (this.headConv && this.headBn) {
      swap(this.headConv.forward(h));
      swap(this.headBn.forward(h, 'relu6'));
      head = h;
    } else {
      kept.push(h);
    }
    return { stages: kept, head };
  }

  forward(x: Tensor): Tensor {
    const { head, stages } = this.features(x);
    const top = head ?? stages[stages.length - 1];
    if (!this.classifier) return top;
    const pooled = globalAvgPool(top);
    top.dispose();
    const flat = reshape(pooled, [pooled.shape[0], pooled.shape[1]]);
    pooled.dispose();
    const logits = this.classifier.forward(flat);
    flat.dispose();
    return logits;
  }
}
