// DeepLabv3 head with a separable ASPP, as FNA's segmentation network (fna-spec §4): on the backbone's
// output-stride-16 features, a 1x1 branch, three separable 3x3 branches with dilations 6/12/18 (scaled by
// 16/OS), and an image-pooling branch; concatenated, projected 1x1, dropout 0.1, a 1x1 classifier, then
// bilinear upsampling to the input size.
import { concat } from '../../engine/ops/indexing.ts';
import { dropout } from '../../engine/ops/random.ts';
import { globalAvgPool } from '../../engine/ops/pool.ts';
import { upsampleBilinear } from '../../engine/ops/upsample.ts';
import { Conv2d } from '../../engine/nn/conv.ts';
import { Module } from '../../engine/nn/module.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { ConvBnAct, SeparableConvBnAct } from './blocks.ts';

export interface DeepLabHeadOptions {
  inChannels: number;
  numClasses: number;
  /** ASPP width; 256 in the paper, smaller for small tasks. */
  channels?: number;
  outputStride?: 16 | 8;
  dropout?: number;
}

export class DeepLabV3Head extends Module {
  readonly branch1x1: ConvBnAct;
  readonly atrous: SeparableConvBnAct[];
  readonly imagePool: ConvBnAct;
  readonly project: ConvBnAct;
  readonly classifier: Conv2d;
  readonly dropoutP: number;

  constructor(readonly o: DeepLabHeadOptions) {
    super();
    const c = o.channels ?? 256;
    const scale = 16 / (o.outputStride ?? 16);
    this.branch1x1 = this.child('aspp.0', new ConvBnAct(o.inChannels, c, { kernel: 1, padding: 0 }));
    this.atrous = [6, 12, 18].map((rate, i) =>
      this.child(`aspp.${i + 1}`, new SeparableConvBnAct(o.inChannels, c, 3, { dilation: rate * scale })),
    );
    this.imagePool = this.child('aspp.pool', new ConvBnAct(o.inChannels, c, { kernel: 1, padding: 0 }));
    this.project = this.child('project', new ConvBnAct(5 * c, c, { kernel: 1, padding: 0 }));
    this.classifier = this.child('classifier', new Conv2d(c, o.numClasses, { kernel: 1, padding: 0, bias: true }));
    this.dropoutP = o.dropout ?? 0.1;
  }

  /** features: [N, inChannels, h, w] at output stride OS; returns logits [N, classes, H, W]. */
  forward(features: Tensor, outputSize: [number, number]): Tensor {
    const [h, w] = [features.shape[2], features.shape[3]];
    const branches = [this.branch1x1.forward(features), ...this.atrous.map((b) => b.forward(features))];
    const pooled = globalAvgPool(features);
    const pooledFeat = this.imagePool.forward(pooled);
    pooled.dispose();
    branches.push(upsampleBilinear(pooledFeat, { size: [h, w], alignCorners: false }));
    pooledFeat.dispose();
    const cat = concat(branches, 1);
    for (const b of branches) b.dispose();
    const proj = this.project.forward(cat);
    cat.dispose();
    const dropped = dropout(proj, this.dropoutP, this.training);
    if (dropped !== proj) proj.dispose();
    const logits = this.classifier.forward(dropped);
    dropped.dispose();
    const up = upsampleBilinear(logits, { size: outputSize, alignCorners: false });
    logits.dispose();
    return up;
  }
}
