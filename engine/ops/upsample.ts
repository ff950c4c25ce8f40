// Bilinear resize of NCHW tensors, as PyTorch's F.interpolate(mode='bilinear'). Kernels: kernels/upsample.ts.
import { apply, type FunctionDef } from '../autograd.ts';
import { grid1d, type Kernel } from '../kernel.ts';
import { shapeString } from '../host.ts';
import { allocate, type Tensor } from '../tensor.ts';
import { UPSAMPLE_WG, upsampleBackward, upsampleForward } from '../../kernels/upsample.ts';
import { map } from './map.ts';
import { dense } from './movement.ts';

export interface UpsampleOptions {
  /** Output [h, w] (or one number for both); give this or `scale`. */
  size?: number | readonly [number, number];
  /** Scale factor [sh, sw] (or one number): the output is floor(in · scale), and source indices use 1 / scale. */
  scale?: number | readonly [number, number];
  /** Default false. */
  alignCorners?: boolean;
}

interface UpsampleAttrs {
  out: [number, number];
  /** The per-axis source-index scale that PyTorch's kernel uses. */
  scale: [number, number];
  alignCorners: boolean;
}

function run(kernel: Kernel, bindings: Record<string, Tensor>, inShape: readonly number[], a: UpsampleAttrs, total: number): void {
  kernel.run(
    Object.fromEntries(Object.entries(bindings).map(([k, t]) => [k, t.storage])),
    {
      total,
      in_h: inShape[2],
      in_w: inShape[3],
      out_h: a.out[0],
      out_w: a.out[1],
      scale_h: a.scale[0],
      scale_w: a.scale[1],
      align_corners: a.alignCorners ? 1 : 0,
    },
    grid1d(total, UPSAMPLE_WG),
  );
}

const UpsampleBilinear: FunctionDef<UpsampleAttrs> = {
  name: 'upsampleBilinear',
  forward(ctx, [x], a) {
    const xd = dense(x);
    const out = allocate([x.shape[0], x.shape[1], ...a.out]);
    run(upsampleForward, { x: xd, out }, x.shape, a, out.size);
    ctx.values.inShape = x.shape;
    if (xd !== x) xd.dispose();
    return out;
  },
  backward(ctx, g, a) {
    const inShape = ctx.values.inShape as number[];
    const gx = allocate(inShape);
    run(upsampleBackward, { g: dense(g), gx }, inShape, a, gx.size);
    return [gx];
  },
};

function pairOf(v: number | readonly number[]): number[] {
  return typeof v === 'number' ? [v, v] : [...v];
}

/** PyTorch's area_pixel_compute_scale for linear modes. */
function sourceScale(input: number, output: number, alignCorners: boolean, factor?: number): number {
  if (alignCorners) return output > 1 ? (input - 1) / (output - 1) : 0;
  return factor !== undefined ? 1 / factor : input / output;
}

/** Bilinear resize to `size`, or by `scale`, with PyTorch's source-index rules for align_corners false and true. */
export function upsampleBilinear(x: Tensor, opts: UpsampleOptions): Tensor {
  const { size, scale, alignCorners = false } = opts;
  if (x.rank !== 4 || x.dtype !== 'float32') {
    throw new Error(`upsampleBilinear: input ${shapeString(x.shape)} (${x.dtype}) must be float32 NCHW (rank 4)`);
  }
  if ((size === undefined) === (scale === undefined)) throw new Error('upsampleBilinear: give exactly one of size and scale');
  const [h, w] = [x.shape[2], x.shape[3]];
  let out: number[];
  let factors: (number | undefined)[] = [undefined, undefined];
  if (size !== undefined) {
    out = pairOf(size);
  } else {
    factors = pairOf(scale!);
    if (factors.length !== 2 || !factors.every((f) => f! > 0)) {
      throw new Error(`upsampleBilinear: scale must be positive, got ${JSON.stringify(scale)}`);
    }
    out = [Math.floor(h * factors[0]!), Math.floor(w * factors[1]!)];
  }
  if (out.length !== 2 || !out.every((d) => Number.isInteger(d) && d >= 1) || h < 1 || w < 1) {
    throw new Error(`upsampleBilinear: input ${shapeString(x.shape)} to output ${out.join('×')}: both need positive integer sizes`);
  }
  return apply(UpsampleBilinear, [x], {
    out: [out[0], out[1]],
    scale: [sourceScale(h, out[0], alignCorners, factors[0]), sourceScale(w, out[1], alignCorners, factors[1])],
    alignCorners,
  });
}
