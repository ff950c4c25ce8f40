// remap(seed, target): depth first (which seed tensor, plan.ts), then width + kernel together (which
// sub-block, tensor.ts), exactly the composition of spec §1.3. Pure: inputs are never modified, and bad input
// throws one RemapError before any output exists.
import { type HostTensor, type StateDict, hostTensor, sameShape, shapeString, sizeOf } from '../../engine/host.ts';
import {
  type Arch, ArchError, type MobileNetArch, type ResNetArch, type SuperNetArch, type TensorSpec, stateDictShapes,
  validateArch,
} from '../arch/index.ts';
import { RemapError } from './errors.ts';
import { type WidthSelection, WIDTH_SELECTIONS, hiddenChannelRanking, topChannels } from './importance.ts';
import { type KernelPlacement, kernelAxisMap } from './kernel.ts';
import { type TensorPlan, planMobileNet, planResNet } from './plan.ts';
import type { RemapAction, RemapEntry, RemapReport } from './report.ts';
import { type AxisMap, firstK, remapVector, remapWeight, selectChannels } from './tensor.ts';

export interface RemapOptions {
  /** Default 'first-k' (FNA). 'bn' | 'std' | 'l1' are the paper's ablations, for MBConv hidden channels. */
  widthBy?: WidthSelection;
  /** Default 'centre' (FNA). 'dilate' is the paper's Kernel-Dilate ablation. */
  kernelPlacement?: KernelPlacement;
  /** The target model's current tensors: uncovered 1-D entries keep these (default γ=1, β=0, μ=0, σ²=1). */
  targetInit?: StateDict;
}

export interface RemapSeed {
  arch: Arch;
  stateDict: StateDict;
}

export interface RemapResult {
  stateDict: StateDict;
  report: RemapReport;
}

const KERNEL_PLACEMENTS: readonly KernelPlacement[] = ['centre', 'dilate'];
const COUNT_PARAM = 'num_batches_tracked';

function checkedArch<T>(subject: string, check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (e instanceof ArchError) throw new RemapError(subject, e.message);
    throw e;
  }
}

function checkSeedTensor(key: string, tensor: HostTensor, spec: TensorSpec): void {
  const subject = `seed['${key}']`;
  if (tensor.shape.length !== spec.shape.length) {
    throw new RemapError(subject, `has rank ${tensor.shape.length} ${shapeString(tensor.shape)} but the seed arch gives it rank ${spec.shape.length} ${shapeString(spec.shape)}`);
  }
  if (!sameShape(tensor.shape, spec.shape)) {
    throw new RemapError(subject, `has shape ${shapeString(tensor.shape)} but the seed arch gives it ${shapeString(spec.shape)}`);
  }
  if (tensor.data.length !== sizeOf(tensor.shape)) {
    throw new RemapError(subject, `holds ${tensor.data.length} values for shape ${shapeString(tensor.shape)}`);
  }
  if (spec.dtype === 'float32' && tensor.dtype !== 'float32') {
    throw new RemapError(subject, `has dtype ${tensor.dtype}, expected float32`);
  }
}

const DEFAULT_INIT: Partial<Record<TensorSpec['init'], number>> = { bn_weight: 1, bn_var: 1 };

function initialTensor(key: string, spec: TensorSpec, targetInit: StateDict | undefined): HostTensor {
  const given = targetInit?.get(key);
  if (given) {
    if (!sameShape(given.shape, spec.shape) || given.dtype !== spec.dtype || given.data.length !== sizeOf(spec.shape)) {
      throw new RemapError(`targetInit['${key}']`, `is ${given.dtype} ${shapeString(given.shape)}, the target arch needs ${spec.dtype} ${shapeString(spec.shape)}`);
    }
    return hostTensor([...spec.shape], given.data, spec.dtype);
  }
  const t = hostTensor([...spec.shape], undefined, spec.dtype);
  t.data.fill(DEFAULT_INIT[spec.init] ?? 0);
  return t;
}

