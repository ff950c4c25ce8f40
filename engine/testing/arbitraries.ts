// fast-check arbitraries for numerical property tests: shapes, broadcast pairs, axes, values, conv configs.
import fc from 'fast-check';
import { sizeOf } from '../host.ts';
import type { Layout } from './layout.ts';
import { ref, type RefTensor } from './reference.ts';

/** Dimensions biased to edge sizes: 1, small odd, powers of two and their neighbours. */
export const dim = (max = 9): fc.Arbitrary<number> => {
  const edges = [2, 3, 4, 5, 7, 8, 15, 16, 17].filter((d) => d <= max);
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(1) },
    { weight: 5, arbitrary: fc.integer({ min: 1, max: Math.max(1, max) }) },
    { weight: 1, arbitrary: edges.length ? fc.constantFrom(...edges) : fc.constant(1) },
  );
};

/** Bounds for generated shapes. */
export interface ShapeOptions {
  minRank?: number;
  maxRank?: number;
  maxDim?: number;
  /** Upper bound on the number of elements. */
  maxSize?: number;
}

/** Shapes of rank minRank..maxRank (default 0..4) with edge-biased dims and at most maxSize elements. */
export function shape(opts: ShapeOptions = {}): fc.Arbitrary<number[]> {
  const { minRank = 0, maxRank = 4, maxDim = 9, maxSize = 4096 } = opts;
  return fc.array(dim(maxDim), { minLength: minRank, maxLength: maxRank }).filter((s) => sizeOf(s) <= maxSize);
}

/** A shape with more than 2^16 elements (just past the 65535-workgroup and 16-bit boundaries). */
export const largeShape = (): fc.Arbitrary<number[]> =>
  fc.constantFrom([65537], [257, 257], [2, 32769], [3, 5, 4373]);

/** Two shapes that broadcast together: each axis of the second is the first's, 1, or missing. */
export function broadcastPair(opts: ShapeOptions = {}): fc.Arbitrary<[number[], number[]]> {
  return shape(opts).chain((a) =>
    fc
      .tuple(
        fc.integer({ min: 0, max: a.length }),
        fc.array(fc.constantFrom<'same' | 'one' | 'stretch'>('same', 'one', 'stretch'), { minLength: a.length, maxLength: a.length }),
        fc.boolean(),
      )
      .map(([drop, modes, swap]) => {
        const b = a.map((d, i) => (modes[i] === 'one' ? 1 : d));
        // 'stretch': the first input has 1 where the second has d, so both sides broadcast.
        const a2 = a.map((d, i) => (modes[i] === 'stretch' && d > 1 ? 1 : d));
        const bFinal = b.slice(drop);
        return swap ? [a2, bFinal] : [bFinal, a2];
      }),
  ) as fc.Arbitrary<[number[], number[]]>;
}

/** A non-empty subset of the axes of a rank-r shape (sorted), possibly with negative spellings. */
export function axesOf(rank: number): fc.Arbitrary<number[]> {
  if (rank === 0) return fc.constant([]);
  return fc.subarray([...Array(rank).keys()], { minLength: 1 }).chain((axes) =>
    fc.tuple(...axes.map((a) => fc.constantFrom(a, a - rank))),
  );
}

/**
 * How an input of logical shape `s` is stored and viewed: dense, permuted (strided), expanded (stride-0 axes,
 * some leading axes missing) or both. Upload values for `layout.stored`; see engine/testing/layout.ts.
 */
export function layoutOf(s: readonly number[]): fc.Arbitrary<Layout> {
  const rank = s.length;
  const permutation = fc.shuffledSubarray([...Array(rank).keys()], { minLength: rank, maxLength: rank });
  const ones = fc.array(fc.boolean(), { minLength: rank, maxLength: rank });
  return fc
    .record({ permuted: fc.boolean(), expanded: fc.boolean(), perm: permutation, ones, drop: fc.integer({ min: 0, max: rank }) })
    .map(({ permuted, expanded, perm, ones, drop }) => {
      // The view before expansion: size-1 where `ones`, and without `drop` leading axes.
      const pre = expanded ? s.map((d, i) => (ones[i] ? 1 : d)).slice(drop) : [...s];
      const p = permuted && pre.length > 1 ? perm.filter((d) => d < pre.length) : null;
      const stored = [...pre];
      if (p) p.forEach((from, i) => (stored[from] = pre[i]));
      return { shape: [...s], stored, ...(p ? { permute: p } : {}) };
    });
}

