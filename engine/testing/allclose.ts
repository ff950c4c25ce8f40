// Float32-aware comparison with a report of the worst element.
import { shapeString } from '../host.ts';

/** float32 machine epsilon, 2^-23: the spacing of float32 numbers just above 1. */
export const F32_EPS = 2 ** -23;

/** A comparison passes where |actual - expected| <= atol + rtol * |expected|. */
export interface Tolerance {
  /** Absolute tolerance. */
  atol: number;
  /** Relative tolerance, applied to |expected|. */
  rtol: number;
}

/**
 * Default for one float32 op whose result sums `terms` products: rounding grows like sqrt(terms) in
 * practice and like `terms` in the worst case; we budget 32*sqrt(terms) epsilons relative, and the same
 * times `scale` (the magnitude of the summed terms) absolute, so cancellation near 0 passes.
 */
export function f32Tolerance(terms = 1, scale = 1): Tolerance {
  const k = 4 * Math.sqrt(Math.max(1, terms)) * F32_EPS;
  return { rtol: 8 * k, atol: 8 * k * scale };
}

/** What `compareClose` found: pass/fail, the worst element and a readable message. */
export interface CloseReport {
  ok: boolean;
  /** Index of the worst element (largest excess over its tolerance), or -1. */
  worstIndex: number;
  worstActual: number;
  worstExpected: number;
  /** |actual - expected| / (atol + rtol*|expected|) at the worst element; <= 1 passes. */
  worstRatio: number;
  mismatches: number;
  message: string;
}

function coordOf(index: number, shape: readonly number[]): string {
  if (!shape.length) return '[]';
  const c: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    c.unshift(index % shape[d]);
    index = Math.floor(index / shape[d]);
  }
  return `[${c.join(', ')}]`;
}

/** Compares element-wise; NaN matches NaN, infinities must match exactly. */
export function compareClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tolerance,
  shape: readonly number[] = [expected.length],
): CloseReport {
  if (actual.length !== expected.length) {
    return {
      ok: false,
      worstIndex: -1,
      worstActual: NaN,
      worstExpected: NaN,
      worstRatio: Infinity,
      mismatches: Math.max(actual.length, expected.length),
      message: `length ${actual.length} differs from expected ${expected.length} (shape ${shapeString(shape)})`,
    };
  }
  let worst = -1;
  let worstRatio = 0;
  let mismatches = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    let ratio: number;
    if (Number.isNaN(e) || Number.isNaN(a)) ratio = Number.isNaN(e) && Number.isNaN(a) ? 0 : Infinity;
    else if (!Number.isFinite(e) || !Number.isFinite(a)) ratio = a === e ? 0 : Infinity;
    else ratio = Math.abs(a - e) / (tol.atol + tol.rtol * Math.abs(e) || Number.MIN_VALUE);
    if (ratio > 1) mismatches++;
    if (ratio > worstRatio || worst < 0) {
      worstRatio = ratio;
      worst = i;
    }
  }
  const ok = mismatches === 0;
  const at = worst >= 0 ? coordOf(worst, shape) : '-';
  const message = ok
    ? `all ${expected.length} elements within tolerance (worst ratio ${worstRatio.toFixed(3)} at ${at})`
    : `${mismatches} of ${expected.length} elements differ; worst at ${at}: got ${actual[worst]}, expected ${expected[worst]} ` +
      `(|diff| ${Math.abs(actual[worst] - expected[worst]).toExponential(3)} is ${worstRatio.toFixed(2)}x the tolerance ` +
      `atol ${tol.atol.toExponential(2)} + rtol ${tol.rtol.toExponential(2)}*|expected|)`;
  return { ok, worstIndex: worst, worstActual: actual[worst], worstExpected: expected[worst], worstRatio, mismatches, message };
}

/** Throws with the worst-element report when arrays are not close. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tolerance,
  what = 'tensor',
  shape?: readonly number[],
): void {
  const r = compareClose(actual, expected, tol, shape);
  if (!r.ok) throw new Error(`${what}: ${r.message}`);
}
