import type { HostTensor, StateDict } from '../../engine/host.ts';
import type { Arch } from '../arch/types.ts';

export type SeedFormat = 'tfjs-layers' | 'torchvision' | 'fna-webgpu';

/** A Dense layer of the original model that the arch cannot hold (a multi-layer classifier top). */
export interface DenseLayer {
  name: string;
  /** Linear layout [out, in]. */
  weight: HostTensor;
  bias: HostTensor | null;
  /** Keras activation applied after it ('relu', 'softmax', 'linear', ...). */
  activation: string;
}

export interface SeedSource {
  format: SeedFormat;
  /** File, directory or `nsfwjs:<model>` it came from. */
  location: string;
  /** How the file stored the weights, e.g. "266 uint8-quantised". */
  weights?: string;
  /** What the original does between the last feature map and its classifier. */
  pooling?: string;
  /** Classes the original outputs (its last Dense's units), also when the arch keeps no classifier. */
  outputClasses?: number | null;
  /** Activation of the original's output ('softmax': our `classifier` gives the logits before it). */
  outputActivation?: string;
  /** Assumptions the import had to make, and anything it could not carry over. */
  notes: string[];
}

export interface BuildHints {
  /** Pass to `new MobileNetV2(arch, buildOptions)`: Keras pads stride-2 convs asymmetrically. */
  padding: 'torch' | 'keras';
}

export interface SeedImport<A extends Arch = Arch> {
  arch: A;
  /** DenseNAS keys (spec §1.0), ordered as stateDictShapes(arch, 'seed'). */
  stateDict: StateDict;
  buildOptions: BuildHints;
  /** Dense layers after the pooled features that `arch` has no place for (nsfwjs: 1280 -> 256 -> 128 -> 5). */
  top: DenseLayer[];
  source: SeedSource;
}
