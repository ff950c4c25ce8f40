// GPU-versus-reference harness: forward and every input gradient of a GPU op against its float64 reference.
import { backward } from '../autograd.ts';
import { shapeString, sameShape } from '../host.ts';
import { fromArray } from '../ops/creation.ts';
import { memory } from '../runtime.ts';
import { tidy } from '../scope.ts';
import type { Tensor } from '../tensor.ts';
import { assertClose, f32Tolerance, type Tolerance } from './allclose.ts';
import { ref, seededValues, type RefOp, type RefTensor } from './reference.ts';

/** One GPU-versus-reference comparison for `checkOp`. */
export interface OpCase {
  /** The float64 reference (its backward is needed when any gradient is checked). */
  ref: RefOp;
  /** Input values; float inputs are rounded to float32 first so GPU and reference see the same numbers. */
  inputs: RefTensor[];
  /** The op under test, given the uploaded inputs (runs inside tidy; temporaries are freed). */
  gpu: (inputs: Tensor[]) => Tensor;
  /** Inputs whose gradient is checked (default: every float input). */
  grad?: number[];
  /** Inputs uploaded as int32 (indices, labels). */
  intInputs?: number[];
  /** Forward tolerance (default f32Tolerance()). */
  tol?: Tolerance;
  /** Gradient tolerance (default: tol). */
  gradTol?: Tolerance;
  /** Seed of the output gradient's values in [-1, 1). */
  seed?: number;
}

/** Runs the op on the GPU and throws a report naming the op, shapes and worst element on any mismatch. */
export async function checkOp(c: OpCase): Promise<void> {
  const ints = new Set(c.intInputs ?? []);
  for (const [k, t] of c.inputs.entries()) {
    if (!ints.has(k)) for (let i = 0; i < t.data.length; i++) t.data[i] = Math.fround(t.data[i]);
  }
  const gradInputs = c.grad ?? c.inputs.map((_, k) => k).filter((k) => !ints.has(k));
  const expected = c.ref.forward(c.inputs);
  const where = `${c.ref.name}(${c.inputs.map((t) => shapeString(t.shape)).join(', ')})`;
  const liveBefore = memory().live;

  const gOutValues = seededValues(expected.data.length, c.seed ?? 7).map(Math.fround);
  const tensors = c.inputs.map((t, k) =>
    fromArray(t.data, t.shape, { dtype: ints.has(k) ? 'int32' : 'float32', requiresGrad: gradInputs.includes(k) }),
  );
  try {
    const out = tidy(() => c.gpu(tensors));
    if (!sameShape(out.shape, expected.shape)) {
      throw new Error(`${where}: output shape ${shapeString(out.shape)}, reference ${shapeString(expected.shape)}`);
    }
    const actual = await out.toArray();
    assertClose(actual, expected.data, c.tol ?? f32Tolerance(), `${where} forward`, expected.shape);
    if (gradInputs.length) {
      if (!c.ref.backward) throw new Error(`${where}: reference has no backward`);
      const gOut = fromArray(gOutValues, expected.shape);
      tidy(() => backward(out, gOut));
      gOut.dispose();
      const refGrads = c.ref.backward(c.inputs, ref(expected.shape, gOutValues));
      for (const k of gradInputs) {
        const g = tensors[k].grad;
        const r = refGrads[k];
        if (!r) throw new Error(`${where}: reference gives no gradient for input ${k}`);
        if (!g) throw new Error(`${where}: GPU gave no gradient for input ${k}`);
        assertClose(await g.toArray(), r.data, c.gradTol ?? c.tol ?? f32Tolerance(), `${where} gradient of input ${k}`, r.shape);
      }
    }
    out.dispose();
  } finally {
    for (const t of tensors) t.dispose();
  }
  const leaked = memory().live - liveBefore;
  if (leaked !== 0) throw new Error(`${where}: ${leaked} bytes of GPU memory still live after disposing everything`);
}
