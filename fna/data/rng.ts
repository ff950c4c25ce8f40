// Seeded RNG for data (shuffling, synthetic tasks, augmentation): xoshiro128** seeded through splitmix32.
// Period 2^128 - 1, 32-bit output, a few integer ops per draw. Not for cryptography; the engine has its
// own GPU RNG for dropout and init.

const SPLITMIX_GAMMA = 0x9e3779b9;

function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Folds any finite number (integers up to 2^53, negatives, fractions) into 32 bits. */
function hashNumber(value: number): number {
  if (!Number.isFinite(value)) throw new Error(`Rng: seed must be a finite number, got ${value}`);
  const lo = value >>> 0;
  const hi = Math.floor(value / 4294967296) >>> 0;
  const frac = Math.round((value - Math.floor(value)) * 4294967296) >>> 0;
  return mix32(mix32(lo ^ mix32(hi + SPLITMIX_GAMMA)) ^ frac);
}

export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spareNormal: number | undefined;

  constructor(seed = 0) {
    let sm = hashNumber(seed);
    const splitmix = () => {
      sm = (sm + SPLITMIX_GAMMA) >>> 0;
      return mix32(sm);
    };
    this.s0 = splitmix();
    this.s1 = splitmix();
    this.s2 = splitmix();
    this.s3 = splitmix();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the all-zero state is a fixed point
  }

  /**
   * An independent generator for a sub-stream, e.g. `Rng.derive(seed, epoch, sampleIndex)`, so that a
   * sample's randomness does not depend on which other samples were drawn before it.
   */
  static derive(seed: number, ...streams: number[]): Rng {
    let h = hashNumber(seed);
    for (const s of streams) h = mix32(h ^ hashNumber(s) ^ 0x5bd1e995) + SPLITMIX_GAMMA;
    return new Rng(h >>> 0);
  }

  /** Uniform integer in [0, 2^32). */
  next(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform float in [lo, hi), 32 bits of resolution. */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * (this.next() / 4294967296);
  }

  /** Gaussian via Box–Muller; the second value of each pair is kept for the next call. */
  normal(mean = 0, std = 1): number {
    if (this.spareNormal !== undefined) {
      const z = this.spareNormal;
      this.spareNormal = undefined;
      return mean + std * z;
    }
    const u = 1 - this.uniform(); // in (0, 1], so log(u) is finite
    const r = Math.sqrt(-2 * Math.log(u));
    const theta = 2 * Math.PI * this.uniform();
    this.spareNormal = r * Math.sin(theta);
    return mean + std * r * Math.cos(theta);
  }

  /** Uniform integer in [0, n), without modulo bias (rejects the top partial range). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 4294967296) {
      throw new Error(`Rng.int: n must be an integer in [1, 2^32], got ${n}`);
    }
    const limit = 4294967296 - (4294967296 % n);
    let x = this.next();
    while (x >= limit) x = this.next();
    return x % n;
  }

  bernoulli(p: number): boolean {
    return this.uniform() < p;
  }

  /** Fisher–Yates, in place; returns the same array. */
  shuffle<A extends { length: number; [i: number]: unknown }>(array: A): A {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = array[i];
      array[i] = array[j];
      array[j] = tmp;
    }
    return array;
  }

  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
