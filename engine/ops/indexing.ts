// concat, slice (a view), pad (constant), gather (torch.gather) and indexSelect, with their gradients:
// concat -> slices of the gradient; slice -> the gradient placed into zeros; pad -> a slice.
import { apply, type FunctionDef } from '../autograd.ts';
import { grid1d } from '../kernel.ts';
import { contiguousStrides, shapeString, type DType } from '../host.ts';
import { allocate, type Tensor } from '../tensor.ts';
import { copyStridedKernels, gatherKernels, type IndexMode } from '../../kernels/gather.ts';
import { MAX_RANK, pad8, WG } from '../../kernels/prelude.ts';
import { full } from './creation.ts';
import { contiguous, normaliseAxis } from './movement.ts';

function checkRank(op: string, t: Tensor): void {
  if (t.rank > MAX_RANK) throw new Error(`${op}: rank ${t.rank} of ${shapeString(t.shape)} exceeds ${MAX_RANK}`);
}

/** Copies src (any strides) into the region of dense `dst` that starts at `starts` and steps by `steps`. */
function copyInto(dst: Tensor, src: Tensor, starts: readonly number[], steps: readonly number[]): void {
  const dense = contiguousStrides(dst.shape);
  const dstOffset = dst.offset + starts.reduce((acc, s, d) => acc + s * dense[d], 0);
  copyStridedKernels.get({}).run(
    { src: src.storage, dst: dst.storage },
    {
      n: src.size,
      rank: src.rank,
      src_offset: src.offset,
      dst_offset: dstOffset,
      shape: pad8(src.shape, 1),
      src_stride: pad8(src.strides),
      dst_stride: pad8(dense.map((s, d) => s * steps[d])),
    },
    grid1d(src.size, WG),
  );
}

/** A tensor of `shape` filled with `value`, with `src` written into the region at `starts` / `steps`. */
function placeInto(shape: readonly number[], dtype: DType, src: Tensor, starts: readonly number[], steps: readonly number[], value = 0): Tensor {
  const out = full(shape, value, { dtype });
  copyInto(out, src, starts, steps);
  return out;
}

// ---- slice ----

interface SliceAttrs {
  starts: number[];
  steps: number[];
  shape: number[];
}

const Slice: FunctionDef<SliceAttrs> = {
  name: 'slice',
  forward(ctx, [x], { starts, steps, shape }) {
    ctx.values.inShape = x.shape;
    const offset = x.offset + starts.reduce((acc, s, d) => acc + s * x.strides[d], 0);
    return x.view(shape, x.strides.map((s, d) => s * steps[d]), offset);
  },
  backward: (ctx, g, { starts, steps }) => [placeInto(ctx.values.inShape as number[], 'float32', g, starts, steps)],
};

/**
 * x[starts[0]:ends[0]:steps[0], ...] with Python's rules: negative starts/ends count from the end, both are
 * clamped to the axis, missing trailing axes are taken whole. Steps must be positive. Always a view.
 */
export function slice(x: Tensor, starts: readonly number[], ends: readonly number[], steps: readonly number[] = []): Tensor {
  const where = `slice(${shapeString(x.shape)}, starts [${starts}], ends [${ends}], steps [${steps}])`;
  if (starts.length > x.rank || ends.length > x.rank || steps.length > x.rank) {
    throw new Error(`${where}: more entries than the ${x.rank} axes`);
  }
  const resolved: SliceAttrs = { starts: [], steps: [], shape: [] };
  x.shape.forEach((size, d) => {
    const step = steps[d] ?? 1;
    if (!Number.isInteger(step) || step <= 0) throw new Error(`${where}: steps must be positive integers`);
    const clampIndex = (i: number) => Math.min(size, Math.max(0, i < 0 ? i + size : i));
    const start = clampIndex(starts[d] ?? 0);
    const end = Math.max(start, clampIndex(ends[d] ?? size));
    resolved.starts.push(start);
    resolved.steps.push(step);
    resolved.shape.push(Math.ceil((end - start) / step));
  });
  return apply(Slice, [x], resolved);
}

// ---- pad ----

const Pad: FunctionDef<{ pads: [number, number][]; value: number }> = {
  name: 'pad',
  forward(_ctx, [x], { pads, value }) {
    const shape = x.shape.map((d, i) => d + pads[i][0] + pads[i][1]);
    return placeInto(shape, x.dtype, x, pads.map((p) => p[0]), pads.map(() => 1), value);
  },
  backward: (_ctx, g, { pads }) => {
    const starts = pads.map((p) => p[0]);
    return [slice(g, starts, g.shape.map((d, i) => d - pads[i][1]))];
  },
};

/** Pads with a constant: pads[i] = [before, after] for axis i, one pair per axis, non-negative. */
export function pad(x: Tensor, pads: readonly (readonly [number, number])[], value = 0): Tensor {
  const ok = pads.length === x.rank && pads.every((p) => p.length === 2 && p.every((v) => Number.isInteger(v) && v >= 0));
  if (!ok) {
    throw new Error(
      `pad: pads ${JSON.stringify(pads)} for ${shapeString(x.shape)} must hold one [before, after] pair of non-negative integers per axis (${x.rank})`,
    );
  }
  checkRank('pad', x);
  return apply(Pad, [x], { pads: pads.map((p) => [p[0], p[1]] as [number, number]), value });
}

