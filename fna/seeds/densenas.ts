// The common target of every MobileNetV2 importer: parts in our layout (conv [O, I/g, kh, kw], Linear
// [out, in]) and per-layer geometry, turned into a MobileNetArch and its DenseNAS-keyed state dict (spec §1.0).
import { type HostTensor, type StateDict, hostTensor, sameShape, shapeString } from '../../engine/host.ts';
import { headBlockIndex, mbconvLayers } from '../arch/mobilenet.ts';
import { mbconvIndexOf } from '../arch/ops.ts';
import { stateDictShapes } from '../arch/shapes.ts';
import type { MobileNetArch, Stage } from '../arch/types.ts';

export interface BatchNormParams {
  weight: HostTensor;
  bias: HostTensor;
  runningMean: HostTensor;
  runningVar: HostTensor;
}

export interface ConvBn {
  conv: HostTensor;
  bn: BatchNormParams;
}

export interface MBConvParts {
  expand: ConvBn | null;
  depthwise: ConvBn;
  project: ConvBn;
}

export interface MobileNetParts {
  stem: ConvBn;
  layers: MBConvParts[];
  head: ConvBn | null;
  classifier: { weight: HostTensor; bias: HostTensor } | null;
}

/** One MBConv layer as an importer sees it. */
export interface LayerGeometry {
  in: number;
  out: number;
  expansion: number;
  kernel: number;
  stride: number;
}

/** A layer that changes channels or stride starts a new stage; the others repeat the stage's op. */
export function stagesFromLayers(layers: readonly LayerGeometry[]): Stage[] {
  const stages: Stage[] = [];
  for (const layer of layers) {
    const op = `k${layer.kernel}_e${layer.expansion}`;
    const current = stages[stages.length - 1];
    if (!current || layer.stride !== 1 || layer.in !== layer.out) stages.push({ in: layer.in, out: layer.out, stride: layer.stride, ops: [op] });
    else current.ops.push(op);
  }
  return stages;
}

function setBatchNorm(entries: StateDict, prefix: string, bn: BatchNormParams): void {
  entries.set(`${prefix}.weight`, bn.weight);
  entries.set(`${prefix}.bias`, bn.bias);
  entries.set(`${prefix}.running_mean`, bn.runningMean);
  entries.set(`${prefix}.running_var`, bn.runningVar);
  entries.set(`${prefix}.num_batches_tracked`, hostTensor([], [0], 'int32'));
}

function setConvBn(entries: StateDict, convKey: string, bnPrefix: string, part: ConvBn): void {
  entries.set(convKey, part.conv);
  setBatchNorm(entries, bnPrefix, part.bn);
}

/**
 * Keys and order exactly as stateDictShapes(arch, 'seed'); a shape that disagrees with the arch (an
 * inconsistent file, or an importer bug) is an error naming the key and where it came from.
 */
export function denseNasStateDict(arch: MobileNetArch, parts: MobileNetParts, source: string): StateDict {
  const entries: StateDict = new Map();
  setConvBn(entries, 'blocks.0.0.weight', 'blocks.0.1', parts.stem);
  const layers = mbconvLayers(arch);
  if (layers.length !== parts.layers.length) {
    throw new Error(`denseNasStateDict: arch has ${layers.length} MBConv layers, the import found ${parts.layers.length}`);
  }
  layers.forEach((layer, i) => {
    const part = parts.layers[i];
    const at = (role: Parameters<typeof mbconvIndexOf>[1]) => `blocks.${layer.block}.layers.${layer.layer}.op.${mbconvIndexOf(layer.op, role)}`;
    if (part.expand) setConvBn(entries, `${at('expand')}.weight`, at('expand_bn'), part.expand);
    setConvBn(entries, `${at('depthwise')}.weight`, at('depthwise_bn'), part.depthwise);
    setConvBn(entries, `${at('project')}.weight`, at('project_bn'), part.project);
  });
  if (parts.head) {
    const b = headBlockIndex(arch);
    setConvBn(entries, `blocks.${b}.conv.0.weight`, `blocks.${b}.conv.1`, parts.head);
  }
  if (parts.classifier) {
    entries.set('classifier.weight', parts.classifier.weight);
    entries.set('classifier.bias', parts.classifier.bias);
  }

  const ordered: StateDict = new Map();
  for (const [key, spec] of stateDictShapes(arch, 'seed')) {
    const t = entries.get(key);
    if (!t) throw new Error(`denseNasStateDict: nothing imported for ${key} ${shapeString(spec.shape)}`);
    if (!sameShape(t.shape, spec.shape) || t.dtype !== spec.dtype) {
      throw new Error(`${source} gives ${key} shape ${shapeString(t.shape)} ${t.dtype}, the derived arch needs ${shapeString(spec.shape)} ${spec.dtype}`);
    }
    ordered.set(key, t);
    entries.delete(key);
  }
  if (entries.size) throw new Error(`denseNasStateDict: imported tensors the arch has no place for: ${[...entries.keys()].join(', ')}`);
  return ordered;
}
