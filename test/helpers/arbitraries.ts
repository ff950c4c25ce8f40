// fast-check generators of small valid architectures (channels <= 12 so hundreds of remaps stay fast).
import fc from 'fast-check';
import type { MobileNetArch, ResNetArch, SearchSpace, Stage } from '../../fna/arch/index.ts';

export const mbconvOpArb = fc.tuple(fc.constantFrom(1, 3, 5, 7), fc.integer({ min: 1, max: 6 })).map(([k, e]) => `k${k}_e${e}`);
export const layerOpArb = fc.oneof({ weight: 1, arbitrary: fc.constant('skip') }, { weight: 3, arbitrary: mbconvOpArb });
export const stageOpsArb = (maxLayers = 4) =>
  fc.tuple(mbconvOpArb, fc.array(layerOpArb, { maxLength: maxLayers - 1 })).map(([first, rest]) => [first, ...rest]);

export interface ArchFlags {
  stageCount: number;
  head: boolean;
  classifier: boolean;
}

export function mobilenetArchArb(flags: ArchFlags, maxChannels = 12): fc.Arbitrary<MobileNetArch> {
  const n = flags.stageCount;
  const channel = fc.integer({ min: 1, max: maxChannels });
  return fc.record({
    inputChannels: fc.integer({ min: 1, max: 4 }),
    stemOut: channel,
    stemStride: fc.constantFrom(1, 2),
    outs: fc.array(channel, { minLength: n, maxLength: n }),
    strides: fc.array(fc.constantFrom(1, 2), { minLength: n, maxLength: n }),
    firstOp: mbconvOpArb,
    ops: fc.array(stageOpsArb(), { minLength: n - 1, maxLength: n - 1 }),
    headOut: channel,
    numClasses: fc.integer({ min: 1, max: 5 }),
    outputStride: fc.constantFrom(undefined, 8, 16, 32),
    bnEps: fc.constantFrom(1e-3, 1e-5),
  }).map((r) => {
    let channels = r.stemOut;
    const stages: Stage[] = r.outs.map((out, i) => {
      const stage = { in: channels, out, stride: r.strides[i], ops: i === 0 ? [r.firstOp] : r.ops[i - 1] };
      channels = out;
      return stage;
    });
    const arch: MobileNetArch = {
      kind: 'mobilenetv2',
      inputChannels: r.inputChannels,
      stem: { out: r.stemOut, stride: r.stemStride },
      stages,
      head: flags.head ? { out: r.headOut } : null,
      numClasses: flags.classifier ? r.numClasses : null,
      bnEps: r.bnEps,
    };
    if (r.outputStride !== undefined) arch.outputStride = r.outputStride as 8 | 16 | 32;
    return arch;
  });
}

/** Seed and target with the same stage count; the target needs a head / classifier only if the seed has one. */
export const mobilenetPairArb = fc
  .record({ stageCount: fc.integer({ min: 1, max: 5 }), head: fc.boolean(), classifier: fc.boolean(), targetHead: fc.boolean(), targetClassifier: fc.boolean() })
  .chain((f) => fc.tuple(
    mobilenetArchArb(f),
    mobilenetArchArb({ stageCount: f.stageCount, head: f.head && f.targetHead, classifier: f.classifier && f.targetClassifier }),
  ));

export const mobilenetSingleArb = fc
  .record({ stageCount: fc.integer({ min: 1, max: 5 }), head: fc.boolean(), classifier: fc.boolean() })
  .chain((f) => mobilenetArchArb(f));

export function searchSpaceArb(searchableStages: number): fc.Arbitrary<SearchSpace> {
  const stage = fc.record({
    layers: fc.integer({ min: 1, max: 4 }),
    reduceOps: fc.uniqueArray(mbconvOpArb, { minLength: 1, maxLength: 4 }),
    normalOps: fc.uniqueArray(layerOpArb, { minLength: 1, maxLength: 4 }),
  });
  return fc.array(stage, { minLength: searchableStages, maxLength: searchableStages }).map((stages) => ({ name: 'random', stages }));
}

export function resnetArchArb(block: 'basic' | 'bottleneck', stageCount: number): fc.Arbitrary<ResNetArch> {
  const n = stageCount;
  return fc.record({
    groups: fc.constantFrom(1, 2),
    stemOut: fc.integer({ min: 1, max: 6 }),
    outs: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: n, maxLength: n }),
    widths: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: n, maxLength: n }),
    blocks: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: n, maxLength: n }),
    strides: fc.array(fc.constantFrom(1, 2), { minLength: n, maxLength: n }),
    kernels: fc.array(fc.constantFrom(1, 3, 5), { minLength: n, maxLength: n }),
    stemKernel: fc.constantFrom(3, 7),
    numClasses: fc.option(fc.integer({ min: 1, max: 5 }), { nil: null }),
  }).map((r) => {
    // Basic blocks group both convs, so every channel count is a multiple of the groups.
    const unit = block === 'basic' ? r.groups : 1;
    let channels = r.stemOut * unit;
    const stages = r.outs.map((out, i) => {
      const stage = {
        in: channels, out: out * unit, stride: r.strides[i], blocks: r.blocks[i],
        width: r.widths[i] * r.groups, groups: r.groups, kernel: r.kernels[i],
      };
      channels = stage.out;
      return stage;
    });
    return {
      kind: 'resnet', block, inputChannels: 3,
      stem: { out: r.stemOut * unit, kernel: r.stemKernel, stride: 2, maxPool: true },
      stages, numClasses: r.numClasses, bnEps: 1e-5,
    } satisfies ResNetArch;
  });
}
