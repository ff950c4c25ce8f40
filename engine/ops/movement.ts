// Views (metadata only where possible) and their gradients.
import { apply, type FunctionDef } from '../autograd.ts';
import { contiguousStrides, shapeString, sizeOf } from '../host.ts';
import { allocate, registerContiguousCopy, Tensor } from '../tensor.ts';
import { map } from './map.ts';
import { grid1d, MAX_WORKGROUPS_PER_DIM } from '../kernel.ts';
import { TRANSPOSE_ROW_TILE, transposeKernels } from '../../kernels/transpose.ts';
import { WG } from '../../kernels/prelude.ts';

/** [batches, rows, cols] when t is a batch of matrices stored transposed (strides [..., 1, rows]), else null. */
function transposedMatrices(t: Tensor): [number, number, number] | null {
  if (t.dtype !== 'float32' || t.rank < 2) return null;
  const [rows, cols] = t.shape.slice(-2);
  if (rows < 2 || cols < 2 || t.strides[t.rank - 2] !== 1 || t.strides[t.rank - 1] !== rows) return null;
  let expected = rows * cols;
  for (let i = t.rank - 3; i >= 0; i--) {
    if (t.shape[i] !== 1 && t.strides[i] !== expected) return null;
    expected *= t.shape[i];
  }
  return [expected / (rows * cols), rows, cols];
}

function copyKernel(t: Tensor): Tensor {
  const matrices = transposedMatrices(t);
  if (matrices) {
    const [batches, rows, cols] = matrices;
    const out = allocate(t.shape);
    const block4 = rows % 4 === 0 && cols % 4 === 0 && t.offset % 4 === 0;
    const uniforms = { batches, rows, cols, offset: t.offset };
    const rowTiles = Math.ceil(rows / 4 / TRANSPOSE_ROW_TILE);
    const grid: [number, number, number] = [rowTiles, cols / 4, batches];
    if (block4 && rows / 4 >= TRANSPOSE_ROW_TILE && grid.every((d) => d <= MAX_WORKGROUPS_PER_DIM)) {
      transposeKernels.get({ layout: 'rows64' }).run({ src: t.storage, out: out.storage }, uniforms, grid);
      return out;
    }
    const items = block4 ? (batches * rows * cols) / 16 : batches * rows * cols;
    transposeKernels.get({ layout: block4 ? 'block4' : 'element' }).run({ src: t.storage, out: out.storage }, uniforms, grid1d(items, WG));
    return out;
  }
  return map(t.dtype === 'int32' ? 'copy_i32' : 'copy', 'a', [t]);
}
registerContiguousCopy(copyKernel);

const Contiguous: FunctionDef = {
  name: 'contiguous',
  forward: (_ctx, [x]) => copyKernel(x),
  backward: (_ctx, g) => [g],
};

/** A dense (offset 0, row-major) tensor with t's values for a kernel to bind: t itself, or a copy the caller disposes. */
export function dense(t: Tensor): Tensor {
  return t.isDense() ? t : copyKernel(t);
}

/** The same values in a dense row-major storage from element 0 (a new view of x if x is already dense). */
export function contiguous(x: Tensor): Tensor {
  if (x.isDense()) return alias(x);
  return apply(Contiguous, [x], undefined);
}

const Alias: FunctionDef = {
  name: 'alias',
  forward: (_ctx, [x]) => x.view(x.shape, x.strides, x.offset),
  backward: (_ctx, g) => [g],
};
function alias(x: Tensor): Tensor {
  return apply(Alias, [x], undefined);
}

function resolveShape(op: string, size: number, shape: readonly number[]): number[] {
  const out = [...shape];
  const infer = out.indexOf(-1);
  if (infer >= 0) {
    const rest = sizeOf(out.filter((_, i) => i !== infer));
    if (rest === 0 || size % rest !== 0) throw new Error(`${op}: cannot infer -1 in ${shapeString(shape)} for ${size} elements`);
    out[infer] = size / rest;
  }
  if (sizeOf(out) !== size) throw new Error(`${op}: cannot view ${size} elements as ${shapeString(shape)}`);
  return out;
}

const Reshape: FunctionDef<{ shape: number[] }> = {
  name: 'reshape',
  forward(ctx, [x], { shape }) {
    ctx.values.inShape = x.shape;
    const src = x.isContiguous() ? x : copyKernel(x);
    const out = src.view(shape, contiguousStrides(shape), src.offset);
    if (src !== x) src.dispose();
    return out;
  },
  backward: (ctx, g) => [reshape(g, ctx.values.inShape as number[])],
};

export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  return apply(Reshape, [x], { shape: resolveShape('reshape', x.size, shape) });
}

const Permute: FunctionDef<{ dims: number[] }> = {
  name: 'permute',
  forward: (_ctx, [x], { dims }) =>
    x.view(
      dims.map((d) => x.shape[d]),
      dims.map((d) => x.strides[d]),
      x.offset,
    ),
  backward(_ctx, g, { dims }) {
    const inverse = new Array<number>(dims.length);
    dims.forEach((d, i) => (inverse[d] = i));
    return [permute(g, inverse)];
  },
};

export function normaliseAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= Math.max(rank, 1)) {
    throw new Error(`${op}: axis ${axis} is out of range for rank ${rank}`);
  }
  return a;
}

export function permute(x: Tensor, dims: readonly number[]): Tensor {
  const norm = dims.map((d) => normaliseAxis('permute', d, x.rank));
  if (norm.length !== x.rank || new Set(norm).size !== x.rank) {
    throw new Error(`permute: [${dims}] is not a permutation of the ${x.rank} axes of ${shapeString(x.shape)}`);
  }
  return apply(Permute, [x], { dims: norm });
}

export function transpose(x: Tensor, a = -2, b = -1): Tensor {
  const dims = x.shape.map((_, i) => i);
  const i = normaliseAxis('transpose', a, x.rank);
  const j = normaliseAxis('transpose', b, x.rank);
  [dims[i], dims[j]] = [dims[j], dims[i]];
  return permute(x, dims);
}

const Expand: FunctionDef<{ shape: number[] }> = {
  name: 'expand',
  forward(ctx, [x], { shape }) {
    ctx.values.inShape = x.shape;
    const lead = shape.length - x.rank;
    const strides = shape.map((d, i) => (i < lead || x.shape[i - lead] !== d ? 0 : x.strides[i - lead]));
    return x.view(shape, strides, x.offset);
  },
  backward: (ctx, g) => [sumToShapeImpl(g, ctx.values.inShape as number[])],
};

export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const lead = shape.length - x.rank;
  const ok = lead >= 0 && x.shape.every((d, i) => d === 1 || d === shape[i + lead]);
  if (!ok) throw new Error(`expand: cannot expand ${shapeString(x.shape)} to ${shapeString(shape)}`);
  return apply(Expand, [x], { shape: [...shape] });
}

// Set by reduce.ts (which imports this module).
let sumToShapeImpl: (g: Tensor, shape: readonly number[]) => Tensor = () => {
  throw new Error('sumToShape not registered');
};
export function registerSumToShape(fn: typeof sumToShapeImpl): void {
  sumToShapeImpl = fn;
}