function actionsOf(seedShape: readonly number[], shape: readonly number[], maps: readonly AxisMap[]): RemapAction[] {
  const actions = new Set<RemapAction>();
  const channelAxes = shape.length === 1 ? [0] : [0, 1];
  for (const a of channelAxes) {
    if (shape[a] < seedShape[a] || maps[a].source.some((s, j) => s !== j)) actions.add('channel-selected');
    if (shape[a] > seedShape[a]) actions.add(shape.length === 1 ? 'initialised' : 'zero-filled');
  }
  for (const a of shape.length === 4 ? [2, 3] : []) {
    if (shape[a] < seedShape[a]) actions.add('cropped');
    if (shape[a] > seedShape[a]) actions.add('padded');
  }
  return actions.size ? [...actions] : ['copied'];
}

export function remap(seed: RemapSeed, target: Arch | SuperNetArch, options: RemapOptions = {}): RemapResult {
  const widthBy = options.widthBy ?? 'first-k';
  const kernelPlacement = options.kernelPlacement ?? 'centre';
  if (!WIDTH_SELECTIONS.includes(widthBy)) throw new RemapError('options.widthBy', `'${widthBy}' is not one of ${WIDTH_SELECTIONS.join(', ')}`);
  if (!KERNEL_PLACEMENTS.includes(kernelPlacement)) {
    throw new RemapError('options.kernelPlacement', `'${kernelPlacement}' is not one of ${KERNEL_PLACEMENTS.join(', ')}`);
  }
  const seedArch = checkedArch('seed arch', () => validateArch(seed.arch));
  const targetArch = checkedArch('target arch', () => validateArch(target));
  if (seedArch.kind === 'mobilenetv2-super') {
    throw new RemapError('seed arch', 'a super net cannot be a seed: remapping always starts from the seed checkpoint (spec §0)');
  }
  const targetFamily = targetArch.kind === 'mobilenetv2-super' ? 'mobilenetv2' : targetArch.kind;
  if (targetFamily !== seedArch.kind) {
    throw new RemapError('target arch', `a ${targetArch.kind} target cannot be remapped from a ${seedArch.kind} seed`);
  }
  if (seedArch.kind === 'resnet' && widthBy !== 'first-k') {
    throw new RemapError('options.widthBy', `'${widthBy}' selects MBConv hidden channels; ResNet seeds support 'first-k' only`);
  }
  const plans = seedArch.kind === 'resnet'
    ? planResNet(seedArch, targetArch as ResNetArch)
    : planMobileNet(seedArch, targetArch as MobileNetArch | SuperNetArch);

  const seedShapes = stateDictShapes(seedArch, 'seed');
  const sources = new Map<string, HostTensor | undefined>();
  const checkSource = (key: string, neededBy: string): HostTensor | undefined => {
    const spec = seedShapes.get(key);
    if (!spec) throw new RemapError(`target['${neededBy}']`, `the seed arch has no tensor '${key}' to remap it from`);
    const tensor = seed.stateDict.get(key);
    if (!tensor) {
      if (key.endsWith(`.${COUNT_PARAM}`)) return undefined;
      throw new RemapError(`seed['${key}']`, `missing from the seed state dict (needed for target '${neededBy}')`);
    }
    checkSeedTensor(key, tensor, spec);
    return tensor;
  };
  for (const plan of plans) if (plan.source !== null) sources.set(plan.source, checkSource(plan.source, plan.key));

  const rankings = new Map<string, number[]>();
  if (widthBy !== 'first-k') {
    for (const plan of plans) {
      if (!plan.hidden || rankings.has(plan.hidden.group)) continue;
      const rankedBy = `${plan.hidden.group}.op.${widthBy === 'bn' ? 1 : 0}.weight`;
      checkSource(rankedBy, plan.key);
      rankings.set(plan.hidden.group, hiddenChannelRanking(widthBy, seed.stateDict, plan.hidden.group));
    }
  }
  // Checked up front too, so that a bad targetInit fails before any tensor is built.
  for (const plan of plans) initialTensor(plan.key, plan.spec, options.targetInit);

  const stateDict: StateDict = new Map();
  const entries: RemapEntry[] = [];
  for (const plan of plans) {
    const ranking = plan.hidden && widthBy !== 'first-k' ? { by: widthBy, order: rankings.get(plan.hidden.group)! } : undefined;
    const seedTensor = plan.source === null ? undefined : sources.get(plan.source);
    const { tensor, entry } = remapOne(plan, seedTensor, ranking, kernelPlacement, options.targetInit);
    stateDict.set(plan.key, tensor);
    entries.push(entry);
  }

  const used = new Set(plans.map((p) => p.source));
  const report: RemapReport = {
    seedKind: seedArch.kind,
    targetKind: targetArch.kind,
    mode: targetArch.kind === 'mobilenetv2-super' ? 'super' : 'target',
    widthBy,
    kernelPlacement,
    verifiedAgainstFna: seedArch.kind === 'mobilenetv2' && !plans.some((p) => p.note?.startsWith('matched by role')),
    notes: reportNotes(seedArch.kind, targetArch.kind, widthBy, kernelPlacement, plans),
    entries,
    unusedSeedKeys: [...seed.stateDict.keys()].filter((k) => !used.has(k)),
  };
  return { stateDict, report };
}

