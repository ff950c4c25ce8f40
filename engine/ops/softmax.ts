// softmax / logSoftmax along any axis: one fused row kernel forward (max, sum of exp, write) and one
// backward (a row dot product, then the write). The axis stays where it is; the kernel strides over it.
import { apply, type FunctionDef } from '../autograd.ts';
import { shapeString, sizeOf } from '../host.ts';
import { tuning } from '../tuning.ts';
import { allocate, type Tensor } from '../tensor.ts';
import { perRowVariant, rowGrid, softmaxKernels, type SoftmaxMode } from '../../kernels/softmax.ts';
import { contiguous, normaliseAxis } from './movement.ts';

/** A tensor viewed as [outer, len, inner] around `axis`: `rows` = outer * inner rows of `len` elements. */
export interface RowLayout {
  outer: number;
  len: number;
  inner: number;
  rows: number;
}

export function rowLayout(shape: readonly number[], axis: number): RowLayout {
  const len = shape[axis] ?? 1;
  const outer = sizeOf(shape.slice(0, axis));
  const inner = sizeOf(shape.slice(axis + 1));
  return { outer, len, inner, rows: outer * inner };
}

interface SoftmaxAttrs {
  axis: number;
  mode: SoftmaxMode;
}

const Softmax: FunctionDef<SoftmaxAttrs> = {
  name: 'softmax',
  forward(ctx, [x], { axis, mode }) {
    const xc = contiguous(x);
    const layout = rowLayout(x.shape, axis);
    const y = allocate(x.shape);
    const perRow = perRowVariant(layout.rows, layout.len, tuning() === 'software');
    softmaxKernels.get({ mode, direction: 'forward', perRow }).run(
      { x: xc.storage, y: y.storage },
      { rows: layout.rows, len: layout.len, inner: Math.max(1, layout.inner), offset: xc.offset },
      rowGrid(perRow, layout.rows),
    );
    xc.dispose();
    if (ctx.needsInputGrad[0]) ctx.save(y);
    return y;
  },
  backward(ctx, g, { axis, mode }) {
    const [y] = ctx.saved;
    const gc = contiguous(g);
    const layout = rowLayout(y.shape, axis);
    const gx = allocate(y.shape);
    const perRow = perRowVariant(layout.rows, layout.len, tuning() === 'software');
    softmaxKernels.get({ mode, direction: 'backward', perRow }).run(
      { y: y.storage, g: gc.storage, gx: gx.storage },
      { rows: layout.rows, len: layout.len, inner: Math.max(1, layout.inner), offset: y.offset, g_offset: gc.offset },
      rowGrid(perRow, layout.rows),
    );
    return [gx];
  },
};

function softmaxOp(op: SoftmaxMode, x: Tensor, axis: number): Tensor {
  if (x.dtype !== 'float32') throw new Error(`${op}: expects a float32 tensor, got ${x.dtype} ${shapeString(x.shape)}`);
  // A scalar is one row of length 1 (axis 0 or -1), as in PyTorch.
  return apply(Softmax, [x], { axis: normaliseAxis(op, axis, Math.max(1, x.rank)), mode: op });
}

/** exp(x - max) / sum(exp(x - max)) along `axis`. Inputs must be finite (mask with -1e30, not -Infinity). */
export function softmax(x: Tensor, axis = -1): Tensor {
  return softmaxOp('softmax', x, axis);
}

/** x - max - log(sum(exp(x - max))) along `axis`; same input rules as softmax. */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return softmaxOp('logSoftmax', x, axis);
}
