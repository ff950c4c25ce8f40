// loadSeed: one entry point for every seed network we can start FNA from, by path or package name.
import { stat } from 'node:fs/promises';
import { sameShape, shapeString, type StateDict } from '../../engine/host.ts';
import { readSafetensors } from '../../engine/io/safetensors.ts';
import { stateDictShapes } from '../arch/shapes.ts';
import type { Arch } from '../arch/types.ts';
import { validateArch } from '../arch/validate.ts';
import { CHECKPOINT_FORMAT, saveCheckpoint } from '../train/checkpoint.ts';
import { importKerasMobileNetV2 } from './keras-mobilenet.ts';
import { readNsfwjsModel, readTfjsLayersModel } from './tfjs-files.ts';
import { type TorchvisionOptions, hasTorchvisionMobileNetKeys, importTorchvisionMobileNetV2 } from './torchvision.ts';
import type { SeedImport } from './types.ts';

export * from './types.ts';
export { importKerasMobileNetV2, type TfjsLayersArtifacts } from './keras-mobilenet.ts';
export { importTorchvisionMobileNetV2, type TorchvisionOptions } from './torchvision.ts';
export { readNsfwjsModel, readTfjsLayersModel } from './tfjs-files.ts';
export { buildTop } from './top.ts';

export const SUPPORTED_SEED_FORMATS = [
  'a TensorFlow.js layers model of a Keras MobileNetV2: its directory (holding model.json) or the model.json',
  "'nsfwjs:mobilenet_v2' (the MobileNetV2 inside the nsfwjs npm package, when installed)",
  "an fna-webgpu checkpoint: .safetensors with metadata 'arch' (the arch JSON)",
  'a torchvision MobileNetV2 state dict saved as .safetensors (keys features.*, classifier.1.*)',
] as const;

export class SeedFormatError extends Error {
  /** `listFormats` is false for a file of a known format whose content is wrong. */
  constructor(readonly location: string, problem: string, listFormats = true) {
    const formats = listFormats ? `. Supported seeds:\n${SUPPORTED_SEED_FORMATS.map((f) => `  - ${f}`).join('\n')}` : '';
    super(`${location}: ${problem}${formats}`);
    this.name = 'SeedFormatError';
  }
}

export interface LoadSeedOptions {
  torchvision?: TorchvisionOptions;
}

export async function loadSeed(location: string, options: LoadSeedOptions = {}): Promise<SeedImport> {
  if (location.startsWith('nsfwjs:')) return importKerasMobileNetV2(await readNsfwjsModel(location.slice('nsfwjs:'.length)));
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(location)).isDirectory();
  } catch {
    throw new SeedFormatError(location, 'does not exist');
  }
  if (isDirectory) {
    const hasModelJson = await stat(`${location}/model.json`).then(() => true, () => false);
    if (!hasModelJson) throw new SeedFormatError(location, 'is a directory without a model.json');
    return importKerasMobileNetV2(await readTfjsLayersModel(location, true));
  }
  if (location.endsWith('.json')) return importKerasMobileNetV2(await readTfjsLayersModel(location, false));
  if (!location.endsWith('.safetensors')) throw new SeedFormatError(location, 'is not a format loadSeed knows (by its name)');

  const { tensors, metadata } = await readSafetensors(location);
  if (metadata.arch !== undefined) return ownCheckpoint(location, tensors, metadata);
  if (hasTorchvisionMobileNetKeys(tensors.keys())) return importTorchvisionMobileNetV2(tensors, location, options.torchvision);
  const sample = [...tensors.keys()].slice(0, 4).join(', ');
  throw new SeedFormatError(location, `is safetensors without 'arch' metadata and without torchvision MobileNetV2 keys (it has ${tensors.size} tensors: ${sample}${tensors.size > 4 ? ', ...' : ''})`);
}

function ownCheckpoint(location: string, tensors: StateDict, metadata: Record<string, string>): SeedImport {
  if (metadata.format !== undefined && metadata.format !== CHECKPOINT_FORMAT) {
    throw new SeedFormatError(location, `metadata format is '${metadata.format}', expected '${CHECKPOINT_FORMAT}'`, false);
  }
  let arch: Arch;
  try {
    const parsed = validateArch(JSON.parse(metadata.arch));
    if (parsed.kind === 'mobilenetv2-super') throw new Error('a super-network arch is not a seed');
    arch = parsed;
  } catch (err) {
    throw new SeedFormatError(location, `metadata 'arch' is not a valid arch: ${(err as Error).message}`, false);
  }
  const problems: string[] = [];
  const expected = stateDictShapes(arch, 'seed');
  for (const [key, spec] of expected) {
    const t = tensors.get(key);
    if (!t) problems.push(`missing ${key}`);
    else if (!sameShape(t.shape, spec.shape)) problems.push(`${key} is ${shapeString(t.shape)}, the arch needs ${shapeString(spec.shape)}`);
  }
  for (const key of tensors.keys()) if (!expected.has(key)) problems.push(`unexpected ${key}`);
  if (problems.length) {
    throw new SeedFormatError(location, `tensors do not match its arch: ${problems.slice(0, 6).join('; ')}${problems.length > 6 ? `; and ${problems.length - 6} more` : ''}`, false);
  }
  const padding = metadata.padding === 'keras' ? 'keras' : 'torch';
  const source = metadata.source ? (JSON.parse(metadata.source) as { location?: string; notes?: string[] }) : {};
  return {
    arch,
    stateDict: tensors,
    buildOptions: { padding },
    top: [],
    source: { format: 'fna-webgpu', location, notes: source.location ? [`imported from ${source.location}`, ...(source.notes ?? [])] : [] },
  };
}

/**
 * Writes an imported seed as our checkpoint (arch, padding and where it came from in the metadata), so a
 * conversion is done once. The `top` layers of a multi-layer classifier are not saved.
 */
export async function saveSeed(path: string, seed: SeedImport): Promise<void> {
  await saveCheckpoint(path, seed.arch, seed.stateDict, { padding: seed.buildOptions.padding, source: { location: seed.source.location, notes: seed.source.notes } });
}
