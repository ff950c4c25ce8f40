// CPU twin of the Philox4x32-10 generator in kernels/rng.ts, written with BigInt products (independent of
// the shader's 16-bit split), to check the GPU bits exactly and to reproduce GPU draws on the host.

const M0 = 0xd2511f53n;
const M1 = 0xcd9e8d57n;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

function mulHiLo(a: bigint, b: number): [number, number] {
  const p = a * BigInt(b >>> 0);
  return [Number(p >> 32n) >>> 0, Number(p & 0xffffffffn) >>> 0];
}

/** Philox4x32 with 10 rounds: counter (4 words), key (2 words) -> 4 words. */
export function philox4x32_10(counter: readonly number[], key: readonly number[]): number[] {
  let [c0, c1, c2, c3] = counter.map((v) => v >>> 0);
  let [k0, k1] = key.map((v) => v >>> 0);
  for (let round = 0; round < 10; round++) {
    const [hi0, lo0] = mulHiLo(M0, c0);
    const [hi1, lo1] = mulHiLo(M1, c2);
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  return [c0, c1, c2, c3];
}

/** The raw 32-bit words a generator with `seed` at block `offset` gives for n elements. */
export function philoxWords(seed: number, offset: number, n: number): Uint32Array {
  const out = new Uint32Array(n);
  const key = [seed % 2 ** 32, Math.floor(seed / 2 ** 32)];
  for (let block = 0; block * 4 < n; block++) {
    const c = offset + block;
    const words = philox4x32_10([c % 2 ** 32, Math.floor(c / 2 ** 32), 0, 0], key);
    for (let q = 0; q < 4 && block * 4 + q < n; q++) out[block * 4 + q] = words[q];
  }
  return out;
}

/** rand()'s values in [0, 1) for those words: (w >> 8) * 2^-24, exact in float32. */
export function philoxUniform(seed: number, offset: number, n: number): Float64Array {
  return Float64Array.from(philoxWords(seed, offset, n), (w) => (w >>> 8) * 2 ** -24);
}
