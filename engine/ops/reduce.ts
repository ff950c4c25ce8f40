// sum / mean / max / min over any axes, with keepdim; and sumToShape for broadcast gradients.
import { apply, type FunctionDef } from '../autograd.ts';
import { grid1d } from '../kernel.ts';
import { shapeString, sizeOf } from '../host.ts';
import { allocate, Tensor } from '../tensor.ts';
import { reduceKernels, reduceMiddleKernels, type ReduceOp } from '../../kernels/reduce.ts';
import { perRowVariant } from '../../kernels/softmax.ts';
import { runtime } from '../runtime.ts';
import { WG } from '../../kernels/prelude.ts';
import { contiguous, expand, normaliseAxis, permute, registerSumToShape, reshape } from './movement.ts';
import { map } from './map.ts';

/** Reduces the last axis of a [rows, cols] view of x (x contiguous). */
function reduceRows(x: Tensor, rows: number, cols: number, op: ReduceOp, scale: number): Tensor {
  const out = allocate([rows]);
  // On a software adapter workgroup barriers cost far more than a serial loop: one thread per row wins
  // unless the rows are few and very long (measured: [4096, 64] 1.7 ms per thread vs 52 ms per workgroup).
  const perRow = perRowVariant(rows, cols, runtime().ctx.isSoftware);
  const kernel = reduceKernels.get({ op, perRow });
  kernel.run(
    { x: x.storage, out: out.storage },
    { rows, cols, offset: x.offset, scale },
    perRow === 'workgroup' ? grid1d(rows, 1) : grid1d(rows, WG),
  );
  return out;
}

function normaliseAxes(op: string, x: Tensor, axes?: number | readonly number[]): number[] {
  if (axes === undefined) return x.shape.map((_, i) => i);
  const list = typeof axes === 'number' ? [axes] : [...axes];
  // A rank-0 tensor has one element; like PyTorch, axis 0 or -1 names it and the reduction keeps it as is.
  if (x.rank === 0) {
    for (const a of list) if (a !== 0 && a !== -1) throw new Error(`${op}: axis ${a} is out of range for rank 0`);
    return [];
  }
  const norm = list.map((a) => normaliseAxis(op, a, x.rank));
  if (new Set(norm).size !== norm.length) throw new Error(`${op}: repeated axis in [${list}]`);
  return norm.sort((a, b) => a - b);
}

