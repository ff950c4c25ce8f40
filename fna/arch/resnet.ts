// ResNet archs with torchvision's state-dict keys (conv1, bn1, layerN.i.*, downsample.{0,1}, fc).
import { addBatchNorm, addLinear, convSpec } from './tensor-specs.ts';
import type { ResNetArch, ResNetStage, StateDictShapes } from './types.ts';

const RESNET_LAYOUTS = {
  18: { block: 'basic', blocks: [2, 2, 2, 2] },
  34: { block: 'basic', blocks: [3, 4, 6, 3] },
  50: { block: 'bottleneck', blocks: [3, 4, 6, 3] },
} as const;

export interface ResNetOptions {
  numClasses?: number | null;
  inputChannels?: number;
  bnEps?: number;
}

/** torchvision resnet18/34/50; `width` is the stem width and first-stage planes (64 in the stock nets). */
export function resnetArch(depth: 18 | 34 | 50, width = 64, options: ResNetOptions = {}): ResNetArch {
  const layout = RESNET_LAYOUTS[depth];
  const expansion = layout.block === 'bottleneck' ? 4 : 1;
  let channels = width;
  const stages: ResNetStage[] = layout.blocks.map((blocks, i) => {
    const planes = width * 2 ** i;
    const stage: ResNetStage = { in: channels, out: planes * expansion, stride: i === 0 ? 1 : 2, blocks };
    if (layout.block === 'bottleneck') stage.width = planes;
    channels = stage.out;
    return stage;
  });
  return {
    kind: 'resnet',
    block: layout.block,
    inputChannels: options.inputChannels ?? 3,
    stem: { out: width, kernel: 7, stride: 2, maxPool: true },
    stages,
    numClasses: options.numClasses === undefined ? 1000 : options.numClasses,
    bnEps: options.bnEps ?? 1e-5,
  };
}

export interface ResNetBlock {
  stageIndex: number;
  /** Key prefix, e.g. "layer2.0". */
  prefix: string;
  index: number;
  in: number;
  out: number;
  width: number;
  stride: number;
  groups: number;
  kernel: number;
  downsample: boolean;
}

export function resnetBlocks(arch: ResNetArch): ResNetBlock[] {
  return arch.stages.flatMap((stage, stageIndex) =>
    Array.from({ length: stage.blocks }, (_, index) => {
      const inChannels = index === 0 ? stage.in : stage.out;
      const stride = index === 0 ? stage.stride : 1;
      return {
        stageIndex,
        prefix: `layer${stageIndex + 1}.${index}`,
        index,
        in: inChannels,
        out: stage.out,
        width: stage.width ?? (arch.block === 'bottleneck' ? stage.out / 4 : stage.out),
        stride,
        groups: stage.groups ?? 1,
        kernel: stage.kernel ?? 3,
        downsample: stride !== 1 || inChannels !== stage.out,
      };
    }),
  );
}

export function resnetShapes(arch: ResNetArch): StateDictShapes {
  const shapes: StateDictShapes = new Map();
  shapes.set('conv1.weight', convSpec(arch.stem.out, arch.inputChannels, arch.stem.kernel));
  addBatchNorm(shapes, 'bn1', arch.stem.out);
  for (const b of resnetBlocks(arch)) {
    const p = b.prefix;
    if (arch.block === 'basic') {
      shapes.set(`${p}.conv1.weight`, convSpec(b.width, b.in / b.groups, b.kernel));
      addBatchNorm(shapes, `${p}.bn1`, b.width);
      shapes.set(`${p}.conv2.weight`, convSpec(b.out, b.width / b.groups, b.kernel));
      addBatchNorm(shapes, `${p}.bn2`, b.out);
    } else {
      shapes.set(`${p}.conv1.weight`, convSpec(b.width, b.in, 1));
      addBatchNorm(shapes, `${p}.bn1`, b.width);
      shapes.set(`${p}.conv2.weight`, convSpec(b.width, b.width / b.groups, b.kernel));
      addBatchNorm(shapes, `${p}.bn2`, b.width);
      shapes.set(`${p}.conv3.weight`, convSpec(b.out, b.width, 1));
      addBatchNorm(shapes, `${p}.bn3`, b.out);
    }
    if (b.downsample) {
      shapes.set(`${p}.downsample.0.weight`, convSpec(b.out, b.in, 1));
      addBatchNorm(shapes, `${p}.downsample.1`, b.out);
    }
  }
  const last = arch.stages[arch.stages.length - 1].out;
  if (arch.numClasses !== null) addLinear(shapes, 'fc', arch.numClasses, last);
  return shapes;
}
