// Seeded random tensors from a counter-based generator (Philox4x32-10, kernels/rng.ts). A Generator is a
// 64-bit seed plus a 64-bit block offset; every draw of n values uses blocks [offset, offset + ceil(n / 4))
// and advances the offset past them. So values depend only on the seed and the order of draws, never on
// how the GPU schedules the work. The global generator starts from seed 0 (reproducible by default).
import { apply, type FunctionDef } from '../autograd.ts';
import { grid1d } from '../kernel.ts';
import { shapeString, sizeOf, type DType } from '../host.ts';
import { allocate, type Tensor } from '../tensor.ts';
import { randomKernels, type RandomMode } from '../../kernels/rng.ts';
import { WG } from '../../kernels/prelude.ts';
import { zerosLike } from './creation.ts';
import { map } from './map.ts';

const TWO_32 = 2 ** 32;

function checkSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new Error(`Generator: seed ${seed} must be a non-negative safe integer (up to 2^53 - 1)`);
  }
}

export interface GeneratorState {
  seed: number;
  /** Philox blocks (4 values each) consumed so far. */
  offset: number;
}

export class Generator {
  #seed = 0;
  #offset = 0;

  constructor(seed = 0) {
    this.manualSeed(seed);
  }

  /** Restarts the stream: the same seed gives the same sequence of draws. */
  manualSeed(seed: number): this {
    checkSeed(seed);
    this.#seed = seed;
    this.#offset = 0;
    return this;
  }

  get seed(): number {
    return this.#seed;
  }

  getState(): GeneratorState {
    return { seed: this.#seed, offset: this.#offset };
  }

  setState(state: GeneratorState): void {
    checkSeed(state.seed);
    if (!Number.isSafeInteger(state.offset) || state.offset < 0) throw new Error(`Generator: offset ${state.offset} is invalid`);
    this.#seed = state.seed;
    this.#offset = state.offset;
  }

  /** Reserves the blocks for `n` values and returns the first one's offset. */
  advance(n: number): number {
    const first = this.#offset;
    this.#offset += Math.ceil(n / 4);
    return first;
  }
}

export const defaultGenerator = new Generator(0);

/** Seeds the global generator. */
export function manualSeed(seed: number): void {
  defaultGenerator.manualSeed(seed);
}

interface DrawParams {
  a?: number;
  b?: number;
  lo?: number;
  range?: number;
}

function draw(op: string, shape: readonly number[], mode: RandomMode, dtype: DType, gen: Generator, p: DrawParams): Tensor {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${op}: invalid shape ${shapeString(shape)}`);
  }
  const n = sizeOf(shape);
  if (n >= TWO_32 - 4) throw new Error(`${op}: ${n} elements exceed the 2^32 counter range of one draw`);
  const out = allocate(shape, dtype, op);
  const offset = gen.advance(n);
  const split = (v: number) => [v % TWO_32, Math.floor(v / TWO_32)];
  randomKernels.get({ mode }).run(
    { out: out.storage },
    { n, seed: split(gen.seed), offset: split(offset), a: p.a ?? 0, b: p.b ?? 0, lo: p.lo ?? 0, range: p.range ?? 0 },
    grid1d(Math.ceil(n / 4), WG),
  );
  return out;
}

export interface RandOptions {
  generator?: Generator;
  requiresGrad?: boolean;
}

function finish(t: Tensor, opts: RandOptions): Tensor {
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

/** Uniform float32 in [lo, hi) (default [0, 1)). */
export function rand(shape: readonly number[], opts: RandOptions & { lo?: number; hi?: number } = {}): Tensor {
  const { lo = 0, hi = 1 } = opts;
  if (!(lo <= hi) || !Number.isFinite(hi - lo)) throw new Error(`rand: need finite lo <= hi, got [${lo}, ${hi})`);
  return finish(draw('rand', shape, 'uniform', 'float32', opts.generator ?? defaultGenerator, { a: lo, b: hi }), opts);
}

/** Normal float32 with the given mean and standard deviation (default 0, 1), by Box-Muller. */
export function randn(shape: readonly number[], opts: RandOptions & { mean?: number; std?: number } = {}): Tensor {
  const { mean = 0, std = 1 } = opts;
  if (!Number.isFinite(mean) || !(std >= 0) || !Number.isFinite(std)) throw new Error(`randn: need a finite mean and std >= 0, got ${mean}, ${std}`);
  return finish(draw('randn', shape, 'normal', 'float32', opts.generator ?? defaultGenerator, { a: mean, b: std }), opts);
}

/** Uniform int32 in [lo, hi). */
export function randint(shape: readonly number[], lo: number, hi: number, opts: { generator?: Generator } = {}): Tensor {
  const int32 = (v: number) => Number.isInteger(v) && v >= -(2 ** 31) && v <= 2 ** 31 - 1;
  if (!int32(lo) || !int32(hi) || lo >= hi) throw new Error(`randint: need int32 bounds lo < hi, got [${lo}, ${hi})`);
  return draw('randint', shape, 'int', 'int32', opts.generator ?? defaultGenerator, { lo, range: hi - lo });
}

/** Float32 0/1 samples: 1 with probability probs[i] (probs float32, values in [0, 1]). No gradient. */
export function bernoulli(probs: Tensor, opts: { generator?: Generator } = {}): Tensor {
  if (probs.dtype !== 'float32') throw new Error(`bernoulli: probs ${shapeString(probs.shape)} must be float32, got ${probs.dtype}`);
  const u = draw('bernoulli', probs.shape, 'uniform', 'float32', opts.generator ?? defaultGenerator, { a: 0, b: 1 });
  const sample = map('bernoulli', 'select(0.0, 1.0, a < b)', [u, probs]);
  u.dispose();
  return sample;
}

interface DropoutAttrs {
  p: number;
  generator: Generator;
}

const Dropout: FunctionDef<DropoutAttrs> = {
  name: 'dropout',
  forward(ctx, [x], { p, generator }) {
    // The mask holds 0 or 1 / (1 - p): scaling at train time keeps the expected activation unchanged.
    const mask = draw('dropout', x.shape, 'dropout', 'float32', generator, { a: p, b: 1 / (1 - p) });
    const out = map('mul', 'a * b', [x, mask]);
    if (ctx.needsInputGrad[0]) ctx.save(mask);
    mask.dispose();
    return out;
  },
  backward: (ctx, g) => [map('mul', 'a * b', [g, ctx.saved[0]])],
};

const Identity: FunctionDef = {
  name: 'dropout',
  forward: (_ctx, [x]) => x.view(x.shape, x.strides, x.offset),
  backward: (_ctx, g) => [g],
};

const DropAll: FunctionDef = {
  name: 'dropout',
  forward: (_ctx, [x]) => zerosLike(x),
  backward: (_ctx, g) => [zerosLike(g)],
};

/**
 * Zeroes each element with probability p and scales the rest by 1 / (1 - p) when training; returns x
 * unchanged (a new view) otherwise or when p = 0. p = 1 gives zeros.
 */
export function dropout(x: Tensor, p = 0.5, training = true, generator: Generator = defaultGenerator): Tensor {
  if (!(p >= 0 && p <= 1)) throw new Error(`dropout: p ${p} must lie in [0, 1]`);
  if (x.dtype !== 'float32') throw new Error(`dropout: expects float32, got ${x.dtype} ${shapeString(x.shape)}`);
  if (!training || p === 0) return apply(Identity, [x], undefined);
  if (p === 1) return apply(DropAll, [x], undefined);
  return apply(Dropout, [x], { p, generator });
}