function keptShape(shape: readonly number[], axes: readonly number[], keepdim: boolean): number[] {
  return keepdim ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

/** Raw reduction without autograd: moves reduced axes last, then reduces rows. */
function reduceRaw(x: Tensor, axes: number[], keepdim: boolean, op: ReduceOp, mean: boolean): Tensor {
  const kept = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const rows = sizeOf(kept.map((i) => x.shape[i]));
  const cols = sizeOf(axes.map((i) => x.shape[i]));
  // max/min of nothing has no value, and a mean of nothing would be 0/0 (NaN we cannot rely on in WGSL).
  if (cols === 0 && rows > 0 && (op !== 'sum' || mean)) {
    throw new Error(`${mean ? 'mean' : op}: cannot reduce over an empty axis of ${shapeString(x.shape)}`);
  }
  const block = x.isContiguous() ? reducedBlock(x.shape, axes) : null;
  if (block) {
    const out = allocate([block.outer * block.inner]);
    reduceMiddleKernels.get({ op }).run(
      { x: x.storage, out: out.storage },
      { outer: block.outer, len: block.len, inner: block.inner, offset: x.offset, scale: mean ? 1 / cols : 1 },
      grid1d(block.outer * block.inner, WG),
    );
    const shaped = reshape(out, keptShape(x.shape, axes, keepdim));
    out.dispose();
    return shaped;
  }
  const moved = permute(x, [...kept, ...axes]);
  const dense = contiguous(moved);
  const out = reduceRows(dense, rows, cols, op, mean ? 1 / cols : 1);
  moved.dispose();
  dense.dispose();
  const shaped = reshape(out, keptShape(x.shape, axes, keepdim));
  out.dispose();
  return shaped;
}

/**
 * When the reduced axes (ignoring size-1 axes) are one consecutive block that does not end the shape, a
 * contiguous x reads as [outer, len, inner] and reduces in place; trailing blocks (inner 1) are left to the
 * row kernels, which handle long rows better.
 */
function reducedBlock(shape: readonly number[], axes: readonly number[]): { outer: number; len: number; inner: number } | null {
  const big = shape.map((d, i) => i).filter((i) => shape[i] > 1);
  const reduced = big.filter((i) => axes.includes(i));
  if (!reduced.length) return null;
  const first = big.indexOf(reduced[0]);
  if (big.slice(first, first + reduced.length).some((i, k) => i !== reduced[k])) return null;
  const lastAxis = reduced[reduced.length - 1];
  const inner = sizeOf(shape.slice(lastAxis + 1));
  if (inner === 1) return null;
  return { outer: sizeOf(shape.slice(0, reduced[0])), len: sizeOf(reduced.map((i) => shape[i])), inner };
}

interface ReduceAttrs {
  axes: number[];
  keepdim: boolean;
}

const Sum: FunctionDef<ReduceAttrs> = {
  name: 'sum',
  forward(ctx, [x], { axes, keepdim }) {
    ctx.values.inShape = x.shape;
    return reduceRaw(x, axes, keepdim, 'sum', false);
  },
  backward: (ctx, g, { axes }) => [broadcastBack(g, ctx.values.inShape as number[], axes, 1)],
};

const Mean: FunctionDef<ReduceAttrs> = {
  name: 'mean',
  forward(ctx, [x], { axes, keepdim }) {
    ctx.values.inShape = x.shape;
    return reduceRaw(x, axes, keepdim, 'sum', true);
  },
  backward(ctx, g, { axes }) {
    const shape = ctx.values.inShape as number[];
    return [broadcastBack(g, shape, axes, 1 / sizeOf(axes.map((a) => shape[a])))];
  },
};

/** Gradient of a reduction: g (reduced shape) reshaped to keepdim form and broadcast to the input shape. */
function broadcastBack(g: Tensor, inShape: number[], axes: number[], scale: number): Tensor {
  const kd = reshape(g, keptShape(inShape, axes, true));
  const wide = expand(kd, inShape);
  const out = map('scale', 'a * s.x', [wide], { scalars: [scale] });
  kd.dispose();
  wide.dispose();
  return out;
}

// max/min: the gradient is shared equally among tied extremes (amax semantics).
function extremum(op: 'max' | 'min'): FunctionDef<ReduceAttrs> {
  return {
    name: op,
    forward(ctx, [x], { axes, keepdim }) {
      const out = reduceRaw(x, axes, keepdim, op, false);
      ctx.save(x, out);
      return out;
    },
    backward(ctx, g, { axes }) {
      const [x, out] = ctx.saved;
      const kd = keptShape(x.shape, axes, true);
      const outK = reshape(out, kd);
      const gK = reshape(g, kd);
      const mask = map('eq_mask', 'select(0.0, 1.0, a == b)', [x, outK]);
      const count = reduceRaw(mask, axes, true, 'sum', false);
      const gx = map('share_grad', 'a * b / c', [mask, gK, count]);
      return [gx];
    },
  };
}
const Max = extremum('max');
const Min = extremum('min');

export function sum(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  return apply(Sum, [x], { axes: normaliseAxes('sum', x, axes), keepdim });
}
export function mean(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  return apply(Mean, [x], { axes: normaliseAxes('mean', x, axes), keepdim });
}
export function max(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  return apply(Max, [x], { axes: normaliseAxes('max', x, axes), keepdim });
}
export function min(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  return apply(Min, [x], { axes: normaliseAxes('min', x, axes), keepdim });
}

/** Sums g over the axes that broadcasting added or stretched, giving `shape`. */
export function sumToShape(g: Tensor, shape: readonly number[]): Tensor {
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  g.shape.forEach((d, i) => {
    if (i < lead || (shape[i - lead] === 1 && d !== 1)) axes.push(i);
  });
  if (axes.length === 0) return reshape(g, shape);
  const s = sum(g, axes, true);
  const out = reshape(s, shape);
  s.dispose();
  return out;
}
registerSumToShape(sumToShape);
