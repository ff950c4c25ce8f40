// Seeded randomness and tolerances shared by the remap tests.
import { type HostTensor, type StateDict, hostTensor } from '../../engine/host.ts';
import { type Arch, type StateDictShapes, stateDictShapes } from '../../fna/arch/index.ts';

/** mulberry32: small, fast, deterministic. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform in ±[0.05, 1): never exactly zero, so zero-fill checks cannot be fooled. */
export function nonZero(random: () => number): number {
  return (random() < 0.5 ? -1 : 1) * (0.05 + 0.95 * random());
}

/** A seed state dict for the given shapes: non-zero weights, positive running variances. */
export function randomStateDict(shapes: StateDictShapes, seed: number): StateDict {
  const random = rng(seed);
  const sd: StateDict = new Map();
  for (const [key, spec] of shapes) {
    const t = hostTensor(spec.shape, undefined, spec.dtype);
    for (let i = 0; i < t.data.length; i++) {
      if (spec.init === 'count') t.data[i] = Math.floor(random() * 10000);
      else if (spec.init === 'bn_var') t.data[i] = 0.25 + random();
      else t.data[i] = nonZero(random);
    }
    sd.set(key, t);
  }
  return sd;
}

export function bitwiseEqual(a: HostTensor, b: HostTensor): boolean {
  if (a.dtype !== b.dtype || a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) return false;
  const x = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const y = new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

const F32_EPS = 2 ** -23;

/**
 * First index where |a - b| > atol + rtol·|b| (float32-scaled: rtol = 64·eps, atol = rtol·scale), or -1.
 * `scale` is the magnitude of the reference values, so sums of many terms get a fair absolute tolerance.
 */
export function firstMismatch(actual: ArrayLike<number>, expected: ArrayLike<number>, scale = 1): number {
  if (actual.length !== expected.length) return 0;
  const rtol = 64 * F32_EPS;
  const atol = rtol * scale;
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i] - expected[i]) <= atol + rtol * Math.abs(expected[i]))) return i;
  }
  return -1;
}

export function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]));
  return m;
}

/** A seed for remap(): the arch plus a random state dict in its seed layout. */
export function randomSeed<A extends Arch>(arch: A, seed: number): { arch: A; stateDict: StateDict } {
  return { arch, stateDict: randomStateDict(stateDictShapes(arch, 'seed'), seed) };
}
