// State-dict keys and shapes implied by an arch, in PyTorch registration order. Builders create exactly these
// parameters; remapping and checkpoint checks compare against them.
import { sizeOf } from '../../engine/host.ts';
import { headBlockIndex, mbconvLayers } from './mobilenet.ts';
import { type MBConvOp, isSkip, mbconvModules, mbconvOp } from './ops.ts';
import { resnetShapes } from './resnet.ts';
import { addBatchNorm, addLinear, convSpec } from './tensor-specs.ts';
import type { Arch, MobileNetArch, SearchSpace, StateDictMode, StateDictShapes, SuperNetArch } from './types.ts';
import { validateMobileNetArch, validateResNetArch, validateSuperNetArch } from './validate.ts';

/** One MBBlock under `prefix` (".op.j.*" appended). Without BN keys for the super net's non-affine BNs. */
function addMBConv(
  shapes: StateDictShapes, prefix: string, op: MBConvOp, inChannels: number, out: number, withBatchNorm: boolean,
): void {
  const hidden = inChannels * op.expansion;
  for (const { index, role } of mbconvModules(op)) {
    const key = `${prefix}.op.${index}`;
    if (role === 'expand') shapes.set(`${key}.weight`, convSpec(hidden, inChannels, 1));
    else if (role === 'depthwise') shapes.set(`${key}.weight`, convSpec(hidden, 1, op.kernel));
    else if (role === 'project') shapes.set(`${key}.weight`, convSpec(out, hidden, 1));
    else if (withBatchNorm) addBatchNorm(shapes, key, role === 'project_bn' ? out : hidden);
  }
}

function addStem(shapes: StateDictShapes, arch: MobileNetArch): void {
  shapes.set('blocks.0.0.weight', convSpec(arch.stem.out, arch.inputChannels, 3));
  addBatchNorm(shapes, 'blocks.0.1', arch.stem.out);
}

function addHeadAndClassifier(shapes: StateDictShapes, arch: MobileNetArch): void {
  const last = arch.stages[arch.stages.length - 1].out;
  if (arch.head) {
    const block = headBlockIndex(arch);
    shapes.set(`blocks.${block}.conv.0.weight`, convSpec(arch.head.out, last, 1));
    addBatchNorm(shapes, `blocks.${block}.conv.1`, arch.head.out);
  }
  if (arch.numClasses !== null) addLinear(shapes, 'classifier', arch.numClasses, arch.head?.out ?? last);
}

/** DenseNAS seed / derived-target layout: `blocks.b.layers.l.op.j.*`, skips sorted away. */
function mobilenetShapes(arch: MobileNetArch): StateDictShapes {
  const shapes: StateDictShapes = new Map();
  addStem(shapes, arch);
  for (const layer of mbconvLayers(arch)) {
    addMBConv(shapes, `blocks.${layer.block}.layers.${layer.layer}`, layer.op, layer.in, layer.out, true);
  }
  addHeadAndClassifier(shapes, arch);
  return shapes;
}

/**
 * FNA super net: fixed first block as a bare MBBlock (`blocks.1.op.j.*`), every candidate under
 * `blocks.b.layers.l._ops.<prim>.op.j.*` with non-affine untracked BNs (no keys); skip has no parameters.
 */
function superNetShapes(base: MobileNetArch, space: SearchSpace): StateDictShapes {
  const shapes: StateDictShapes = new Map();
  addStem(shapes, base);
  const first = base.stages[0];
  addMBConv(shapes, 'blocks.1', mbconvOp(first.ops[0]), first.in, first.out, true);
  space.stages.forEach((searchStage, i) => {
    const stage = base.stages[i + 1];
    for (let layer = 0; layer < searchStage.layers; layer++) {
      const candidates = layer === 0 ? searchStage.reduceOps : searchStage.normalOps;
      const inChannels = layer === 0 ? stage.in : stage.out;
      for (const prim of candidates.filter((c) => !isSkip(c))) {
        const prefix = `blocks.${i + 2}.layers.${layer}._ops.${prim}`;
        addMBConv(shapes, prefix, mbconvOp(prim), inChannels, stage.out, false);
      }
    }
  });
  addHeadAndClassifier(shapes, base);
  return shapes;
}

/**
 * Ordered key -> {shape, dtype, init}. 'seed' and 'target' share the DenseNAS layout; 'super' needs the
 * search space and a MobileNetV2 base arch.
 */
export function stateDictShapes(arch: Arch, mode: StateDictMode, superSpace?: SearchSpace): StateDictShapes {
  if (arch.kind === 'resnet') {
    if (mode === 'super') throw new Error("stateDictShapes: no super-net layout is defined for ResNet archs");
    return resnetShapes(validateResNetArch(arch));
  }
  if (mode === 'super') {
    if (!superSpace) throw new Error("stateDictShapes: mode 'super' needs a search space");
    const checked = validateSuperNetArch({ kind: 'mobilenetv2-super', base: arch, space: superSpace });
    return superNetShapes(checked.base, checked.space);
  }
  return mobilenetShapes(validateMobileNetArch(arch));
}

export function archShapes(arch: Arch | SuperNetArch): StateDictShapes {
  return arch.kind === 'mobilenetv2-super' ? stateDictShapes(arch.base, 'super', arch.space) : stateDictShapes(arch, 'target');
}

const BUFFER_INITS = new Set(['bn_mean', 'bn_var', 'count']);

/** Trainable parameter count (BN running statistics and counters excluded), as torch's numel() sum. */
export function parameterCount(shapes: StateDictShapes): number {
  let n = 0;
  for (const spec of shapes.values()) if (!BUFFER_INITS.has(spec.init)) n += sizeOf(spec.shape);
  return n;
}
