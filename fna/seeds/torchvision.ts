// torchvision's MobileNetV2 state dict onto our MobileNetArch and DenseNAS keys. Export one with:
//
//   from safetensors.torch import save_file; import torchvision
//   save_file(torchvision.models.mobilenet_v2(weights="IMAGENET1K_V1").state_dict(), "mobilenet_v2.safetensors")
//
// Layout (torchvision/models/mobilenetv2.py): features.0 = Conv2dNormActivation(stem) -> .0 conv, .1 BN;
// features.i (InvertedResidual).conv = [ConvBNReLU expand (t != 1)], ConvBNReLU depthwise, Conv2d project,
// BN; features.N = final 1x1 ConvBNReLU; classifier = [Dropout, Linear]. Convs have no bias, BN eps is
// 1e-5 and padding is symmetric ('torch'). Strides are not in a state dict: they are taken from the
// paper's table (stage strides 1, 2, 2, 2, 1, 2, 1) unless given.
import { type HostTensor, type StateDict, shapeString } from '../../engine/host.ts';
import type { MobileNetArch } from '../arch/types.ts';
import { validateMobileNetArch } from '../arch/validate.ts';
import { type BatchNormParams, type ConvBn, type LayerGeometry, type MBConvParts, denseNasStateDict, stagesFromLayers } from './densenas.ts';
import type { SeedImport } from './types.ts';

export const TORCHVISION_STAGE_STRIDES = [1, 2, 2, 2, 1, 2, 1];
export const TORCHVISION_BN_EPS = 1e-5;

export class TorchvisionImportError extends Error {
  constructor(readonly source: string, problem: string) {
    super(`${source}: ${problem}`);
    this.name = 'TorchvisionImportError';
  }
}

export interface TorchvisionOptions {
  /** Stride of each stage (a run of layers with the same output channels); default the paper's. */
  stageStrides?: number[];
  stemStride?: number;
  bnEps?: number;
}

/** True when the keys look like torchvision's MobileNetV2 (what loadSeed uses to pick this importer). */
export function hasTorchvisionMobileNetKeys(keys: Iterable<string>): boolean {
  const set = new Set(keys);
  return set.has('features.0.0.weight') && set.has('features.1.conv.0.0.weight');
}

