// What the conv launches share: the geometry of one convolution, which kernel family a geometry takes,
// register blocking along channels, where a pass writes its outputs, the phases of a strided gradient to x,
// and the sum over reduction slices.
import type { Tensor } from '../tensor.ts';
import { reshape } from './movement.ts';
import { sum } from './reduce.ts';

/** Everything about one convolution that its shapes and options fix. */
export interface ConvGeometry {
  n: number;
  c: number;
  h: number;
  w: number;
  o: number;
  kh: number;
  kw: number;
  oh: number;
  ow: number;
  groups: number;
  stride: [number, number];
  dilation: [number, number];
  /** top, bottom, left, right */
  padding: [number, number, number, number];
}

export const isPointwise = (g: ConvGeometry): boolean =>
  g.kh === 1 && g.kw === 1 && g.stride[0] === 1 && g.stride[1] === 1 && g.padding.every((p) => p === 0) && g.groups === 1;

/** Largest kernel side the depthwise kernels unroll (hoisting KH*KW weights); larger ones take the direct kernel. */
export const DEPTHWISE_MAX_K = 7;

export const isDepthwise = (g: ConvGeometry): boolean => g.groups === g.c && g.kh <= DEPTHWISE_MAX_K && g.kw <= DEPTHWISE_MAX_K;

/**
 * Register block along a channel axis: 4, 2 or 1 (few distinct pipelines; a partial last block is masked),
 * or exactly 3 for three channels (an image's: the stem's gradient to x ran 1.4-1.6x faster than in blocks
 * of 2 and a masked 2).
 */
export const channelBlock = (n: number, max = 4): number => (n >= max ? max : n === 3 ? 3 : n >= 2 ? 2 : 1);

/** Output placement of a conv pass: plane size, element step between rows and between columns, first element. */
export interface OutLayout {
  plane: number;
  row: number;
  col: number;
  off: number;
}

/** What a direct or depthwise pass reads and writes, apart from its channels and weight indexing. */
export interface SourcePass {
  src: Tensor;
  srcH: number;
  srcW: number;
  outH: number;
  outW: number;
  stride: [number, number];
  dilation: [number, number];
  pad: [number, number];
  /** Zero-insertion factors of the source (the gradient to x through zero insertion), else [1, 1]. */
  up: [number, number];
  /** Taps [rows, columns] when not the geometry's kernel (a phase of the gradient to x). */
  taps?: [number, number];
  /** Where the pass's outputs go in `out` when not a dense [N, C, outH, outW] (see kernels/conv2d.ts). */
  outLayout?: OutLayout;
}

export const denseLayout = (outH: number, outW: number): OutLayout => ({ plane: outH * outW, row: outW, col: 1, off: 0 });

/**
 * One axis of the dense gradient to x, split into phases. Along an axis with stride s > 1 and dilation 1,
 * dx positions i = s·a + r (phase r) receive dy[a + q] · w[k] exactly for the taps k with r + pad - k ≡ 0
 * (mod s), q = (r + pad - k) / s; listed with k falling by s, q rises by 1, so a phase is a stride-1
 * correlation of dy with ceil((K - k0) / s) taps (k0 the phase's smallest tap), and the phases together do
 * no multiply by an inserted zero (zero insertion does s times the taps along the axis). Elsewhere one
 * phase covers the axis through zero insertion (up = stride), the weight flipped.
 */
export interface AxisPhase {
  /** First dx position, step between its positions (s), and how many there are. */
  first: number;
  step: number;
  count: number;
  taps: number;
  /** Source padding: dy position a + t - pad for tap t. */
  pad: number;
  /** Weight index of tap 0, and its step per tap. */
  wFirst: number;
  wStep: number;
  up: number;
  dilation: number;
}

export function axisPhases(size: number, k: number, stride: number, dilation: number, padBefore: number): AxisPhase[] {
  if (stride === 1 || dilation !== 1) {
    const pad = (k - 1) * dilation - padBefore;
    return [{ first: 0, step: 1, count: size, taps: k, pad, wFirst: k - 1, wStep: -1, up: stride, dilation }];
  }
  const phases: AxisPhase[] = [];
  for (let r = 0; r < Math.min(stride, size); r++) {
    const k0 = (((r + padBefore) % stride) + stride) % stride;
    const taps = k0 < k ? Math.ceil((k - k0) / stride) : 0;
    const kLast = k0 + (taps - 1) * stride;
    // Tap t reads k = kLast - t·s at dy position a + (r + pad - kLast) / s + t.
    const pad = taps ? -(r + padBefore - kLast) / stride : 0;
    phases.push({ first: r, step: stride, count: Math.ceil((size - r) / stride), taps, pad, wFirst: kLast, wStep: -stride, up: 1, dilation: 1 });
  }
  return phases;
}

/**
 * Calls `each` for every (row phase, column phase) of the gradient to x, with the phase's taps and where
 * its outputs go in dx. A phase without taps still writes its outputs (zero, or the bias): its kernel
 * runs over no rows.
 */
export function forEachPhase(g: ConvGeometry, each: (py: AxisPhase, px: AxisPhase, taps: [number, number], outLayout: OutLayout) => void): void {
  for (const py of axisPhases(g.h, g.kh, g.stride[0], g.dilation[0], g.padding[0])) {
    for (const px of axisPhases(g.w, g.kw, g.stride[1], g.dilation[1], g.padding[2])) {
      const taps: [number, number] = py.taps === 0 || px.taps === 0 ? [0, 1] : [py.taps, px.taps];
      each(py, px, taps, { plane: g.h * g.w, row: py.step * g.w, col: px.step, off: py.first * g.w + px.first });
    }
  }
}

/** Sums partial[..., slice] over the slices into a tensor shaped like the weight. */
export function finishSlices(partial: Tensor, slices: number, shape: number[]): Tensor {
  if (slices === 1) {
    const out = reshape(partial, shape);
    partial.dispose();
    return out;
  }
  const summed = sum(reshape(partial, [partial.size / slices, slices]), 1);
  partial.dispose();
  const out = reshape(summed, shape);
  summed.dispose();
  return out;
}
