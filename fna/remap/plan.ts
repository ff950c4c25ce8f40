// Depth level (spec §1.1): for every target tensor, the seed tensor it comes from. Target layer l of a stage
// takes seed layer min(l, n-1) over the non-skip layers (skips sorted to the end carry no parameters).
import {
  type MBConvOp, type MBConvRole, type MobileNetArch, type ResNetArch, type SuperNetArch, type TensorSpec,
  archShapes, headBlockIndex, isSkip, mbconvIndexOf, mbconvOp, mbconvRoleAt, resnetBlocks,
} from '../arch/index.ts';
import { RemapError } from './errors.ts';
import { mobilenetLayerKey, parseMobileNetKey, parseResNetKey } from './keys.ts';

export interface TensorPlan {
  key: string;
  spec: TensorSpec;
  /** Seed key, or null when the seed architecture has no counterpart module (see note). */
  source: string | null;
  note?: string;
  /** An MBConv hidden-channel axis; `group` is the seed layer whose channel ranking it shares. */
  hidden?: { group: string; axis: 0 | 1 };
}

/** Spec §1.1: target layer l of a stage with n seed layers comes from seed layer min(l, n-1). */
export function depthSourceLayer(layer: number, seedLayers: number): number {
  return Math.min(layer, seedLayers - 1);
}

const HIDDEN_AXIS: Partial<Record<MBConvRole, 0 | 1>> = {
  expand: 0, expand_bn: 0, depthwise: 0, depthwise_bn: 0, project: 1,
};

function nonSkipOps(arch: MobileNetArch): string[][] {
  return arch.stages.map((s) => s.ops.filter((o) => !isSkip(o)));
}

function describeModule(role: MBConvRole): string {
  return role.endsWith('_bn') ? `BN after the ${role.slice(0, -3)} conv` : `${role} conv`;
}

export function planMobileNet(seed: MobileNetArch, target: MobileNetArch | SuperNetArch): TensorPlan[] {
  const base = target.kind === 'mobilenetv2-super' ? target.base : target;
  if (base.stages.length !== seed.stages.length) {
    throw new RemapError('target.stages', `has ${base.stages.length} stages but the seed has ${seed.stages.length} (stage b is remapped from seed stage b)`);
  }
  const seedOps = nonSkipOps(seed);
  const targetOps = nonSkipOps(base);

  const layerPlan = (key: string, spec: TensorSpec, block: number, layer: number, targetName: string, module: number, param: string): TensorPlan => {
    const stage = block - 1;
    const targetOp: MBConvOp = mbconvOp(targetName);
    const seedLayer = depthSourceLayer(layer, seedOps[stage].length);
    const seedName = seedOps[stage][seedLayer];
    const seedOp = mbconvOp(seedName);
    const role = mbconvRoleAt(targetOp, module)!;
    const seedModule = mbconvIndexOf(seedOp, role);
    const group = `blocks.${block}.layers.${seedLayer}`;
    if (seedModule === null) {
      return { key, spec, source: null, note: `seed layer ${group} (${seedName}) has no ${describeModule(role)}` };
    }
    const plan: TensorPlan = { key, spec, source: mobilenetLayerKey(block, seedLayer, seedModule, param) };
    if ((targetOp.expansion === 1) !== (seedOp.expansion === 1)) {
      plan.note = `matched by role (${describeModule(role)}) with seed layer ${group} (${seedName})`;
    } else if (targetOp.expansion !== 1 && HIDDEN_AXIS[role] !== undefined) {
      plan.hidden = { group, axis: HIDDEN_AXIS[role]! };
    }
    return plan;
  };

  const plans: TensorPlan[] = [];
  for (const [key, spec] of archShapes(target)) {
    const k = parseMobileNetKey(key);
    switch (k.kind) {
      case 'stem':
      case 'classifier':
        plans.push({ key, spec, source: key });
        break;
      case 'head':
        plans.push({ key, spec, source: `blocks.${headBlockIndex(seed)}.conv.${k.module}.${k.param}` });
        break;
      case 'bare-block':
        plans.push(layerPlan(key, spec, k.block, 0, base.stages[0].ops[0], k.module, k.param));
        break;
      case 'layer':
        plans.push(layerPlan(key, spec, k.block, k.layer, k.prim ?? targetOps[k.block - 1][k.layer], k.module, k.param));
        break;
    }
  }
  return plans;
}

const RESNET_NOTE = 'ResNet remapping is FNA-style, not verified against FNA++';

export function planResNet(seed: ResNetArch, target: ResNetArch): TensorPlan[] {
  if (target.block !== seed.block) {
    throw new RemapError('target.block', `'${target.block}' blocks cannot be remapped from '${seed.block}' blocks`);
  }
  if (target.stages.length !== seed.stages.length) {
    throw new RemapError('target.stages', `has ${target.stages.length} stages but the seed has ${seed.stages.length} (stage s is remapped from seed stage s)`);
  }
  const seedBlocks = new Map(resnetBlocks(seed).map((b) => [b.prefix, b]));
  const targetBlocks = new Map(resnetBlocks(target).map((b) => [b.prefix, b]));
  const groupedConv = (module: string): boolean => module === 'conv2' || (seed.block === 'basic' && module === 'conv1');

  const plans: TensorPlan[] = [];
  for (const [key, spec] of archShapes(target)) {
    const k = parseResNetKey(key);
    if (k.kind !== 'block') {
      plans.push({ key, spec, source: key, note: RESNET_NOTE });
      continue;
    }
    const seedIndex = depthSourceLayer(k.index, seed.stages[k.stage - 1].blocks);
    const seedPrefix = `layer${k.stage}.${seedIndex}`;
    const seedBlock = seedBlocks.get(seedPrefix)!;
    const targetBlock = targetBlocks.get(`layer${k.stage}.${k.index}`)!;
    if (k.module.startsWith('downsample') && !seedBlock.downsample) {
      plans.push({ key, spec, source: null, note: `seed block ${seedPrefix} has an identity shortcut (no downsample); ${RESNET_NOTE}` });
      continue;
    }
    const plan: TensorPlan = { key, spec, source: `${seedPrefix}.${k.module}.${k.param}`, note: RESNET_NOTE };
    if (groupedConv(k.module) && targetBlock.groups !== seedBlock.groups) {
      plan.note = `grouped conv (${seedBlock.groups} -> ${targetBlock.groups} groups): first-k on the per-group input axis; ${RESNET_NOTE}`;
    }
    plans.push(plan);
  }
  return plans;
}