export function importTorchvisionMobileNetV2(tensors: StateDict, location: string, options: TorchvisionOptions = {}): SeedImport<MobileNetArch> {
  const fail = (problem: string): never => {
    throw new TorchvisionImportError(location, problem);
  };
  const used = new Set<string>();
  const take = (key: string, rank?: number): HostTensor => {
    const t = tensors.get(key) ?? fail(`missing tensor "${key}"`);
    if (t.dtype !== 'float32') fail(`"${key}" is ${t.dtype}, expected a float tensor`);
    if (rank !== undefined && t.shape.length !== rank) fail(`"${key}" has shape ${shapeString(t.shape)}, expected rank ${rank}`);
    used.add(key);
    return t;
  };
  const batchNorm = (prefix: string, channels: number): BatchNormParams => {
    const bn = {
      weight: take(`${prefix}.weight`, 1),
      bias: take(`${prefix}.bias`, 1),
      runningMean: take(`${prefix}.running_mean`, 1),
      runningVar: take(`${prefix}.running_var`, 1),
    };
    if (tensors.has(`${prefix}.num_batches_tracked`)) used.add(`${prefix}.num_batches_tracked`);
    for (const [name, t] of Object.entries(bn)) if (t.shape[0] !== channels) fail(`"${prefix}" BN ${name} has ${t.shape[0]} channels, its conv ${channels}`);
    return bn;
  };
  const convBn = (convKey: string, bnPrefix: string): ConvBn => {
    const conv = take(convKey, 4);
    if (tensors.has(convKey.replace(/weight$/, 'bias'))) fail(`"${convKey}" has a bias; torchvision MobileNetV2 convs have none`);
    return { conv, bn: batchNorm(bnPrefix, conv.shape[0]) };
  };

  const stem = convBn('features.0.0.weight', 'features.0.1');
  const layers: MBConvParts[] = [];
  const geometry: LayerGeometry[] = [];
  let channels = stem.conv.shape[0];
  let i = 1;
  for (; tensors.has(`features.${i}.conv.0.0.weight`); i++) {
    const p = `features.${i}.conv`;
    const expanded = tensors.has(`${p}.3.weight`);
    const expand = expanded ? convBn(`${p}.0.0.weight`, `${p}.0.1`) : null;
    const depthwise = expanded ? convBn(`${p}.1.0.weight`, `${p}.1.1`) : convBn(`${p}.0.0.weight`, `${p}.0.1`);
    const project = expanded ? convBn(`${p}.2.weight`, `${p}.3`) : convBn(`${p}.1.weight`, `${p}.2`);
    const hidden = depthwise.conv.shape[0];
    const [, dwIn, kernel, kw] = depthwise.conv.shape;
    if (dwIn !== 1 || kernel !== kw) fail(`features.${i}: depthwise weight ${shapeString(depthwise.conv.shape)} is not [C, 1, k, k]`);
    if ((expand?.conv.shape[1] ?? hidden) !== channels || project.conv.shape[1] !== hidden || hidden % channels !== 0) {
      fail(`features.${i}: channels do not chain (in ${channels}, hidden ${hidden}, project ${shapeString(project.conv.shape)})`);
    }
    layers.push({ expand, depthwise, project });
    geometry.push({ in: channels, out: project.conv.shape[0], expansion: hidden / channels, kernel, stride: 1 });
    channels = project.conv.shape[0];
  }
  if (!layers.length) fail('no InvertedResidual blocks (features.1.conv.*)');
  const head = tensors.has(`features.${i}.0.weight`) ? convBn(`features.${i}.0.weight`, `features.${i}.1`) : null;
  const hasClassifier = tensors.has('classifier.1.weight');
  const classifier = hasClassifier ? { weight: take('classifier.1.weight', 2), bias: take('classifier.1.bias', 1) } : null;
  const leftover = [...tensors.keys()].filter((k) => !used.has(k));
  if (leftover.length) fail(`keys a torchvision MobileNetV2 does not have: ${leftover.slice(0, 8).join(', ')}${leftover.length > 8 ? ', ...' : ''}`);

  // Stages are runs of layers ending in the same channels; the first layer of each takes the stage stride.
  const stagesByChannels = stagesFromLayers(geometry);
  const stageStrides = options.stageStrides ?? TORCHVISION_STAGE_STRIDES;
  if (stageStrides.length !== stagesByChannels.length) {
    fail(`found ${stagesByChannels.length} stages but ${stageStrides.length} stage strides; pass stageStrides for a non-standard MobileNetV2`);
  }
  const arch = validateMobileNetArch({
    kind: 'mobilenetv2',
    inputChannels: stem.conv.shape[1],
    stem: { out: stem.conv.shape[0], stride: options.stemStride ?? 2 },
    stages: stagesByChannels.map((s, k) => ({ ...s, stride: stageStrides[k] })),
    head: head ? { out: head.conv.shape[0] } : null,
    numClasses: classifier ? classifier.weight.shape[0] : null,
    bnEps: options.bnEps ?? TORCHVISION_BN_EPS,
  });
  const stateDict = denseNasStateDict(arch, { stem, layers, head, classifier }, location);
  return {
    arch,
    stateDict,
    buildOptions: { padding: 'torch' },
    top: [],
    source: {
      format: 'torchvision',
      location,
      pooling: 'global average',
      outputClasses: arch.numClasses,
      outputActivation: 'linear',
      notes: [
        `strides not stored in a state dict; assumed stem ${arch.stem.stride}, stages ${stageStrides.join(', ')}`,
        `BN eps ${arch.bnEps} (torchvision's default), not DenseNAS's 1e-3`,
      ],
    },
  };
}