/** Values in [lo, hi], optionally kept away from `avoid` points (kinks such as 0 for relu). */
export function values(n: number, lo = -2, hi = 2, avoid: number[] = [], margin = 1e-2): fc.Arbitrary<Float64Array> {
  return fc.array(fc.double({ min: lo, max: hi, noNaN: true, noDefaultInfinity: true }), { minLength: n, maxLength: n }).map((xs) =>
    Float64Array.from(xs, (x) => {
      for (const p of avoid) if (Math.abs(x - p) < margin) x = p + (x >= p ? margin : -margin);
      return x;
    }),
  );
}

/** A reference tensor of the given shape with values drawn as in `values`. */
export function tensorOf(s: number[], lo = -2, hi = 2, avoid: number[] = []): fc.Arbitrary<RefTensor> {
  return values(sizeOf(s), lo, hi, avoid).map((v) => ref(s, v));
}

/** One conv2d configuration (NCHW input, OIHW weight). */
export interface ConvConfig {
  batch: number;
  inChannels: number;
  outChannels: number;
  groups: number;
  height: number;
  width: number;
  kernelH: number;
  kernelW: number;
  stride: [number, number];
  dilation: [number, number];
  /** top, bottom, left, right */
  padding: [number, number, number, number];
  bias: boolean;
}

/** Conv configurations: dense, grouped and depthwise; asymmetric padding; 1x1 and non-square inputs. */
export function convConfig(opts: { maxBatch?: number; maxChannels?: number; maxSpatial?: number; maxKernel?: number } = {}): fc.Arbitrary<ConvConfig> {
  const { maxBatch = 4, maxChannels = 8, maxSpatial = 12, maxKernel = 7 } = opts;
  return fc
    .record({
      batch: fc.integer({ min: 1, max: maxBatch }),
      groups: fc.integer({ min: 1, max: 4 }),
      perGroupIn: fc.integer({ min: 1, max: Math.max(1, Math.floor(maxChannels / 2)) }),
      perGroupOut: fc.integer({ min: 1, max: Math.max(1, Math.floor(maxChannels / 2)) }),
      depthwise: fc.boolean(),
      height: fc.integer({ min: 1, max: maxSpatial }),
      width: fc.integer({ min: 1, max: maxSpatial }),
      kernelH: fc.integer({ min: 1, max: maxKernel }),
      kernelW: fc.integer({ min: 1, max: maxKernel }),
      stride: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
      dilation: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
      padding: fc.tuple(fc.nat(3), fc.nat(3), fc.nat(3), fc.nat(3)),
      bias: fc.boolean(),
    })
    .map((r) => {
      const groups = r.depthwise ? r.groups * r.perGroupIn : r.groups;
      const inChannels = r.depthwise ? groups : r.groups * r.perGroupIn;
      const outChannels = r.depthwise ? groups * Math.min(r.perGroupOut, 2) : r.groups * r.perGroupOut;
      return {
        batch: r.batch,
        inChannels,
        outChannels,
        groups,
        height: r.height,
        width: r.width,
        kernelH: r.kernelH,
        kernelW: r.kernelW,
        stride: r.stride,
        dilation: r.dilation,
        padding: r.padding,
        bias: r.bias,
      } satisfies ConvConfig;
    })
    .filter((c) => convOutputSize(c)[0] >= 1 && convOutputSize(c)[1] >= 1);
}

/** Output height and width of a conv configuration. */
export function convOutputSize(c: ConvConfig): [number, number] {
  const h = Math.floor((c.height + c.padding[0] + c.padding[1] - c.dilation[0] * (c.kernelH - 1) - 1) / c.stride[0]) + 1;
  const w = Math.floor((c.width + c.padding[2] + c.padding[3] - c.dilation[1] * (c.kernelW - 1) - 1) / c.stride[1]) + 1;
  return [h, w];
}
