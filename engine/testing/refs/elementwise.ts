// Float64 references for the element-wise ops of engine/ops/arithmetic.ts, with NumPy broadcasting.
// Each op is its scalar function plus one partial derivative per input; the VJP sums over broadcast axes.
import { broadcastShapes, sizeOf } from '../../host.ts';
import { broadcastIndex, ref, type RefOp, type RefTensor } from '../reference.ts';

/** The shape that `shapes` broadcast to (NumPy rules); throws naming `op` and the shapes otherwise. */
export const broadcastShape = broadcastShapes;

/** For each element of `outShape` (row-major), the index of the element of `shape` it reads when broadcast. */
export function broadcastSource(shape: readonly number[], outShape: readonly number[]): Int32Array {
  return Int32Array.from({ length: sizeOf(outShape) }, (_, i) => broadcastIndex(shape, outShape, i));
}

/** Sums `g` (of a broadcast shape) back onto `shape`: the VJP of broadcasting. */
export function sumToShapeRef(g: RefTensor, shape: readonly number[]): RefTensor {
  const out = ref(shape);
  const src = broadcastSource(shape, g.shape);
  for (let i = 0; i < src.length; i++) out.data[src[i]] += g.data[i];
  return out;
}

type Scalar = (...xs: number[]) => number;

/**
 * A broadcasting element-wise reference. `partials[k](...xs, out)` is d out / d input k at one element;
 * null gives no gradient for that input. Omit `partials` for ops without a gradient (comparisons).
 */
export function elementwiseRef(name: string, f: Scalar, partials?: (Scalar | null)[]): RefOp {
  const gather = (inputs: RefTensor[]) => {
    const shape = broadcastShape(name, ...inputs.map((t) => t.shape));
    return { shape, sources: inputs.map((t) => broadcastSource(t.shape, shape)) };
  };
  const forward = (inputs: RefTensor[]): RefTensor => {
    const { shape, sources } = gather(inputs);
    const out = ref(shape);
    for (let i = 0; i < out.data.length; i++) out.data[i] = f(...inputs.map((t, k) => t.data[sources[k][i]]));
    return out;
  };
  if (!partials) return { name, forward };
  return {
    name,
    forward,
    backward(inputs, gOut) {
      const { sources } = gather(inputs);
      const grads = inputs.map((t, k) => (partials[k] ? ref(t.shape) : null));
      for (let i = 0; i < gOut.data.length; i++) {
        const xs = inputs.map((t, k) => t.data[sources[k][i]]);
        const out = f(...xs);
        partials.forEach((p, k) => {
          if (p) grads[k]!.data[sources[k][i]] += gOut.data[i] * p(...xs, out);
        });
      }
      return grads;
    },
  };
}

/** a^b on the reals, as the GPU's pow: NaN for a negative base and non-integer b, 0^0 = 1, 0^b<0 = +inf. */
export function powReal(a: number, b: number): number {
  if (a === 0) return b === 0 ? 1 : b > 0 ? 0 : Infinity;
  if (a < 0 && !Number.isInteger(b)) return NaN;
  return Math.pow(a, b);
}

/** The numerically stable logistic function. */
export function logistic(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** a + b */
export const addRef = elementwiseRef('add', (a, b) => a + b, [() => 1, () => 1]);
/** a - b */
export const subRef = elementwiseRef('sub', (a, b) => a - b, [() => 1, () => -1]);
/** a * b */
export const mulRef = elementwiseRef('mul', (a, b) => a * b, [(_a, b) => b, (a) => a]);
/** a / b */
export const divRef = elementwiseRef('div', (a, b) => a / b, [(_a, b) => 1 / b, (a, b) => -a / (b * b)]);
/** a^b (see `powReal`); d/da = b a^(b-1) (0 where b = 0), d/db = a^b log|a| (0 where a = 0). */
export const powRef = elementwiseRef('pow', powReal, [
  (a, b) => (b === 0 ? 0 : b * powReal(a, b - 1)),
  (a, _b, out) => (a === 0 ? 0 : out * Math.log(Math.abs(a))),
]);
/** max(a, b); a tie sends half the gradient to each side. */
export const maximumRef = elementwiseRef('maximum', Math.max, [
  (a, b) => (a > b ? 1 : a === b ? 0.5 : 0),
  (a, b) => (b > a ? 1 : a === b ? 0.5 : 0),
]);
/** min(a, b); a tie sends half the gradient to each side. */
export const minimumRef = elementwiseRef('minimum', Math.min, [
  (a, b) => (a < b ? 1 : a === b ? 0.5 : 0),
  (a, b) => (b < a ? 1 : a === b ? 0.5 : 0),
]);

/** -x */
export const negRef = elementwiseRef('neg', (x) => -x, [() => -1]);
/** e^x */
export const expRef = elementwiseRef('exp', Math.exp, [(_x, out) => out]);
/** ln x */
export const logRef = elementwiseRef('log', Math.log, [(x) => 1 / x]);
/** sqrt x */
export const sqrtRef = elementwiseRef('sqrt', Math.sqrt, [(_x, out) => 0.5 / out]);
/** |x|; gradient sign(x), 0 at 0. */
export const absRef = elementwiseRef('abs', Math.abs, [(x) => Math.sign(x)]);
/** max(x, 0); gradient 0 at 0. */
export const reluRef = elementwiseRef('relu', (x) => Math.max(x, 0), [(x) => (x > 0 ? 1 : 0)]);
/** min(max(x, 0), 6); gradient 0 at 0 and 6. */
export const relu6Ref = elementwiseRef('relu6', (x) => Math.min(Math.max(x, 0), 6), [(x) => (x > 0 && x < 6 ? 1 : 0)]);
/** 1 / (1 + e^-x) */
export const sigmoidRef = elementwiseRef('sigmoid', logistic, [(_x, s) => s * (1 - s)]);
/** tanh x */
export const tanhRef = elementwiseRef('tanh', Math.tanh, [(_x, t) => 1 - t * t]);

/** min(max(x, lo), hi); gradient 1 on [lo, hi] (ends included), 0 outside. */
export function clampRef(lo: number, hi: number): RefOp {
  return elementwiseRef('clamp', (x) => Math.min(Math.max(x, lo), hi), [(x) => (x >= lo && x <= hi ? 1 : 0)]);
}
/** x * scale + shift with plain numbers. */
export function affineRef(scale: number, shift = 0): RefOp {
  return elementwiseRef('affine', (x) => x * scale + shift, [() => scale]);
}
/** x * s */
export const mulScalarRef = (s: number): RefOp => affineRef(s, 0);
/** x + s */
export const addScalarRef = (s: number): RefOp => affineRef(1, s);

/** cond != 0 ? a : b, broadcasting all three; no gradient for cond. */
export const whereRef = elementwiseRef('where', (c, a, b) => (c !== 0 ? a : b), [
  null,
  (c) => (c !== 0 ? 1 : 0),
  (c) => (c !== 0 ? 0 : 1),
]);

/** 1 where a > b, else 0 (no gradient). */
export const greaterRef = elementwiseRef('greater', (a, b) => (a > b ? 1 : 0));
/** 1 where a < b, else 0 (no gradient). */
export const lessRef = elementwiseRef('less', (a, b) => (a < b ? 1 : 0));
/** 1 where a == b, else 0 (no gradient). */
export const equalRef = elementwiseRef('equal', (a, b) => (a === b ? 1 : 0));
