// Width + kernel remapping of one tensor: copy an index sub-block of the seed tensor into a fresh target.
// Conv/linear weights start from zeros (FNA rebuilds them), 1-D tensors start from the target's init values.
import { type HostTensor, hostTensor, shapeString } from '../../engine/host.ts';
import { type KernelPlacement, kernelAxisMap } from './kernel.ts';

/** Along one axis, target index target[j] receives seed index source[j]. */
export interface AxisMap {
  target: number[];
  source: number[];
}

export function firstK(seedSize: number, targetSize: number): AxisMap {
  const n = Math.min(seedSize, targetSize);
  const idx = Array.from({ length: n }, (_, i) => i);
  return { target: idx, source: [...idx] };
}

/** Target channels 0..q-1 take the given seed channels (ascending), q = min(targetSize, indices.length). */
export function selectChannels(sourceIndices: readonly number[], targetSize: number): AxisMap {
  const source = sourceIndices.slice(0, targetSize);
  return { target: source.map((_, j) => j), source };
}

/** Rank-2 ([O, I]) or rank-4 ([O, I/g, kH, kW]) weight: zeros, then the mapped sub-block of the seed. */
export function remapWeight(seed: HostTensor, targetShape: readonly number[], axes: readonly AxisMap[]): HostTensor {
  if (targetShape.length !== seed.shape.length || axes.length !== targetShape.length) {
    throw new Error(`remapWeight: seed ${shapeString(seed.shape)} and target ${shapeString(targetShape)} need one axis map per axis`);
  }
  const pad = (dims: readonly number[]): number[] => (dims.length === 2 ? [...dims, 1, 1] : [...dims]);
  const unit: AxisMap = { target: [0], source: [0] };
  const [mo, mi, mh, mw] = axes.length === 2 ? [...axes, unit, unit] : axes;
  const [, sI, sH, sW] = pad(seed.shape);
  const [, tI, tH, tW] = pad(targetShape);
  const out = hostTensor([...targetShape]);
  const src = seed.data;
  const dst = out.data;
  for (let a = 0; a < mo.target.length; a++) {
    for (let b = 0; b < mi.target.length; b++) {
      const sBase = (mo.source[a] * sI + mi.source[b]) * sH;
      const tBase = (mo.target[a] * tI + mi.target[b]) * tH;
      for (let y = 0; y < mh.target.length; y++) {
        const sRow = (sBase + mh.source[y]) * sW;
        const tRow = (tBase + mh.target[y]) * tW;
        for (let x = 0; x < mw.target.length; x++) dst[tRow + mw.target[x]] = src[sRow + mw.source[x]];
      }
    }
  }
  return out;
}

/** 1-D tensor: the target's initial values, with mapped entries overwritten by the seed's. */
export function remapVector(seed: HostTensor, initial: HostTensor, map: AxisMap): HostTensor {
  const out = hostTensor([...initial.shape], initial.data, initial.dtype);
  for (let j = 0; j < map.target.length; j++) out.data[map.target[j]] = seed.data[map.source[j]];
  return out;
}

export interface ConvRemapOptions {
  kernelPlacement?: KernelPlacement;
  /** Seed output channels for target outputs 0..q-1 (default first-k). */
  outChannels?: readonly number[];
  /** Seed input channels (per group) for target inputs 0..q-1 (default first-k). */
  inChannels?: readonly number[];
}

/** The axis maps of a conv weight [O, I/g, kH, kW]: channels first-k (or given), kernel by placement. */
export function convAxisMaps(seedShape: readonly number[], targetShape: readonly number[], options: ConvRemapOptions = {}): AxisMap[] {
  const placement = options.kernelPlacement ?? 'centre';
  return [
    options.outChannels ? selectChannels(options.outChannels, targetShape[0]) : firstK(seedShape[0], targetShape[0]),
    options.inChannels ? selectChannels(options.inChannels, targetShape[1]) : firstK(seedShape[1], targetShape[1]),
    kernelAxisMap(seedShape[2], targetShape[2], placement),
    kernelAxisMap(seedShape[3], targetShape[3], placement),
  ];
}

/** Width + kernel remap of one conv weight, the core of spec §1.2. */
export function remapConvWeight(seed: HostTensor, targetShape: readonly number[], options: ConvRemapOptions = {}): HostTensor {
  if (seed.shape.length !== 4 || targetShape.length !== 4) {
    throw new Error(`remapConvWeight: expected rank-4 weights, got seed ${shapeString(seed.shape)} and target ${shapeString(targetShape)}`);
  }
  return remapWeight(seed, targetShape, convAxisMaps(seed.shape, targetShape, options));
}
