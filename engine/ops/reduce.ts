// sum / mean / max / min over any axes, with keepdim; and sumToShape for broadcast gradients.
import { apply, type FunctionDef } from '../autograd.ts';
import { grid1d } from '../kernel.ts';
import { shapeString, sizeOf } from '../host.ts';
import type { Storage } from '../device/buffers.ts';
import { allocate, Tensor } from '../tensor.ts';
import { reduceKernels, type ReduceOp } from '../../kernels/reduce.ts';
import { WG } from '../../kernels/prelude.ts';
import { dense, expand, normaliseAxis, registerSumToShape, reshape } from './movement.ts';
import { map } from './map.ts';

// Chunk sizes for the reduction passes (kernels/reduce.ts): a pass splits the reduced axis into chunks of
// at least MIN_* elements until about TARGET_* invocations have work, and the partials are reduced again.
// Fewer invocations would leave cores idle on long axes; more would only add partials and passes.
const TARGET_COLUMN_INVOCATIONS = 4096;
const TARGET_ROW_INVOCATIONS = 1024;
const MIN_COLUMN_CHUNK = 64;
const MIN_ROW_CHUNK = 256;
// A serial f32 sum's error grows with its length: no chunk is longer than this, whatever the parallelism.
const MAX_CHUNK = 1024;

/**
 * Reduces the middle axis of a contiguous [outer, len, inner] view of `x` (elements from `offset`) into a
 * new [outer * inner] tensor times `scale`: one pass when the axis is short or the outputs many, else a pass
 * of partials over chunks of the axis, reduced in turn.
 */
function reduceBlock(x: Storage, offset: number, outer: number, len: number, inner: number, op: ReduceOp, scale: number): Tensor {
  const layout = inner === 1 ? 'rows' : 'columns';
  const items = inner === 1 ? outer : outer * Math.ceil(inner / 4);
  const minChunk = inner === 1 ? MIN_ROW_CHUNK : MIN_COLUMN_CHUNK;
  const target = inner === 1 ? TARGET_ROW_INVOCATIONS : TARGET_COLUMN_INVOCATIONS;
  const chunks = Math.max(1, Math.ceil(len / MAX_CHUNK), Math.min(Math.ceil(len / minChunk), Math.ceil(target / Math.max(1, items))));
  const chunk = Math.max(1, Math.ceil(len / chunks));
  const out = allocate([chunks * outer * inner]);
  reduceKernels.get({ op, layout }).run(
    { x, out: out.storage },
    { outer, len, inner, offset, chunk, chunks, scale: chunks === 1 ? scale : 1 },
    grid1d(items * chunks, WG),
  );
  if (chunks === 1) return out;
  // Partials are [chunks, outer, inner] (columns) or [outer, chunks] (rows).
  const next = inner === 1
    ? reduceBlock(out.storage, 0, outer, chunks, 1, op, scale)
    : reduceBlock(out.storage, 0, 1, chunks, outer * inner, op, scale);
  out.dispose();
  return next;
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

/**
 * The shape as alternating runs of kept and reduced axes, size-1 axes dropped and neighbours of one kind
 * merged: [8, 64, 56, 56] over (0, 2, 3) is [{8, reduced}, {64, kept}, {3136, reduced}].
 */
function runsOf(shape: readonly number[], axes: readonly number[]): { size: number; reduced: boolean }[] {
  const runs: { size: number; reduced: boolean }[] = [];
  shape.forEach((d, i) => {
    if (d === 1) return;
    const reduced = axes.includes(i);
    const last = runs[runs.length - 1];
    if (last && last.reduced === reduced) last.size *= d;
    else runs.push({ size: d, reduced });
  });
  return runs;
}

/**
 * Raw reduction without autograd. A dense x (or a dense copy) is reduced in place, one run of reduced
 * axes at a time from the last (each pass shrinks the data), with nothing transposed.
 */
function reduceRaw(x: Tensor, axes: number[], keepdim: boolean, op: ReduceOp, mean: boolean): Tensor {
  const rows = sizeOf(x.shape.filter((_, i) => !axes.includes(i)));
  const cols = sizeOf(axes.map((i) => x.shape[i]));
  // max/min of nothing has no value, and a mean of nothing would be 0/0 (NaN we cannot rely on in WGSL).
  if (cols === 0 && rows > 0 && (op !== 'sum' || mean)) {
    throw new Error(`${mean ? 'mean' : op}: cannot reduce over an empty axis of ${shapeString(x.shape)}`);
  }
  const scale = mean ? 1 / cols : 1;
  const shape = keptShape(x.shape, axes, keepdim);
  let out: Tensor;
  if (rows === 0 || cols === 0) {
    // Nothing to read: a sum over an empty axis writes zeros; an empty output needs no pass.
    out = allocate([rows]);
    if (rows > 0) reduceKernels.get({ op, layout: 'rows' }).run(
      { x: x.storage, out: out.storage },
      { outer: rows, len: 0, inner: 1, offset: 0, chunk: 1, chunks: 1, scale: 1 },
      grid1d(rows, WG),
    );
  } else {
    // The kernels take an offset, so only a non-contiguous view needs a dense copy.
    const xd = x.isContiguous() ? x : dense(x);
    const runs = runsOf(x.shape, axes);
    // Reducing only size-1 axes still makes a new tensor: a pass over runs of length 1 copies x.
    if (!runs.some((r) => r.reduced)) runs.push({ size: 1, reduced: true });
    let cur = xd;
    while (runs.some((r) => r.reduced)) {
      const j = runs.map((r) => r.reduced).lastIndexOf(true);
      const outer = sizeOf(runs.slice(0, j).map((r) => r.size));
      const len = runs[j].size;
      const inner = sizeOf(runs.slice(j + 1).map((r) => r.size));
      runs.splice(j, 1);
      // The kept runs on either side of the removed one are now neighbours.
      if (j > 0 && j < runs.length) runs.splice(j - 1, 2, { size: runs[j - 1].size * runs[j].size, reduced: false });
      const last = !runs.some((r) => r.reduced);
      const next = reduceBlock(cur.storage, cur.offset, outer, len, inner, op, last ? scale : 1);
      if (cur !== x) cur.dispose();
      cur = next;
    }
    out = cur;
  }
  const shaped = reshape(out, shape);
  out.dispose();
  return shaped;
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
