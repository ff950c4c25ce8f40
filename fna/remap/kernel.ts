// Kernel-level remapping (spec §1.2): which seed tap lands on which target tap, per spatial axis.
import type { AxisMap } from './tensor.ts';

export type KernelPlacement = 'centre' | 'dilate';

/** FNA's narrow offsets: target (k_t - m) // 2, seed (k_s - m) // 2 with m = min(k_s, k_t). */
export function kernelOffsets(seedKernel: number, targetKernel: number): { target: number; seed: number } {
  const m = Math.min(seedKernel, targetKernel);
  return { target: Math.floor((targetKernel - m) / 2), seed: Math.floor((seedKernel - m) / 2) };
}

function range(n: number, start = 0, step = 1): number[] {
  return Array.from({ length: n }, (_, i) => start + i * step);
}

/**
 * 'centre': the min(k_s, k_t) middle taps (zero ring on growth, centre crop on shrink).
 * 'dilate' (ablation "Kernel-Dilate"): on growth the k_s taps go to positions i * (k_t-1)/(k_s-1), e.g.
 * {0, (k-1)/2, k-1} for a 3x3 seed; on shrink the same positions are read back. A 1-tap side sits in the centre.
 */
export function kernelAxisMap(seedKernel: number, targetKernel: number, placement: KernelPlacement = 'centre'): AxisMap {
  if (placement === 'centre' || seedKernel === targetKernel || Math.min(seedKernel, targetKernel) === 1) {
    const m = Math.min(seedKernel, targetKernel);
    const off = kernelOffsets(seedKernel, targetKernel);
    return { target: range(m, off.target), source: range(m, off.seed) };
  }
  const [small, large] = seedKernel < targetKernel ? [seedKernel, targetKernel] : [targetKernel, seedKernel];
  const step = (large - 1) / (small - 1);
  if (!Number.isInteger(step)) {
    throw new Error(`'dilate' placement needs (${large} - 1) divisible by (${small} - 1), for kernels ${seedKernel} -> ${targetKernel}`);
  }
  const spread = range(small, 0, step);
  return seedKernel < targetKernel ? { target: spread, source: range(small) } : { target: range(small), source: spread };
}
