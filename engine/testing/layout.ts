// Input layouts for property tests: the same logical values uploaded densely, then seen through a permuted
// (strided) and/or expanded (stride-0) view, so GPU ops meet non-contiguous inputs. `arb.layoutOf` draws them.
import { sameShape } from '../host.ts';
import { expand, permute } from '../ops/movement.ts';
import type { Tensor } from '../tensor.ts';
import type { RefOp } from './reference.ts';
import { composeInputs, expandRef, permuteRef } from './refs/movement.ts';

/** How a test input of logical shape `shape` is stored (dense, `stored`) and viewed (permuted, then expanded). */
export interface Layout {
  /** The logical shape the op sees. */
  shape: number[];
  /** Shape of the dense tensor that is uploaded (generate input values for this shape). */
  stored: number[];
  /** Permutation that turns the stored tensor into a strided view, if any. */
  permute?: number[];
}

/** A dense layout of `shape` (no view). */
export function denseLayout(shape: readonly number[]): Layout {
  return { shape: [...shape], stored: [...shape] };
}

function permutedShape(l: Layout): number[] {
  return l.permute ? l.permute.map((d) => l.stored[d]) : l.stored;
}

/** The reference transform from stored values to the logical tensor (null for a dense layout). */
export function layoutRef(l: Layout): RefOp | null {
  const p = l.permute && permuteRef(l.permute);
  const e = sameShape(permutedShape(l), l.shape) ? null : expandRef(l.shape);
  if (p && e) return composeInputs(e, [p]);
  return p ?? e ?? null;
}

/** The GPU view of an uploaded stored tensor in this layout (views only; no copy). */
export function applyLayout(t: Tensor, l: Layout): Tensor {
  const p = l.permute ? permute(t, l.permute) : t;
  if (sameShape(p.shape, l.shape)) return p;
  const e = expand(p, l.shape);
  if (p !== t) p.dispose();
  return e;
}

/** `op` whose inputs arrive in the given layouts: the reference to compare `op(...applyLayout)` against. */
export function withLayouts(op: RefOp, layouts: readonly Layout[]): RefOp {
  return composeInputs(op, layouts.map(layoutRef));
}
