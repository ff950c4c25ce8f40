// Kernel launches behind conv2d: picks the pointwise, depthwise or direct kernel for each pass and fills in
// its uniforms. Every tensor passed in is dense (offset 0, row-major). No autograd here; conv.ts wraps it.
// The pointwise and depthwise launches live in conv-pointwise.ts and conv-depthwise.ts, what they share in
// conv-common.ts.
import { grid1d } from '../kernel.ts';
import { tuning } from '../tuning.ts';
import { allocate, type Tensor } from '../tensor.ts';
import { derived } from '../derived.ts';
import { reshape, transpose, contiguous } from './movement.ts';
import { matmulKernel } from './matmul.ts';
import { sum } from './reduce.ts';
import { blockedItems, columnBlocking, CONV_COLS, CONV_WG, directConvKernels } from '../../kernels/conv2d.ts';
import { weightGradKernels } from '../../kernels/conv2d-wgrad.ts';
import { depthwiseWeightGradKernels } from '../../kernels/depthwise-wgrad.ts';
import { channelBlock, denseLayout, finishSlices, forEachPhase, isDepthwise, isPointwise, type ConvGeometry, type SourcePass } from './conv-common.ts';
import { depthwiseWeightGradRows, runDepthwise, type DepthwisePass } from './conv-depthwise.ts';
import { pointwiseWeightGrad, runPointwise } from './conv-pointwise.ts';
import { im2colForward, im2colInputGrad, usesIm2col } from './conv-im2col.ts';
import { usesWinograd, winogradForward, winogradInputGrad, winogradWeightGrad } from './conv-winograd.ts';

export type { ConvGeometry } from './conv-common.ts';
export { setDepthwiseKernel, type DepthwiseKernelChoice } from './conv-depthwise.ts';
export { setIm2colConv } from './conv-im2col.ts';

/**
 * Weight-gradient passes aim for at least this many invocations, splitting the reduction to get there. On
 * lavapipe 512 beat 4096 in two alternating rounds on every shape the direct and general depthwise kernels
 * take: the 3x3 stems 1.15-1.5x, 7x7 s2 3->64 1.06-1.12x, 5x5 32->32 1.1-1.2x, grouped 3x3 1.15-1.25x,
 * depthwise at 7x7 and 4x4 maps 1.3-2x (fewer partials to write and sum; 256 was no better).
 */
const WGRAD_TARGET_INVOCATIONS = { software: 512, gpu: 4096 };

interface DirectPass extends SourcePass {
  redPerGroup: number;
  outPerGroup: number;
  /** Weight offset and strides for (group, out channel, reduction channel, ky, kx). */
  wIndex: [number, number, number, number, number, number];
}

function runDirect(g: ConvGeometry, p: DirectPass, w: Tensor, bias: Tensor | null, out: Tensor): void {
  const { step, jm } = columnBlocking(p.stride[1], p.dilation[1]);
  const ob = channelBlock(p.outPerGroup);
  const [kh, kw] = p.taps ?? [g.kh, g.kw];
  const layout = p.outLayout ?? denseLayout(p.outH, p.outW);
  // Eight output columns per invocation where a stride-1 row of at least 8 reuses each loaded source value
  // across 3+ taps: 10 loads for 8 columns instead of 6 for 4. 3x3 convs at 16-56 wide ran 10-20% faster
  // (alternating runs, lavapipe); stride 2 (17 loads for 8 columns) and 1-2 tap phases gained nothing.
  const cols = jm === 1 && kw >= 3 && p.outW >= 8 ? 2 * CONV_COLS : CONV_COLS;
  const kernel = directConvKernels.get({ kw, jm, ob, up: p.up, cols });
  const colItems = blockedItems(p.outW, step, cols);
  const outBlocks = Math.ceil(p.outPerGroup / ob);
  const total = g.n * g.groups * outBlocks * p.outH * colItems;
  const [wOff, wGroup, wOut, wRed, wKy, wKx] = p.wIndex;
  kernel.run(
    { src: p.src.storage, w: w.storage, bias: (bias ?? w).storage, out: out.storage },
    {
      total, groups: g.groups, red_per_group: p.redPerGroup, out_per_group: p.outPerGroup,
      src_h: p.srcH, src_w: p.srcW, out_h: p.outH, out_w: p.outW,
      stride: p.stride, dilation: p.dilation, pad: p.pad,
      kh, col_step: step, col_items: colItems, out_blocks: outBlocks,
      w_off: wOff, w_group: wGroup, w_out: wOut, w_red: wRed, w_ky: wKy, w_kx: wKx, has_bias: bias ? 1 : 0,
      out_plane: layout.plane, out_row: layout.row, out_col: layout.col, out_off: layout.off,
    },
    grid1d(total, CONV_WG),
  );
}

