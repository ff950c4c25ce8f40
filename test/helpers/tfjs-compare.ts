// Comparing our GPU network with TensorFlow.js: deterministic inputs, a float32 budget derived from the
// network's depth, and our forward pass (backbone, then the imported Dense top when there is one).
import { expect } from 'vitest';
import { noGrad } from '../../engine/autograd.ts';
import type { HostTensor } from '../../engine/host.ts';
import { fromArray } from '../../engine/ops/creation.ts';
import { reshape } from '../../engine/ops/movement.ts';
import { globalAvgPool } from '../../engine/ops/pool.ts';
import { compareClose, f32Tolerance, type Tolerance } from '../../engine/testing/allclose.ts';
import type { MobileNetArch } from '../../fna/arch/index.ts';
import { MobileNetV2 } from '../../fna/models/mobilenet.ts';
import { type SeedImport, buildTop } from '../../fna/seeds/index.ts';
import { rng } from './random.ts';

/** Deterministic inputs in [-1, 1] (Keras MobileNetV2 preprocessing is x / 127.5 - 1): noise and a smooth pattern. */
export function inputs(shape: number[], seed: number): Float32Array {
  const [n, c, h, w] = shape;
  const random = rng(seed);
  const out = new Float32Array(n * c * h * w);
  for (let i = 0; i < out.length; i++) {
    const [b, ch, y, x] = [Math.floor(i / (c * h * w)), Math.floor(i / (h * w)) % c, Math.floor(i / w) % h, i % w];
    out[i] = b % 2 === 0 ? random() * 2 - 1 : Math.sin(0.2 * x + 0.3 * y + ch) * Math.cos(0.15 * y - 0.1 * x);
  }
  return out;
}

/**
 * Float32 budget for a network: each of `depth` layers rounds a sum of at most `terms` products (f32Tolerance
 * for one op budgets ~sqrt(terms) epsilons); independent per-layer errors add like a random walk, so the
 * network gets f32Tolerance(depth * terms) relative to the output's scale (its largest magnitude).
 */
export function networkTolerance(depth: number, terms: number, reference: ArrayLike<number>): Tolerance {
  let scale = 0;
  for (let i = 0; i < reference.length; i++) scale = Math.max(scale, Math.abs(reference[i]));
  return f32Tolerance(depth * terms, scale);
}

export function depthAndTerms(seed: SeedImport): { depth: number; terms: number } {
  const weights = [...seed.stateDict.values()].filter((t) => t.shape.length === 4 || (t.shape.length === 2 && t.dtype === 'float32'));
  return { depth: weights.length, terms: Math.max(...weights.map((t) => t.shape.slice(1).reduce((a, b) => a * b, 1))) };
}

export function differences(actual: ArrayLike<number>, expected: ArrayLike<number>): { maxAbs: number; maxRel: number } {
  let maxAbs = 0;
  let maxRel = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    maxAbs = Math.max(maxAbs, d);
    if (Math.abs(expected[i]) > 1e-3 * scale) maxRel = Math.max(maxRel, d / Math.abs(expected[i]));
  }
  return { maxAbs, maxRel };
}

/** Index of the first element whose float32 bits differ (or 0 on a length mismatch), -1 if none. */
export function firstBitDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return 0;
  const [x, y] = [new Uint32Array(Float32Array.from(a).buffer), new Uint32Array(Float32Array.from(b).buffer)];
  return x.findIndex((v, i) => v !== y[i]);
}

export function expectClose(actual: HostTensor | { shape: number[]; data: ArrayLike<number> }, expected: { shape: number[]; data: ArrayLike<number> }, tol: Tolerance, what: string): void {
  expect(actual.shape).toEqual(expected.shape);
  const report = compareClose(actual.data, expected.data, tol, expected.shape);
  expect(report.ok, `${what}: ${report.message}`).toBe(true);
}

export async function ourForward(seed: SeedImport<MobileNetArch>, input: Float32Array, shape: number[]): Promise<{ out: HostTensor; logits: HostTensor | null }> {
  const net = new MobileNetV2(seed.arch, seed.buildOptions);
  net.loadStateDict(seed.stateDict);
  net.eval();
  const top = seed.top.length ? buildTop(seed.top) : null;
  const [out, logits] = noGrad(() => {
    const x = fromArray(input, shape);
    const y = net.forward(x);
    x.dispose();
    if (!top) return [y, null] as const;
    const pooled = globalAvgPool(y);
    const flat = reshape(pooled, [shape[0], pooled.shape[1]]);
    const z = top.forward(flat);
    pooled.dispose();
    flat.dispose();
    return [y, z] as const;
  });
  const result = { out: await out.toHost(), logits: logits ? await logits.toHost() : null };
  out.dispose();
  logits?.dispose();
  net.dispose();
  top?.dispose();
  return result;
}
