import { describe, expect, it } from 'vitest';
import {
  backward,
  bernoulli,
  defaultGenerator,
  dropout,
  fromArray,
  Generator,
  manualSeed,
  memory,
  rand,
  randint,
  randn,
  sync,
  type Tensor,
} from '../engine/index.ts';
import { philox4x32_10, philoxUniform, philoxWords } from '../engine/testing/refs/random.ts';

async function read(t: Tensor): Promise<number[]> {
  const v = Array.from(await t.toArray());
  t.dispose();
  return v;
}

function moments(xs: readonly number[]): { mean: number; variance: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1);
  return { mean, variance };
}

/**
 * |observed - expected| must stay within 5 standard errors: a correct generator fails with probability
 * ~6e-7 (and never here, since the seed is fixed), while a biased one of the size we care about fails.
 */
function expectWithin(what: string, observed: number, expected: number, standardError: number): void {
  const z = Math.abs(observed - expected) / standardError;
  expect(z, `${what}: observed ${observed}, expected ${expected} ± ${standardError} (z = ${z.toFixed(2)})`).toBeLessThan(5);
}

const N = 2 ** 18;

describe('Philox4x32-10', () => {
  it('the CPU twin reproduces the Random123 known-answer vectors', () => {
    const hex = (ws: number[]) => ws.map((w) => w.toString(16).padStart(8, '0')).join(' ');
    expect(hex(philox4x32_10([0, 0, 0, 0], [0, 0]))).toBe('6627e8d5 e169c58d bc57ac4c 9b00dbd8');
    expect(hex(philox4x32_10([~0, ~0, ~0, ~0], [~0, ~0]))).toBe('408f276d 41c83b0e a20bc7c6 6d5451fd');
    expect(hex(philox4x32_10([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]))).toBe(
      'd16cfe09 94fdcceb 5001e420 24126ea1',
    );
  });

  it('the GPU gives exactly the CPU twin bits, for any length and a 64-bit offset carry', async () => {
    for (const n of [1, 3, 4, 5, 1023, 70_001]) {
      const g = new Generator(123456789012);
      expect(await read(rand([n], { generator: g }))).toEqual(Array.from(philoxUniform(123456789012, 0, n)));
    }
    const g = new Generator(7);
    g.setState({ seed: 7, offset: 2 ** 32 - 2 }); // blocks 2^32 - 2 .. 2^32 + 1 cross into the high word
    expect(await read(rand([16], { generator: g }))).toEqual(Array.from(philoxUniform(7, 2 ** 32 - 2, 16)));
    expect(g.getState()).toEqual({ seed: 7, offset: 2 ** 32 + 2 });
  });
});

describe('generators', () => {
  it('are deterministic per seed, and manualSeed restarts the global stream', async () => {
    manualSeed(42);
    const a = await read(rand([100]));
    const b = await read(randn([10]));
    manualSeed(42);
    expect(await read(rand([100]))).toEqual(a);
    expect(await read(randn([10]))).toEqual(b);
    expect(await read(rand([100], { generator: new Generator(42) }))).toEqual(a);
    expect(await read(rand([100], { generator: new Generator(43) }))).not.toEqual(a);
  });

  it('do not depend on how draws are batched (whole blocks of 4)', async () => {
    const split = new Generator(5);
    const parts = [...(await read(rand([400], { generator: split }))), ...(await read(rand([800], { generator: split })))];
    expect(await read(rand([1200], { generator: new Generator(5) }))).toEqual(parts);
  });

  it('explicit generators leave the global one untouched', async () => {
    manualSeed(9);
    const before = defaultGenerator.getState();
    await read(randn([50], { generator: new Generator(1) }));
    expect(defaultGenerator.getState()).toEqual(before);
    expect(() => new Generator(-1)).toThrow(/Generator: seed -1 must be a non-negative safe integer/);
  });
});

