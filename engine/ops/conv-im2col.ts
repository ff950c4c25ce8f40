// Dense convolutions as GEMMs on the pointwise kernel, whose register blocks (8-16 output channels by 8
// pixels, uniform weight loads, lane-contiguous x loads) outrun the direct kernels here (which convs:
// usesIm2col).
// - forward: x unfolds into cols [N, R, P] (R = C·KH·KW, kernels/im2col.ts), out = w [O, R] · cols. The
//   unfold is a memory pass over R·P floats.
// - gradient to x: dcols = wᵀ · dy on the pointwise kernel, then col2im sums each x position's taps.
// The weight gradient stays on the direct kernel: at the stem, the pointwise weight gradient over cols (R
// padded to 28 for vec4 lanes) measured the same.
import { allocate, type Tensor } from '../tensor.ts';
import { contiguous, reshape, transpose } from './movement.ts';
import { col2imKernels, IM2COL_MAX_Z, im2colKernels, im2colWorkgroup } from '../../kernels/im2col.ts';
import { pad } from './indexing.ts';
import { isDepthwise, isPointwise, type ConvGeometry } from './conv-common.ts';
import { runPointwise } from './conv-pointwise.ts';

/** Most input channels of the strided "stem" case of the im2col path. */
export const IM2COL_MAX_CHANNELS = 4;
/** Largest cols buffer (bytes) the path allocates; bigger inputs stay on the direct kernels. */
const IM2COL_MAX_BYTES = 64 * 2 ** 20;

let enabled = true;

/** Turns the im2col path off (tests compare it with the direct kernels) or back on. */
export function setIm2colConv(on: boolean): void {
  enabled = on;
}

/**
 * Which dense convs run as GEMMs (same-process A/B on lavapipe against the direct kernels):
 * - few input channels (at most 4), strided: forward with 16+ output channels (3x3 s2 3->16 1.1-1.5x,
 *   3->32 1.4-1.6x, 7x7 s2 3->64 1.8x faster); gradient to x with 24+ (3->32 1.25-1.4x, 3->16 0.93-1.1x).
 *   At stride 1 they measured within 5%.
 * - 16+ input and 32+ output channels, forward: 3x3 32->64 1.3-1.45x, 64->64 1.46x, 64->128 s2 1.98x,
 *   128->128 1.38x, 16->32 1.25x, dilation 2 1.31x, 5x5 32->32 1.16x (1.69x since im2col's windows).
 *   With the windowed im2col, also 2-15 input channels to 32+ and 2-16 to 16+: 8->32 1.12x, 3->32 at
 *   stride 1 1.23x, 6->16 1.26x, 8->16 1.11x, 16->16 1.09x; single-channel inputs (1->32 0.5x, 5x5 1->16
 *   0.28x), 32->16 (1.0x), 64->16 (0.85x) and under 16 outputs (0.79-0.88x) stay direct.
 * - 8+ input and 32+ output channels, gradient to x, kernels of at most 9 taps: 3x3 32->64 1.3-1.5x,
 *   64->64 1.65x, 64->128 s2 1.69x, 128->128 1.56x, 8->32 1.17x; 5x5 32->32 ran 0.95x, 8->16 0.94x.
 * cols (dcols) past IM2COL_MAX_BYTES stay on the direct kernels.
 */
export function usesIm2col(g: ConvGeometry, pass: 'forward' | 'inputGrad' = 'forward'): boolean {
  if (!enabled || g.groups !== 1 || isPointwise(g) || isDepthwise(g) || g.o % 4 !== 0) return false;
  const taps = g.kh * g.kw;
  const bytes = 4 * g.n * Math.ceil((g.c * taps) / 8) * 8 * g.oh * g.ow;
  if (bytes > IM2COL_MAX_BYTES) return false;
  const strided = g.stride[0] * g.stride[1] > 1;
  const stem = g.c <= IM2COL_MAX_CHANNELS && strided;
  if (pass === 'forward') return (stem && g.o >= 16) || (g.c >= 2 && (g.o >= 32 || (g.o >= 16 && g.c <= 16)));
  return (stem && g.o >= 24) || (g.c >= 8 && g.o >= 32 && taps <= 9);
}

