// Float64 references for pooling over NCHW: avg_pool2d, max_pool2d (first maximum wins) and global average.
import { ref, type RefOp, type RefTensor } from '../reference.ts';

export interface PoolRefOptions {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  ceilMode?: boolean;
  countIncludePad?: boolean;
}

export function poolOutputSize(input: number, k: number, pad: number, stride: number, ceil: boolean): number {
  let out = Math.floor((input + 2 * pad - k + (ceil ? stride - 1 : 0)) / stride) + 1;
  if (ceil && (out - 1) * stride >= input + pad) out--;
  return out;
}

/**
 * Calls fn(k, at, divisor) for output element k of every plane: `at` holds the flat input indices inside
 * the image, in row-major window order (the array is reused between calls).
 */
function forEachWindow(shape: number[], o: PoolRefOptions, fn: (k: number, at: number[], divisor: number) => void): void {
  const [n, c, h, w] = shape;
  const [kh, kw] = o.kernel;
  const [sh, sw] = o.stride;
  const [ph, pw] = o.padding;
  const oh = poolOutputSize(h, kh, ph, sh, !!o.ceilMode);
  const ow = poolOutputSize(w, kw, pw, sw, !!o.ceilMode);
  const at: number[] = [];
  let k = 0;
  for (let p = 0; p < n * c; p++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const hs = oy * sh - ph;
        const ws = ox * sw - pw;
        const he = Math.min(hs + kh, h + ph);
        const we = Math.min(ws + kw, w + pw);
        at.length = 0;
        for (let y = Math.max(hs, 0); y < Math.min(he, h); y++) {
          for (let x = Math.max(ws, 0); x < Math.min(we, w); x++) at.push(p * h * w + y * w + x);
        }
        fn(k++, at, o.countIncludePad === false ? at.length : (he - hs) * (we - ws));
      }
    }
  }
}

function outShapeOf([n, c, h, w]: number[], o: PoolRefOptions): number[] {
  const ceil = !!o.ceilMode;
  return [n, c, poolOutputSize(h, o.kernel[0], o.padding[0], o.stride[0], ceil), poolOutputSize(w, o.kernel[1], o.padding[1], o.stride[1], ceil)];
}

export function avgPool2dRef(o: PoolRefOptions): RefOp {
  return {
    name: `avgPool2d(k [${o.kernel}], s [${o.stride}], p [${o.padding}]${o.ceilMode ? ', ceil' : ''}${o.countIncludePad === false ? ', exclude pad' : ''})`,
    forward([x]) {
      const out = ref(outShapeOf(x.shape, o));
      forEachWindow(x.shape, o, (k, at, divisor) => {
        for (const i of at) out.data[k] += x.data[i] / divisor;
      });
      return out;
    },
    backward([x], g) {
      const gx = ref(x.shape);
      forEachWindow(x.shape, o, (k, at, divisor) => {
        for (const i of at) gx.data[i] += g.data[k] / divisor;
      });
      return [gx];
    },
  };
}

function argmaxOf(x: RefTensor, at: number[]): number {
  let best = at[0];
  for (const i of at) if (x.data[i] > x.data[best]) best = i;
  return best;
}

export function maxPool2dRef(o: PoolRefOptions): RefOp {
  return {
    name: `maxPool2d(k [${o.kernel}], s [${o.stride}], p [${o.padding}]${o.ceilMode ? ', ceil' : ''})`,
    forward([x]) {
      const out = ref(outShapeOf(x.shape, o));
      forEachWindow(x.shape, o, (k, at) => (out.data[k] = x.data[argmaxOf(x, at)]));
      return out;
    },
    backward([x], g) {
      const gx = ref(x.shape);
      forEachWindow(x.shape, o, (k, at) => (gx.data[argmaxOf(x, at)] += g.data[k]));
      return [gx];
    },
  };
}

export const globalAvgPoolRef: RefOp = {
  name: 'globalAvgPool',
  forward([x]) {
    const [n, c, h, w] = x.shape;
    const out = ref([n, c, 1, 1]);
    for (let p = 0; p < n * c; p++) {
      let s = 0;
      for (let i = 0; i < h * w; i++) s += x.data[p * h * w + i];
      out.data[p] = s / (h * w);
    }
    return out;
  },
  backward([x], g) {
    const [, , h, w] = x.shape;
    return [ref(x.shape, x.data.map((_, i) => g.data[Math.floor(i / (h * w))] / (h * w)))];
  },
};
