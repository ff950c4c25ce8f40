// Float64 CPU reference conv2d (NCHW, weight [O, C/groups, kH, kW]): dense, grouped and depthwise, with
// stride, dilation and symmetric zero padding. Deliberately the naive loop: it is the thing others are checked
// against.

export interface Tensor64 {
  shape: number[];
  data: Float64Array;
}

export interface Conv2dParams {
  stride?: number;
  dilation?: number;
  padding?: number;
  groups?: number;
}

export function tensor64(shape: number[], data?: ArrayLike<number>): Tensor64 {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float64Array(n);
  if (data) {
    if (data.length !== n) throw new Error(`tensor64: shape [${shape}] needs ${n} values, got ${data.length}`);
    out.set(data);
  }
  return { shape: [...shape], data: out };
}

export function convOutputSize(size: number, kernel: number, stride: number, dilation: number, padding: number): number {
  return Math.floor((size + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1;
}

export function conv2dRef(x: Tensor64, weight: { shape: readonly number[]; data: ArrayLike<number> }, params: Conv2dParams = {}): Tensor64 {
  const { stride = 1, dilation = 1, padding = 0, groups = 1 } = params;
  const [n, c, h, w] = x.shape;
  const [o, cPerGroup, kh, kw] = weight.shape;
  if (c !== cPerGroup * groups || o % groups !== 0) {
    throw new Error(`conv2dRef: input channels ${c}, weight [${weight.shape}], groups ${groups} do not fit`);
  }
  const oh = convOutputSize(h, kh, stride, dilation, padding);
  const ow = convOutputSize(w, kw, stride, dilation, padding);
  const out = tensor64([n, o, oh, ow]);
  const oPerGroup = o / groups;
  for (let b = 0; b < n; b++) {
    for (let oc = 0; oc < o; oc++) {
      const g = Math.floor(oc / oPerGroup);
      for (let y = 0; y < oh; y++) {
        for (let xo = 0; xo < ow; xo++) {
          let acc = 0;
          for (let ic = 0; ic < cPerGroup; ic++) {
            const inC = g * cPerGroup + ic;
            for (let ky = 0; ky < kh; ky++) {
              const iy = y * stride - padding + ky * dilation;
              if (iy < 0 || iy >= h) continue;
              for (let kx = 0; kx < kw; kx++) {
                const ix = xo * stride - padding + kx * dilation;
                if (ix < 0 || ix >= w) continue;
                acc += x.data[((b * c + inC) * h + iy) * w + ix] * weight.data[((oc * cPerGroup + ic) * kh + ky) * kw + kx];
              }
            }
          }
          out.data[((b * o + oc) * oh + y) * ow + xo] = acc;
        }
      }
    }
  }
  return out;
}
