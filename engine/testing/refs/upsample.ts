// Float64 reference for bilinear resizing (PyTorch's upsample_bilinear2d): forward and its transpose.
import { ref, type RefOp } from '../reference.ts';

export interface UpsampleRefOptions {
  out: [number, number];
  alignCorners: boolean;
  /** The scale factors the caller gave, if any (PyTorch then uses 1 / factor for source indices). */
  factors?: [number, number];
}

interface Tap {
  i0: number;
  i1: number;
  w0: number;
  w1: number;
}

/** Taps along one axis for every output index, following area_pixel_compute_scale / _source_index. */
export function bilinearTaps(input: number, output: number, alignCorners: boolean, factor?: number): Tap[] {
  const scale = alignCorners ? (output > 1 ? (input - 1) / (output - 1) : 0) : factor !== undefined ? 1 / factor : input / output;
  return Array.from({ length: output }, (_, d) => {
    const src = alignCorners ? scale * d : Math.max(scale * (d + 0.5) - 0.5, 0);
    const i0 = Math.floor(src);
    const w1 = src - i0;
    return { i0, i1: i0 < input - 1 ? i0 + 1 : i0, w0: 1 - w1, w1 };
  });
}

export function upsampleBilinearRef(o: UpsampleRefOptions): RefOp {
  const plan = (shape: number[]) => {
    const [n, c, h, w] = shape;
    const [oh, ow] = o.out;
    return {
      planes: n * c,
      h,
      w,
      oh,
      ow,
      ty: bilinearTaps(h, oh, o.alignCorners, o.factors?.[0]),
      tx: bilinearTaps(w, ow, o.alignCorners, o.factors?.[1]),
    };
  };
  /** Calls fn(outIndex, inIndex, weight) for the four taps of every output element. */
  const forEachTap = (shape: number[], fn: (out: number, at: number, weight: number) => void) => {
    const { planes, h, w, oh, ow, ty, tx } = plan(shape);
    for (let p = 0; p < planes; p++) {
      for (let y = 0; y < oh; y++) {
        for (let x = 0; x < ow; x++) {
          const k = (p * oh + y) * ow + x;
          const row = (i: number) => p * h * w + i * w;
          fn(k, row(ty[y].i0) + tx[x].i0, ty[y].w0 * tx[x].w0);
          fn(k, row(ty[y].i0) + tx[x].i1, ty[y].w0 * tx[x].w1);
          fn(k, row(ty[y].i1) + tx[x].i0, ty[y].w1 * tx[x].w0);
          fn(k, row(ty[y].i1) + tx[x].i1, ty[y].w1 * tx[x].w1);
        }
      }
    }
  };
  return {
    name: `upsampleBilinear(${o.out.join('×')}${o.alignCorners ? ', align_corners' : ''}${o.factors ? `, scale [${o.factors}]` : ''})`,
    forward([x]) {
      const out = ref([x.shape[0], x.shape[1], ...o.out]);
      forEachTap(x.shape, (k, at, weight) => (out.data[k] += weight * x.data[at]));
      return out;
    },
    backward([x], g) {
      const gx = ref(x.shape);
      forEachTap(x.shape, (k, at, weight) => (gx.data[at] += weight * g.data[k]));
      return [gx];
    },
  };
}