/** A pointwise weight [O, C, 1, 1] as a dense [C, O] copy, kept while w is unwritten (engine/derived.ts). */
function transposedWeight(w: Tensor, o: number, c: number): Tensor {
  return derived(w, `pointwise_wt:${o}:${c}`, () => {
    const w2 = reshape(w, [o, c]);
    const wt = transpose(w2);
    const dense = contiguous(wt);
    w2.dispose();
    wt.dispose();
    return dense;
  });
}

export function convForward(g: ConvGeometry, x: Tensor, w: Tensor, bias: Tensor | null): Tensor {
  const out = allocate([g.n, g.o, g.oh, g.ow]);
  const kk = g.kh * g.kw;
  const pad: [number, number] = [g.padding[0], g.padding[2]];
  if (isPointwise(g) && g.h * g.w === 1) {
    // One pixel per image: the whole batch is a single [N, C] x [C, O] matmul (far better blocked than
    // a pointwise kernel that would have one pixel to work with).
    const x2 = x.view([g.n, g.c], [g.c, 1], x.offset);
    const wt = w.view([g.c, g.o], [1, g.c], w.offset);
    const y = matmulKernel(x2, wt, bias ? { bias, biasAxis: 'cols' } : {});
    for (const t of [x2, wt, out]) t.dispose();
    const shaped = y.view([g.n, g.o, 1, 1], [g.o, 1, 1, 1], 0);
    y.dispose();
    return shaped;
  } else if (isPointwise(g) && g.o % 4 === 0) {
    // The kernel reads [C, O] weights as one vec4 per r for its four output channels: a transposed copy
    // of the (small) weight costs far less than the loads it saves.
    const wDense = transposedWeight(w, g.o, g.c);
    runPointwise(x, wDense, bias, out, g.n, g.c, g.o, g.h * g.w, true);
    wDense.dispose();
  } else if (isPointwise(g)) {
    runPointwise(x, w, bias, out, g.n, g.c, g.o, g.h * g.w);
  } else if (isDepthwise(g)) {
    const pass: DepthwisePass = {
      src: x, srcChannels: g.c, srcH: g.h, srcW: g.w, channels: g.o, red: 1, outDiv: g.o / g.c,
      outH: g.oh, outW: g.ow, stride: g.stride, dilation: g.dilation, pad, up: [1, 1],
      wIndex: [0, kk, 0, g.kw, 1],
    };
    runDepthwise(g, pass, w, bias, out);
  } else if (usesWinograd(g)) {
    winogradForward(g, x, w, bias, out);
  } else if (usesIm2col(g)) {
    im2colForward(g, x, w, bias, out);
  } else {
    const cg = g.c / g.groups;
    const og = g.o / g.groups;
    const pass: DirectPass = {
      src: x, srcH: g.h, srcW: g.w, redPerGroup: cg, outPerGroup: og, outH: g.oh, outW: g.ow,
      stride: g.stride, dilation: g.dilation, pad, up: [1, 1],
      wIndex: [0, og * cg * kk, cg * kk, kk, g.kw, 1],
    };
    runDirect(g, pass, w, bias, out);
  }
  return out;
}

/**
 * Gradient to the input: the transposed-conv gather over dy (zero-inserted by the stride), flipped weights.
 * Also the forward of convTranspose2d, which passes a bias [C].
 */
