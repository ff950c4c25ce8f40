// Our checkpoint: safetensors with the model's state dict and metadata (format, arch JSON, anything else).
// Written atomically; optimizer state beside it (<name>.optim.safetensors) so a run can resume.
import { readSafetensors, writeSafetensorsAtomic } from '../../engine/io/safetensors.ts';
import type { StateDict } from '../../engine/host.ts';
import type { Arch } from '../arch/types.ts';

export const CHECKPOINT_FORMAT = 'fna-webgpu';

export interface Checkpoint {
  arch: Arch;
  stateDict: StateDict;
  metadata: Record<string, string>;
}

export async function saveCheckpoint(path: string, arch: Arch, stateDict: StateDict, extra: Record<string, unknown> = {}): Promise<void> {
  const metadata: Record<string, string> = { format: CHECKPOINT_FORMAT, arch: JSON.stringify(arch) };
  for (const [k, v] of Object.entries(extra)) metadata[k] = typeof v === 'string' ? v : JSON.stringify(v);
  await writeSafetensorsAtomic(path, stateDict, metadata);
}

export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  const { tensors, metadata } = await readSafetensors(path);
  if (metadata.format !== CHECKPOINT_FORMAT || !metadata.arch) {
    throw new Error(`${path}: not an fna-webgpu checkpoint (metadata needs format '${CHECKPOINT_FORMAT}' and 'arch')`);
  }
  return { arch: JSON.parse(metadata.arch) as Arch, stateDict: tensors, metadata };
}

export const optimizerPath = (checkpointPath: string): string => checkpointPath.replace(/(\.safetensors)?$/, '.optim.safetensors');

import type { OptimizerStateDict } from '../../engine/optim/optimizer.ts';

/** Optimizer state as safetensors: buffers under `state.<param>.<name>`, groups and steps in metadata. */
export async function saveOptimizerState(path: string, state: OptimizerStateDict, extra: Record<string, unknown> = {}): Promise<void> {
  const tensors: StateDict = new Map();
  for (const s of state.state) for (const [name, h] of Object.entries(s.buffers)) tensors.set(`state.${s.param}.${name}`, h);
  const steps = state.state.map((s) => [s.param, s.step]);
  const metadata: Record<string, string> = { format: `${CHECKPOINT_FORMAT}-optimizer`, kind: state.kind, groups: JSON.stringify(state.groups), steps: JSON.stringify(steps) };
  for (const [k, v] of Object.entries(extra)) metadata[k] = JSON.stringify(v);
  await writeSafetensorsAtomic(path, tensors, metadata);
}

export async function loadOptimizerState(path: string): Promise<{ state: OptimizerStateDict; metadata: Record<string, string> }> {
  const { tensors, metadata } = await readSafetensors(path);
  if (metadata.format !== `${CHECKPOINT_FORMAT}-optimizer`) throw new Error(`${path}: not an fna-webgpu optimizer state file`);
  const steps = JSON.parse(metadata.steps) as [number, number][];
  const state = steps.map(([param, step]) => {
    const buffers: OptimizerStateDict['state'][number]['buffers'] = {};
    for (const [k, h] of tensors) {
      const m = /^state\.(\d+)\.(.+)$/.exec(k);
      if (m && Number(m[1]) === param) buffers[m[2]] = h;
    }
    return { param, step, buffers };
  });
  return { state: { kind: metadata.kind, groups: JSON.parse(metadata.groups), state }, metadata };
}