describe('distributions', () => {
  it('rand: values in [lo, hi) with the uniform mean and variance', async () => {
    const [lo, hi] = [-3, 5];
    const xs = await read(rand([N], { lo, hi, generator: new Generator(11) }));
    expect(xs.reduce((a, b) => Math.min(a, b))).toBeGreaterThanOrEqual(lo);
    expect(xs.reduce((a, b) => Math.max(a, b))).toBeLessThan(hi);
    const { mean, variance } = moments(xs);
    const w = hi - lo;
    expectWithin('mean', mean, (lo + hi) / 2, Math.sqrt(w ** 2 / 12 / N));
    // Var(sample variance) ~ (mu4 - sigma^4) / n with mu4 = w^4 / 80 for a uniform.
    expectWithin('variance', variance, w ** 2 / 12, Math.sqrt((w ** 4 / 80 - (w ** 2 / 12) ** 2) / N));
  });

  it('randn: mean, variance and the one-sigma mass of a normal', async () => {
    const [mu, sigma] = [1.5, 2];
    const xs = await read(randn([N], { mean: mu, std: sigma, generator: new Generator(12) }));
    const { mean, variance } = moments(xs);
    expectWithin('mean', mean, mu, sigma / Math.sqrt(N));
    expectWithin('variance', variance, sigma ** 2, sigma ** 2 * Math.sqrt(2 / N));
    const p = 0.6826894921370859;
    const inside = xs.filter((x) => Math.abs(x - mu) < sigma).length / N;
    expectWithin('P(|z| < 1)', inside, p, Math.sqrt((p * (1 - p)) / N));
  });

  it('randn: Box-Muller on the twin words, up to the shader log/cos accuracy', async () => {
    const n = 1001;
    const words = philoxWords(3, 0, n + 3);
    const xs = await read(randn([n], { generator: new Generator(3) }));
    for (let e = 0; e < n; e++) {
      const pair = e & ~1;
      const u1 = ((words[pair] >>> 8) + 1) * 2 ** -24;
      const u2 = (words[pair + 1] >>> 8) * 2 ** -24;
      const angle = 2 * Math.PI * u2;
      const z = Math.sqrt(-2 * Math.log(u1)) * (e % 2 ? Math.sin(angle) : Math.cos(angle));
      // log's absolute error (2^-21 near 1 in Vulkan) becomes |dz| ~ 2^-21 / radius for small radii.
      expect(Math.abs(xs[e] - z), `element ${e}`).toBeLessThan(1e-4 * (1 + Math.abs(z)) + 2 ** -21 / Math.sqrt(-2 * Math.log(u1)));
    }
  });

  it('randint: int32 values in [lo, hi), every value about equally often', async () => {
    const [lo, hi] = [-7, 10];
    const t = randint([N], lo, hi, { generator: new Generator(13) });
    expect(t.dtype).toBe('int32');
    const xs = await read(t);
    const counts = new Map<number, number>();
    for (const x of xs) counts.set(x, (counts.get(x) ?? 0) + 1);
    expect([...counts.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: hi - lo }, (_, i) => lo + i));
    const p = 1 / (hi - lo);
    for (const [v, c] of counts) expectWithin(`count of ${v}`, c, N * p, Math.sqrt(N * p * (1 - p)));
    const wide = await read(randint([1000], -(2 ** 31), 2 ** 31 - 1, { generator: new Generator(1) }));
    expect(wide.every((v) => Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31 - 1)).toBe(true);
    expect(() => randint([2], 3, 3)).toThrow(/randint: need int32 bounds lo < hi, got \[3, 3\)/);
  });

  it('bernoulli: 1 with probability p per element; p = 0 and 1 are exact', async () => {
    const n = 3 * 2 ** 16;
    const probs = fromArray(Float32Array.from({ length: n }, (_, i) => [0, 0.3, 1][i % 3]), [n]);
    const xs = await read(bernoulli(probs, { generator: new Generator(14) }));
    probs.dispose();
    const ones = [0, 1, 2].map((k) => xs.filter((x, i) => i % 3 === k && x === 1).length);
    expect(ones[0]).toBe(0);
    expect(ones[2]).toBe(n / 3);
    expectWithin('P(1) at p = 0.3', ones[1] / (n / 3), 0.3, Math.sqrt((0.3 * 0.7) / (n / 3)));
    expect(xs.every((x) => x === 0 || x === 1)).toBe(true);
  });
});

describe('dropout', () => {
  it('zeroes a fraction p, scales the rest by 1/(1 - p), and the gradient uses the same mask', async () => {
    const p = 0.3;
    const n = N;
    const xValues = Float32Array.from({ length: n }, (_, i) => 1 + (i % 7));
    const x = fromArray(xValues, [n], { requiresGrad: true });
    const y = dropout(x, p, true, new Generator(15));
    const g = fromArray(Float32Array.from({ length: n }, (_, i) => (i % 5) - 2), [n]);
    backward(y, g);
    const [ys, gx, gs] = [await y.toArray(), await x.grad!.toArray(), await g.toArray()];
    let dropped = 0;
    let sum = 0;
    const wrong: string[] = [];
    for (let i = 0; i < n; i++) {
      const kept = ys[i] !== 0;
      if (!kept) dropped++;
      const mask = kept ? Math.fround(1 / (1 - p)) : 0;
      if (ys[i] !== Math.fround(xValues[i] * mask)) wrong.push(`y[${i}] = ${ys[i]}, x = ${xValues[i]}, mask ${mask}`);
      if (gx[i] !== Math.fround(gs[i] * mask)) wrong.push(`dx[${i}] = ${gx[i]}, g = ${gs[i]}, mask ${mask}`);
      sum += ys[i] / xValues[i];
    }
    expect(wrong.slice(0, 5)).toEqual([]);
    expectWithin('dropped fraction', dropped / n, p, Math.sqrt((p * (1 - p)) / n));
    // E[mask] = 1: the scaling keeps the expected activation.
    expectWithin('mean of mask', sum / n, 1, Math.sqrt(p / (1 - p) / n));
    for (const t of [x, y, g]) t.dispose();
    await sync();
    expect(memory().live).toBe(0);
  });

  it('is the identity in eval mode or with p = 0, and all zeros with p = 1 (gradients too)', async () => {
    const x = fromArray([1, -2, 3], [3], { requiresGrad: true });
    for (const [p, training] of [[0.5, false], [0, true]] as const) {
      const y = dropout(x, p, training);
      expect(Array.from(await y.toArray())).toEqual([1, -2, 3]);
      y.dispose();
    }
    const zero = dropout(x, 1);
    expect(Array.from(await zero.toArray())).toEqual([0, 0, 0]);
    const ones = fromArray([1, 1, 1], [3]);
    backward(zero, ones);
    ones.dispose();
    expect(Array.from(await x.grad!.toArray())).toEqual([0, 0, 0]);
    expect(() => dropout(x, 1.5)).toThrow(/dropout: p 1.5 must lie in \[0, 1\]/);
    for (const t of [x, zero]) t.dispose();
  });

  it('same generator seed, same mask', async () => {
    const x = fromArray(new Float32Array(1000).fill(1), [1000]);
    const a = await read(dropout(x, 0.5, true, new Generator(77)));
    const b = await read(dropout(x, 0.5, true, new Generator(77)));
    expect(b).toEqual(a);
    x.dispose();
  });
});