export function convInputGrad(g: ConvGeometry, gy: Tensor, w: Tensor, bias: Tensor | null = null): Tensor {
  const dx = allocate([g.n, g.c, g.h, g.w]);
  const kk = g.kh * g.kw;
  if (isPointwise(g) && g.h * g.w === 1 && !bias) {
    const gy2 = gy.view([g.n, g.o], [g.o, 1], gy.offset);
    const w2 = w.view([g.o, g.c], [g.c, 1], w.offset);
    const d = matmulKernel(gy2, w2);
    for (const t of [gy2, w2, dx]) t.dispose();
    const shaped = d.view([g.n, g.c, 1, 1], [g.c, 1, 1, 1], 0);
    d.dispose();
    return shaped;
  }
  if (usesWinograd(g, 'inputGrad')) {
    winogradInputGrad(g, gy, w, bias, dx);
    return dx;
  }
  if (!bias && usesIm2col(g, 'inputGrad')) {
    im2colInputGrad(g, gy, w, dx);
    return dx;
  }
  if (isPointwise(g) && g.c % 4 === 0) {
    // dx [N, C, P] = wᵀ · dy: w [O, C] is the [red, out] layout the kernel reads directly.
    runPointwise(gy, w, bias, dx, g.n, g.o, g.c, g.h * g.w, true);
    return dx;
  }
  if (isPointwise(g)) {
    const wDense = transposedWeight(w, g.o, g.c);
    runPointwise(gy, wDense, bias, dx, g.n, g.o, g.c, g.h * g.w);
    wDense.dispose();
    return dx;
  }
  // Source position p = iy + pad' - ky'*d with ky' = k-1-ky gives pad' = (k-1)*d - pad (may be negative).
  const pad: [number, number] = [(g.kh - 1) * g.dilation[0] - g.padding[0], (g.kw - 1) * g.dilation[1] - g.padding[2]];
  const flipped = kk - 1;
  // Depthwise phases pay off only with taps to spare: at k5/k7 stride 2 they ran 1.5-1.8x faster, at k3 (phases
  // of 1-2 taps, where per-invocation work dominates) no faster than zero insertion (alternating runs).
  const fewTaps = (k: number, s: number) => s > 1 && Math.floor(k / s) < 2;
  if (isDepthwise(g) && (g.stride.every((s) => s === 1) || fewTaps(g.kh, g.stride[0]) || fewTaps(g.kw, g.stride[1]))) {
    const mult = g.o / g.c;
    const pass: DepthwisePass = {
      src: gy, srcChannels: g.o, srcH: g.oh, srcW: g.ow, channels: g.c, red: mult, outDiv: 1,
      outH: g.h, outW: g.w, stride: [1, 1], dilation: g.dilation, pad, up: g.stride,
      wIndex: [flipped, 0, kk, -g.kw, -1],
    };
    runDepthwise(g, pass, w, bias, dx);
  } else if (isDepthwise(g)) {
    forEachPhase(g, (py, px, taps, outLayout) => {
      const pass: DepthwisePass = {
        src: gy, srcChannels: g.o, srcH: g.oh, srcW: g.ow, channels: g.c, red: g.o / g.c, outDiv: 1,
        outH: py.count, outW: px.count, stride: [1, 1], dilation: [py.dilation, px.dilation], pad: [py.pad, px.pad], up: [py.up, px.up],
        wIndex: [py.wFirst * g.kw + px.wFirst, 0, kk, py.wStep * g.kw, px.wStep], taps, outLayout,
      };
      runDepthwise(g, pass, w, bias, dx);
    });
  } else {
    directInputGrad(g, gy, w, bias, dx);
  }
  return dx;
}

function directInputGrad(g: ConvGeometry, gy: Tensor, w: Tensor, bias: Tensor | null, dx: Tensor): void {
  const cg = g.c / g.groups;
  const og = g.o / g.groups;
  const kk = g.kh * g.kw;
  forEachPhase(g, (py, px, taps, outLayout) => {
    const pass: DirectPass = {
      src: gy, srcH: g.oh, srcW: g.ow, redPerGroup: og, outPerGroup: cg, outH: py.count, outW: px.count,
      stride: [1, 1], dilation: [py.dilation, px.dilation], pad: [py.pad, px.pad], up: [py.up, px.up],
      wIndex: [py.wFirst * g.kw + px.wFirst, og * cg * kk, kk, cg * kk, py.wStep * g.kw, px.wStep],
      taps, outLayout,
    };
    runDirect(g, pass, w, bias, dx);
  });
}

