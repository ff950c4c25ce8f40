// Parameter initialisation on the host with a small seeded generator, then one upload.
// Deterministic for a seed, whatever the GPU; matches PyTorch's default init distributions.
import { sizeOf } from '../host.ts';
import { fromArray } from '../ops/creation.ts';
import type { Tensor } from '../tensor.ts';

/** xoshiro128** — small, fast, good enough for initialisation and shuffling. */
export class HostRng {
  private s: Uint32Array;
  constructor(seed: number) {
    // splitmix32 to spread the seed over the state
    this.s = new Uint32Array(4);
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
  }

  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextU32() / 2 ** 32;
  }

  normal(): number {
    const u = 1 - this.uniform(); // (0, 1]: log stays finite
    const v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

let defaultRng = new HostRng(0);
/** Seeds the generator used by layer constructors that are not given one. */
export function manualSeedInit(seed: number): void {
  defaultRng = new HostRng(seed);
}
export function initRng(): HostRng {
  return defaultRng;
}

export function uniformTensor(shape: number[], bound: number, rng = defaultRng): Tensor {
  const data = new Float32Array(sizeOf(shape));
  for (let i = 0; i < data.length; i++) data[i] = (rng.uniform() * 2 - 1) * bound;
  return fromArray(data, shape);
}

export function normalTensor(shape: number[], std: number, rng = defaultRng): Tensor {
  const data = new Float32Array(sizeOf(shape));
  for (let i = 0; i < data.length; i++) data[i] = rng.normal() * std;
  return fromArray(data, shape);
}

/** fan_in of a Linear [out, in] or conv [out, in/groups, kh, kw] weight. */
export function fanIn(shape: number[]): number {
  return sizeOf(shape.slice(1));
}

/** PyTorch's default for Linear and Conv weights: kaiming_uniform(a = sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
export function defaultWeight(shape: number[], rng = defaultRng): Tensor {
  return uniformTensor(shape, 1 / Math.sqrt(fanIn(shape)), rng);
}

/** kaiming_normal(mode='fan_out') as torchvision's MobileNetV2 initialises convs. */
export function kaimingNormalFanOut(shape: number[], rng = defaultRng): Tensor {
  const fanOut = shape[0] * sizeOf(shape.slice(2));
  return normalTensor(shape, Math.sqrt(2 / fanOut), rng);
}
