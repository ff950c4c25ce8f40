// Float64 references for concat, slice, pad, gather and indexSelect, written with plain coordinates.
import { contiguousStrides, sizeOf } from '../../host.ts';
import { ref, type RefOp, type RefTensor } from '../reference.ts';

/** Calls fn(coord, flatIndex) for every element of a row-major shape. */
function forEachCoord(shape: readonly number[], fn: (coord: number[], flat: number) => void): void {
  const n = sizeOf(shape);
  const coord = shape.map(() => 0);
  for (let flat = 0; flat < n; flat++) {
    fn(coord, flat);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++coord[d] < shape[d]) break;
      coord[d] = 0;
    }
  }
}

const flatOf = (coord: readonly number[], strides: readonly number[]) => coord.reduce((acc, c, d) => acc + c * strides[d], 0);

export function concatRef(axis: number): RefOp {
  const place = (inputs: RefTensor[], fn: (k: number, inFlat: number, outFlat: number) => void) => {
    const a = axis < 0 ? axis + inputs[0].shape.length : axis;
    const shape = [...inputs[0].shape];
    shape[a] = inputs.reduce((acc, t) => acc + t.shape[a], 0);
    const outStrides = contiguousStrides(shape);
    let at = 0;
    inputs.forEach((t, k) => {
      forEachCoord(t.shape, (c, flat) => fn(k, flat, flatOf(c.map((v, d) => (d === a ? v + at : v)), outStrides)));
      at += t.shape[a];
    });
    return shape;
  };
  return {
    name: `concat(axis ${axis})`,
    forward(inputs) {
      const values: [number, number][] = [];
      const shape = place(inputs, (k, i, o) => values.push([o, inputs[k].data[i]]));
      const out = ref(shape);
      for (const [o, v] of values) out.data[o] = v;
      return out;
    },
    backward(inputs, g) {
      const grads = inputs.map((t) => ref(t.shape));
      place(inputs, (k, i, o) => (grads[k].data[i] = g.data[o]));
      return grads;
    },
  };
}

/** Python slice semantics per axis (steps > 0); missing trailing axes are whole. */
export function sliceRef(starts: number[], ends: number[], steps: number[] = []): RefOp {
  const resolve = (shape: number[]) =>
    shape.map((size, d) => {
      const step = steps[d] ?? 1;
      const norm = (i: number) => Math.min(size, Math.max(0, i < 0 ? i + size : i));
      const start = norm(starts[d] ?? 0);
      const end = Math.max(start, norm(ends[d] ?? size));
      return { start, step, count: Math.ceil((end - start) / step) };
    });
  const walk = (x: RefTensor, fn: (outFlat: number, inFlat: number) => void) => {
    const axes = resolve(x.shape);
    const shape = axes.map((a) => a.count);
    const inStrides = contiguousStrides(x.shape);
    forEachCoord(shape, (c, flat) => fn(flat, flatOf(c.map((v, d) => axes[d].start + v * axes[d].step), inStrides)));
    return shape;
  };
  return {
    name: `slice([${starts}], [${ends}], [${steps}])`,
    forward([x]) {
      const pairs: [number, number][] = [];
      const shape = walk(x, (o, i) => pairs.push([o, i]));
      const out = ref(shape);
      for (const [o, i] of pairs) out.data[o] = x.data[i];
      return out;
    },
    backward([x], g) {
      const gx = ref(x.shape);
      walk(x, (o, i) => (gx.data[i] += g.data[o]));
      return [gx];
    },
  };
}

export function padRef(pads: [number, number][], value = 0): RefOp {
  const outShape = (x: RefTensor) => x.shape.map((d, i) => d + pads[i][0] + pads[i][1]);
  const walk = (x: RefTensor, fn: (inFlat: number, outFlat: number) => void) => {
    const strides = contiguousStrides(outShape(x));
    forEachCoord(x.shape, (c, flat) => fn(flat, flatOf(c.map((v, d) => v + pads[d][0]), strides)));
  };
  return {
    name: `pad(${JSON.stringify(pads)}, ${value})`,
    forward([x]) {
      const out = ref(outShape(x));
      out.data.fill(value);
      walk(x, (i, o) => (out.data[o] = x.data[i]));
      return out;
    },
    backward([x], g) {
      const gx = ref(x.shape);
      walk(x, (i, o) => (gx.data[i] = g.data[o]));
      return [gx];
    },
  };
}

/**
 * Inputs [x, index]. 'gather': out has index's shape, out[c] = x[c with c[axis] = index[c]];
 * 'select': index is 1-D, out[c] = x[c with c[axis] = index[c[axis]]]. Out-of-range indices give 0.
 */
export function gatherRef(axis: number, mode: 'gather' | 'select' = 'gather'): RefOp {
  const walk = ([x, index]: RefTensor[], fn: (outFlat: number, inFlat: number) => void) => {
    const a = axis < 0 ? axis + x.shape.length : axis;
    const shape = mode === 'gather' ? index.shape : x.shape.map((d, i) => (i === a ? index.data.length : d));
    const strides = contiguousStrides(x.shape);
    forEachCoord(shape, (c, flat) => {
      const idx = index.data[mode === 'gather' ? flat : c[a]];
      if (idx < 0 || idx >= x.shape[a]) return;
      fn(flat, flatOf(c.map((v, d) => (d === a ? idx : v)), strides));
    });
    return shape;
  };
  return {
    name: `${mode === 'gather' ? 'gather' : 'indexSelect'}(axis ${axis})`,
    forward(inputs) {
      const pairs: [number, number][] = [];
      const out = ref(walk(inputs, (o, i) => pairs.push([o, i])));
      for (const [o, i] of pairs) out.data[o] = inputs[0].data[i];
      return out;
    },
    backward(inputs, g) {
      const gx = ref(inputs[0].shape);
      walk(inputs, (o, i) => (gx.data[i] += g.data[o]));
      return [gx, null];
    },
  };
}
