// FNA's MobileNetV2 search space (spec §2): reduce layers choose among 6 MBConvs, normal layers also skip.
import { mobilenetV2Arch } from './mobilenet.ts';
import { ArchError, type MobileNetArch, type SearchSpace, type SearchStage, type SuperNetArch } from './types.ts';
import { validateSuperNetArch } from './validate.ts';

export const REDUCE_OPS: readonly string[] = ['k3_e3', 'k3_e6', 'k5_e3', 'k5_e6', 'k7_e3', 'k7_e6'];
export const NORMAL_OPS: readonly string[] = [...REDUCE_OPS, 'skip'];

/** Searchable layers per stage (MobileNetV2 blocks 2..7). */
export const SEARCH_SPACE_LAYERS = {
  detection: [4, 4, 4, 4, 4, 1],
  segmentation: [4, 4, 6, 6, 4, 1],
} as const;

export type SearchSpacePreset = 'detection' | 'segmentation' | 'ssdlite';

/** The SSDLite head reads block 6 layer 0's expanded features, so that layer must be e6 (spec §2). */
const SSDLITE_HEAD_OPS: readonly string[] = ['k3_e6', 'k5_e6', 'k7_e6'];
const SSDLITE_HEAD_STAGE = 4;

export function searchSpace(name: string, layers: readonly number[]): SearchSpace {
  const stages: SearchStage[] = layers.map((n) => ({ layers: n, reduceOps: [...REDUCE_OPS], normalOps: [...NORMAL_OPS] }));
  return { name, stages };
}

export function searchSpacePreset(preset: SearchSpacePreset): SearchSpace {
  if (preset === 'segmentation') return searchSpace(preset, SEARCH_SPACE_LAYERS.segmentation);
  const space = searchSpace(preset, SEARCH_SPACE_LAYERS.detection);
  if (preset === 'ssdlite') space.stages[SSDLITE_HEAD_STAGE].reduceOps = [...SSDLITE_HEAD_OPS];
  return space;
}

/** A checked super net. The default base is the MobileNetV2 backbone without 1280 conv and classifier. */
export function superArch(space: SearchSpace, base: MobileNetArch = mobilenetV2Arch({ numClasses: null, head: false })): SuperNetArch {
  return validateSuperNetArch({ kind: 'mobilenetv2-super', base, space });
}

/** Number of distinct op assignments (paths) in the space. */
export function searchSpaceSize(space: SearchSpace): number {
  return space.stages.reduce(
    (n, s) => n * s.reduceOps.length * Math.max(1, s.normalOps.length) ** (s.layers - 1), 1);
}

/** The target arch for one chosen op per searchable layer (`ops[stage][layer]`), skips left in place. */
export function deriveArch(superNet: SuperNetArch, ops: readonly (readonly string[])[]): MobileNetArch {
  const { base, space } = superNet;
  if (ops.length !== space.stages.length) {
    throw new ArchError('ops', `expected ${space.stages.length} stages of choices, got ${ops.length}`);
  }
  const stages = base.stages.map((stage, i) => {
    if (i === 0) return { ...stage, ops: [...stage.ops] };
    const searchStage = space.stages[i - 1];
    const chosen = ops[i - 1];
    if (chosen.length !== searchStage.layers) {
      throw new ArchError(`ops[${i - 1}]`, `expected ${searchStage.layers} layers, got ${chosen.length}`);
    }
    chosen.forEach((op, l) => {
      const candidates = l === 0 ? searchStage.reduceOps : searchStage.normalOps;
      if (!candidates.includes(op)) {
        throw new ArchError(`ops[${i - 1}][${l}]`, `'${op}' is not a candidate of this layer (${candidates.join(', ')})`);
      }
    });
    return { ...stage, ops: [...chosen] };
  });
  return { ...base, stages };
}
