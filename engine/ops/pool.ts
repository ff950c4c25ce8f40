// Pooling over NCHW: avgPool2d, maxPool2d (kernels/pool.ts) and global average pooling (a mean over H, W).
import { apply, type FunctionDef } from '../autograd.ts';
import { grid1d, type Kernel } from '../kernel.ts';
import { shapeString } from '../host.ts';
import { allocate, type Tensor } from '../tensor.ts';
import { avgPoolBackward, avgPoolForward, maxPoolBackward, maxPoolForward, POOL_WG } from '../../kernels/pool.ts';
import { map } from './map.ts';
import { dense } from './movement.ts';
import { mean } from './reduce.ts';

export interface PoolOptions {
  /** Default: the kernel size. */
  stride?: number | readonly [number, number];
  /** Zero padding on both sides, [ph, pw] or one number, at most half the kernel. Default 0. */
  padding?: number | readonly [number, number];
  /** Round the output size up, as PyTorch's ceil_mode. Default false. */
  ceilMode?: boolean;
}

export interface AvgPoolOptions extends PoolOptions {
  /** Divide by the padded window size (PyTorch's default) rather than by the values inside. Default true. */
  countIncludePad?: boolean;
}

interface PoolAttrs {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  out: [number, number];
  includePad: boolean;
}

function pair(op: string, name: string, v: number | readonly number[] | undefined, fallback: readonly [number, number]): [number, number] {
  const p = v === undefined ? [...fallback] : typeof v === 'number' ? [v, v] : [...v];
  if (p.length !== 2 || !p.every(Number.isInteger)) throw new Error(`${op}: ${name} must be an integer or [h, w], got ${JSON.stringify(v)}`);
  return [p[0], p[1]];
}

/** PyTorch's pooling_output_shape (dilation 1). */
function outputSize(input: number, k: number, pad: number, stride: number, ceil: boolean): number {
  let out = Math.floor((input + 2 * pad - k + (ceil ? stride - 1 : 0)) / stride) + 1;
  if (ceil && (out - 1) * stride >= input + pad) out--;
  return out;
}

function poolAttrs(op: string, x: Tensor, kernel: number | readonly [number, number], opts: AvgPoolOptions): PoolAttrs {
  if (x.rank !== 4 || x.dtype !== 'float32') throw new Error(`${op}: input ${shapeString(x.shape)} (${x.dtype}) must be float32 NCHW (rank 4)`);
  const k = pair(op, 'kernel', kernel, [1, 1]);
  const stride = pair(op, 'stride', opts.stride, k);
  const padding = pair(op, 'padding', opts.padding, [0, 0]);
  const ceil = opts.ceilMode ?? false;
  for (let d = 0; d < 2; d++) {
    if (k[d] < 1 || stride[d] < 1 || padding[d] < 0 || padding[d] > k[d] / 2) {
      throw new Error(
        `${op}: kernel [${k}], stride [${stride}], padding [${padding}]: need kernel >= 1, stride >= 1 and 0 <= padding <= kernel / 2`,
      );
    }
  }
  const out: [number, number] = [
    outputSize(x.shape[2], k[0], padding[0], stride[0], ceil),
    outputSize(x.shape[3], k[1], padding[1], stride[1], ceil),
  ];
  if (out[0] < 1 || out[1] < 1) {
    throw new Error(`${op}: input ${shapeString(x.shape)} is smaller than kernel [${k}] with padding [${padding}] (output ${out[0]}×${out[1]})`);
  }
  return { kernel: k, stride, padding, out, includePad: opts.countIncludePad ?? true };
}

function uniforms(inShape: readonly number[], a: PoolAttrs, total: number) {
  return {
    total,
    h: inShape[2],
    w: inShape[3],
    oh: a.out[0],
    ow: a.out[1],
    kh: a.kernel[0],
    kw: a.kernel[1],
    sh: a.stride[0],
    sw: a.stride[1],
    ph: a.padding[0],
    pw: a.padding[1],
    include_pad: a.includePad ? 1 : 0,
  };
}

function run(kernel: Kernel, bindings: Record<string, Tensor>, inShape: readonly number[], a: PoolAttrs, total: number): void {
  const storages = Object.fromEntries(Object.entries(bindings).map(([k, t]) => [k, t.storage]));
  kernel.run(storages, uniforms(inShape, a, total), grid1d(total, POOL_WG));
}

const AvgPool: FunctionDef<PoolAttrs> = {
  name: 'avgPool2d',
  forward(ctx, [x], a) {
    const xd = dense(x);
    const out = allocate([x.shape[0], x.shape[1], ...a.out]);
    run(avgPoolForward, { x: xd, out }, x.shape, a, out.size);
    ctx.values.inShape = x.shape;
    if (xd !== x) xd.dispose();
    return out;
  },
  backward(ctx, g, a) {
    const inShape = ctx.values.inShape as number[];
    const gx = allocate(inShape);
    run(avgPoolBackward, { g: dense(g), gx }, inShape, a, gx.size);
    return [gx];
  },
};

const MaxPool: FunctionDef<PoolAttrs> = {
  name: 'maxPool2d',
  forward(ctx, [x], a) {
    const xd = dense(x);
    const out = allocate([x.shape[0], x.shape[1], ...a.out]);
    const argmax = allocate(out.shape, 'int32');
    run(maxPoolForward, { x: xd, out, argmax }, x.shape, a, out.size);
    ctx.values.inShape = x.shape;
    if (ctx.needsInputGrad[0]) ctx.save(argmax);
    argmax.dispose();
    if (xd !== x) xd.dispose();
    return out;
  },
  backward(ctx, g, a) {
    const inShape = ctx.values.inShape as number[];
    const gx = allocate(inShape);
    run(maxPoolBackward, { g: dense(g), argmax: ctx.saved[0], gx }, inShape, a, gx.size);
    return [gx];
  },
};

/** Average pooling as PyTorch's avg_pool2d (no divisor_override). */
export function avgPool2d(x: Tensor, kernel: number | readonly [number, number], opts: AvgPoolOptions = {}): Tensor {
  return apply(AvgPool, [x], poolAttrs('avgPool2d', x, kernel, opts));
}

/** Max pooling as PyTorch's max_pool2d (no dilation); the gradient goes to the first maximum of each window. */
export function maxPool2d(x: Tensor, kernel: number | readonly [number, number], opts: PoolOptions = {}): Tensor {
  return apply(MaxPool, [x], poolAttrs('maxPool2d', x, kernel, { ...opts, countIncludePad: true }));
}

/** Mean over H and W: [N, C, H, W] -> [N, C, 1, 1]. */
export function globalAvgPool(x: Tensor): Tensor {
  if (x.rank !== 4 || x.dtype !== 'float32') throw new Error(`globalAvgPool: input ${shapeString(x.shape)} (${x.dtype}) must be float32 NCHW (rank 4)`);
  if (x.shape[2] * x.shape[3] === 0) throw new Error(`globalAvgPool: input ${shapeString(x.shape)} has an empty spatial extent`);
  return mean(x, [2, 3], true);
}

/** PyTorch's adaptive_avg_pool2d; only the 1×1 output (global average pooling) is implemented. */
export function adaptiveAvgPool2d(x: Tensor, outputSize: number | readonly [number, number]): Tensor {
  const [oh, ow] = typeof outputSize === 'number' ? [outputSize, outputSize] : outputSize;
  if (oh !== 1 || ow !== 1) {
    throw new Error(`adaptiveAvgPool2d: only output size 1×1 (global average pooling) is implemented, got ${oh}×${ow} for input ${shapeString(x.shape)}`);
  }
  return globalAvgPool(x);
}