/** Splits `rows` reduction rows into slices so that `base * slices` invocations reach the target. */
function sliceRows(rows: number, base: number): { slices: number; rowsPerSlice: number } {
  const wanted = Math.max(1, Math.min(rows, Math.ceil(WGRAD_TARGET_INVOCATIONS[tuning()] / base)));
  const rowsPerSlice = Math.ceil(rows / wanted);
  return { slices: Math.ceil(rows / rowsPerSlice), rowsPerSlice };
}

export function convWeightGrad(g: ConvGeometry, x: Tensor, gy: Tensor): Tensor {
  const cg = g.c / g.groups;
  const og = g.o / g.groups;
  const wShape = [g.o, cg, g.kh, g.kw];
  if (isPointwise(g)) return pointwiseWeightGrad(g, x, gy);
  if (usesWinograd(g, 'weightGrad')) return winogradWeightGrad(g, x, gy);
  const rows = g.n * g.oh;
  const { step, jm } = columnBlocking(g.stride[1], g.dilation[1]);
  const colItems = blockedItems(g.ow, step, CONV_COLS);
  const common = {
    in_h: g.h, in_w: g.w, out_h: g.oh, out_w: g.ow,
    stride: g.stride, dilation: g.dilation, pad: [g.padding[0], g.padding[2]],
    col_step: step, col_items: colItems, rows,
  };
  if (isDepthwise(g)) {
    const fast = depthwiseWeightGradRows(g, x, gy);
    if (fast) return fast;
    const { slices, rowsPerSlice } = sliceRows(rows, g.o);
    const partial = allocate([g.o * g.kh * g.kw * slices]);
    const total = g.o * slices;
    depthwiseWeightGradKernels.get({ kh: g.kh, kw: g.kw, jm }).run(
      { x: x.storage, gy: gy.storage, partial: partial.storage },
      { ...common, total, channels: g.o, mult: g.o / g.c, slices, rows_per_slice: rowsPerSlice },
      grid1d(total, CONV_WG),
    );
    return finishSlices(partial, slices, wShape);
  }
  const cbMax = g.kw <= 2 ? 4 : g.kw <= 4 ? 2 : 1;
  // An image's three channels in one block where blocks of 2 would fit (the 3x3 stem: 1.25-1.3x faster
  // than a block of 2 and a masked 2, same-process alternating runs).
  const threeChannels = cg === 3 && cbMax >= 2;
  const cb = threeChannels ? 3 : channelBlock(cg, cbMax);
  // With those three, 16 output channels a block (144 accumulators at 3x3): the stem ran 1.25-1.6x faster
  // than with 4 (alternating runs), for a one-time LLVM compile of 8 s instead of 1.6 (8: 1.05-1.3x, 2.6 s).
  // Dense 3x3 32->64 (blocks of 2 channels) ran 10-15% slower with 8 or 16.
  const ob = threeChannels && og >= 16 ? 16 : channelBlock(og);
  const outBlocks = Math.ceil(og / ob);
  const inBlocks = Math.ceil(cg / cb);
  const base = g.groups * outBlocks * inBlocks * g.kh;
  const { slices, rowsPerSlice } = sliceRows(rows, base);
  const partial = allocate([g.o * cg * g.kh * g.kw * slices]);
  const total = base * slices;
  // dy as vec4s where a step's 4 output columns are consecutive and aligned: dense 3x3 32->64 1.2-1.25x,
  // the stem 1.05-1.1x faster (alternating runs).
  const vecDy = step === 1 && g.ow % 4 === 0;
  weightGradKernels.get({ kw: g.kw, jm, ob, cb, vecDy }).run(
    { x: x.storage, gy: gy.storage, partial: partial.storage },
    {
      ...common, total, groups: g.groups, in_per_group: cg, out_per_group: og, kh: g.kh,
      out_blocks: outBlocks, in_blocks: inBlocks, slices, rows_per_slice: rowsPerSlice,
    },
    grid1d(total, CONV_WG),
  );
  return finishSlices(partial, slices, wShape);
}

/** Gradient to the bias: dy summed over batch and pixels, as [N, O, P] -> [N, O] -> [O] (no transposed copy). */
export function convBiasGrad(gy: Tensor): Tensor {
  const [n, o, h, w] = gy.shape;
  const flat = reshape(gy, [n, o, h * w]);
  const perImage = sum(flat, 2);
  const out = sum(perImage, 0);
  flat.dispose();
  perImage.dispose();
  return out;
}