// ---- concat ----

const Concat: FunctionDef<{ axis: number }> = {
  name: 'concat',
  forward(ctx, inputs, { axis }) {
    const shape = [...inputs[0].shape];
    shape[axis] = inputs.reduce((acc, t) => acc + t.shape[axis], 0);
    ctx.values.sizes = inputs.map((t) => t.shape[axis]);
    const out = allocate(shape, inputs[0].dtype);
    let at = 0;
    for (const t of inputs) {
      copyInto(out, t, shape.map((_, d) => (d === axis ? at : 0)), shape.map(() => 1));
      at += t.shape[axis];
    }
    return out;
  },
  backward(ctx, g, { axis }) {
    let at = 0;
    return (ctx.values.sizes as number[]).map((size, k) => {
      const starts = g.shape.map((_, d) => (d === axis ? at : 0));
      at += size;
      if (!ctx.needsInputGrad[k]) return null;
      return slice(g, starts, g.shape.map((d, i) => (i === axis ? at : d)));
    });
  },
};

/** Joins tensors along `axis`; all other axes and the dtype must match. */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new Error('concat: needs at least one tensor');
  const first = tensors[0];
  const a = normaliseAxis('concat', axis, first.rank);
  checkRank('concat', first);
  for (const t of tensors) {
    const same = t.rank === first.rank && t.dtype === first.dtype && t.shape.every((d, i) => i === a || d === first.shape[i]);
    if (!same) {
      throw new Error(
        `concat: along axis ${axis}, shapes ${tensors.map((u) => `${shapeString(u.shape)} ${u.dtype}`).join(', ')} must match except on that axis, with one dtype`,
      );
    }
  }
  return apply(Concat, tensors, { axis: a });
}

// ---- gather / indexSelect ----

interface GatherAttrs {
  axis: number;
  mode: IndexMode;
}

const Gather: FunctionDef<GatherAttrs> = {
  name: 'gather',
  forward(ctx, [x, index], { axis, mode }) {
    const idx = contiguous(index);
    const shape = mode === 'gather' ? [...index.shape] : x.shape.map((d, i) => (i === axis ? index.size : d));
    const out = allocate(shape, x.dtype);
    gatherKernels.get({ mode, direction: 'forward' }).run(
      { x: x.storage, index: idx.storage, out: out.storage },
      {
        n: out.size,
        rank: x.rank,
        axis,
        x_offset: x.offset,
        x_len: x.shape[axis],
        index_offset: idx.offset,
        out_shape: pad8(shape, 1),
        x_stride: pad8(x.strides),
      },
      grid1d(out.size, WG),
    );
    ctx.values.inShape = x.shape;
    if (ctx.needsInputGrad[0]) ctx.save(idx);
    idx.dispose();
    return out;
  },
  backward(ctx, g, { axis, mode }) {
    const [idx] = ctx.saved;
    const inShape = ctx.values.inShape as number[];
    const gc = contiguous(g);
    const gx = allocate(inShape);
    gatherKernels.get({ mode, direction: 'backward' }).run(
      { g: gc.storage, index: idx.storage, gx: gx.storage },
      {
        n: gx.size,
        rank: inShape.length,
        axis,
        count: g.shape[axis],
        g_offset: gc.offset,
        index_offset: idx.offset,
        x_shape: pad8(inShape, 1),
        out_shape: pad8(g.shape, 1),
        out_stride: pad8(contiguousStrides(g.shape)),
      },
      grid1d(gx.size, WG),
    );
    return [gx, null];
  },
};

function checkIndex(op: string, x: Tensor, index: Tensor): void {
  if (index.dtype !== 'int32') throw new Error(`${op}: index ${shapeString(index.shape)} must be int32, got ${index.dtype}`);
  if (x.rank === 0) throw new Error(`${op}: input must have at least one axis, got a scalar`);
  checkRank(op, x);
}

/**
 * torch.gather: out[c] = x[c with c[axis] = index[c]]; index has x's rank and index.shape[d] <= x.shape[d]
 * for d != axis. Indices outside [0, x.shape[axis]) give 0 and no gradient (a shader cannot raise).
 * The backward is deterministic and atomic-free: each x element sums the gradients pointing at it, at a
 * cost of x.size * index.shape[axis] index reads.
 */
export function gather(x: Tensor, axis: number, index: Tensor): Tensor {
  checkIndex('gather', x, index);
  const a = normaliseAxis('gather', axis, x.rank);
  const fits = index.rank === x.rank && index.shape.every((d, i) => i === a || d <= x.shape[i]);
  if (!fits) {
    throw new Error(
      `gather: index ${shapeString(index.shape)} must have the rank of input ${shapeString(x.shape)} and no larger size on axes other than ${axis}`,
    );
  }
  return apply(Gather, [x, index], { axis: a, mode: 'gather' });
}

/** x's entries index[0..k) along `axis` (index 1-D int32); out-of-range indices give 0, as in gather. */
export function indexSelect(x: Tensor, axis: number, index: Tensor): Tensor {
  checkIndex('indexSelect', x, index);
  if (index.rank !== 1) throw new Error(`indexSelect: index ${shapeString(index.shape)} must be 1-D`);
  return apply(Gather, [x, index], { axis: normaliseAxis('indexSelect', axis, x.rank), mode: 'select' });
}