/** Dispatches over images n_first.. in runs whose grid z (images · perImage) stays within the limit. */
function overImages(n: number, perImage: number, run: (nFirst: number, images: number) => void): void {
  const step = Math.max(1, Math.floor(IM2COL_MAX_Z / perImage));
  for (let first = 0; first < n; first += step) run(first, Math.min(step, n - first));
}

/** cols [N, R, P]: x unfolded. */
function im2col(g: ConvGeometry, x: Tensor): Tensor {
  const red = g.c * g.kh * g.kw;
  const cols = allocate([g.n, red, g.oh * g.ow]);
  const colBlocks = Math.ceil(g.ow / 4);
  const window = g.dilation[1] === 1 ? g.stride[1] : 0;
  const wg = im2colWorkgroup(colBlocks);
  const kernel = im2colKernels.get({ vec4: g.ow % 4 === 0, kh: g.kh, kw: g.kw, window, wg });
  const [wx, wy] = wg;
  overImages(g.n, g.c * g.kh, (nFirst, images) =>
    kernel.run(
      { x: x.storage, cols: cols.storage },
      {
        red, n_first: nFirst, in_c: g.c, in_h: g.h, in_w: g.w, out_h: g.oh, out_w: g.ow, col_blocks: colBlocks,
        stride: g.stride, dilation: g.dilation, pad: [g.padding[0], g.padding[2]],
      },
      [Math.ceil(colBlocks / wx), Math.ceil(g.oh / wy), images * g.c * g.kh],
    ),
  );
  return cols;
}

export function im2colForward(g: ConvGeometry, x: Tensor, w: Tensor, bias: Tensor | null, out: Tensor): void {
  const red = g.c * g.kh * g.kw;
  const cols = im2col(g, x);
  if (g.o % 4 === 0) {
    // [R, O] weights give the pointwise kernel its output channels as vec4s (see convForward's pointwise case).
    const w2 = reshape(w, [g.o, red]);
    const wt = transpose(w2);
    const wDense = contiguous(wt);
    runPointwise(cols, wDense, bias, out, g.n, red, g.o, g.oh * g.ow, true);
    for (const t of [w2, wt, wDense]) t.dispose();
  } else {
    runPointwise(cols, w, bias, out, g.n, red, g.o, g.oh * g.ow);
  }
  cols.dispose();
}

/**
 * dx = col2im(wᵀ · dy): dcols [N, R', P] = wᵀ [R', O] · dy [N, O, P] on the pointwise kernel, with R padded
 * to R', a multiple of 8: its output channels are then vec4 columns of the [O, R'] weight, in blocks of 8.
 * At the stem (R = 27) R' = 32 ran 1.1x faster than 28 (blocks of 4) and 1.3x faster than 27 (scalar
 * rows), the padding's work included.
 */
export function im2colInputGrad(g: ConvGeometry, gy: Tensor, w: Tensor, dx: Tensor): void {
  const red = g.c * g.kh * g.kw;
  const redPad = Math.ceil(red / 8) * 8;
  const pix = g.oh * g.ow;
  const w2 = reshape(w, [g.o, red]);
  const wPadded = redPad > red ? pad(w2, [[0, 0], [0, redPad - red]]) : w2;
  const dcols = allocate([g.n, redPad, pix]);
  runPointwise(gy, wPadded, null, dcols, g.n, g.o, redPad, pix, true);
  // One phase's columns in blocks of 4, rows one an invocation; z runs over (image, channel, phase).
  const [sh, sw] = g.stride;
  const colBlocks = Math.ceil(Math.ceil(g.w / sw) / 4);
  const wg = im2colWorkgroup(colBlocks);
  const kernel = col2imKernels.get({ kh: g.kh, kw: g.kw, sh, sw, wg });
  const [wx, wy] = wg;
  overImages(g.n, g.c * sh * sw, (nFirst, images) =>
    kernel.run(
      { cols: dcols.storage, dx: dx.storage },
      {
        red_pad: redPad, n_first: nFirst, in_c: g.c, in_h: g.h, in_w: g.w, out_h: g.oh, out_w: g.ow, col_blocks: colBlocks,
        dilation: g.dilation, pad: [g.padding[0], g.padding[2]],
      },
      [Math.ceil(colBlocks / wx), Math.ceil(Math.ceil(g.h / sh) / wy), images * g.c * sh * sw],
    ),
  );
  for (const t of new Set([w2, wPadded, dcols])) t.dispose();
}
