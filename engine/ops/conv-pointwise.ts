// Pointwise (1x1, stride 1) launches: the register-blocked pointwise kernel for the forward and the gradient
// to x, and the weight gradient over slices of the pixel rows. conv-launch.ts picks them.
import { grid1d } from '../kernel.ts';
import { tuning } from '../tuning.ts';
import { allocate, type Tensor } from '../tensor.ts';
import { contiguous, reshape } from './movement.ts';
import { matmulKernel } from './matmul.ts';
import { sum } from './reduce.ts';
import { CONV_WG } from '../../kernels/conv2d.ts';
import { pointwiseKernels, type PointwiseWeight } from '../../kernels/pointwise.ts';
import type { ConvGeometry } from './conv-common.ts';

/**
 * Register blocking of the pointwise kernel for `n` images of `pix` pixels and `outCh` output channels;
 * `sliced` for the weight gradient's slices (tuned apart).
 */
function pointwiseBlocks(n: number, pix: number, outCh: number, weightTransposed: boolean, sliced = false) {
  const vec4 = pix % 4 === 0;
  const pix4 = Math.ceil(pix / 4);
  // A GPU needs threads more than it needs fewer loads: 4 channels x 4 pixels each (see engine/tuning.ts).
  if (tuning() === 'gpu') return { vec4, pv: 1, ob: 4, pixBlocks: pix4 };
  // Eight or sixteen output channels per invocation where the [R, O] weight gives them as vec4s: fewer x
  // loads per multiply-add. On MobileNetV2's shapes (same-process A/B, bit-identical) eight ran 1.1-1.9x
  // faster than four, and sixteen another 3-13% when there are at least 64 channels (9% slower at 32).
  const ob = !weightTransposed ? 4 : outCh % 16 === 0 && outCh >= 64 ? 16 : outCh % 8 === 0 ? 8 : 4;
  // Two vec4 pixel groups per invocation, unless a row has a single one (2x2 maps), which would idle half.
  // Four with blocks of 16 channels, on rows of 16+ vec4 groups, while that leaves 256+ invocations (4
  // workgroups): 16->96 at 112x112 1.19-1.24x, 24->144 and 96->576 1.03-1.09x, dense 3x3 32->64 as a GEMM
  // 1.1-1.2x faster; with fewer invocations, or blocks of 8, it ran 0.7-0.96x, and on short rows (2x2,
  // 4x4 maps) it idled lanes: the w1.0 training step ran 10% slower (alternating runs on lavapipe).
  let pv = vec4 && pix4 > 1 ? 2 : 1;
  if (vec4 && ob === 16 && !sliced && pix4 >= 16 && n * (outCh / 16) * Math.ceil(pix4 / 4) >= 256) pv = 4;
  return { vec4, pv, ob, pixBlocks: vec4 ? Math.ceil(pix4 / pv) : pix4 };
}

/**
 * out[n, o, q] = sum_r w[o, r] x[n, r, q] (+ bias) over P pixels: x [N, R, P], out [N, O, P]; w dense,
 * [O, R], or [R, O] with `weightTransposed` (needs O % 4 == 0). `weightStride` > 0 gives image n the weight
 * n · weightStride floats on; `sliced` (by default, with one) blocks as for the weight gradient's slices.
 */
export function runPointwise(
  x: Tensor, w: Tensor, bias: Tensor | null, out: Tensor, n: number, red: number, outCh: number, pix: number, weightTransposed = false,
  weightStride = 0, sliced = weightStride > 0,
): void {
  const { vec4, pv, ob, pixBlocks } = pointwiseBlocks(n, pix, outCh, weightTransposed, sliced);
  const weight: PointwiseWeight = weightTransposed ? 'cols4' : 'rows';
  const outBlocks = Math.ceil(outCh / ob);
  const total = n * outBlocks * pixBlocks;
  const kernel = pointwiseKernels.get({ ob, pv, vec4, weight });
  const bindings = { x: x.storage, w: w.storage, bias: (bias ?? w).storage, out: out.storage };
  const uniforms = {
    total, red, out_ch: outCh, pix, pix4: Math.floor(pix / 4), pix_blocks: pixBlocks, out_blocks: outBlocks,
    has_bias: bias ? 1 : 0, w_stride: weightStride,
  };
  kernel.run(bindings, uniforms, grid1d(total, CONV_WG));
}