function remapOne(
  plan: TensorPlan, seedTensor: HostTensor | undefined,
  ranking: { by: Exclude<WidthSelection, 'first-k'>; order: number[] } | undefined,
  placement: KernelPlacement, targetInit: StateDict | undefined,
): { tensor: HostTensor; entry: RemapEntry } {
  const { key, spec } = plan;
  const entry: RemapEntry = { key, shape: [...spec.shape], source: plan.source, sourceShape: seedTensor ? [...seedTensor.shape] : null, actions: [] };
  if (plan.note) entry.note = plan.note;
  if (!seedTensor) {
    const fill: RemapAction = spec.shape.length >= 2 ? 'zero-filled' : 'initialised';
    entry.actions = [fill];
    if (plan.source !== null) {
      entry.source = null;
      entry.note = `the seed has no ${COUNT_PARAM}; kept the initial value`;
    }
    return { tensor: fill === 'zero-filled' ? hostTensor([...spec.shape]) : initialTensor(key, spec, targetInit), entry };
  }
  if (spec.shape.length === 0) {
    entry.actions = ['copied'];
    return { tensor: hostTensor([], [seedTensor.data[0]], spec.dtype), entry };
  }
  const maps = spec.shape.map((size, axis): AxisMap => {
    if (axis >= 2) {
      try {
        return kernelAxisMap(seedTensor.shape[axis], size, placement);
      } catch (e) {
        throw new RemapError(`target['${key}']`, (e as Error).message);
      }
    }
    if (ranking && plan.hidden!.axis === axis) return selectChannels(topChannels(ranking.order, Math.min(size, ranking.order.length)), size);
    return firstK(seedTensor.shape[axis], size);
  });
  const tensor = spec.shape.length === 1
    ? remapVector(seedTensor, initialTensor(key, spec, targetInit), maps[0])
    : remapWeight(seedTensor, spec.shape, maps);
  entry.actions = actionsOf(seedTensor.shape, spec.shape, maps);
  if (ranking && maps[plan.hidden!.axis].source.some((s, j) => s !== j)) entry.selection = ranking.by;
  if (spec.shape.length === 4 && seedTensor.shape[2] !== spec.shape[2]) {
    entry.kernel = { from: seedTensor.shape[2], to: spec.shape[2], placement };
  }
  return { tensor, entry };
}

function reportNotes(
  seedKind: string, targetKind: string, widthBy: WidthSelection, placement: KernelPlacement, plans: readonly TensorPlan[],
): string[] {
  const notes: string[] = [];
  if (seedKind === 'resnet') notes.push('ResNet seeds (and grouped targets) use FNA-style rules, not verified against FNA++ (spec §5)');
  if (targetKind === 'mobilenetv2-super') notes.push('searchable BNs of the super net are non-affine and untracked: only their conv weights are remapped');
  const byRole = plans.filter((p) => p.note?.startsWith('matched by role')).length;
  if (byRole) notes.push(`${byRole} tensors matched by role between expansion-1 and expanded MBConvs (FNA's index rule would mix expand and depthwise convs)`);
  if (widthBy !== 'first-k') notes.push(`width by ${widthBy} is an ablation (spec §1.4): MBConv hidden channels only, other channel axes first-k`);
  if (placement === 'dilate') notes.push("kernel placement 'dilate' is an ablation (spec §1.4) and does not preserve the function");
  return notes;
}
