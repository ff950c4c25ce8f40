// Weight layouts: Keras/TF keeps kernels channels-last, PyTorch (and we) channels-first.
//   Conv2D kernel           [kh, kw, I, O]  ->  [O, I, kh, kw]
//   DepthwiseConv2D kernel  [kh, kw, C, M]  ->  [C*M, 1, kh, kw]   (TF orders outputs channel-major: c*M + m)
//   Dense kernel            [in, out]       ->  Linear [out, in]
import { type HostTensor, shapeString } from '../../engine/host.ts';

function expectRank(t: HostTensor, rank: number, what: string): void {
  if (t.shape.length !== rank) throw new Error(`${what}: expected a rank-${rank} tensor, got ${shapeString(t.shape)}`);
}

export function kerasConvToOIHW(t: HostTensor): HostTensor {
  expectRank(t, 4, 'kerasConvToOIHW');
  const [kh, kw, inC, outC] = t.shape;
  const out = new Float32Array(t.data.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < inC; i++) {
        const src = ((y * kw + x) * inC + i) * outC;
        for (let o = 0; o < outC; o++) out[((o * inC + i) * kh + y) * kw + x] = t.data[src + o];
      }
    }
  }
  return { dtype: 'float32', shape: [outC, inC, kh, kw], data: out };
}

export function kerasDepthwiseToOIHW(t: HostTensor): HostTensor {
  expectRank(t, 4, 'kerasDepthwiseToOIHW');
  const [kh, kw, channels, multiplier] = t.shape;
  const out = new Float32Array(t.data.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let c = 0; c < channels; c++) {
        for (let m = 0; m < multiplier; m++) {
          out[((c * multiplier + m) * kh + y) * kw + x] = t.data[((y * kw + x) * channels + c) * multiplier + m];
        }
      }
    }
  }
  return { dtype: 'float32', shape: [channels * multiplier, 1, kh, kw], data: out };
}

export function kerasDenseToLinear(t: HostTensor): HostTensor {
  expectRank(t, 2, 'kerasDenseToLinear');
  const [inF, outF] = t.shape;
  const out = new Float32Array(t.data.length);
  for (let i = 0; i < inF; i++) for (let o = 0; o < outF; o++) out[o * inF + i] = t.data[i * outF + o];
  return { dtype: 'float32', shape: [outF, inF], data: out };
}