/**
 * dw [O, C] = sum over n of dy[n] [O, P] · x[n]ᵀ [P, C]: the sliced pointwise kernel when O % 4 == 0 (1.4-3.8x
 * faster than the matmul on MobileNetV2's shapes in a same-process A/B), else one matmul summing over images
 * with x read transposed in place.
 */
export function pointwiseWeightGrad(g: ConvGeometry, x: Tensor, gy: Tensor): Tensor {
  const pix = g.h * g.w;
  if (pix === 1) {
    // dw [O, C] = dyᵀ [O, N] · x [N, C]: one matmul over the batch.
    const gyT = gy.view([g.o, g.n], [1, g.o], gy.offset);
    const x2 = x.view([g.n, g.c], [g.c, 1], x.offset);
    const d = matmulKernel(gyT, x2);
    const out = reshape(d, [g.o, g.c, 1, 1]);
    for (const t of [gyT, x2, d]) t.dispose();
    return out;
  }
  if (g.o % 4 === 0) return pointwiseWeightGradSlices(g, x, gy);
  const xt = x.view([g.n, pix, g.c], [g.c * pix, 1, pix], 0);
  const gy3 = gy.view([g.n, g.o, pix], [g.o * pix, pix, 1], 0);
  const summed = matmulKernel(gy3, xt, { sumBatch: true });
  const out = reshape(summed, [g.o, g.c, 1, 1]);
  for (const t of [xt, gy3, summed]) t.dispose();
  return out;
}

/**
 * Slicing of the pointwise weight gradient: at most this many invocations, and slices of at least this many
 * rows. Software: measured on MobileNetV2's shapes (256 rows beat 512 by 8-20% on 24->144, 32->192 and
 * 144->24, the rest within noise, alternating runs; more, shorter slices lost to their partials and loop
 * overhead). GPU: enough slices to fill it, each long enough that its partial is small next to its reads.
 */
const POINTWISE_WGRAD_MAX_INVOCATIONS = { software: 512, gpu: 65536 };

const POINTWISE_WGRAD_MIN_SLICE_ROWS = { software: 256, gpu: 32 };

/**
 * How many slices (a divisor of `rows`) to cut the reduction of a sliced pointwise product into, for
 * `images` products of `outCh` output channels over `pix` pixels each: as many as keep the invocations
 * within POINTWISE_WGRAD_MAX_INVOCATIONS and the slices at least POINTWISE_WGRAD_MIN_SLICE_ROWS long.
 */
export function reductionSlices(rows: number, images: number, pix: number, outCh: number): number {
  const { ob, pixBlocks } = pointwiseBlocks(1, pix, outCh, true, true);
  const perSlice = images * Math.ceil(outCh / ob) * pixBlocks;
  const t = tuning();
  let slices = 1;
  for (let s = 2; s * perSlice <= POINTWISE_WGRAD_MAX_INVOCATIONS[t] && rows / s >= POINTWISE_WGRAD_MIN_SLICE_ROWS[t]; s++) {
    if (rows % s === 0) slices = s;
  }
  return slices;
}

/**
 * dw [O, C] = Σ over the N·P pixel rows r of dyᵀ[r, o] · xᵀ[r, c], run as the pointwise kernel (lanes along
 * C, reduction along r) on transposed copies dyᵀ [N·P, O] and xᵀ [N·P, C]: the [R, O] weight layout it
 * reads as vec4 columns is exactly dyᵀ. The rows are split into S slices (S divides N·P), each slice an
 * "image" with its own weight (w_stride) writing a partial [O, C]; the partials are summed after. Needs
 * O % 4 == 0.
 */
function pointwiseWeightGradSlices(g: ConvGeometry, x: Tensor, gy: Tensor): Tensor {
  const pix = g.h * g.w;
  const rows = g.n * pix;
  const xT = contiguous(x.view([g.n, pix, g.c], [g.c * pix, 1, pix], x.offset));
  const gyT = contiguous(gy.view([g.n, pix, g.o], [g.o * pix, 1, pix], gy.offset));
  const slices = reductionSlices(rows, 1, g.c, g.o);
  const partial = allocate([slices, g.o, g.c]);
  runPointwise(xT, gyT, null, partial, slices, rows / slices, g.o, g.c, true, (rows / slices) * g.o);
  xT.dispose();
  gyT.dispose();
  const summed = slices > 1 ? sum(partial, 0) : reshape(partial, [g.o, g.c]);
  partial.dispose();
  const out = reshape(summed, [g.o, g.c, 1, 1]);
  summed.dispose();
  return out;
}
