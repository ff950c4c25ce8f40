// Float64 reference for conv2d (NCHW, weight [O, C/groups, kH, kW], optional bias [O]): stride, dilation,
// asymmetric zero padding, groups. Inputs are [x, w] or [x, w, bias]; backward is the vector-Jacobian product
// for each. Deliberately the naive loops: every GPU path is checked against them.
import type { ConvConfig } from '../arbitraries.ts';
import { convOutputSize } from '../arbitraries.ts';
import { ref, type RefOp, type RefTensor } from '../reference.ts';

export function convShapes(c: ConvConfig): { x: number[]; w: number[]; bias: number[]; out: number[] } {
  const [oh, ow] = convOutputSize(c);
  return {
    x: [c.batch, c.inChannels, c.height, c.width],
    w: [c.outChannels, c.inChannels / c.groups, c.kernelH, c.kernelW],
    bias: [c.outChannels],
    out: [c.batch, c.outChannels, oh, ow],
  };
}

/**
 * Calls visit(outIndex, xIndex, wIndex) for every (output, tap) pair whose input position is inside the
 * image: the one loop nest forward and both gradients share.
 */
function forEachTap(c: ConvConfig, visit: (o: number, xi: number, wi: number) => void): void {
  const [oh, ow] = convOutputSize(c);
  const cg = c.inChannels / c.groups;
  const og = c.outChannels / c.groups;
  const { height: h, width: w, kernelH: kh, kernelW: kw } = c;
  for (let n = 0; n < c.batch; n++) {
    for (let oc = 0; oc < c.outChannels; oc++) {
      const g = Math.floor(oc / og);
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          const o = ((n * c.outChannels + oc) * oh + oy) * ow + ox;
          for (let ic = 0; ic < cg; ic++) {
            const xc = (n * c.inChannels + g * cg + ic) * h;
            for (let ky = 0; ky < kh; ky++) {
              const iy = oy * c.stride[0] - c.padding[0] + ky * c.dilation[0];
              if (iy < 0 || iy >= h) continue;
              for (let kx = 0; kx < kw; kx++) {
                const ix = ox * c.stride[1] - c.padding[2] + kx * c.dilation[1];
                if (ix < 0 || ix >= w) continue;
                visit(o, (xc + iy) * w + ix, ((oc * cg + ic) * kh + ky) * kw + kx);
              }
            }
          }
        }
      }
    }
  }
}

/** The reference conv for one configuration; inputs [x, w] or [x, w, bias] (when c.bias). */
export function conv2dRef(c: ConvConfig): RefOp {
  const shapes = convShapes(c);
  const pixels = shapes.out[2] * shapes.out[3];
  return {
    name: `conv2d(k${c.kernelH}x${c.kernelW} s${c.stride} d${c.dilation} p${c.padding} g${c.groups})`,
    forward([x, w, bias]: RefTensor[]): RefTensor {
      const out = ref(shapes.out);
      forEachTap(c, (o, xi, wi) => (out.data[o] += x.data[xi] * w.data[wi]));
      if (c.bias) for (let i = 0; i < out.data.length; i++) out.data[i] += bias.data[Math.floor(i / pixels) % c.outChannels];
      return out;
    },
    backward([x, w, bias]: RefTensor[], gOut: RefTensor): (RefTensor | null)[] {
      const gx = ref(x.shape);
      const gw = ref(w.shape);
      forEachTap(c, (o, xi, wi) => {
        gx.data[xi] += gOut.data[o] * w.data[wi];
        gw.data[wi] += gOut.data[o] * x.data[xi];
      });
      if (!c.bias) return [gx, gw];
      const gb = ref(bias.shape);
      for (let i = 0; i < gOut.data.length; i++) gb.data[Math.floor(i / pixels) % c.outChannels] += gOut.data[i];
      return [gx, gw, gb];
    },
  };
}

/**
 * The reference transposed convolution for conv configuration c: input [N, O, OH, OW] (c's output shape),
 * weight [O, C/groups, kH, kW] (c's weight), optional bias [C]; output c's input shape [N, C, H, W]. It is
 * conv2d's input gradient, so forward and backward are conv2dRef's passes with the roles swapped.
 */
export function convTranspose2dRef(c: ConvConfig): RefOp {
  const conv = conv2dRef({ ...c, bias: false });
  const shapes = convShapes(c);
  const pixels = c.height * c.width;
  return {
    name: `convTranspose2d(k${c.kernelH}x${c.kernelW} s${c.stride} d${c.dilation} p${c.padding} g${c.groups})`,
    forward([x, w, bias]: RefTensor[]): RefTensor {
      const out = conv.backward!([ref(shapes.x), w], x)[0]!;
      if (c.bias) for (let i = 0; i < out.data.length; i++) out.data[i] += bias.data[Math.floor(i / pixels) % c.inChannels];
      return out;
    },
    backward([x, w, bias]: RefTensor[], gOut: RefTensor): (RefTensor | null)[] {
      const gx = conv.forward([gOut, w]);
      const gw = conv.backward!([gOut, w], x)[1]!;
      if (!c.bias) return [gx, gw];
      const gb = ref(bias.shape);
      for (let i = 0; i < gOut.data.length; i++) gb.data[Math.floor(i / pixels) % c.inChannels] += gOut.data[i];
      return [gx, gw, gb];
    },
  };
}
