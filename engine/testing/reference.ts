// Float64 CPU references. Every GPU op has one: a forward, and a vector-Jacobian product (backward)
// that is itself checked against central finite differences by `gradcheck`.
import { contiguousStrides, shapeString, sizeOf } from '../host.ts';

/** A float64 CPU tensor, row-major. */
export interface RefTensor {
  shape: number[];
  data: Float64Array;
}

/** A RefTensor of `shape`, zero-filled or copied from `data`. */
export function ref(shape: readonly number[], data?: ArrayLike<number>): RefTensor {
  const n = sizeOf(shape);
  const out = new Float64Array(n);
  if (data) {
    if (data.length !== n) throw new Error(`ref: shape ${shapeString(shape)} holds ${n}, data has ${data.length}`);
    out.set(data);
  }
  return { shape: [...shape], data: out };
}

/** A float64 reference op: forward, and optionally its vector-Jacobian product. */
export interface RefOp {
  name: string;
  forward(inputs: RefTensor[]): RefTensor;
  /** Gradient of sum(forward(inputs) * gOut) for each input; null for inputs without a gradient. */
  backward?(inputs: RefTensor[], gOut: RefTensor): (RefTensor | null)[];
}

/** Step, tolerances and coverage of `gradcheck`. */
export interface GradcheckOptions {
  /** Central-difference step. */
  eps?: number;
  atol?: number;
  rtol?: number;
  /** Check at most this many elements per input (evenly spread), to bound cost on larger inputs. */
  maxElements?: number;
  /** Which inputs to check (default: all that backward returns non-null for). */
  inputs?: number[];
}

/** What `gradcheck` found: pass/fail, a message and the worst element. */
export interface GradcheckReport {
  ok: boolean;
  message: string;
  worst: { input: number; index: number; analytic: number; numeric: number } | null;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Deterministic pseudo-random values in [-1, 1) for gradient seeds in tests. */
export function seededValues(n: number, seed: number): Float64Array {
  const out = new Float64Array(n);
  let s = (seed >>> 0) || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 32) * 2 - 1;
  }
  return out;
}

/**
 * Checks op.backward against central differences of sum(forward * gOut) in float64. A failing check
 * means the reference itself is wrong, so GPU gradients must not be compared against it.
 */
export function gradcheck(op: RefOp, inputs: RefTensor[], opts: GradcheckOptions = {}): GradcheckReport {
  if (!op.backward) return { ok: false, message: `${op.name}: no backward to check`, worst: null };
  const eps = opts.eps ?? 1e-6;
  const atol = opts.atol ?? 1e-5;
  const rtol = opts.rtol ?? 1e-4;
  const out = op.forward(inputs);
  const gOut = ref(out.shape, seededValues(out.data.length, 12345));
  const analytic = op.backward(inputs, gOut);
  let worst: GradcheckReport['worst'] = null;
  let worstRatio = 0;
  for (let k = 0; k < inputs.length; k++) {
    if (opts.inputs && !opts.inputs.includes(k)) continue;
    const a = analytic[k];
    if (!a) continue;
    if (a.data.length !== inputs[k].data.length) {
      return { ok: false, message: `${op.name}: gradient ${k} has ${a.data.length} elements, input has ${inputs[k].data.length}`, worst: null };
    }
    const n = inputs[k].data.length;
    const step = Math.max(1, Math.floor(n / (opts.maxElements ?? 256)));
    for (let i = 0; i < n; i += step) {
      const x = inputs[k].data;
      const keep = x[i];
      x[i] = keep + eps;
      const plus = dot(op.forward(inputs).data, gOut.data);
      x[i] = keep - eps;
      const minus = dot(op.forward(inputs).data, gOut.data);
      x[i] = keep;
      const numeric = (plus - minus) / (2 * eps);
      const ratio = Math.abs(numeric - a.data[i]) / (atol + rtol * Math.abs(numeric));
      if (ratio > worstRatio || !worst) {
        worstRatio = ratio;
        worst = { input: k, index: i, analytic: a.data[i], numeric };
      }
    }
  }
  const ok = worstRatio <= 1;
  const message = worst
    ? `${op.name}: ${ok ? 'ok' : 'MISMATCH'}; worst at input ${worst.input}[${worst.index}]: analytic ${worst.analytic}, numeric ${worst.numeric}`
    : `${op.name}: nothing to check`;
  return { ok, message, worst };
}

/** The flat index in a row-major tensor of `shape` that element `outIndex` of its broadcast to `outShape` reads. */
export function broadcastIndex(shape: readonly number[], outShape: readonly number[], outIndex: number): number {
  const strides = contiguousStrides(shape);
  const lead = outShape.length - shape.length;
  let rem = outIndex;
  let idx = 0;
  for (let d = outShape.length - 1; d >= 0; d--) {
    const c = rem % outShape[d];
    rem = Math.floor(rem / outShape[d]);
    const j = d - lead;
    if (j >= 0 && shape[j] !== 1) idx += c * strides[j];
  }
  return idx;
}
